import numpy as np
import pandas as pd
import pytest

from attentivechrome.data.genome import match_chroms, read_chrom_sizes
from attentivechrome.data.labels import assign_splits, label_by_median, split_sizes
from attentivechrome.data.windows import bins_per_gene, gene_bins
from attentivechrome.errors import InputError


def test_bins_cover_tss_flank_in_genomic_order():
    genes = pd.DataFrame(
        {"gene_id": ["G1", "G2"], "chrom": ["chr1", "chr1"], "tss": [20000, 30000]}
    )
    bins = gene_bins(genes, {"chr1": 100000}, flank=5000, bin_size=100)
    assert len(bins) == 200
    first = bins[bins.gene_id == "G1"]
    assert (first.start.iloc[0], first.end.iloc[0]) == (15000, 15100)
    assert (first.start.iloc[99], first.end.iloc[99]) == (24900, 25000)
    assert list(first.bin) == list(range(1, 101))
    assert ((first.end - first.start) == 100).all()


def test_bins_are_clipped_at_chromosome_edges():
    genes = pd.DataFrame(
        {"gene_id": ["start", "end"], "chrom": ["chr1", "chr1"], "tss": [150, 9980]}
    )
    bins = gene_bins(genes, {"chr1": 10000}, flank=5000, bin_size=100)
    near_start = bins[bins.gene_id == "start"]
    assert (near_start.start >= 0).all()
    assert near_start.start.iloc[49] == 50 and near_start.end.iloc[49] == 150
    assert near_start.start.iloc[48] == 0 and near_start.end.iloc[48] == 50  # partly inside
    assert (near_start.start.iloc[:48] == near_start.end.iloc[:48]).all()  # wholly outside: empty
    near_end = bins[bins.gene_id == "end"]
    assert near_end.end.max() == 10000
    assert near_end.start.iloc[50] == 9980 and near_end.end.iloc[50] == 10000


def test_bin_size_must_divide_window():
    assert bins_per_gene(5000, 100) == 100
    with pytest.raises(InputError, match="bin_size 300 must be positive and divide"):
        bins_per_gene(5000, 300)


def test_labels_strictly_above_median():
    rpkm = pd.Series([0.0, 1.0, 2.0, 2.0, 5.0])
    assert list(label_by_median(rpkm)) == [0, 0, 0, 0, 1]  # median 2: ties are 0
    assert list(label_by_median(pd.Series([1.0, 2.0, 3.0, 4.0]))) == [0, 0, 1, 1]


def test_published_split_sizes():
    assert split_sizes(19802, 6601, 6601) == (6601, 6601, 6600)
    assert split_sizes(1200, 0.3334, 0.3333) == (400, 400, 400)
    with pytest.raises(InputError, match="leaves -2 test genes out of 10"):
        split_sizes(10, 6, 6)


def test_split_follows_sorted_ids_whatever_the_row_order():
    ids = pd.Series([f"ENSG{i:011d}" for i in (5, 1, 4, 2, 3, 6)])
    split = assign_splits(ids, 2, 2)
    by_id = dict(zip(ids, split, strict=True))
    assert [by_id[f"ENSG{i:011d}"] for i in range(1, 7)] == ["train"] * 2 + ["valid"] * 2 + [
        "test"
    ] * 2


def test_chrom_names_and_sizes(tmp_path):
    hg19 = {"chr1": 1, "chr7": 1, "chrM": 1, "chrX": 1}
    names = ["MT", "7", "chr1", "X", "chrUn_x", "M"]
    assert match_chroms(names, hg19) == {
        "MT": "chrM", "7": "chr7", "chr1": "chr1", "X": "chrX", "M": "chrM"
    }  # fmt: skip
    ensembl = {"1": 1, "MT": 1}
    assert match_chroms(["chr1", "chrM", "chrMT", "2"], ensembl) == {
        "chr1": "1", "chrM": "MT", "chrMT": "MT"
    }  # fmt: skip
    assert match_chroms(["1"], {"chr1": 1, "1": 1}) == {"1": "1"}  # the exact name first
    path = tmp_path / "sizes"
    path.write_text("chr1\t1000\nchr2\tx\n")
    with pytest.raises(InputError, match="sizes, line 2: size 'x' is not a positive integer"):
        read_chrom_sizes(path)
    path.write_text("chr1\t1000\n")
    assert read_chrom_sizes(path) == {"chr1": 1000}
    assert np.int64(1000) == read_chrom_sizes(path)["chr1"]
