"""tagAlign validation, filtering and conversion to sorted, indexed BAM (real bedtools, pysam)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from attentivechrome.data import bam_conversion, reads
from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.reads import filter_tagalign
from attentivechrome.errors import InputError

SIZES = {"chr1": 10_000, "chr2": 5_000, "chr3": 2_000}


def write_sizes(folder: Path) -> Path:
    path = folder / "chrom.sizes"
    path.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    return path


def tag_line(chrom: str, start: int, strand: str = "+", length: int = 36) -> str:
    return f"{chrom}\t{start}\t{start + length}\tN\t1000\t{strand}\n"


def write_text(path: Path, text: str, compress: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


GOOD_LINES = [
    tag_line("chr2", 100, "-"),
    tag_line("chr1", 500),
    tag_line("chr1", 20, "-"),
    tag_line("chr1", 20, "-"),  # duplicate reads are kept
    tag_line("chrUn_x", 5),  # unknown chromosome: dropped
    tag_line("chr3", 1990),  # past the end of chr3 (2,000): dropped
    tag_line("chr3", 1964),  # ends exactly at the chromosome end: kept
    tag_line("chrUn_x", 50),
    tag_line("chr1", 9000, "."),
]


def test_tagalign_to_bam_round_trip(tmp_path):
    src = write_text(tmp_path / "reads.tagAlign.gz", "".join(GOOD_LINES), compress=True)
    out = tmp_path / "out"
    bam = out / "reads.bam"
    stats = tagalign_to_bam(src, write_sizes(tmp_path), bam, threads=2)
    assert (stats.n_reads, stats.n_kept) == (9, 6)
    assert (stats.n_unknown_chrom, stats.n_past_end) == (2, 1)
    assert stats.dropped_by_chrom == {"chrUn_x": 2, "chr3": 1}
    assert "2 on unknown chromosomes" in stats.summary()
    assert leftovers(out, set()) == ["reads.bam", "reads.bam.bai"]
    with pysam.AlignmentFile(bam) as handle:
        assert handle.header["HD"]["SO"] == "coordinate"
        assert list(handle.references) == list(SIZES)
        records = [(r.reference_name, r.reference_start, r.reference_end) for r in handle]
        assert len(records) == 6
        assert records == sorted(records, key=lambda r: (list(SIZES).index(r[0]), r[1]))
        assert ("chr3", 1964, 2000) in records
        assert records.count(("chr1", 20, 56)) == 2
        # the index works: a region query finds the two duplicates
        assert handle.count("chr1", 0, 100) == 2
    reverse = [r.is_reverse for r in pysam.AlignmentFile(bam) if r.reference_name == "chr2"]
    assert reverse == [True]


def test_filter_tagalign_writes_kept_lines_unchanged(tmp_path):
    src = write_text(tmp_path / "reads.bed", "".join(GOOD_LINES))
    dest = tmp_path / "kept.bed"
    stats = filter_tagalign(src, SIZES, dest)
    kept = [line for i, line in enumerate(GOOD_LINES) if i not in (4, 5, 7)]
    assert dest.read_text() == "".join(kept)
    assert stats.n_kept == len(kept)


@pytest.mark.parametrize("compress", [False, True])
def test_format_told_by_magic_bytes_not_name(tmp_path, compress):
    # A plain file named .gz and a gzipped file named .txt both read correctly.
    name = "reads.txt" if compress else "reads.tagAlign.gz"
    src = write_text(tmp_path / name, "".join(GOOD_LINES), compress=compress)
    assert filter_tagalign(src, SIZES, tmp_path / "kept.bed").n_kept == 6


def test_bed3_and_missing_final_line_break(tmp_path):
    src = write_text(tmp_path / "reads.bed", "chr1\t10\t46\nchr2\t0\t36")
    dest = tmp_path / "kept.bed"
    assert filter_tagalign(src, SIZES, dest).n_kept == 2
    assert dest.read_text() == "chr1\t10\t46\tN\t1000\t.\nchr2\t0\t36\tN\t1000\t.\n"
    bam = tmp_path / "reads.bam"
    tagalign_to_bam(src, write_sizes(tmp_path), bam)
    assert pysam.AlignmentFile(bam).mapped == 2


def test_line_numbers_across_blocks(tmp_path, monkeypatch):
    # Small blocks: lines are numbered across block boundaries and blocks hold whole lines.
    monkeypatch.setattr(reads, "BLOCK_BYTES", 100)
    lines = [tag_line("chr1", i) for i in range(60)]
    src = write_text(tmp_path / "ok.bed", "".join(lines))
    assert filter_tagalign(src, SIZES, tmp_path / "ok.out").n_kept == 60
    assert (tmp_path / "ok.out").read_text() == "".join(lines)
    lines[56] = "chr1\t10\tten\tN\t1000\t+\n"
    bad = write_text(tmp_path / "bad.bed", "".join(lines), compress=True)
    with pytest.raises(InputError, match=r"bad\.bed, line 57: end 'ten' is not an integer"):
        filter_tagalign(bad, SIZES, tmp_path / "bad.out")


BAD_INPUTS = {
    "two columns": ("chr1\t10\n", 1, "at least 3 tab-separated columns"),
    "spaces, not tabs": ("chr1 10 46 N 1000 +\n", 1, "separated by spaces, not tabs"),
    "short line": (tag_line("chr1", 1) + "chr1\t5\t41\tN\t1000\n", 2, "expected 6 .* found 5"),
    "extra column": (tag_line("chr1", 1) * 3 + tag_line("chr1", 1)[:-1] + "\tx\n", 4, "found 7"),
    "blank line": (tag_line("chr1", 1) + "\n" + tag_line("chr1", 2), 2, "found 1"),
    "word as start": (tag_line("chr1", 1) + "chr1\tten\t46\tN\t1000\t+\n", 2, "start 'ten'"),
    "float start": ("chr1\t1e3\t1036\tN\t1000\t+\n", 1, "start '1e3' is not an integer"),
    "empty field": ("chr1\t\t46\tN\t1000\t+\n", 1, "empty field"),
    "start after end": (tag_line("chr1", 1) + "chr1\t50\t40\tN\t1000\t+\n", 2, "less than end"),
    "empty read": ("chr1\t50\t50\tN\t1000\t+\n", 1, "start 50 must be less than end 50"),
    "negative start": ("chr1\t-5\t31\tN\t1000\t+\n", 1, "start -5 is negative"),
    "bad strand": (tag_line("chr1", 1) * 2 + tag_line("chr1", 1, "x"), 3, "strand 'x'"),
    "carriage return": ("chr1\t5\t41\tN\t1000\t+\r\n", 1, r"strand '\+\\r'"),
}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_file_and_line(tmp_path, case, compress):
    text, line, message = BAD_INPUTS[case]
    src = write_text(tmp_path / "bad.tagAlign.gz", text, compress=compress)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=rf"bad\.tagAlign\.gz, line {line}: .*{message}"):
        tagalign_to_bam(src, write_sizes(tmp_path), out / "bad.bam")
    assert leftovers(out, set()) == []  # nothing half-written, no temporary files


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"absent\.tagAlign\.gz: file not found"):
        filter_tagalign(tmp_path / "absent.tagAlign.gz", SIZES, tmp_path / "kept.bed")
    assert leftovers(tmp_path, set()) == []


def gzip_bytes(n_lines: int) -> bytes:
    return gzip.compress("".join(tag_line("chr1", i) for i in range(n_lines)).encode())


BAD_FILES = {
    "empty file": (b"", "no reads"),
    "empty gzip": (gzip.compress(b""), "no reads"),
    "truncated gzip": (gzip_bytes(2000)[:-300], "truncated or corrupted gzip"),
    "corrupted gzip": (gzip_bytes(2000)[:40] + b"\xff" * 400, "truncated or corrupted gzip"),
    "no read on a known chromosome": (
        tag_line("scaffold_9", 10).encode(),
        "none of its chromosome names",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_input_error(tmp_path, case):
    data, message = BAD_FILES[case]
    src = tmp_path / "bad.tagAlign.gz"
    src.write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=rf"bad\.tagAlign\.gz: .*{message}"):
        tagalign_to_bam(src, write_sizes(tmp_path), out / "bad.bam")
    assert leftovers(out, set()) == []
    with pytest.raises(InputError, match=message):
        filter_tagalign(src, SIZES, out / "kept.bed")
    assert leftovers(out, set()) == []


def test_bedtobam_failure_is_reported(tmp_path, monkeypatch):
    # A sizes file bedtools cannot open makes bedtobam die while many small blocks are
    # still being written to it: the broken pipe must end in its error, not in a hang.
    monkeypatch.setattr(reads, "BLOCK_BYTES", 200)
    src = write_text(tmp_path / "reads.bed", "".join(tag_line("chr1", i) for i in range(3000)))
    with pytest.raises(RuntimeError, match="bedtools bedtobam failed .*missing.sizes"):
        bam_conversion._bedtobam(src, SIZES, tmp_path / "missing.sizes", tmp_path / "x.bam")
