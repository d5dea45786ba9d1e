import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.download import fetch
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]) as log:
    result = fetch(
        snakemake.params.source,
        Path(snakemake.output[0]),
        retries=snakemake.params.retries,
        timeout=snakemake.params.timeout,
        sha256=snakemake.params.sha256,
    )
    log.info("fetched %s: %s", snakemake.params.source, result)
