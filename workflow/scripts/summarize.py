from pathlib import Path

from attentivechrome.logs import step_logging
from attentivechrome.summary import write_summary

with step_logging(snakemake.log[0]):
    metrics = {model: [Path(p) for p in snakemake.input[model]] for model in snakemake.input.keys()}
    write_summary(metrics, Path(snakemake.output[0]))
