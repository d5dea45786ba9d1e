"""The shipped demo dataset: in the REMC layouts, with its edge cases and signal (its
regeneration: test_demos.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from simulate import demo

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "demo"
TAGALIGN_COLUMNS = ["chrom", "start", "end", "name", "score", "strand"]
GENE_INFO_COLUMNS = ["gene_id", "chrom", "start", "end", "strand", "type", "symbol", "description"]


@pytest.fixture(scope="module")
def sizes() -> dict[str, int]:
    table = pd.read_csv(SHIPPED / demo.SIZES_NAME, sep="\t", header=None, names=["chrom", "size"])
    return dict(zip(table["chrom"], table["size"], strict=True))


@pytest.fixture(scope="module")
def gene_info() -> pd.DataFrame:
    return pd.read_csv(
        SHIPPED / demo.GENE_INFO_NAME,
        sep="\t",
        header=None,
        names=GENE_INFO_COLUMNS,
        dtype={"chrom": str},
    )


@pytest.fixture(scope="module")
def expression() -> pd.DataFrame:
    return pd.read_csv(SHIPPED / demo.RPKM_NAME, sep="\t")


@pytest.fixture(scope="module")
def reads() -> dict[tuple[str, str], pd.DataFrame]:
    return {
        (cell, mark): pd.read_csv(
            demo.tagalign_path(SHIPPED, cell, mark), sep="\t", header=None, names=TAGALIGN_COLUMNS
        )
        for cell in demo.CELLS
        for mark in demo.MARKS
    }


@pytest.fixture(scope="module")
def genes(gene_info, expression, sizes) -> pd.DataFrame:
    """Genes with coordinates and expression, sorted by id, with TSS and per-cell labels."""
    table = gene_info.drop_duplicates("gene_id").merge(expression, on="gene_id")
    table["chrom"] = "chr" + table["chrom"]
    table["tss"] = np.where(table["strand"] == 1, table["start"], table["end"])
    for cell in demo.CELLS:
        table[f"label_{cell}"] = (table[cell] > expression[cell].median()).astype(int)
    return table.sort_values("gene_id").reset_index(drop=True)


def count_overlaps(table: pd.DataFrame, chrom: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Reads overlapping each [start, end) by >= 1 bp (the counting rule of the pipeline)."""
    counts = np.zeros(len(start), dtype=np.int64)
    for name in np.unique(chrom):
        on_chrom = table[table["chrom"] == name]
        read_starts = np.sort(on_chrom["start"].to_numpy())
        read_ends = np.sort(on_chrom["end"].to_numpy())
        here = chrom == name
        counts[here] = np.searchsorted(read_starts, end[here]) - np.searchsorted(
            read_ends, start[here], side="right"
        )
    return counts


def stranded_counts(table: pd.DataFrame, genes: pd.DataFrame, near: int, far: int) -> np.ndarray:
    """Reads from `near` to `far` bp downstream of each TSS (negative = upstream)."""
    strand = genes["strand"].to_numpy()
    tss = genes["tss"].to_numpy()
    a, b = tss + strand * near, tss + strand * far
    return count_overlaps(
        table, genes["chrom"].to_numpy(), np.minimum(a, b).clip(0), np.maximum(a, b).clip(0)
    )


# --------------------------------------------------------------------------- layouts


def test_chrom_sizes_layout(sizes):
    text = (SHIPPED / demo.SIZES_NAME).read_text()
    assert all(re.fullmatch(r"chr\d+\t\d+", line) for line in text.splitlines())
    assert list(sizes) == ["chr1", "chr2", "chr3"]
    assert all(1_000_000 <= size <= 10_000_000 for size in sizes.values())


