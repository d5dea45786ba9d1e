import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.prepare import datasets_build
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]):
    datasets_build(
        counts=Path(snakemake.input.counts),
        genes=Path(snakemake.input.genes),
        expression=Path(snakemake.input.expression),
        cell=snakemake.wildcards.cell,
        out_dir=Path(snakemake.output[0]).parent,
        expression_source=snakemake.params.source,
        task=snakemake.params.task,
    )
