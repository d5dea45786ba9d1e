"""count_fast against count_multicov and a direct `bedtools multicov` call, on edge cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from attentivechrome.data import bamreader
from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.counting import MULTICOV_DEFAULTS, ReadFilter, count_fast, count_multicov
from attentivechrome.errors import InputError

SIZES = {"chr1": 20_000, "chr2": 8_000, "chr3": 3_000, "chr4": 5_000}


def bins_table(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def direct_multicov(
    bams: list[Path], bins: pd.DataFrame, folder: Path, options: tuple[str, ...] = ()
) -> np.ndarray:
    """`bedtools multicov` run by hand on the non-empty bins; empty bins count 0."""
    nonempty = bins[bins["end"] > bins["start"]]
    bed = folder / "direct.bed"
    nonempty.to_csv(bed, sep="\t", header=False, index=False, columns=["chrom", "start", "end"])
    command = ["bedtools", "multicov", *options, "-bams", *map(str, bams), "-bed", str(bed)]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    counts = np.zeros((len(bins), len(bams)), dtype=np.int64)
    rows = np.flatnonzero((bins["end"] > bins["start"]).to_numpy())
    for row, line in zip(rows, lines.splitlines(), strict=True):
        counts[row] = [int(x) for x in line.split("\t")[3:]]
    return counts


def all_three(
    bams: list[Path],
    bins: pd.DataFrame,
    folder: Path,
    read_filter: ReadFilter = MULTICOV_DEFAULTS,
    options: tuple[str, ...] = (),
) -> np.ndarray:
    """Counts of both counters and of multicov run by hand with `options`: all equal."""
    fast = count_fast(bams, bins, read_filter)
    assert fast.shape == (len(bins), len(bams)) and fast.dtype == np.int64
    np.testing.assert_array_equal(fast, count_multicov(bams, bins, read_filter))
    np.testing.assert_array_equal(fast, direct_multicov(bams, bins, folder, options))
    return fast


def bam_from_reads(folder: Path, name: str, reads: list[tuple[str, int, int, str]]) -> Path:
    """A BAM made the pipeline's way: tagAlign -> bedtobam -> sort -> index."""
    sizes = folder / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    tagalign = folder / f"{name}.tagAlign"
    tagalign.write_text("".join(f"{c}\t{s}\t{e}\tN\t1000\t{st}\n" for c, s, e, st in reads))
    bam = folder / f"{name}.bam"
    tagalign_to_bam(tagalign, sizes, bam)
    return bam


EDGE_READS = [
    ("chr1", 1090, 1126, "+"),  # crosses the edge at 1100: counts in both bins
    ("chr1", 1064, 1100, "-"),  # ends exactly at 1100: not in [1100, 1200)
    ("chr1", 1200, 1236, "+"),  # starts exactly at 1200: not in [1100, 1200)
    ("chr1", 1150, 1186, "+"),
    ("chr1", 1150, 1186, "+"),  # duplicate reads both count (bedtobam sets no 0x400 flag)
    ("chr1", 1150, 1186, "-"),
    ("chr1", 0, 36, "+"),  # at the chromosome start
    ("chr1", 19_964, 20_000, "-"),  # at the chromosome end
    ("chr2", 10, 46, "+"),
    ("chr2", 7_990, 8_000, "+"),
    # chr3 has no reads; chr4 has one
    ("chr4", 2_500, 2_536, "-"),
]

