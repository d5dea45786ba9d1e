"""Coverage tracks: reads per genome bin against the pipeline's own counter on tiled bins,
CPM in the bigWig, the tally and the reads in TSS windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyBigWig

from attentivechrome.data.counting import ReadFilter, count_and_tally
from attentivechrome.tracks.coverage import Windows, bam_coverage, coverage, tracks_pool
from bam_records import write_bam

SIZES = {"chr1": 10_010, "chr2": 4_000}
BIN = 50
FLAG_DUPLICATE, FLAG_QC_FAIL, FLAG_SECONDARY, FLAG_UNMAPPED = 0x400, 0x200, 0x100, 0x4

# (chromosome index, position, flag, MAPQ[, CIGAR]) on SIZES' chromosomes (2: unknown).
RECORDS = [
    (0, 0, 0, 60),  # at the chromosome start
    (0, 30, 0, 60),  # across the edge at 50: both bins
    (0, 50, 0, 60),  # starts exactly at 50
    (0, 14, 0, 60, "36M"),  # ends exactly at 50: not in [50, 100)
    (0, 200, 0, 60, "10M500N10M"),  # a spliced record spans 520 bases, as multicov counts
    (0, 300, FLAG_DUPLICATE, 60),  # skipped
    (0, 300, FLAG_QC_FAIL, 60),  # skipped
    (0, 310, 0, 5),  # below min_mapq 10
    (0, 320, FLAG_SECONDARY, 60),  # counted, and tallied as secondary
    (0, 9_990, 0, 60),  # runs past the end of chr1 (10,010): the last, partial bin
    (1, 3_964, 16, 60),  # at the end of chr2
    (2, 100, 0, 60),  # on a chromosome the sizes lack
]
HEADER = {
    "HD": {"VN": "1.6", "SO": "coordinate"},
    "SQ": [{"SN": c, "LN": n} for c, n in SIZES.items()] + [{"SN": "chrUn", "LN": 1000}],
}
FILTER = ReadFilter(min_mapq=10)


def tiles(sizes: dict[str, int], size: int) -> pd.DataFrame:
    """The genome in bins of `size` (the last of a chromosome ends at its end)."""
    rows = [(c, s, min(s + size, n)) for c, n in sizes.items() for s in range(0, n, size)]
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def bigwig_bins(path, chrom: str, length: int, size: int) -> np.ndarray:
    """The bigWig's value in each bin (no data read as 0)."""
    values = np.nan_to_num(pyBigWig.open(str(path)).values(chrom, 0, length, numpy=True))
    return values[::size]


def test_coverage_is_the_counter_on_tiled_bins(tmp_path):
    bam = write_bam(tmp_path / "a.bam", RECORDS, HEADER)
    got = coverage([bam], SIZES, BIN, FILTER)
    bins = tiles(SIZES, BIN)
    counts, (tally,) = count_and_tally([bam], bins, FILTER, SIZES)
    np.testing.assert_array_equal(np.concatenate(list(got.counts.values())), counts[:, 0])
    assert got.tallies[0] == tally
    assert (tally.records, tally.passed, tally.secondary) == (12, 8, 1)
    assert tally.dropped["off_genome"] == tally.dropped["mapq"] == 1
    assert got.counts["chr1"][:3].tolist() == [3, 2, 0]
    assert got.counts["chr1"][-1] == 1 and len(got.counts["chr1"]) == 201


def test_bigwig_holds_reads_per_million_of_the_passing_reads(tmp_path):
    bam = write_bam(tmp_path / "a.bam", RECORDS, HEADER)
    genes = tmp_path / "genes.tsv"
    pd.DataFrame({"gene_id": ["G1", "G2"], "chrom": ["chr1", "chr2"], "tss": [100, 3_990]}).to_csv(
        genes, sep="\t", index=False
    )
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    qc, out = tmp_path / "qc.tsv", tmp_path / "a.bw"
    result = bam_coverage(bam, genes, sizes, 150, BIN, {"min_mapq": 10}, qc, out)
    with pyBigWig.open(str(out)) as bigwig:
        assert bigwig.chroms() == SIZES
    for chrom, length in SIZES.items():
        expected = result.counts[chrom] * 1e6 / 8
        np.testing.assert_allclose(bigwig_bins(out, chrom, length, BIN), expected, rtol=1e-6)
    row = pd.read_csv(qc, sep="\t").iloc[0]
    # Windows [0, 250) and [3840, 4000): the passing reads there, each once.
    assert (row["records"], row["passed"], row["in_windows"]) == (12, 8, 6)


def test_reads_in_windows_count_each_read_once():
    genes = pd.DataFrame(
        {"gene_id": ["A", "B", "C"], "chrom": ["chr1"] * 3, "tss": [1_000, 1_300, 5_000]}
    )
    windows = Windows.of_genes(genes, SIZES, 200)
    # A and B overlap: one interval [800, 1500); C alone.
    assert windows.starts["chr1"].tolist() == [800, 4_800]
    assert windows.ends["chr1"].tolist() == [1_500, 5_200]
    start = np.array([700, 764, 765, 1_499, 1_500, 3_000, 5_100])
    end = start + 36
    # In: 765, 1499, 5100. The read [764, 800) ends where the window begins, and the one
    # at 1500 begins where it ends.
    assert windows.overlapping("chr1", start, end) == 3
    assert windows.overlapping("chr2", start, end) == 0


def test_pooled_track_is_the_cpm_of_the_replicates_together(tmp_path):
    one = write_bam(tmp_path / "one.bam", RECORDS, HEADER)
    two = write_bam(tmp_path / "two.bam", RECORDS[:3], HEADER)
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    out = tmp_path / "pooled.bw"
    tracks_pool([one, two], sizes, BIN, {"min_mapq": 10}, out)
    a, b = (coverage([bam], SIZES, BIN, FILTER) for bam in (one, two))
    assert (a.passed(), b.passed()) == (8, 3)
    expected = (a.counts["chr1"] + b.counts["chr1"]) * 1e6 / 11
    np.testing.assert_allclose(bigwig_bins(out, "chr1", SIZES["chr1"], BIN), expected, rtol=1e-6)


def test_no_passing_read_gives_an_empty_track(tmp_path):
    bam = write_bam(tmp_path / "a.bam", [(0, 10, FLAG_DUPLICATE, 60)], HEADER)
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    out = tmp_path / "a.bw"
    tracks_pool([bam], sizes, BIN, {}, out)
    with pyBigWig.open(str(out)) as bigwig:
        assert bigwig.chroms() == SIZES and bigwig.intervals("chr1") is None
