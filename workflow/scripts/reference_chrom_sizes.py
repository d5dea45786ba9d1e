import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.download import check_local
from attentivechrome.data.prepare import reference_chrom_sizes
from attentivechrome.errors import reported_as
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]):
    # A local file is read where it is, with the checks a download would have had.
    for sha256 in snakemake.params.local.values():
        with reported_as(snakemake.params.spec, snakemake.input[0]):
            check_local(snakemake.input[0], sha256)
    reference_chrom_sizes(
        snakemake.params.spec,
        Path(snakemake.input[0]) if snakemake.input else None,
        Path(snakemake.output[0]),
    )
