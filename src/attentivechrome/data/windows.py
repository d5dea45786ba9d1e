"""Gene windows: `n` bins of `bin_size` bp covering TSS - flank .. TSS + flank.

Bin i (1-based) of a gene with TSS t is [t - flank + (i-1)*bin_size, t - flank + i*bin_size)
in 0-based half-open coordinates, in genomic order for both strands (the authors' layout:
minus-strand windows are not flipped). Bins reaching past a chromosome end keep only
their inside part; a bin wholly outside becomes empty (start == end) and counts 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path


def bins_per_gene(flank: int, bin_size: int) -> int:
    if flank <= 0 or bin_size <= 0 or (2 * flank) % bin_size:
        raise InputError(
            None,
            f"window: bin_size {bin_size} must be positive and divide the window "
            f"2 x flank = {2 * flank}",
        )
    return 2 * flank // bin_size


def gene_bins(
    genes: pd.DataFrame, chrom_sizes: dict[str, int], flank: int, bin_size: int
) -> pd.DataFrame:
    """One row per (gene, bin) with gene_id, bin, chrom, start, end; genes keep their order."""
    n_bins = bins_per_gene(flank, bin_size)
    offsets = np.arange(n_bins, dtype=np.int64) * bin_size - flank
    tss = genes["tss"].to_numpy(dtype=np.int64)
    starts = (tss[:, None] + offsets[None, :]).ravel()
    size = genes["chrom"].map(chrom_sizes).to_numpy(dtype=np.int64).repeat(n_bins)
    start = np.clip(starts, 0, size)
    end = np.clip(starts + bin_size, 0, size)
    return pd.DataFrame(
        {
            "gene_id": genes["gene_id"].to_numpy().repeat(n_bins),
            "bin": np.tile(np.arange(1, n_bins + 1), len(genes)),
            "chrom": genes["chrom"].to_numpy().repeat(n_bins),
            "start": start,
            "end": end,
        }
    )


def gene_windows(genes: pd.DataFrame, chrom_sizes: dict[str, int], flank: int) -> pd.DataFrame:
    """Each gene's whole window, [TSS - flank, TSS + flank) clipped to its chromosome as its
    bins are: columns gene_id, chrom, start, end, in the genes' order."""
    tss = genes["tss"].to_numpy(dtype=np.int64)
    size = genes["chrom"].map(chrom_sizes).to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "gene_id": genes["gene_id"].to_numpy(),
            "chrom": genes["chrom"].to_numpy(),
            "start": np.clip(tss - flank, 0, size),
            "end": np.clip(tss + flank, 0, size),
        }
    )


def write_bins_bed(bins: pd.DataFrame, path: str | Path) -> None:
    """BED4 of the bins (name = gene_id:bin), as the authors never shipped one."""
    names = bins["gene_id"] + ":" + bins["bin"].astype(str)
    table = pd.DataFrame(
        {"chrom": bins["chrom"], "start": bins["start"], "end": bins["end"], "name": names}
    )
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", header=False, index=False)
