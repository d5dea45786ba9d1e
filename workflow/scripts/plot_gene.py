import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.figures import cell_label, gene_figure

with step_logging(snakemake.log[0]):
    cell = snakemake.wildcards.cell
    gene_figure(
        snakemake.wildcards.gene,
        Path(snakemake.input.model),
        Path(snakemake.input.test),
        Path(snakemake.input.predictions),
        Path(snakemake.output[0]),
        flank=snakemake.params.window["flank"],
        bin_size=snakemake.params.window["bin_size"],
        label=cell_label(cell, snakemake.input.cell_table or None),
    )
