import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.prepare import reference_chrom_sizes

with step_logging(snakemake.log[0]):
    reference_chrom_sizes(
        snakemake.params.spec,
        Path(snakemake.input[0]) if snakemake.input else None,
        Path(snakemake.output[0]),
    )