EDGE_BINS = [
    ("chr1", 1100, 1200),  # 0: 1090 (crossing) + 3 x 1150 = 4
    ("chr1", 1000, 1100),  # 1: 1090 + 1064 = 2
    ("chr1", 1200, 1300),  # 2: 1200 = 1
    ("chr1", 1150, 1151),  # 3: one-base bin: 3
    ("chr1", 0, 50),  # 4: clipped at the chromosome start: 1
    ("chr1", 19_950, 20_000),  # 5: clipped at the chromosome end: 1
    ("chr1", 20_000, 20_000),  # 6: empty bin past the end: 0
    ("chr1", 1125, 1125),  # 7: empty bin inside reads: 0
    ("chr1", 1050, 1250),  # 8: overlaps bins 0-2: all 6 reads there
    ("chr2", 0, 100),  # 9: 1
    ("chr3", 0, 3_000),  # 10: a chromosome without reads: 0
    ("chrUn_missing", 0, 100),  # 11: not in the BAM header: 0
    ("chr2", 7_900, 8_000),  # 12: 1
    ("chr1", 1125, 1126),  # 13: last base of the crossing read: 1
    ("chr4", 2_536, 2_600),  # 14: touches the read's end: 0
    ("chr4", 2_535, 2_536),  # 15: 1
]
EDGE_EXPECTED = [4, 2, 1, 3, 1, 1, 0, 0, 6, 1, 0, 0, 1, 1, 0, 1]


def test_edge_cases_match_multicov(tmp_path):
    one = bam_from_reads(tmp_path, "one", EDGE_READS)
    two = bam_from_reads(tmp_path, "two", EDGE_READS[:3])
    counts = all_three([one, two], bins_table(EDGE_BINS), tmp_path)
    assert counts[:, 0].tolist() == EDGE_EXPECTED
    assert counts[:, 1].tolist() == [1, 2, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1, 0, 0]


def test_bins_in_any_order(tmp_path):
    bam = bam_from_reads(tmp_path, "one", EDGE_READS)
    order = np.random.default_rng(3).permutation(len(EDGE_BINS))
    shuffled = bins_table([EDGE_BINS[i] for i in order])
    counts = all_three([bam], shuffled, tmp_path)
    assert counts[:, 0].tolist() == [EDGE_EXPECTED[i] for i in order]


# (name, flag, position, CIGAR or None): what bedtools multicov 2.30 counts, found by
# experiment: duplicates and QC failures are skipped, everything else counts; records that
# are unmapped or have no CIGAR span one base; a CIGAR consuming no reference never counts.
FLAG_RECORDS = [
    ("plain", 0, 1000, "36M"),
    ("duplicate", 0x400, 2000, "36M"),
    ("unmapped_placed", 0x4, 3000, "36M"),
    ("unmapped_no_cigar", 0x4, 4000, None),
    ("qc_fail", 0x200, 5000, "36M"),
    ("secondary", 0x100, 6000, "36M"),
    ("supplementary", 0x800, 7000, "36M"),
    ("dup_and_qc_fail", 0x600, 8000, "36M"),
    ("soft_clip_only", 0, 9000, "10S"),
    ("insertion_only", 0, 9500, "5I"),
    ("spliced", 0, 10_000, "10M1000N10M"),
    ("deletion", 0, 12_000, "3S10M5D10M2I4=1X3S"),
    ("mapped_no_cigar", 0, 13_000, None),
    ("reverse_mate_unmapped", 0x1 | 0x8 | 0x10, 14_000, "20M"),
]
FLAG_BINS = [(name, position - 50, position + 50) for name, _, position, _ in FLAG_RECORDS]
FLAG_BINS += [
    ("spliced intron", 10_100, 10_200),  # inside the N: counts (multicov ignores splits)
    ("spliced last base", 11_019, 11_020),
    ("after spliced", 11_020, 11_030),
    ("deletion last base", 12_028, 12_029),  # 10M5D10M4=1X spans 30 bases
    ("after deletion", 12_030, 12_040),
    ("unmapped second base", 3_001, 3_002),  # unmapped: one base, whatever the CIGAR
    ("no cigar second base", 13_001, 13_002),
]
FLAG_EXPECTED = [1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0]


