"""The fast BAM writer against the reference route (real bedtools bedtobam, real samtools)."""

from __future__ import annotations

import gzip
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from attentivechrome.data import bam_conversion, bamwriter, reads
from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.counting import count_fast, count_multicov
from attentivechrome.errors import InputError

# Not in name order, and chr3 gets no read: the header and the order follow this file.
SIZES = {"chr2": 40_000, "chr10": 5_000, "chr3": 2_000, "chr1": 70_000}

# (chrom, start, end, name, score, strand), unsorted.
EDGE_READS = [
    ("chr1", 500, 536, "N", 1000, "-"),
    ("chr2", 100, 136, "read_2", 7, "+"),
    ("chr1", 500, 536, "N", 1000, "+"),
    ("chr1", 500, 536, "N", 1000, "-"),  # exact duplicate
    ("chr1", 500, 536, "a", 0, "+"),  # same position, other name, both strands
    ("chr1", 500, 536, "zz", 999, "."),
    ("chr1", 500, 540, "b", 3, "-"),  # same start, longer read
    ("chr1", 0, 36, "first", 1000, "+"),  # first base of a chromosome
    ("chr1", 69_964, 70_000, "last", 1000, "-"),  # last base of a chromosome
    ("chr10", 4_999, 5_000, "one_base_at_the_end", 5, "+"),
    ("chr2", 16_370, 16_406, "over_16kb", 1000, "-"),  # bin of the next level up
    ("chr2", 16_348, 16_384, "ends_at_16kb", 1000, "+"),  # still the 16 kb bin
    ("chr2", 65_530, 65_566, "x", 1000, "+"),  # past chr2's end: dropped
    ("chrUn", 5, 41, "y", 1000, "+"),  # unknown chromosome: dropped
    ("chr1", 262_000, 262_036, "z", 1000, "+"),  # past the end: dropped
    ("chr2", 0, 36, "N", 1000, "-"),
    ("chr1", 20, 56, "N", 1000, "+"),
]


def write_sizes(folder: Path, sizes: dict[str, int] = SIZES) -> Path:
    path = folder / "chrom.sizes"
    path.write_text("".join(f"{c}\t{n}\n" for c, n in sizes.items()))
    return path


def tagalign(folder: Path, rows, n_cols: int = 6, name: str = "reads.tagAlign.gz") -> Path:
    text = "".join("\t".join(map(str, row[:n_cols])) + "\n" for row in rows)
    path = folder / name
    path.write_bytes(gzip.compress(text.encode()))
    return path


def both_bams(folder: Path, src: Path, sizes_file: Path) -> tuple[Path, Path]:
    fast, reference = folder / "fast" / "reads.bam", folder / "bedtools" / "reads.bam"
    stats_fast = tagalign_to_bam(src, sizes_file, fast, threads=2)
    stats_reference = tagalign_to_bam(src, sizes_file, reference, bam_writer="bedtools")
    assert stats_fast == stats_reference
    return fast, reference


def header_lines(bam: Path, kind: str) -> list[str]:
    return [line for line in pysam.view("-H", "--no-PG", str(bam)).splitlines() if kind in line]


def record_bytes(bam: Path) -> bytes:
    """The uncompressed BAM after its header: every record, byte for byte (bin included)."""
    data = gzip.decompress(bam.read_bytes())
    offset = 8 + struct.unpack("<i", data[4:8])[0]
    (n_refs,) = struct.unpack("<i", data[offset : offset + 4])
    offset += 4
    for _ in range(n_refs):
        offset += 4 + struct.unpack("<i", data[offset : offset + 4])[0] + 4
    return data[offset:]


def assert_same_bams(fast: Path, reference: Path) -> None:
    assert pysam.view(str(fast)).splitlines() == pysam.view(str(reference)).splitlines()
    assert header_lines(fast, "@SQ") == header_lines(reference, "@SQ")
    assert header_lines(fast, "@HD") == header_lines(reference, "@HD")
    assert record_bytes(fast) == record_bytes(reference)
    assert Path(f"{fast}.bai").is_file()


