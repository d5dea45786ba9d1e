from pathlib import Path

from attentivechrome.logs import step_logging
from attentivechrome.reads import tagalign_to_bam

with step_logging(snakemake.log[0]) as log:
    stats = tagalign_to_bam(
        Path(snakemake.input.reads),
        Path(snakemake.input.chrom_sizes),
        Path(snakemake.output.bam),
        threads=snakemake.threads,
    )
    log.info("%s", stats)
