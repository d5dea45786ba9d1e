"""The regression target in the split files: log2(expression + 1) of the cell type's column,
written only for task: regression, and the expression tables it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attentivechrome.data.dataset import read_npz
from attentivechrome.data.prepare import datasets_build, read_genes
from attentivechrome.errors import InputError
from helpers import MARKS, demo_reference_genes

DEMO = Path(__file__).resolve().parents[2] / "resources/demo"


def datasets(reference: Path, out: Path, task: str, cell: str = "DEMO2") -> Path:
    """datasets_build of `cell` with counts of ones (the counts play no part here)."""
    genes = read_genes(reference / "genes.tsv")
    counts = out / "counts.npz"
    out.mkdir()
    np.savez(
        counts,
        X=np.ones((len(genes), len(MARKS), 100), np.int32),
        gene_ids=genes["gene_id"].to_numpy(str),
        marks=np.array(MARKS),
    )
    datasets_build(
        counts,
        reference / "genes.tsv",
        reference / "expression.tsv",
        cell,
        out,
        expression_source="my-table.tsv",
        task=task,
    )
    return out


@pytest.fixture(scope="module")
def demo_reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    return demo_reference_genes(
        DEMO / "gene_info.tsv",
        DEMO / "demo.RPKM.pc.gz",
        folder / "reference",
        cells=["DEMO1", "DEMO2"],
    )


def test_regression_splits_hold_log2_expression_plus_one(demo_reference, tmp_path):
    regression = datasets(demo_reference, tmp_path / "regression", "regression")
    classification = datasets(demo_reference, tmp_path / "classification", "classification")
    rpkm = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t", index_col="gene_id")["DEMO2"]
    for split in ("train", "valid", "test"):
        data = read_npz(regression / f"{split}.npz")
        expected = np.log2(rpkm.loc[data.gene_ids].to_numpy() + 1)
        np.testing.assert_allclose(data.level, expected, rtol=1e-6)
        assert data.level.dtype == np.float32
        # The same labels and counts; the level only in the regression's binary copy.
        same = read_npz(classification / f"{split}.npz")
        assert same.level is None
        np.testing.assert_array_equal(same.y, data.y)
        assert (regression / f"{split}.csv").read_bytes() == (
            classification / f"{split}.csv"
        ).read_bytes()


def table_with(tmp_path: Path, change) -> Path:
    matrix = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t", dtype={"gene_id": str})
    change(matrix)
    path = tmp_path / "rpkm.tsv"
    matrix.to_csv(path, sep="\t", index=False)
    return path


def test_negative_expression_stops_the_gene_step_naming_the_cell_type(tmp_path):
    path = table_with(tmp_path, lambda m: m.loc.__setitem__((5, "DEMO2"), -0.5))
    with pytest.raises(InputError) as error:
        demo_reference_genes(
            DEMO / "gene_info.tsv", path, tmp_path / "reference", cells=["DEMO1", "DEMO2"]
        )
    message = str(error.value)
    assert "cell type DEMO2" in message and "non-negative" in message and "\n" not in message
    assert not list((tmp_path / "reference").iterdir())


def test_a_constant_column_stops_the_gene_step_naming_the_cell_type(tmp_path):
    path = table_with(tmp_path, lambda m: m.__setitem__("DEMO2", 4.0))
    with pytest.raises(InputError) as error:
        demo_reference_genes(
            DEMO / "gene_info.tsv", path, tmp_path / "reference", cells=["DEMO1", "DEMO2"]
        )
    message = str(error.value)
    assert message.startswith(f"{path}: column DEMO2 is 4 for all 1200 genes kept")
    assert "every level would be the same" in message and "\n" not in message


def test_a_split_whose_levels_are_all_equal_is_refused_before_any_file(demo_reference, tmp_path):
    """The column varies, but not over the test genes: their Pearson r is undefined."""
    genes = read_genes(demo_reference / "genes.tsv")
    test_genes = genes.loc[genes["split"] == "test", "gene_id"]
    path = table_with(
        tmp_path, lambda m: m.loc.__setitem__((m["gene_id"].isin(test_genes), "DEMO2"), 0.0)
    )
    reference = demo_reference_genes(
        DEMO / "gene_info.tsv", path, tmp_path / "reference", cells=["DEMO2"]
    )
    with pytest.raises(InputError) as error:
        datasets(reference, tmp_path / "data", "regression")
    assert str(error.value) == (
        f"my-table.tsv: cell type DEMO2, test split: all {len(test_genes)} genes have level 0; "
        "Pearson and Spearman correlations need levels that differ (check the expression "
        "column or the split sizes)"
    )
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["counts.npz"]
