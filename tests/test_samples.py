"""The sample sheet contract (attentivechrome.samples) and BAM inputs sorted into results."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pysam
import pytest
import yaml

from attentivechrome.errors import InputError
from attentivechrome.reads import reads_to_bam, sort_bam
from attentivechrome.samples import FORMATS, read_sample_sheet, reads_from_pattern
from helpers import REPO

HEADER = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 50_000}]}


def write_bam(path: Path, positions: list[int], sort: bool = True, index: bool = True) -> Path:
    """A BAM of 36-bp reads at `positions` (in that order unless sorted), maybe indexed."""
    header = HEADER if sort else {**HEADER, "HD": {"VN": "1.6", "SO": "unsorted"}}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for i, position in enumerate(sorted(positions) if sort else positions):
            record = pysam.AlignedSegment(out.header)
            record.query_name, record.reference_id = f"r{i}", 0
            record.reference_start, record.cigarstring = position, "36M"
            record.mapping_quality = 60
            out.write(record)
    if index:
        pysam.index(str(path))
    return path


def write_sheet(folder: Path, rows: list[tuple], header: str = "cell\tmark\tpath\tformat") -> Path:
    sheet = folder / "samples.tsv"
    sheet.write_text(header + "\n" + "".join("\t".join(row) + "\n" for row in rows))
    return sheet


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A sorted indexed BAM, an unsorted one, gzipped text and plain text reads."""
    text = b"chr1\t100\t136\tN\t1000\t+\n"
    (tmp_path / "reads.bed.gz").write_bytes(gzip.compress(text))
    (tmp_path / "reads.txt").write_bytes(text)
    return {
        "sorted": write_bam(tmp_path / "sorted.bam", [500, 100, 300]),
        "unsorted": write_bam(tmp_path / "unsorted.bam", [500, 100, 300], sort=False, index=False),
        "gz": tmp_path / "reads.bed.gz",
        "plain": tmp_path / "reads.txt",
    }


def test_replicates_kinds_and_names(tmp_path, files):
    rows = [
        ("A", "K4", str(files["sorted"]), ""),
        ("A", "K27", str(files["gz"]), "bed"),
        ("A", "K4", str(files["unsorted"]), "bam"),
        ("B", "K4", str(files["plain"]), ""),
        ("B", "K27", "https://example.org/B-K27.bam", ""),
    ]
    sources = read_sample_sheet(write_sheet(tmp_path, rows))
    assert sources.cells == ("A", "B") and sources.marks == ("K4", "K27")
    names = {r.name: r.kind for r in sources.reads}
    assert names == {
        "A-K4.rep1": "bam",
        "A-K4.rep2": "bam",
        "A-K27": "text",
        "B-K4": "text",
        "B-K27": "bam",
    }
    assert [r.path for r in sources.of("A", "K4")] == [str(files["sorted"]), str(files["unsorted"])]
    # Only the sorted, indexed local BAM is read where it is.
    assert sources.read_in_place() == {"A-K4.rep1": Path(f"{files['sorted']}.bai")}
    downloads = {r.name: r.download_name() for r in sources.reads}
    assert downloads["A-K4.rep1"] is None and downloads["A-K4.rep2"] is None
    assert downloads["B-K27"] == "bam/B-K27.bam"
    assert downloads["B-K4"] == "tagalign/B-K4.tagAlign.gz"
    selected = read_sample_sheet(write_sheet(tmp_path, rows), cells=["B"], marks=["K27"])
    assert [r.name for r in selected.reads] == ["B-K27"]


