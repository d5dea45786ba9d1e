"""bigWig files written with pyBigWig, and the BED9 gene track as BED and bigBed.

A bigWig here holds intervals (bedGraph-like entries): runs of equal values, zero runs left
out (a browser reads no data as 0). Chromosomes are those of the chromosome sizes, in their
order, spelt as they spell them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pybigtools
import pyBigWig

from attentivechrome.io import atomic_path

#: One chromosome's entries: chrom, starts, ends (int64) and values (float).
Entries = tuple[str, np.ndarray, np.ndarray, np.ndarray]

#: The BED9 columns, in order.
BED9_COLUMNS = [
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "thickStart",
    "thickEnd",
    "itemRgb",
]
#: autoSql of BED9, which bigBed stores so that browsers know the fields.
BED9_AUTOSQL = """table bed9
"Browser extensible data, 9 fields"
    (
    string chrom;      "Chromosome"
    uint   chromStart; "Start position (0-based)"
    uint   chromEnd;   "End position (exclusive)"
    string name;       "Gene symbol"
    uint   score;      "1000 x probability of expression (regression: percentile of the level)"
    char[1] strand;    "Strand of the gene"
    uint   thickStart; "The TSS"
    uint   thickEnd;   "One base past the TSS"
    uint   reserved;   "Colour by the score (itemRgb)"
    )
"""


def bin_runs(values: np.ndarray, bin_size: int, length: int) -> tuple[np.ndarray, ...]:
    """Runs of equal non-zero values over a chromosome's bins of `bin_size` bases (the last
    bin ends at `length`): their starts, ends and values."""
    n = len(values)
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=values.dtype)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    first = np.concatenate(([0], change))
    last = np.concatenate((change, [n]))
    run_values = values[first]
    keep = run_values != 0
    starts = first[keep].astype(np.int64) * bin_size
    ends = np.minimum(last[keep].astype(np.int64) * bin_size, length)
    return starts, ends, run_values[keep]


def write_bigwig(path: str | Path, chrom_sizes: Mapping[str, int], entries: Iterable[Entries]):
    """A bigWig of `entries`, given chromosome by chromosome in the sizes' order, each
    chromosome's intervals sorted and not overlapping."""
    with atomic_path(path) as tmp:
        bigwig = pyBigWig.open(str(tmp), "w")
        try:
            bigwig.addHeader([(chrom, int(size)) for chrom, size in chrom_sizes.items()])
            for chrom, starts, ends, values in entries:
                if len(starts):
                    bigwig.addEntries(
                        [chrom] * len(starts),
                        starts.astype(np.int64),
                        ends=ends.astype(np.int64),
                        values=values.astype(np.float64),
                    )
        finally:
            bigwig.close()


def write_bed9(table: pd.DataFrame, chrom_sizes: Mapping[str, int], bed: Path, bigbed: Path):
    """The BED9 `table` (BED9_COLUMNS) as a plain BED (for IGV) and a bigBed (UCSC hubs take
    only indexed files), both sorted by chromosome (the sizes' order) and start."""
    order = {chrom: i for i, chrom in enumerate(chrom_sizes)}
    table = table[BED9_COLUMNS].copy()
    table["_chrom"] = table["chrom"].map(order)
    table = table.sort_values(["_chrom", "start", "end"], kind="stable").drop(columns="_chrom")
    with atomic_path(bed) as tmp:
        table.to_csv(tmp, sep="\t", header=False, index=False)
    name, *others = (table[column].astype(str) for column in BED9_COLUMNS[3:])
    rest = name.str.cat(others, sep="\t")
    rows = zip(
        table["chrom"], table["start"].astype(int), table["end"].astype(int), rest, strict=True
    )
    with atomic_path(bigbed) as tmp:
        writer = pybigtools.open(str(tmp), "w")
        writer.write(
            {chrom: int(size) for chrom, size in chrom_sizes.items()},
            ((c, s, e, r) for c, s, e, r in rows),
            autosql=BED9_AUTOSQL,
        )
