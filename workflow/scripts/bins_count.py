import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.data.prepare import bins_count
from attentivechrome.logs import step_logging

with step_logging(snakemake.log[0]):
    bins_count(
        bams=[Path(p) for p in snakemake.input.bams],
        marks=list(snakemake.params.marks),
        genes=Path(snakemake.input.genes),
        chrom_sizes=Path(snakemake.input.chrom_sizes),
        window=snakemake.params.window,
        counter=snakemake.params.counter,
        read_filter=snakemake.params.read_filter,
        threads=snakemake.threads,
        sources=list(snakemake.params.sources),
        cell=snakemake.wildcards.cell,
        out=Path(snakemake.output[0]),
    )