def test_gene_info_layout(gene_info, sizes):
    lines = (SHIPPED / demo.GENE_INFO_NAME).read_text().splitlines()
    assert all(line.count("\t") == 7 for line in lines)
    assert len(gene_info) == len(lines)
    assert gene_info["gene_id"].str.fullmatch(r"ENSG\d{11}").all()
    assert gene_info["gene_id"].is_monotonic_increasing
    assert set(gene_info["chrom"]) == {"1", "2", "3"}
    assert set(gene_info["strand"]) == {1, -1}
    assert (gene_info["type"] == "protein_coding").all()
    assert (gene_info["start"] >= 1).all()
    assert (gene_info["start"] <= gene_info["end"]).all()
    assert (gene_info["end"] <= gene_info["chrom"].map(lambda c: sizes[f"chr{c}"])).all()
    assert 1_150 <= gene_info["gene_id"].nunique() <= 1_250


def test_gene_info_repeats_one_id_with_same_coordinates(gene_info):
    repeated = gene_info[gene_info["gene_id"].duplicated(keep=False)]
    assert len(repeated) == 2
    assert repeated[["chrom", "start", "end", "strand"]].nunique().max() == 1
    assert repeated["symbol"].nunique() == 2


def test_gene_info_has_clipped_windows_at_both_chromosome_ends(genes, sizes):
    size = genes["chrom"].map(sizes)
    assert (genes["tss"] < 5_000).sum() >= 1
    assert (genes["tss"] > size - 5_000).sum() >= 1


def test_most_gene_windows_do_not_overlap(gene_info):
    placed = gene_info.drop_duplicates("gene_id")
    placed = placed.assign(tss=np.where(placed["strand"] == 1, placed["start"], placed["end"]))
    gaps = placed.sort_values(["chrom", "tss"]).groupby("chrom")["tss"].diff().dropna()
    overlapping = (gaps < 10_000).mean()
    assert 0.02 < overlapping < 0.3


def test_expression_layout(expression):
    raw = pd.read_csv(SHIPPED / demo.RPKM_NAME, sep="\t", nrows=0)
    assert list(raw.columns) == ["gene_id", "E000", "DEMO1", "DEMO2", "DEMO3"]
    assert expression["gene_id"].is_unique
    assert expression["gene_id"].is_monotonic_increasing
    values = expression[["E000", *demo.CELLS]]
    assert all(pd.api.types.is_float_dtype(dtype) for dtype in values.dtypes)
    assert (values >= 0).all().all()
    zeros = (values[list(demo.CELLS)] == 0).mean()
    assert ((zeros > 0.05) & (zeros < 0.3)).all()
    assert (values[list(demo.CELLS)].median() > 0).all()


def test_gene_sets_differ_as_in_the_real_files(gene_info, expression):
    info_ids = set(gene_info["gene_id"])
    expression_ids = set(expression["gene_id"])
    assert 1 <= len(info_ids - expression_ids) <= 10
    assert 1 <= len(expression_ids - info_ids) <= 10
    assert len(info_ids & expression_ids) >= 1_150


def test_tagalign_layout(reads, sizes):
    for (cell, mark), table in reads.items():
        where = f"{cell}-{mark}"
        assert 8_000 <= len(table) <= 45_000, where  # depth differs by cell type
        assert (table["end"] - table["start"] == demo.READ_LENGTH).all(), where
        assert (table["start"] >= 0).all(), where
        assert (table["name"] == "N").all() and (table["score"] == 1000).all(), where
        assert set(table["strand"]) == {"+", "-"}, where
        ordered = table.sort_values(["chrom", "start"], kind="stable")
        assert ordered.index.equals(table.index), f"{where} is not sorted by chrom, start"
        assert set(table["chrom"]) == {*sizes, demo.UNPLACED_CHROM}, where
        assert table.duplicated(["chrom", "start", "strand"]).any(), f"{where} has no duplicates"


def test_reads_on_unlisted_contig_in_every_file(reads):
    for table in reads.values():
        assert 1 <= (table["chrom"] == demo.UNPLACED_CHROM).sum() <= 5


def test_exactly_two_reads_run_past_a_chromosome_end(reads, sizes):
    for (cell, mark), table in reads.items():
        size = table["chrom"].map(sizes)
        past = table[size.notna() & (table["end"] > size)]
        expected = 2 if (cell, mark) == demo.OVERHANG_FILE else 0
        assert len(past) == expected, f"{cell}-{mark}"
        assert (past["start"] < size[past.index]).all()


