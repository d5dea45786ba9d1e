import sys
from pathlib import Path

# The package is imported from this checkout, so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.training import train_and_evaluate

with step_logging(snakemake.log[0]):
    train_and_evaluate(
        snakemake.params.model,
        Path(snakemake.input.train),
        Path(snakemake.input.valid),
        Path(snakemake.input.test),
        Path(snakemake.output.metrics).parent,
        cell=snakemake.wildcards.cell,
        threads=snakemake.threads,
        **snakemake.params.train,
    )
