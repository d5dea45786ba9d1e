import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.prepare import datasets_import
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]):
    datasets_import(
        [Path(p) for p in snakemake.input],
        list(snakemake.params.marks),
        snakemake.params.n_bins,
        Path(snakemake.output[0]).parent,
    )