def write_pysam_bam(
    path: Path, records, unplaced: int = 0, sort: bool = True, chrom: str = "chr1"
) -> Path:
    """Records (name, flag, position, CIGAR[, MAPQ]) on one chromosome of 100 kb."""
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": chrom, "LN": 100_000}]}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for name, flag, position, cigar, *mapq in records:
            record = pysam.AlignedSegment(out.header)
            record.query_name = name
            record.flag = flag
            record.reference_id = 0
            record.reference_start = position
            record.mapping_quality = mapq[0] if mapq else 0 if flag & 0x4 else 60
            if cigar:
                record.cigarstring = cigar
            out.write(record)
        for i in range(unplaced):  # unmapped reads without a position sort last
            record = pysam.AlignedSegment(out.header)
            record.query_name = f"unplaced{i}"
            record.flag = 0x4
            record.reference_id = -1
            record.reference_start = -1
            out.write(record)
    if sort:
        sorted_path = path.with_suffix(".sorted.bam")
        pysam.sort("-o", str(sorted_path), str(path))
        sorted_path.replace(path)
        pysam.index(str(path))
    return path


def test_flags_and_cigars_like_multicov(tmp_path):
    bam = write_pysam_bam(tmp_path / "flags.bam", FLAG_RECORDS, unplaced=3)
    bins = bins_table([("chr1", start, end) for _, start, end in FLAG_BINS])
    counts = all_three([bam], bins, tmp_path)
    assert dict(zip([b[0] for b in FLAG_BINS], counts[:, 0].tolist(), strict=True)) == dict(
        zip([b[0] for b in FLAG_BINS], FLAG_EXPECTED, strict=True)
    )


def random_records(rng: np.random.Generator, n: int) -> list:
    """Records of mixed lengths, CIGARs and flags, as an aligner's BAM would hold."""
    cigars = ["36M", "36M", "36M", "5S31M", "10M2D26M", "12M300N24M", "20M1I15M", "36M", None]
    flags = [0, 0, 0, 0x10, 0x400, 0x200, 0x100, 0x4, 0x800]
    records = []
    for i in range(n):
        name = f"read{i}" + "x" * int(rng.integers(0, 4))
        records.append(
            (name, flags[rng.integers(len(flags))], int(rng.integers(0, 90_000)), cigars[i % 9])
        )
    return records


@pytest.mark.slow
def test_random_aligner_like_bam(tmp_path):
    rng = np.random.default_rng(7)
    bam = write_pysam_bam(tmp_path / "random.bam", random_records(rng, 4000), unplaced=5)
    starts = rng.integers(0, 100_000, size=3000)
    widths = rng.choice([0, 1, 50, 100, 1000], size=3000)
    bins = pd.DataFrame(
        {"chrom": "chr1", "start": starts, "end": np.minimum(starts + widths, 100_000)}
    )
    counts = all_three([bam], bins, tmp_path)
    assert counts.sum() > 1000


# multicov's switches, as ReadFilter and as options of a direct multicov call.
FILTERS = [
    (ReadFilter(min_mapq=30), ("-q", "30")),
    (ReadFilter(duplicates=True), ("-D",)),
    (ReadFilter(qc_fail=True), ("-F",)),
    (ReadFilter(proper_pairs=True), ("-p",)),
    (ReadFilter(min_mapq=1, duplicates=True, qc_fail=True), ("-q", "1", "-D", "-F")),
]


@pytest.mark.slow
def test_multicov_switches_match(tmp_path):
    rng = np.random.default_rng(13)
    flags = [0, 0, 0x10, 0x400, 0x200, 0x600, 0x100, 0x800, 0x4, 0x1 | 0x2 | 0x40, 0x1 | 0x80]
    records = [
        (f"r{i}", flags[i % len(flags)], int(rng.integers(0, 90_000)), "36M",
         int(rng.choice([0, 1, 5, 29, 30, 31, 60, 255])))
        for i in range(3000)
    ]  # fmt: skip
    bam = write_pysam_bam(tmp_path / "switches.bam", records)
    bins = bins_table([("chr1", s, s + 100) for s in range(0, 100_000, 100)])
    default = all_three([bam], bins, tmp_path)
    for read_filter, options in FILTERS:
        counts = all_three([bam], bins, tmp_path, read_filter, options)
        assert not np.array_equal(counts, default), options  # each switch changes counts


