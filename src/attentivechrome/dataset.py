"""Per-split datasets: the authors' CSV layout and a binary copy for training.

Authors' CSV (`{cell}/classification/{split}.csv` in their Zenodo record): no header,
`n_bins` rows per gene in bin order; columns: gene id without `ENSG00000`, bin (1-based),
one count per mark in alphabetical mark order, then the gene's label on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_path

ENSEMBL_PREFIX = "ENSG00000"


@dataclass
class SplitData:
    gene_ids: np.ndarray  # (n,) str
    marks: np.ndarray  # (m,) str, sorted
    X: np.ndarray  # (n, m, bins) int32
    y: np.ndarray  # (n,) int8

    def __post_init__(self):
        n, m, _ = self.X.shape
        if len(self.gene_ids) != n or len(self.y) != n or len(self.marks) != m:
            raise ValueError("gene_ids, marks, X and y disagree in size")


def short_id(gene_id: str) -> str:
    return gene_id[len(ENSEMBL_PREFIX) :] if gene_id.startswith(ENSEMBL_PREFIX) else gene_id


def long_id(short: str) -> str:
    return ENSEMBL_PREFIX + short if short.isdigit() and len(short) == 6 else short


def write_npz(data: SplitData, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            X=data.X.astype(np.int32),
            y=data.y.astype(np.int8),
            gene_ids=data.gene_ids.astype(str),
            marks=data.marks.astype(str),
        )


def read_npz(path: str | Path) -> SplitData:
    with np.load(path) as archive:
        return SplitData(archive["gene_ids"], archive["marks"], archive["X"], archive["y"])


def write_authors_csv(data: SplitData, path: str | Path) -> None:
    n, m, n_bins = data.X.shape
    table = pd.DataFrame(data.X.transpose(0, 2, 1).reshape(n * n_bins, m), columns=list(data.marks))
    table.insert(0, "bin", np.tile(np.arange(1, n_bins + 1), n))
    table.insert(0, "gene", np.repeat([short_id(g) for g in data.gene_ids], n_bins))
    table["label"] = np.repeat(data.y.astype(int), n_bins)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, header=False, index=False)


def read_authors_csv(path: str | Path, marks: list[str], n_bins: int = 100) -> SplitData:
    """Read the authors' CSV layout, checking every rule; errors name file and line."""
    marks = sorted(marks)
    width = 2 + len(marks) + 1
    rows = _read_rows(path, width)
    if len(rows) % n_bins:
        raise InputError(path, f"{len(rows)} rows is not a multiple of {n_bins} bins per gene")
    values = rows.iloc[:, 1:].to_numpy()
    genes = rows.iloc[:, 0].to_numpy().reshape(-1, n_bins)
    bins = values[:, 0].reshape(-1, n_bins)
    labels = values[:, -1].reshape(-1, n_bins)
    expected_bins = np.arange(1, n_bins + 1)
    for g in range(len(genes)):
        first_line = g * n_bins + 1
        if (genes[g] != genes[g, 0]).any() or (bins[g] != expected_bins).any():
            bad = int(np.flatnonzero((genes[g] != genes[g, 0]) | (bins[g] != expected_bins))[0])
            raise InputError(
                path,
                f"gene {genes[g, 0]}: expected bin {bad + 1} of {n_bins} for this gene, "
                f"found gene {genes[g, bad]} bin {bins[g, bad]} (a missing or extra bin row?)",
                line=first_line + bad,
            )
        if (labels[g] != labels[g, 0]).any() or labels[g, 0] not in (0, 1):
            raise InputError(
                path,
                f"gene {genes[g, 0]}: label must be 0 or 1 and the same on all rows",
                line=first_line,
            )
    counts = values[:, 1:-1].reshape(-1, n_bins, len(marks)).transpose(0, 2, 1)
    if (counts < 0).any():
        line = int(np.flatnonzero((values[:, 1:-1] < 0).any(axis=1))[0]) + 1
        raise InputError(path, "counts must be non-negative", line=line)
    gene_ids = np.array([long_id(g) for g in genes[:, 0]])
    return SplitData(
        gene_ids, np.array(marks), counts.astype(np.int32), labels[:, 0].astype(np.int8)
    )


def _read_rows(path: str | Path, width: int) -> pd.DataFrame:
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            found = line.count(",") + 1
            if found != width:
                raise InputError(
                    path, f"expected {width} comma-separated columns, found {found}", line=number
                )
    try:
        rows = pd.read_csv(path, header=None, dtype={0: str})
    except pd.errors.EmptyDataError:
        raise InputError(path, "the file is empty") from None
    numeric = rows.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    if numeric.isna().to_numpy().any():
        line = int(np.flatnonzero(numeric.isna().any(axis=1))[0]) + 1
        raise InputError(path, "bin, counts and label must be integers", line=line)
    rows.iloc[:, 1:] = numeric
    return pd.concat([rows.iloc[:, :1], numeric.astype(np.int64)], axis=1)


def import_authors_csv(
    source: str | Path, marks: list[str], n_bins: int, out_stem: Path
) -> SplitData:
    """Check one of the authors' CSV files and write it (CSV + binary) as if made here."""
    data = read_authors_csv(source, marks, n_bins)
    write_authors_csv(data, out_stem.with_suffix(".csv"))
    write_npz(data, out_stem.with_suffix(".npz"))
    return data
