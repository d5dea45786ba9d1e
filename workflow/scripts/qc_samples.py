import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.qc import qc_samples

with step_logging(snakemake.log[0]):
    samples = [
        {**sample, "tally": tally, "conversion": conversion}
        for sample, tally, conversion in zip(
            snakemake.params.samples,
            snakemake.input.tallies,
            snakemake.input.conversions,
            strict=True,
        )
    ]
    qc_samples(
        samples=samples,
        depth=Path(snakemake.input.depth),
        summary=Path(snakemake.input.summary),
        out={
            key: Path(snakemake.output[key])
            for key in ("samples", "read_fates", "marks", "training")
        },
    )
