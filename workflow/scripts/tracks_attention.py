import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.tracks.attention import tracks_attention

with step_logging(snakemake.log[0]):
    tracks_attention(
        predictions=[Path(p) for p in snakemake.input.predictions],
        attention=[Path(p) for p in snakemake.input.attention],
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        flank=snakemake.params.flank,
        bin_size=snakemake.params.bin_size,
        bigwigs=dict(zip(snakemake.params.marks, map(Path, snakemake.output.bigwigs), strict=True)),
        bed=Path(snakemake.output.bed),
        bigbed=Path(snakemake.output.bigbed),
    )
