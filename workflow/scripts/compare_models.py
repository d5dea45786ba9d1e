import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.comparison import compare_models

with step_logging(snakemake.log[0]) as log:
    table = compare_models(
        Path(snakemake.input.summary),
        {key: Path(snakemake.output[key]) for key in ("table", "html", "figure")},
    )
    log.info("%d pairs of models compared over %d cell types", len(table), table["n_cells"].max())