@pytest.mark.parametrize("n_cols", [6, 5, 4, 3])
def test_same_records_as_bedtobam_and_samtools_sort(tmp_path, n_cols):
    src = tagalign(tmp_path, EDGE_READS, n_cols)
    fast, reference = both_bams(tmp_path, src, write_sizes(tmp_path))
    assert_same_bams(fast, reference)
    view = pysam.view(str(fast)).splitlines()
    assert len(view) == len(EDGE_READS) - 3
    assert [line.split("\t")[2] for line in view][:1] == ["chr2"]  # the sizes file's order


@pytest.mark.parametrize("n_cols", [6, 3])
def test_ensembl_names_written_as_the_sizes_spell_them(tmp_path, n_cols):
    # `chr1` in the sizes, `1` in the reads: both writers give the UCSC-named BAM.
    ensembl = [(row[0].removeprefix("chr"), *row[1:]) for row in EDGE_READS]
    sizes_file = write_sizes(tmp_path)
    fast, reference = both_bams(tmp_path, tagalign(tmp_path, ensembl, n_cols), sizes_file)
    assert_same_bams(fast, reference)
    ucsc = tmp_path / "ucsc" / "reads.bam"
    tagalign_to_bam(tagalign(tmp_path, EDGE_READS, n_cols, "ucsc.tagAlign.gz"), sizes_file, ucsc)
    assert pysam.view(str(fast)).splitlines() == pysam.view(str(ucsc)).splitlines()


def test_same_as_direct_bedtobam_pipeline(tmp_path):
    # The reference route itself, checked against the plain commands once.
    kept = [row for row in EDGE_READS if row[0] in SIZES and row[2] <= SIZES[row[0]]]
    src = tagalign(tmp_path, kept, name="kept.bed")
    sizes_file = write_sizes(tmp_path)
    unsorted = tmp_path / "unsorted.bam"
    with open(unsorted, "wb") as out:
        command = ["bedtools", "bedtobam", "-i", str(src), "-g", str(sizes_file)]
        subprocess.run(command, stdout=out, check=True)
    direct = tmp_path / "direct.bam"
    pysam.sort("-o", str(direct), str(unsorted))
    fast = tmp_path / "fast.bam"
    tagalign_to_bam(src, sizes_file, fast)
    assert pysam.view(str(fast)).splitlines() == pysam.view(str(direct)).splitlines()
    assert header_lines(fast, "@SQ") == header_lines(direct, "@SQ")
    assert record_bytes(fast) == record_bytes(direct)


