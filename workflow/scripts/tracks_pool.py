import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.tracks.coverage import tracks_pool

with step_logging(snakemake.log[0]):
    tracks_pool(
        bams=[Path(p) for p in snakemake.input.bams],
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        bin_size=snakemake.params.bin_size,
        read_filter=dict(snakemake.params.read_filter),
        out=Path(snakemake.output[0]),
    )
