import sys
from pathlib import Path

# The package is imported from this checkout, so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))


from attentivechrome.allocator import loaded_tcmalloc, restart_with_tcmalloc

settings = dict(snakemake.params.train)
if settings.pop("allocator") == "tcmalloc":
    # Before the imports below (torch, pandas: about 2 s), which the restart would repeat.
    restart_with_tcmalloc()  # returns once tcmalloc is loaded, or if it is not installed

from attentivechrome.logs import step_logging  # noqa: E402
from attentivechrome.training import train_and_evaluate  # noqa: E402

with step_logging(snakemake.log[0]) as log:
    log.info("memory allocator: %s", loaded_tcmalloc() or "the system's malloc")
    train_and_evaluate(
        snakemake.params.model,
        Path(snakemake.input.train),
        Path(snakemake.input.valid),
        Path(snakemake.input.test),
        Path(snakemake.output.metrics).parent,
        cell=snakemake.wildcards.cell,
        seed=int(snakemake.wildcards.seed),
        threads=snakemake.threads,
        **settings,
    )
