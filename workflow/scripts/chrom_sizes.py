import sys
from pathlib import Path

# The package is imported from this checkout, so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))


from attentivechrome.errors import reported_as
from attentivechrome.genome import load_chrom_sizes, write_chrom_sizes
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]) as log:
    spec = snakemake.input[0] if snakemake.input else snakemake.params.spec
    with reported_as(snakemake.params.spec, spec):
        sizes = load_chrom_sizes(spec)
    write_chrom_sizes(sizes, Path(snakemake.output[0]))
    log.info("%d chromosomes from %s", len(sizes), snakemake.params.spec)