def test_stale_index_is_not_trusted(tmp_path):
    bam = write_bam(tmp_path / "x.bam", [10, 20])
    old = os.stat(bam).st_mtime - 100
    os.utime(f"{bam}.bai", (old, old))
    sheet = write_sheet(tmp_path, [("A", "K4", str(bam), "")])
    assert read_sample_sheet(sheet).read_in_place() == {}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("A", "K4", "missing.bam", ""), "line 4: reads file missing.bam does not exist"),
        (("A", "K4", "{sorted}", "cram"), "line 4: format 'cram' is not one of"),
        (("A", "K4", "{gz}", "bam"), "line 4: .*declared bam but is text"),
        (("A", "K4", "{sorted}", "tagalign"), "line 4: .*declared tagalign but is a BAM"),
        (("A", "", "{gz}", ""), "line 4: empty mark"),
        (("A", "K4", "{plain}", ""), "line 4: .*reads.txt is listed twice for A K4"),
        (("B", "K4", "{plain}", ""), "no reads for B K27: every cell type needs every mark"),
    ],
)
def test_bad_rows_name_the_sheet_and_line(tmp_path, files, row, message):
    first = ("A", "K27", str(files["plain"]), "")
    second = ("A", "K4", str(files["plain"]), "")
    bad = tuple(value.format(**files) for value in row)
    sheet = write_sheet(tmp_path, [first, second, bad])
    with pytest.raises(InputError, match=message) as error:
        read_sample_sheet(sheet)
    assert str(error.value).startswith(str(sheet))


def test_sheet_level_errors(tmp_path, files):
    with pytest.raises(InputError, match="samples.tsv, line 1: missing column mark"):
        read_sample_sheet(write_sheet(tmp_path, [("A", str(files["gz"]))], "cell\tpath"))
    with pytest.raises(InputError, match="samples.tsv: no rows"):
        read_sample_sheet(write_sheet(tmp_path, []))
    with pytest.raises(InputError, match="nothere.tsv: sample sheet not found"):
        read_sample_sheet(tmp_path / "nothere.tsv")
    sheet = write_sheet(tmp_path, [("A", "K4", str(files["gz"]), "")])
    with pytest.raises(InputError, match="cell type C is named in the config but has no rows"):
        read_sample_sheet(sheet, cells=["C"])


def test_pattern_is_a_sheet_of_tagalign_files():
    marks = ["H3K4me3", "H3K9me3"]
    sources = reads_from_pattern("reads/{cell}-{mark}.tagAlign.gz", ["E1", "E2"], marks)
    names = ["E1-H3K4me3", "E1-H3K9me3", "E2-H3K4me3", "E2-H3K9me3"]
    assert [r.name for r in sources.reads] == names
    assert {r.kind for r in sources.reads} == {"text"}
    assert sources.reads[1].path == "reads/E1-H3K9me3.tagAlign.gz"
    with pytest.raises(InputError, match="mark H3K4m3 is not a Roadmap mark"):
        reads_from_pattern("{cell}-{mark}", ["E1"], ["H3K4m3"])


def test_schema_states_the_same_formats_and_names():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert "format" in schema["properties"]["samples"]["description"]
    for name in FORMATS:
        assert name in schema["properties"]["samples"]["description"]
    rows = yaml.safe_load((REPO / "workflow/schemas/samples.schema.yaml").read_text())
    assert set(rows["required"]) == {"cell", "mark", "path", "kind", "replicate", "name"}


def test_unsorted_bam_is_sorted_into_results_untouched(tmp_path, files):
    source = files["unsorted"]
    before = source.read_bytes()
    dest = tmp_path / "results/bam/A-K4.bam"
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("chr1\t50000\n")  # HEADER's
    summary = reads_to_bam(source, sizes, dest, kind="bam")
    assert "3 records" in summary
    assert source.read_bytes() == before and not Path(f"{source}.bai").exists()
    with pysam.AlignmentFile(str(dest)) as bam:
        assert [r.reference_start for r in bam.fetch("chr1")] == [100, 300, 500]
    assert Path(f"{dest}.bai").is_file()


def test_truncated_bam_is_refused_with_no_output(tmp_path, files):
    truncated = tmp_path / "truncated.bam"
    truncated.write_bytes(files["unsorted"].read_bytes()[:-40])
    dest = tmp_path / "results/bam/A-K4.bam"
    with pytest.raises(InputError, match="truncated.bam: truncated BAM file"):
        sort_bam(truncated, dest)
    assert not dest.parent.exists() or not list(dest.parent.iterdir())


def test_kind_must_match_the_content(tmp_path, files):
    with pytest.raises(InputError, match="expected a BAM file, found text"):
        reads_to_bam(files["gz"], "unused", tmp_path / "x.bam", kind="bam")
