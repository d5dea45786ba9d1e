import sys
from pathlib import Path

# The package is imported from this checkout, so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from attentivechrome.dataset import import_authors_csv
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]) as log:
    out_dir = Path(snakemake.output[0]).parent
    for source in map(Path, snakemake.input):
        data = import_authors_csv(
            source, list(snakemake.params.marks), snakemake.params.n_bins, out_dir / source.stem
        )
        log.info("%s: %d genes, %d labelled 1", source, len(data.y), data.y.sum())
