import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.figures import cell_label, saliency_figures

with step_logging(snakemake.log[0]) as log:
    cell = snakemake.wildcards.cell
    table = saliency_figures(
        Path(snakemake.input.model),
        Path(snakemake.input.test),
        Path(snakemake.output.figure),
        Path(snakemake.output.table),
        flank=snakemake.params.window["flank"],
        bin_size=snakemake.params.window["bin_size"],
        label=cell_label(cell, snakemake.input.cell_table or None),
        threads=snakemake.threads,
    )
    log.info(
        "%s: %d test genes, median Spearman mark attention vs saliency %.3f",
        cell,
        len(table),
        table["mark_spearman"].median(),
    )
