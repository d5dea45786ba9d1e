"""Expression labels, the regression target and the gene split shared by every cell type."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attentivechrome.errors import InputError

SPLITS = ("train", "valid", "test")


def label_by_median(rpkm: pd.Series, entries: pd.Series | None = None) -> pd.Series:
    """1 where RPKM is strictly above the median over the given genes, else 0.

    Ties at the median go to 0 (the authors' "above the median"); Chromoformer uses >=,
    so the choice is stated here and in the README. `entries` (aligned with `rpkm`) is how
    many entries of the gene list each gene is: the median is taken over the entries.
    """
    return (rpkm > entries_median(rpkm, entries)).astype(np.int8)


def expression_level(expression: pd.Series) -> pd.Series:
    """The regression target: log2(expression + 1), in whatever unit the table has.

    The table's values are checked non-negative and finite where it is read
    (`expression.read_expression`), so every level is a finite number >= 0.
    """
    return np.log2(expression.astype(np.float64) + 1.0).astype(np.float32)


def entries_median(rpkm: pd.Series, entries: pd.Series | None = None) -> float:
    """The median over the gene list's entries: a gene listed k times counts k times."""
    if entries is None:
        return float(rpkm.median())
    return float(np.median(np.repeat(rpkm.to_numpy(float), entries.to_numpy(int))))


def split_sizes(n_genes: int, train: float, valid: float) -> tuple[int, int, int]:
    """Counts for train/valid/test: integers are gene counts, numbers below 1 fractions
    (of the gene list's entries, when genes are counted by entries)."""
    n_train, n_valid = (
        _as_count(value, n_genes, name) for value, name in ((train, "train"), (valid, "valid"))
    )
    n_test = n_genes - n_train - n_valid
    if n_train < 1 or n_valid < 1 or n_test < 1:
        raise InputError(
            None,
            f"split: train={train}, valid={valid} leaves {n_test} test genes out of {n_genes}; "
            "every split needs at least one gene",
        )
    return n_train, n_valid, n_test


def _as_count(value: float, n_genes: int, name: str) -> int:
    if isinstance(value, float) and 0 < value < 1:
        return int(round(value * n_genes))
    if float(value).is_integer() and value >= 1:
        return int(value)
    raise InputError(
        None, f"split.{name} must be a gene count (>= 1) or a fraction in (0, 1), got {value}"
    )


def assign_splits(
    gene_ids: pd.Series, train: float, valid: float, entries: pd.Series | None = None
) -> pd.Series:
    """Split genes sorted by id: the first `train`, the next `valid`, the rest test.

    `entries` (aligned with `gene_ids`, default 1 each) is how many entries of the gene list
    each gene is; the boundaries are placed on the entries, and a gene goes where its first
    entry falls. The published REMC list has 7 ids twice (see gene_entries in the schema).
    """
    order = np.argsort(gene_ids.to_numpy(), kind="stable")
    counts = np.ones(len(gene_ids), int) if entries is None else entries.to_numpy(int)[order]
    n_train, n_valid, _ = split_sizes(int(counts.sum()), train, valid)
    first_entry = np.cumsum(counts) - counts
    names = np.array(SPLITS)[np.searchsorted([n_train, n_train + n_valid], first_entry, "right")]
    split = np.empty(len(gene_ids), dtype=object)
    split[order] = names
    return pd.Series(split, index=gene_ids.index, name="split")
