"""The REMC configuration puts every gene in the split the published data has it in.

tests/fixtures/remc_published_gene_order.txt.gz is the published list of 19,802 entries (the
authors' processed REMC data, in the order their split is cut: 6601 / 6601 / 6600), in which
7 ids appear twice because Roadmap's gene_info lists them under two symbols."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from attentivechrome.data.labels import label_by_median
from attentivechrome.data.prepare import reference_genes

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = Path(__file__).parents[1] / "fixtures" / "remc_published_gene_order.txt.gz"
TWICE = {
    "ENSG00000062370",
    "ENSG00000104835",
    "ENSG00000167380",
    "ENSG00000167578",
    "ENSG00000183048",
    "ENSG00000188629",
    "ENSG00000213030",
}


def published_entries() -> list[str]:
    with gzip.open(PUBLISHED, "rt") as handle:
        return handle.read().split()


def remc_genes(tmp_path: Path, gene_entries: str) -> pd.DataFrame:
    """reference_genes on a gene_info-shaped table of the published entries, in their order
    (the duplicated ids on two rows with two symbols), with config/remc.yaml's split."""
    entries = published_entries()
    lines = [
        f"{gene}\t1\t{10_000 + 1_000 * i}\t{10_500 + 1_000 * i}\t1\tprotein_coding\tSYM{i}\tgene"
        for i, gene in enumerate(entries)
    ]
    (tmp_path / "gene_info").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    ids = list(dict.fromkeys(entries))
    expression = pd.DataFrame({"gene_id": ids, "E003": rng.lognormal(1, 2, len(ids)).round(3)})
    expression.to_csv(tmp_path / "rpkm.tsv", sep="\t", index=False)
    (tmp_path / "chrom.sizes").write_text("chr1\t249250621\n")
    remc = yaml.safe_load((REPO / "config" / "remc.yaml").read_text())
    return reference_genes(
        tmp_path / "gene_info",
        tmp_path / "rpkm.tsv",
        tmp_path / "chrom.sizes",
        remc["window"],
        remc["split"],
        tmp_path / "genes.tsv",
        tmp_path / "expression.tsv",
        tmp_path / "bins.bed",
        cells=["E003"],
        gene_entries=gene_entries,
    )


def test_published_list_is_the_one_described():
    entries = published_entries()
    assert len(entries) == 19802 and entries == sorted(entries)
    assert {g for g in entries if entries.count(g) == 2} == TWICE
    assert (entries[6601], entries[13202]) == ("ENSG00000132963", "ENSG00000172936")


def test_remc_config_gives_the_published_split_entry_for_entry(tmp_path):
    remc = yaml.safe_load((REPO / "config" / "remc.yaml").read_text())
    genes = remc_genes(tmp_path, remc["gene_entries"]).set_index("gene_id")
    published = np.repeat(["train", "valid", "test"], [6601, 6601, 6600])
    ours = genes.loc[published_entries(), "split"].to_numpy()
    assert (ours == published).all(), np.flatnonzero(ours != published)[:10]
    assert len(genes) == 19795 and genes.index.is_unique  # each gene once
    assert set(genes.index[genes["entries"] == 2]) == TWICE
    assert genes["split"].value_counts().to_dict() == {"train": 6599, "valid": 6599, "test": 6597}
    written = pd.read_csv(tmp_path / "genes.tsv", sep="\t")
    assert written["entries"].sum() == 19802


def test_ids_once_moves_six_genes(tmp_path):
    """The default (each id one entry) is what REMC got before gene_entries: 6 genes moved."""
    genes = remc_genes(tmp_path, "ids").set_index("gene_id")
    published = np.repeat(["train", "valid", "test"], [6601, 6601, 6600])
    ours = genes.loc[published_entries(), "split"].to_numpy()
    moved = sorted(set(np.array(published_entries())[ours != published]))
    assert len(moved) == 6
    assert genes.loc["ENSG00000132965", "split"] == "valid"
    assert genes.loc["ENSG00000172943", "split"] == "test"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [(None, [0, 0, 1, 1]), ([1, 1, 1, 3], [0, 0, 0, 1]), ([3, 1, 1, 1], [0, 1, 1, 1])],
)
def test_median_is_taken_over_the_entries(entries, expected):
    rpkm = pd.Series([1.0, 2.0, 3.0, 4.0])
    weights = None if entries is None else pd.Series(entries)
    assert list(label_by_median(rpkm, weights)) == expected