def test_mapq_threshold_and_pairs_as_multicov_counts_them(tmp_path):
    # Found by experiment on bedtools 2.30: -q N keeps MAPQ >= N (255 too), -p keeps 0x2.
    records = [
        ("q29", 0, 1000, "36M", 29),
        ("q30", 0, 1000, "36M", 30),
        ("q255", 0, 1000, "36M", 255),
        ("proper", 0x1 | 0x2 | 0x40, 1000, "36M", 60),
        ("improper", 0x1 | 0x40, 1000, "36M", 60),
    ]
    bam = write_pysam_bam(tmp_path / "q.bam", records)
    bins = bins_table([("chr1", 1000, 1100)])
    assert count_fast([bam], bins).tolist() == [[5]]
    assert count_fast([bam], bins, ReadFilter(min_mapq=30)).tolist() == [[4]]
    assert count_fast([bam], bins, ReadFilter(proper_pairs=True)).tolist() == [[1]]
    assert all_three([bam], bins, tmp_path, ReadFilter(min_mapq=30), ("-q", "30")).sum() == 4


def test_chromosome_names_matched_up_to_chr_prefix(tmp_path):
    rng = np.random.default_rng(17)
    records = random_records(rng, 800)
    ucsc = write_pysam_bam(tmp_path / "ucsc.bam", records)
    ensembl = write_pysam_bam(tmp_path / "ensembl.bam", records, chrom="1")
    bins = bins_table([("chr1", s, s + 100) for s in range(0, 100_000, 100)])
    counts = count_fast([ucsc, ensembl], bins)
    assert counts[:, 0].sum() > 100
    np.testing.assert_array_equal(counts[:, 0], counts[:, 1])
    np.testing.assert_array_equal(count_multicov([ensembl, ucsc], bins), counts[:, ::-1])
    other = write_pysam_bam(tmp_path / "other.bam", records, chrom="scaffold_7")
    with pytest.raises(InputError, match=r"other.bam: none of its chromosome names \(scaffold_7\)"):
        count_fast([other], bins)


def test_multicov_one_process_per_bam_gives_the_same_columns(tmp_path):
    """processes > 1: one multicov call per BAM, side by side, each in its own spelling."""
    rng = np.random.default_rng(18)
    bams = [
        write_pysam_bam(tmp_path / f"{i}.bam", random_records(rng, 600), chrom=chrom)
        for i, chrom in enumerate(["chr1", "1", "chr1"])
    ]
    bins = bins_table([("chr1", s, s + 100) for s in range(0, 100_000, 100)])
    together = count_multicov(bams, bins)
    assert len({together[:, i].tobytes() for i in range(3)}) == 3  # three different BAMs
    np.testing.assert_array_equal(count_multicov(bams, bins, processes=3), together)
    np.testing.assert_array_equal(count_fast(bams, bins), together)


def random_tagalign_reads(rng: np.random.Generator, n: int) -> list:
    chroms = ["chr1", "chr2", "chr4"]
    reads = []
    for _ in range(n):
        chrom = chroms[rng.integers(len(chroms))]
        length = int(rng.integers(20, 60))
        start = int(rng.integers(0, SIZES[chrom] - length))
        reads.append((chrom, start, start + length, "+-"[rng.integers(2)]))
    reads += reads[:200]  # duplicates
    return reads


def test_randomized_pipeline_bams(tmp_path):
    rng = np.random.default_rng(11)
    bams = [bam_from_reads(tmp_path, f"m{i}", random_tagalign_reads(rng, 3000)) for i in range(3)]
    rows = []
    for chrom in ["chr1", "chr2", "chr3", "chr4", "chrM"]:
        size = SIZES.get(chrom, 16_571)
        for tss in rng.integers(0, size, size=15):
            for first in range(tss - 500, tss + 500, 100):  # clipped like gene windows
                rows.append(
                    (chrom, int(np.clip(first, 0, size)), int(np.clip(first + 100, 0, size)))
                )
    counts = all_three(bams, bins_table(rows), tmp_path)
    assert counts.sum() > 500


