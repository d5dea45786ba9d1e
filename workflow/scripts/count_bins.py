from pathlib import Path

from attentivechrome.logs import step_logging
from attentivechrome.prepare import count_gene_bins

with step_logging(snakemake.log[0]):
    count_gene_bins(
        bams=[Path(p) for p in snakemake.input.bams],
        marks=list(snakemake.params.marks),
        genes=Path(snakemake.input.genes),
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        window=snakemake.params.window,
        counter=snakemake.params.counter,
        out=Path(snakemake.output[0]),
    )
