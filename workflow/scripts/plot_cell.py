import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.figures import cell_figures, cell_label

with step_logging(snakemake.log[0]):
    cell = snakemake.wildcards.cell
    # One metrics.json per model, in the order of params.models (see report.smk).
    folders = [Path(p).parent for p in snakemake.input.runs if p.endswith("metrics.json")]
    cell_figures(
        cell,
        Path(snakemake.input.attention),
        dict(zip(snakemake.params.models, folders, strict=True)),
        {key: Path(path) for key, path in snakemake.output.items()},
        flank=snakemake.params.window["flank"],
        bin_size=snakemake.params.window["bin_size"],
        label=cell_label(cell, snakemake.input.cell_table or None),
    )
