import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from attentivechrome.learn.allocator import loaded_tcmalloc, restart_with_allocator

# Optional speed-up, off unless config train.allocator is "tcmalloc": then this script
# starts again at once with tcmalloc preloaded (faster CPU epochs, identical results; see
# allocator.py). It comes first so that the restart repeats no heavy import.
restart_with_allocator(snakemake.params.train["allocator"])

from attentivechrome.learn.training import train_and_evaluate  # noqa: E402
from attentivechrome.logs import step_logging  # noqa: E402

settings = {key: value for key, value in snakemake.params.train.items() if key != "allocator"}
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
        genes=snakemake.input.get("genes"),
        **settings,
    )
