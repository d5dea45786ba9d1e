"""How many reads each (cell type, mark) counted: a stop for none, a warning for very few.

A mark's depth is its reads-in-bins: the sum of its counts over every bin of every gene and
over its replicates (a read across a bin edge counts twice, as in the counts themselves).
Both counters give the same counts, so they take the same decisions:

- Zero reads-in-bins for a (cell type, mark) means that no record of any of its files
  overlaps any TSS window bin under the counting rules: its input would be all zeros and
  the model trained on nothing. The counting job stops, naming the files and, for each,
  what became of its records (counting.ReadTally). A replicate with none while the others
  of its mark have some is a warning.
- Across cell types (the read_depth rule): a (cell type, mark) below LOW_FRACTION of the
  median of that mark over the cell types is a warning, in the rule's log and table
  (results/qc/depth.tsv) and in the summary's log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.counting import ReadFilter, ReadTally
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path

log = logging.getLogger(__name__)

#: A (cell type, mark) with reads-in-bins below this fraction of its mark's median is low.
LOW_FRACTION = 0.05
COLUMNS = ["cell", "mark", "reads_in_bins", "mark_median", "fraction_of_median", "low"]


def check_every_mark_counted(
    per_bam: np.ndarray,
    marks: Sequence[str],
    sources: Sequence[str],
    tallies: Callable[[list[int]], dict[int, ReadTally]],
    read_filter: ReadFilter,
    cell: str,
) -> None:
    """Stop when a mark of `cell` counted no read; warn about a replicate that counted none.

    `per_bam` holds counts per bin (rows) and BAM (columns), `marks[i]` and `sources[i]`
    are the mark and the user's file of column i; `tallies(columns)` gives the ReadTally of
    those columns (from the counting pass, or a pass of its own for multicov)."""
    totals = per_bam.sum(axis=0)
    columns_of = {
        mark: [i for i, m in enumerate(marks) if m == mark] for mark in sorted(set(marks))
    }
    empty = [mark for mark, columns in columns_of.items() if not totals[columns].sum()]
    lone = [i for mark, columns in columns_of.items() if mark not in empty for i in columns]
    lone = [i for i in lone if not totals[i]]
    found = tallies([i for mark in empty for i in columns_of[mark]] + lone)
    for i in lone:
        log.warning(
            "%s: replicate %s counted no read in any TSS window, its mark is counted from the "
            "other replicates: %s",
            f"{cell} {marks[i]}".strip(),
            sources[i],
            found[i].describe(read_filter, 0),
        )
    if empty:
        problems = [
            f"{cell} {mark}".strip()
            + " counted no read in any TSS window, so its input would be all zeros: "
            + "; ".join(
                f"{sources[i]}: {found[i].describe(read_filter, 0)}" for i in columns_of[mark]
            )
            for mark in empty
        ]
        raise InputError(None, " | ".join(problems))


def depth_table(counts: Mapping[str, str | Path]) -> pd.DataFrame:
    """Reads-in-bins per (cell type, mark) from each cell type's counts.npz, against the
    median of the mark over the cell types."""
    rows = []
    for cell, path in counts.items():
        with np.load(path) as archive:
            totals = (
                archive["reads_in_bins"]
                if "reads_in_bins" in archive.files
                else archive["X"].sum(axis=(0, 2), dtype=np.int64)
            )
            rows += [(cell, str(m), int(n)) for m, n in zip(archive["marks"], totals, strict=True)]
    table = pd.DataFrame(rows, columns=COLUMNS[:3])
    table["mark_median"] = table.groupby("mark")["reads_in_bins"].transform("median")
    table["fraction_of_median"] = table["reads_in_bins"] / table["mark_median"].where(
        table["mark_median"] > 0
    )
    table["low"] = np.where(table["fraction_of_median"] < LOW_FRACTION, "yes", "no")
    return table


def warnings(table: pd.DataFrame) -> list[str]:
    """One line per low (cell type, mark) of a depth table."""
    return [
        f"{row.cell} {row.mark}: {row.reads_in_bins} reads in bins, "
        f"{row.fraction_of_median:.1%} of the median of {row.mark} over the cell types "
        f"({row.mark_median:g}), below {LOW_FRACTION:.0%}: check its files and the counting "
        "settings before trusting its model"
        for row in table[table["low"] == "yes"].itertuples()
    ]


def write_depth(counts: Mapping[str, str | Path], out: Path) -> pd.DataFrame:
    """The depth table as TSV, each low (cell type, mark) a warning in the log."""
    table = depth_table(counts)
    for line in warnings(table):
        log.warning("%s", line)
    log.info("%d cell types x marks, %d low", len(table), int((table["low"] == "yes").sum()))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table


def report_depth(path: Path) -> None:
    """Repeat a depth table's warnings in the current log (the summary's)."""
    table = pd.read_csv(path, sep="\t", dtype={"cell": str, "mark": str})
    for line in warnings(table):
        log.warning("read depth: %s", line)
