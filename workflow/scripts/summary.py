import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.depth import report_depth
from attentivechrome.logs import step_logging
from attentivechrome.report.summary import write_summary

with step_logging(snakemake.log[0]):
    # InputFiles iterates over paths, not names: ask for the names.
    models = [name for name in snakemake.input.keys() if name != "depth"]  # noqa: SIM118
    metrics = {model: [Path(p) for p in snakemake.input[model]] for model in models}
    write_summary(metrics, Path(snakemake.output[0]))
    if "depth" in snakemake.input.keys():  # noqa: SIM118
        report_depth(Path(snakemake.input.depth))