def test_records_across_chunk_boundaries(tmp_path):
    # Tiny decoding chunks: records cut between chunks are carried over correctly.
    rng = np.random.default_rng(5)
    bam = write_pysam_bam(tmp_path / "random.bam", random_records(rng, 500), unplaced=2)
    header, chunks = bamreader.iter_alignments(bam, chunk_bytes=333)
    decoded = [chunk for chunk in chunks]
    assert header.references == ["chr1"]
    assert len(decoded) > 10
    starts = np.concatenate([c.start for c in decoded])
    ends = np.concatenate([c.end for c in decoded])
    with pysam.AlignmentFile(bam) as handle:
        expected = list(handle.fetch(until_eof=True))
    assert starts.tolist() == [r.reference_start for r in expected]
    mapped = [i for i, r in enumerate(expected) if not r.is_unmapped and r.cigartuples]
    assert ends[mapped].tolist() == [expected[i].reference_end for i in mapped]


def test_unsorted_bam_counts_the_same(tmp_path):
    rng = np.random.default_rng(9)
    records = random_records(rng, 1000)
    sorted_bam = write_pysam_bam(tmp_path / "sorted.bam", records)
    unsorted_bam = write_pysam_bam(tmp_path / "unsorted.bam", records, sort=False)
    bins = bins_table([("chr1", s, s + 100) for s in range(0, 100_000, 100)])
    np.testing.assert_array_equal(
        count_fast([unsorted_bam], bins), count_multicov([sorted_bam], bins)
    )


def test_bad_bams_and_bins(tmp_path):
    good = write_pysam_bam(tmp_path / "good.bam", FLAG_RECORDS)
    bins = bins_table([("chr1", 0, 100)])
    truncated = tmp_path / "truncated.bam"
    data = good.read_bytes()
    with pysam.BGZFile(str(good), "rb") as handle, pysam.BGZFile(str(truncated), "wb") as out:
        out.write(handle.read()[:-20])  # valid BGZF holding cut BAM records
    with pytest.raises(InputError, match="truncated.bam: truncated BAM file"):
        count_fast([truncated], bins)
    text = tmp_path / "text.bam"
    text.write_bytes(b"chr1\t1\t2\n" * 10)
    with pytest.raises(InputError, match="text.bam"):
        count_fast([text], bins)
    not_bam = tmp_path / "notbam.bam"
    with pysam.BGZFile(str(not_bam), "wb") as out:
        out.write(b"chr1\t1\t2\n" * 10)
    with pytest.raises(InputError, match="notbam.bam: not a BAM file"):
        count_fast([not_bam], bins)
    empty = write_pysam_bam(tmp_path / "empty.bam", [], sort=False)
    with pysam.BGZFile(str(empty), "rb") as handle:
        header_length = len(handle.read())
    plain = write_pysam_bam(tmp_path / "plain.bam", FLAG_RECORDS, sort=False)  # same header
    with pysam.BGZFile(str(plain), "rb") as handle:
        content = bytearray(handle.read())
    content[header_length : header_length + 4] = (5).to_bytes(4, "little")
    corrupted = tmp_path / "corrupted.bam"
    with pysam.BGZFile(str(corrupted), "wb") as out:
        out.write(bytes(content))
    with pytest.raises(InputError, match=r"corrupted.bam: corrupted BAM record \(block_size 5\)"):
        count_fast([corrupted], bins)
    assert count_fast([empty], bins).tolist() == [[0]]
    unindexed = tmp_path / "unindexed.bam"
    unindexed.write_bytes(data)
    with pytest.raises(InputError, match="unindexed.bam: .*index"):
        count_multicov([unindexed], bins)
    with pytest.raises(InputError, match="row 1 has start 50 and end 10"):
        count_fast([good], bins_table([("chr1", 0, 10), ("chr1", 50, 10)]))
    with pytest.raises(InputError, match="missing columns"):
        count_fast([good], pd.DataFrame({"chrom": ["chr1"], "start": [0]}))