def test_samtools_tie_rule_on_many_reads_at_few_positions(tmp_path, monkeypatch):
    # Thousands of reads on 30 positions, both strands and '.', over several small blocks
    # (and spilled to disk after each): forward before reverse, then input order.
    monkeypatch.setattr(reads, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(bamwriter, "HELD_BYTES", 1)
    rng = np.random.default_rng(5)
    n = 5000
    chrom = rng.choice(["chr1", "chr2", "chr10"], size=n)
    start = rng.integers(0, 30, size=n)
    strand = rng.choice(["+", "-", "."], size=n)
    rows = [
        (c, s, s + 36, f"r{i}", i % 1001, d)
        for i, (c, s, d) in enumerate(zip(chrom, start, strand, strict=True))
    ]
    src = tagalign(tmp_path, rows)
    fast, reference = both_bams(tmp_path, src, write_sizes(tmp_path))
    assert_same_bams(fast, reference)
    assert sorted(p.name for p in fast.parent.iterdir()) == ["reads.bam", "reads.bam.bai"]


def test_counters_agree_on_both_writers(tmp_path):
    src = tagalign(tmp_path, EDGE_READS)
    fast, reference = both_bams(tmp_path, src, write_sizes(tmp_path))
    bins = pd.DataFrame(
        [
            ("chr1", 0, 100),
            ("chr1", 500, 501),
            ("chr1", 69_900, 70_000),
            ("chr2", 16_300, 16_400),
            ("chr10", 4_900, 5_000),
            ("chr3", 0, 2_000),
            ("chr2", 0, 200),
        ],
        columns=["chrom", "start", "end"],
    )
    counts = count_fast([fast, reference], bins)
    np.testing.assert_array_equal(counts[:, 0], counts[:, 1])
    np.testing.assert_array_equal(counts, count_multicov([fast, reference], bins))
    assert counts[:, 0].tolist() == [2, 6, 1, 2, 1, 0, 2]


def test_long_names_refused_by_both_writers(tmp_path):
    src = tagalign(tmp_path, [("chr1", 5, 41, "n" * 255, 0, "+")])
    for writer in bam_conversion.BAM_WRITERS:
        with pytest.raises(InputError, match="line 1: read name of 255 bytes"):
            tagalign_to_bam(
                src, write_sizes(tmp_path), tmp_path / writer / "x.bam", bam_writer=writer
            )


def test_unknown_writer(tmp_path):
    with pytest.raises(ValueError, match="bam_writer"):
        tagalign_to_bam(tmp_path / "x", tmp_path / "y", tmp_path / "z.bam", bam_writer="samtools")


def many_reads(folder: Path, n: int = 300_000) -> Path:
    rng = np.random.default_rng(1)
    chrom = rng.choice(list(SIZES), size=n)
    start = rng.integers(0, 1_900, size=n)
    strand = rng.choice(["+", "-"], size=n)
    return tagalign(
        folder, list(zip(chrom, start, start + 36, ["N"] * n, [1000] * n, strand, strict=True))
    )


KILLED_AFTER_FIRST_RECORDS = """
import os, signal, sys
from attentivechrome.data import bam_conversion, bamwriter
records = bamwriter.records
def records_then_die(*args):
    data = records(*args)
    if args[0] == 1:  # the second reference: some records are in bgzip already
        os.kill(os.getpid(), signal.SIGKILL)
    return data
bamwriter.records = records_then_die
bam_conversion.tagalign_to_bam(sys.argv[1], sys.argv[2], sys.argv[3], threads=2)
"""


@pytest.mark.slow
def test_killed_conversion_leaves_no_bam_and_rerun_is_identical(tmp_path):
    src, sizes_file = many_reads(tmp_path), write_sizes(tmp_path)
    clean = tmp_path / "clean" / "reads.bam"
    tagalign_to_bam(src, sizes_file, clean, threads=2)
    out = tmp_path / "out"
    bam = out / "reads.bam"
    script = textwrap.dedent(KILLED_AFTER_FIRST_RECORDS)
    env = {**os.environ, "PYTHONPATH": str(Path(bam_conversion.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", script, str(src), str(sizes_file), str(bam)], env=env
    )
    assert result.returncode == -signal.SIGKILL
    assert not bam.exists() and not Path(f"{bam}.bai").exists()
    tagalign_to_bam(src, sizes_file, bam, threads=2)
    assert bam.read_bytes() == clean.read_bytes()
    assert Path(f"{bam}.bai").read_bytes() == Path(f"{clean}.bai").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == [
        "reads.bam",
        "reads.bam.bai",
    ]  # stale work gone


def test_exception_midway_leaves_nothing(tmp_path, monkeypatch):
    src, sizes_file = many_reads(tmp_path, 50_000), write_sizes(tmp_path)
    calls = []
    records = bamwriter.records

    def records_then_fail(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise RuntimeError("injected")
        return records(*args)

    monkeypatch.setattr(bamwriter, "records", records_then_fail)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="injected"):
        tagalign_to_bam(src, sizes_file, out / "reads.bam", threads=2)
    assert list(out.iterdir()) == []
