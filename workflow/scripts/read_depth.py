import sys
from pathlib import Path

# The package is imported from this checkout, so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.depth import write_depth
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]):
    counts = dict(zip(snakemake.params.cells, snakemake.input, strict=True))
    write_depth(counts, Path(snakemake.output[0]))
