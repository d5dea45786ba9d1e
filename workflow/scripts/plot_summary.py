import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.figures import summary_figures

with step_logging(snakemake.log[0]):
    summary_figures(
        Path(snakemake.input.summary),
        dict(zip(snakemake.params.cells, map(Path, snakemake.input.attention), strict=True)),
        {key: Path(snakemake.output[key]) for key in ("auroc", "html", "table", "heatmap")},
        cell_table=snakemake.input.cell_table or None,
    )
