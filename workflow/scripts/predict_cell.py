import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from attentivechrome.logs import step_logging
from attentivechrome.predict.sample import predict_cell


def optional(key):
    # InputFiles iterates over paths, not names: ask for the names.
    return Path(snakemake.input[key]) if key in snakemake.input.keys() else None  # noqa: SIM118


with step_logging(snakemake.log[0]):
    predict_cell(
        snakemake.wildcards.sample,
        snakemake.wildcards.get("model", "attentivechrome"),
        [Path(path) for path in snakemake.input.bundles],
        snakemake.params.names,
        Path(snakemake.output.table),
        Path(snakemake.output.card),
        window=snakemake.params.window,
        depth=snakemake.params.depth,
        counts=optional("counts"),
        csv=optional("csv"),
        genes=optional("genes"),
        expression=optional("expression"),
        out_attention=Path(snakemake.output.attention)
        if "attention" in snakemake.output.keys()  # noqa: SIM118
        else None,
        out_figure=Path(snakemake.output.figure),
    )
