"""Per-split datasets: the authors' CSV layout and a binary copy for training.

Authors' CSV (`{cell}/classification/{split}.csv` in their Zenodo record): no header,
`n_bins` rows per gene in bin order; columns: gene id without `ENSG00000`, bin (1-based),
one count per mark in alphabetical mark order, then the gene's label on every row.

Binary copy (`{split}.npz`): arrays X int32 (genes, marks, bins), y int8, gene_ids and
marks (sorted). `read_npz` is its one reader and checks every rule of it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.labels import SPLITS
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path

ENSEMBL_PREFIX = "ENSG00000"
NPZ_ARRAYS = ("X", "y", "gene_ids", "marks")
NO_LABEL = -1  # y of a gene whose cell type has no expression (a sample to predict)


@dataclass
class SplitData:
    """One split of one cell type."""

    gene_ids: np.ndarray  # (n,) str
    marks: np.ndarray  # (m,) str, sorted
    X: np.ndarray  # (n, m, bins) int32
    y: np.ndarray  # (n,) int8
    path: Path | None = None  # the .npz it was read from, if any

    def __post_init__(self):
        n, m, _ = self.X.shape
        if len(self.gene_ids) != n or len(self.y) != n or len(self.marks) != m:
            raise ValueError("gene_ids, marks, X and y disagree in size")

    @property
    def n(self) -> int:
        return len(self.y)


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


def read_npz(path: str | Path, name: str | None = None) -> SplitData:
    """Read and check one split file; every problem is an InputError naming the file.

    `name` (train, valid or test) words the messages; the file's stem by default.
    """
    path = Path(path)
    name = name or path.stem
    if not path.is_file():
        raise InputError(path, f"{name} split file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = sorted(set(NPZ_ARRAYS) - set(archive.files))
            if missing:
                raise InputError(
                    path, f"missing array(s) {missing}; expected X, y, gene_ids and marks"
                )
            arrays = {key: archive[key] for key in NPZ_ARRAYS}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(path, f"not a readable .npz archive ({error})") from None
    _check_arrays(path, name, **arrays)
    return SplitData(arrays["gene_ids"], arrays["marks"], arrays["X"], arrays["y"], path)


def _check_arrays(
    path: Path, name: str, X: np.ndarray, y: np.ndarray, gene_ids: np.ndarray, marks: np.ndarray
) -> None:
    # Imported here: metrics loads scikit-learn, which the steps that only write splits
    # (prepare) need not pay for.
    from attentivechrome.learn.metrics import OneClassError, check_two_classes

    if X.ndim != 3 or not np.issubdtype(X.dtype, np.integer):
        raise InputError(
            path, f"X must be integer counts of shape (genes, marks, bins), got {X.dtype} {X.shape}"
        )
    if X.shape[0] == 0:
        raise InputError(path, "the split holds no genes")
    if y.shape != (X.shape[0],) or gene_ids.shape != (X.shape[0],):
        raise InputError(
            path, f"y {y.shape} and gene_ids {gene_ids.shape} must have {X.shape[0]} rows"
        )
    if marks.shape != (X.shape[1],):
        raise InputError(path, f"marks {marks.shape} must list the {X.shape[1]} marks of X")
    if list(marks) != sorted(marks):
        raise InputError(path, f"marks must be in sorted order, got {list(marks)}")
    if (X < 0).any():
        gene = gene_ids[np.flatnonzero((X < 0).any(axis=(1, 2)))[0]]
        raise InputError(path, f"gene {gene}: counts must be non-negative")
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        raise InputError(path, f"gene {gene_ids[bad[0]]}: label {y[bad[0]]}, expected 0 or 1")
    try:
        check_two_classes(y, f"{name} split")
    except OneClassError as error:
        raise InputError(path, str(error)) from None


def read_splits(paths: dict[str, str | Path]) -> dict[str, SplitData]:
    """The train, valid and test files of one cell type, each checked, and all alike in
    marks and bins (the train split's)."""
    splits = {name: read_npz(paths[name], name) for name in SPLITS}
    train = splits["train"]
    for split in splits.values():
        if list(split.marks) != list(train.marks) or split.X.shape[2] != train.X.shape[2]:
            raise InputError(
                split.path,
                f"marks {list(split.marks)} x {split.X.shape[2]} bins differ from the train "
                f"split's {list(train.marks)} x {train.X.shape[2]} bins ({train.path})",
            )
    return splits


def write_authors_csv(data: SplitData, path: str | Path) -> None:
    n, m, n_bins = data.X.shape
    table = pd.DataFrame(data.X.transpose(0, 2, 1).reshape(n * n_bins, m), columns=list(data.marks))
    table.insert(0, "bin", np.tile(np.arange(1, n_bins + 1), n))
    table.insert(0, "gene", np.repeat([short_id(g) for g in data.gene_ids], n_bins))
    table["label"] = np.repeat(data.y.astype(int), n_bins)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, header=False, index=False)


def read_authors_csv(
    path: str | Path, marks: list[str], n_bins: int = 100, *, labels_optional: bool = False
) -> SplitData:
    """Read the authors' CSV layout, checking every rule; errors name file and line.

    With `labels_optional` (a matrix to predict, as Kipoi takes it) the label column may
    be left out; its genes then have the label NO_LABEL."""
    marks = sorted(marks)
    width = 2 + len(marks) + 1
    labelled = not (labels_optional and _first_line_width(path) == width - 1)
    rows = _read_rows(path, width if labelled else width - 1)
    if not labelled:
        rows[width - 1] = NO_LABEL
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
        if labelled and ((labels[g] != labels[g, 0]).any() or labels[g, 0] not in (0, 1)):
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


def _first_line_width(path: str | Path) -> int:
    with open(path) as handle:
        return handle.readline().count(",") + 1


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