# --------------------------------------------------------------------------- planted signal


@pytest.fixture(scope="module")
def programs(genes) -> pd.DataFrame:
    """The planted program of every gene and cell (the shipped files come from this seed)."""
    planted = demo.simulate().planted.set_index("gene_id")
    return planted.reindex(genes["gene_id"]).reset_index(drop=True)


@pytest.mark.parametrize("cell", demo.CELLS)
def test_programs_follow_the_labels_up_to_the_noise(cell, genes, programs):
    active = programs[cell].to_numpy() == "active"
    agree = (active == (genes[f"label_{cell}"].to_numpy() == 1)).mean()
    assert 0.85 < agree < 0.95  # 10% of labels flipped
    shares = programs.loc[~active, cell].value_counts(normalize=True)
    for program, share in demo.SILENT_MIX.items():
        assert abs(shares[program] - share) < 0.08, program


@pytest.mark.parametrize("cell", demo.CELLS)
def test_the_same_promoter_mark_means_either_label(cell, genes, reads, programs):
    program = programs[cell].to_numpy()
    k4me3 = stranded_counts(reads[(cell, "H3K4me3")], genes, -1_000, 1_000)
    k27me3 = stranded_counts(reads[(cell, "H3K27me3")], genes, -1_000, 1_000)
    active, bivalent = k4me3[program == "active"].mean(), k4me3[program == "bivalent"].mean()
    assert 0.8 < bivalent / active < 1.25  # silent bivalent genes: as much H3K4me3
    assert k27me3[program == "bivalent"].mean() > 3 * k27me3[program == "active"].mean()
    assert k4me3[program == "displaced"].mean() < 0.2 * active  # its peak lies kb away


def test_antisense_h3k36me3_covers_the_upstream_side(genes, reads, programs):
    cell = demo.CELLS[0]
    chosen = genes[programs[cell].to_numpy() == "antisense"]
    table = reads[(cell, "H3K36me3")]
    upstream = stranded_counts(table, chosen, -5_000, -500)
    downstream = stranded_counts(table, chosen, 500, 5_000)
    assert upstream.mean() > 3 * downstream.mean()


@pytest.mark.parametrize("cell", demo.CELLS)
def test_total_counts_predict_the_label_weakly(cell, genes, reads):
    total = sum(stranded_counts(reads[(cell, m)], genes, -5_000, 5_000) for m in demo.MARKS)
    assert 0.5 < roc_auc_score(genes[f"label_{cell}"], total) < 0.65


@pytest.mark.parametrize("strand", [1, -1])
def test_h3k36me3_lies_downstream_in_transcription_direction(strand, genes, reads, programs):
    cell = demo.CELLS[0]
    chosen = genes[(genes["strand"] == strand) & (programs[cell] == "active")]
    table = reads[(cell, "H3K36me3")]
    downstream = stranded_counts(table, chosen, 500, 5_000)
    upstream = stranded_counts(table, chosen, -5_000, -500)
    assert downstream.mean() > 3 * upstream.mean()


def test_cell_types_have_different_labels(genes):
    first, second = (genes[f"label_{cell}"] for cell in demo.CELLS[:2])
    assert 0.1 < (first != second).mean() < 0.5


def test_signal_is_learnable_but_not_trivial(genes, reads):
    """A linear model on per-mark window counts that knows each gene's strand (the bins do
    not), trained on the first third of the ids: it finds most of the signal, not all."""
    cell = demo.CELLS[0]
    features = np.column_stack(
        [
            np.log1p(stranded_counts(reads[(cell, mark)], genes, near, far))
            for mark in demo.MARKS
            for near, far in [(-5_000, -1_000), (-1_000, 1_000), (1_000, 5_000)]
        ]
    )
    label = genes[f"label_{cell}"].to_numpy()
    third = len(genes) // 3
    model = LogisticRegression(max_iter=1_000).fit(features[:third], label[:third])
    auroc = roc_auc_score(label[2 * third :], model.predict_proba(features[2 * third :])[:, 1])
    assert 0.75 < auroc < 0.93
