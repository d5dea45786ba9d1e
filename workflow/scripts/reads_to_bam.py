import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.bam_conversion import reads_to_bam
from attentivechrome.data.download import check_local
from attentivechrome.errors import reported_as
from attentivechrome.logs import step_logging

with (
    step_logging(snakemake.log[0]) as log,
    reported_as(snakemake.params.source, snakemake.input.reads),
):
    # A local file's checksum (a download was checked when fetched); the reader checks
    # the content.
    check_local(snakemake.input.reads, snakemake.params.sha256, contents=False)
    summary = reads_to_bam(
        Path(snakemake.input.reads),
        Path(snakemake.input.chrom_sizes),
        Path(snakemake.output.bam),
        kind=snakemake.params.kind,
        threads=snakemake.threads,
        bam_writer=snakemake.params.bam_writer,
        link=snakemake.params.link,
        stats_out=Path(snakemake.output.stats),
    )
    log.info("%s", summary)
