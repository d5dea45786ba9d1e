"""How far counting the REMC gene list's 7 repeated ids twice moves the labels' median.

Prints, for the demo's cell types and for simulated REMC-size tables (19,795 genes, the 7
ids of the published list twice), the median over ids, the median over annotation rows and
how many genes change label. Run from the repository root:
    python benchmarks/gene_entries_median.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.expression import read_expression
from attentivechrome.data.labels import entries_median, label_by_median

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "tests" / "fixtures" / "remc_published_gene_order.txt.gz"


def compare(rpkm: pd.Series, entries: pd.Series) -> tuple[float, float, int]:
    once = label_by_median(rpkm)
    listed = label_by_median(rpkm, entries)
    return entries_median(rpkm), entries_median(rpkm, entries), int((once != listed).sum())


def demo() -> None:
    info = pd.read_csv(REPO / "resources/demo/gene_info.tsv", sep="\t", header=None)
    rows = info[0].value_counts()
    matrix = read_expression(REPO / "resources/demo/demo.RPKM.pc.gz")
    kept = matrix.index.intersection(rows.index)
    for cell in matrix.columns:
        rpkm = matrix.loc[kept, cell]
        a, b, flips = compare(rpkm, rows.reindex(kept))
        print(f"demo {cell}: {len(kept)} genes, median {a:.4g} -> {b:.4g}, {flips} labels change")


def simulated(n_tables: int = 56) -> None:
    with gzip.open(PUBLISHED, "rt") as handle:
        listed = pd.Series(handle.read().split()).value_counts().sort_index()
    rng = np.random.default_rng(1)
    flips = []
    for _ in range(n_tables):
        # About a fifth of genes unexpressed, the rest log-normal, roughly as RPKM tables are.
        rpkm = rng.lognormal(1.0, 2.0, len(listed)) * (rng.random(len(listed)) > 0.2)
        a, b, changed = compare(pd.Series(rpkm, index=listed.index), listed)
        flips.append(changed)
    print(
        f"simulated REMC-size tables ({n_tables}, {len(listed)} genes, {listed.sum()} entries): "
        f"labels changed per table: min {min(flips)}, median {int(np.median(flips))}, "
        f"max {max(flips)}; last table's median {a:.4g} -> {b:.4g}"
    )


if __name__ == "__main__":
    demo()
    simulated()
