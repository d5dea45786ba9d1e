import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from attentivechrome.logs import step_logging
from attentivechrome.predict.bundle import bundle_export

with step_logging(snakemake.log[0]):
    bundle_export(
        Path(snakemake.input.model),
        Path(snakemake.input.metrics),
        {split: Path(snakemake.input[split]) for split in ("train", "valid", "test")},
        snakemake.params.window,
        snakemake.params.config,
        Path(snakemake.output[0]),
    )
