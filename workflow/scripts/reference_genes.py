import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.download import check_local
from attentivechrome.data.prepare import reference_genes
from attentivechrome.errors import reported_as
from attentivechrome.logs import step_logging

SOURCE_KEYS = {"gene_info": "genes", "expression": "expression"}

with step_logging(snakemake.log[0]):
    # Local files are read where they are, with the checks a download would have had.
    for key, sha256 in snakemake.params.local.items():
        with reported_as(snakemake.params.sources[SOURCE_KEYS[key]], snakemake.input[key]):
            check_local(snakemake.input[key], sha256)
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
