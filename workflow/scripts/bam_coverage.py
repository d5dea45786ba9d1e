import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.tracks.coverage import bam_coverage

with step_logging(snakemake.log[0]):
    bigwig = snakemake.output.get("bigwig")
    bam_coverage(
        bam=Path(snakemake.input.bam),
        genes=Path(snakemake.input.genes),
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        flank=snakemake.params.flank,
        bin_size=snakemake.params.bin_size,
        read_filter=dict(snakemake.params.read_filter),
        qc_out=Path(snakemake.output.tally),
        bigwig_out=Path(bigwig) if bigwig else None,
    )
