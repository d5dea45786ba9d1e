import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.tracks.session import tracks_session

with step_logging(snakemake.log[0]):
    tracks_session(
        files=dict(snakemake.params.files),
        marks=list(snakemake.params.marks),
        bin_size=snakemake.params.bin_size,
        genome=snakemake.params.genome,
        email=snakemake.params.email,
        folder=Path(snakemake.output.session).parent,
    )
