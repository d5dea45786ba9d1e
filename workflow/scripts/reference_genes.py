import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.prepare import reference_genes

with step_logging(snakemake.log[0]):
    reference_genes(
        gene_info=Path(snakemake.input.gene_info),
        expression=Path(snakemake.input.expression),
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        window=snakemake.params.window,
        split=snakemake.params.split,
        genes_out=Path(snakemake.output.genes),
        expression_out=Path(snakemake.output.expression),
        bins_out=Path(snakemake.output.bins),
        sources=snakemake.params.sources,
        cells=list(snakemake.params.cells),
        gene_entries=snakemake.params.gene_entries,
    )
