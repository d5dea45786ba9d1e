"""The sample sheet contract (attentivechrome.data.samples) and BAM inputs sorted into results."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pysam
import pytest
import yaml

from attentivechrome.data.bam_conversion import reads_to_bam, sort_bam
from attentivechrome.data.samples import (
    FORMATS,
    RESULTS_ENTRIES,
    TRACKS_ENTRIES,
    read_sample_sheet,
    reads_from_pattern,
)
from attentivechrome.errors import InputError
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


def sizes_file(folder: Path) -> Path:
    """The chromosome sizes of HEADER's genome."""
    sizes = folder / "chrom.sizes"
    sizes.write_text("chr1\t50000\n")
    return sizes


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
        "A/K4.rep1": "bam",
        "A/K4.rep2": "bam",
        "A/K27": "text",
        "B/K4": "text",
        "B/K27": "bam",
    }
    assert [r.path for r in sources.of("A", "K4")] == [str(files["sorted"]), str(files["unsorted"])]
    # Every input has a source name: under the download folder for a URL, in sources.sha256.
    downloads = {r.name: r.source_name() for r in sources.reads}
    assert downloads["A/K4.rep1"] == "bam/A/K4.rep1.bam"
    assert downloads["B/K27"] == "bam/B/K27.bam"
    assert downloads["B/K4"] == "tagalign/B/K4.tagAlign.gz"
    selected = read_sample_sheet(write_sheet(tmp_path, rows), cells=["B"], marks=["K27"])
    assert [r.name for r in selected.reads] == ["B/K27"]


def sheet_of(tmp_path, files, cells_marks) -> Path:
    """A sheet with one row per (cell, mark), each reading a file of its own."""
    rows = []
    for i, (cell, mark) in enumerate(cells_marks):
        own = tmp_path / f"reads{i}.txt"
        own.write_bytes(files["plain"].read_bytes())
        rows.append((cell, mark, str(own), ""))
    return write_sheet(tmp_path, rows)


@pytest.mark.parametrize(
    ("cell", "mark", "message"),
    [
        ("K 562", "K4", r"cell type 'K 562' cannot name a file \(it has ' '\): use letters"),
        ("A/B", "K4", r"cell type 'A/B' cannot name a file \(it has '/'\)"),
        (".A", "K4", r"cell type '.A' cannot name a file \(it starts with '.'\)"),
        ("A", "-K4", r"mark '-K4' cannot name a file \(it starts with '-'\)"),
        ("A", "K4\u00e9", "mark 'K4\u00e9' cannot name a file \\(it has '\u00e9'\\)"),
        ("A", "K4.rep1", r"mark 'K4.rep1' ends like a replicate's file name \(.rep1\)"),
        ("reference", "K4", r"cell type 'reference' is an entry of the results folder"),
        ("Logs", "K4", r"cell type 'Logs' is an entry of the results folder"),
        ("hub.txt", "K4", r"cell type 'hub.txt' is an entry of the tracks folder"),
    ],
)
def test_names_that_cannot_name_files_are_refused(tmp_path, files, cell, mark, message):
    sheet = sheet_of(tmp_path, files, [(cell, mark)])
    with pytest.raises(InputError, match=message) as error:
        read_sample_sheet(sheet)
    assert str(error.value).startswith(f"{sheet}, line 2: ") and "\n" not in str(error.value)
    if "cannot name a file" in message:
        assert "letters, digits, '_', '.' and '-'" in str(error.value)


def test_roadmap_and_demo_names_stay_valid(tmp_path, files):
    names = [("E003", "H3K4me3"), ("E003", "H2A.Z"), ("E003", "DNase"), ("E003", "H3K27ac")]
    rows = names + [("DEMO1", mark) for _, mark in names]
    sources = read_sample_sheet(sheet_of(tmp_path, files, rows))
    assert sources.cells == ("E003", "DEMO1") and "H2A.Z" in sources.marks
    pattern = reads_from_pattern("x/{cell}-{mark}", ["E003"], ["H2A.Z"])
    assert [r.name for r in pattern.reads] == ["E003/H2A.Z"]


def test_names_joined_with_dashes_no_longer_meet(tmp_path, files):
    """A-B's K and A's B-K were both A-B-K: now each has its own folder and file."""
    pairs = [("A-B", "K"), ("A-B", "B-K"), ("A", "K"), ("A", "B-K")]
    sources = read_sample_sheet(sheet_of(tmp_path, files, pairs))
    assert [r.name for r in sources.reads] == ["A-B/K", "A-B/B-K", "A/K", "A/B-K"]
    assert len({r.source_name() for r in sources.reads}) == 4


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("A", "K4"), ("a", "K4")], r"line 3: a K4 and A K4 \(line 2\) would share files"),
        ([("A", "K4"), ("A", "k4")], r"line 3: A k4 and A K4 \(line 2\) would share files"),
    ],
)
def test_names_equal_but_for_case_are_refused(tmp_path, files, pairs, message):
    with pytest.raises(InputError, match=message):
        read_sample_sheet(sheet_of(tmp_path, files, pairs))


def test_pattern_names_are_checked_too():
    with pytest.raises(InputError, match="cell_types: cell type 'E 003' cannot name a file"):
        reads_from_pattern("{cell}-{mark}", ["E 003"], ["H3K4me3"])
    with pytest.raises(InputError, match="cell_types: cell type 'plots' is an entry"):
        reads_from_pattern("{cell}-{mark}", ["plots"], ["H3K4me3"])


def spellings(tmp_path, monkeypatch, target: Path) -> dict[str, str]:
    """Other ways to name `target`: a symlink, a/./b, a relative path, file://, a hard link."""
    (tmp_path / "link.txt").symlink_to(target)
    os.link(target, tmp_path / "hard.txt")
    monkeypatch.chdir(tmp_path)
    return {
        "symlink": str(tmp_path / "link.txt"),
        "dot": f"{target.parent}/./{target.name}",
        "relative": target.name,
        "file-url": target.as_uri(),
        "hard-link": str(tmp_path / "hard.txt"),
    }


@pytest.mark.parametrize("spelling", ["symlink", "dot", "relative", "file-url", "hard-link"])
def test_one_file_twice_for_a_mark_is_refused_however_spelt(tmp_path, files, monkeypatch, spelling):
    other = spellings(tmp_path, monkeypatch, files["plain"])[spelling]
    rows = [("A", "K4", str(files["plain"]), ""), ("A", "K4", other, "")]
    with pytest.raises(InputError) as error:
        read_sample_sheet(write_sheet(tmp_path, rows))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'samples.tsv'}, line 3: {other} is listed twice")
    assert f"(line 2 (as {files['plain']}))" in message and "every count doubled" in message


def test_one_file_for_two_marks_is_refused_and_for_two_cells_warned(tmp_path, files, monkeypatch):
    link = spellings(tmp_path, monkeypatch, files["plain"])["symlink"]
    rows = [("A", "K4", str(files["plain"]), ""), ("A", "K27", link, "")]
    with pytest.raises(InputError, match=r"line 3: .*link.txt is the reads of both A K4 \(line 2"):
        read_sample_sheet(write_sheet(tmp_path, rows))
    rows = [("A", "K4", str(files["plain"]), ""), ("B", "K4", link, "")]
    sources = read_sample_sheet(write_sheet(tmp_path, rows))
    assert len(sources.warnings) == 1
    warning = sources.warnings[0]
    assert "line 3: " in warning and "A K4 (line 2" in warning
    assert "one file for two cell types" in warning


def test_comma_separated_sheet_with_comment_lines(tmp_path, files):
    sheet = tmp_path / "samples.csv"
    sheet.write_text(
        "# made by hand\n#cell,mark\n\ncell,mark,path,format\n"
        f'A,K4,{files["plain"]},\n# a note\nA,K27,"{files["gz"]}",bed\n'
    )
    sources = read_sample_sheet(sheet)
    assert [(r.name, r.line) for r in sources.reads] == [("A/K4", 5), ("A/K27", 7)]
    sheet.write_text(f"cell,mark,path\nA,K4,{files['plain']},extra\n")
    with pytest.raises(InputError, match="samples.csv, line 2: 4 fields, the header has 3"):
        read_sample_sheet(sheet)


def test_sheet_that_is_a_folder_or_space_separated(tmp_path, files):
    with pytest.raises(InputError, match=f"^{tmp_path}: a folder, not a sample sheet"):
        read_sample_sheet(tmp_path)
    sheet = tmp_path / "spaces.tsv"
    sheet.write_text(f"cell mark path\nA K4 {files['plain']}\n")
    with pytest.raises(InputError, match="spaces.tsv, line 1: .*separated by spaces"):
        read_sample_sheet(sheet)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("A", "K4", "missing.bam", ""), "line 4: reads file missing.bam does not exist"),
        (("A", "K4", "{sorted}", "cram"), "line 4: format 'cram' is not one of"),
        (("A", "K4", "{gz}", "bam"), "line 4: .*declared bam but is text"),
        (("A", "K4", "{sorted}", "tagalign"), "line 4: .*declared tagalign but is a BAM"),
        (("A", "", "{gz}", ""), "line 4: empty mark"),
        (("A", "K4", "{plain}", ""), "line 4: .*reads.txt is listed twice for A K4 .line 3."),
        (("B", "K4", "{plain}", ""), "no reads for B K27: every cell type needs every mark"),
    ],
)
def test_bad_rows_name_the_sheet_and_line(tmp_path, files, row, message):
    first = ("A", "K27", str(files["gz"]), "")
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
    names = ["E1/H3K4me3", "E1/H3K9me3", "E2/H3K4me3", "E2/H3K9me3"]
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
    dest = tmp_path / "results/bam/A/K4.bam"
    summary = reads_to_bam(source, sizes_file(tmp_path), dest, kind="bam", link=True)
    assert "3 records" in summary
    assert source.read_bytes() == before and not Path(f"{source}.bai").exists()
    with pysam.AlignmentFile(str(dest)) as bam:
        assert [r.reference_start for r in bam.fetch("chr1")] == [100, 300, 500]
    assert Path(f"{dest}.bai").is_file()


def test_conversion_counts_what_it_dropped_for_the_qc_report(tmp_path, files):
    reads = tmp_path / "reads.tagAlign"
    reads.write_text(
        "chr1\t100\t136\tN\t1000\t+\n"
        "chrUn\t5\t41\tN\t1000\t+\n"  # a chromosome the sizes lack
        "chr1\t49990\t50026\tN\t1000\t-\n"  # past the end of chr1 (50,000)
        "chr1\t200\t236\tN\t1000\t-\n"
    )
    stats = tmp_path / "qc/A/K4.json"
    reads_to_bam(reads, sizes_file(tmp_path), tmp_path / "A/K4.bam", kind="text", stats_out=stats)
    assert json.loads(stats.read_text()) == {
        "n_reads": 4,
        "n_kept": 2,
        "n_unknown_chrom": 1,
        "n_past_end": 1,
        "n_header_lines": 0,
    }
    # A BAM drops nothing at conversion: counting's filters tally its records.
    bam_stats = tmp_path / "qc/A/K27.json"
    reads_to_bam(
        files["sorted"],
        sizes_file(tmp_path),
        tmp_path / "A/K27.bam",
        kind="bam",
        stats_out=bam_stats,
    )
    assert json.loads(bam_stats.read_text()) == {}


def test_truncated_bam_is_refused_with_no_output(tmp_path, files):
    truncated = tmp_path / "truncated.bam"
    truncated.write_bytes(files["unsorted"].read_bytes()[:-40])
    dest = tmp_path / "results/bam/A/K4.bam"
    with pytest.raises(InputError, match="truncated.bam: truncated BAM file"):
        sort_bam(truncated, dest)
    assert not dest.parent.exists() or not list(dest.parent.iterdir())


def test_kind_must_match_the_content(tmp_path, files):
    with pytest.raises(InputError, match="expected a BAM file, found text"):
        reads_to_bam(files["gz"], "unused", tmp_path / "x.bam", kind="bam")


def test_sorted_bam_is_linked_with_an_index_of_its_own(tmp_path, files):
    """A .bai copied from another BAM (newer than the BAM) is never used: the results get
    their own index beside a link to the user's file, which is only read."""
    other = write_bam(tmp_path / "other.bam", list(range(1000, 40_000, 7)))
    Path(f"{files['sorted']}.bai").write_bytes(Path(f"{other}.bai").read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    dest = tmp_path / "results/bam/A/K4.bam"
    (tmp_path / "results").mkdir()
    sizes = sizes_file(tmp_path / "results")
    summary = reads_to_bam(files["sorted"], sizes, dest, kind="bam", link=True)
    assert summary.startswith(f"linked {files['sorted']}") and "3 records" in summary
    assert dest.is_symlink() and dest.resolve() == files["sorted"].resolve()
    with pysam.AlignmentFile(str(dest)) as bam:
        assert [r.reference_start for r in bam.fetch("chr1", 0, 50_000)] == [100, 300, 500]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_bam_that_claims_to_be_sorted_but_is_not_is_sorted(tmp_path):
    liar = write_bam(tmp_path / "liar.bam", [500, 100, 300], sort=False, index=False)
    header = pysam.AlignmentFile(str(liar), check_sq=False).header.to_dict()
    header["HD"]["SO"] = "coordinate"
    with pysam.AlignmentFile(str(liar)) as bam:
        records = [r.to_string() for r in bam]
    with pysam.AlignmentFile(str(liar), "wb", header=header) as out:
        for line in records:
            out.write(pysam.AlignedSegment.fromstring(line, out.header))
    dest = tmp_path / "results/bam/A/K4.bam"
    summary = reads_to_bam(liar, sizes_file(tmp_path), dest, kind="bam", link=True)
    assert summary.startswith("sorted and indexed 3 records") and not dest.is_symlink()
    with pysam.AlignmentFile(str(dest)) as bam:
        assert [r.reference_start for r in bam.fetch("chr1")] == [100, 300, 500]
    assert not list(dest.parent.glob(".*"))


def rule_paths() -> list[list[str]]:
    """Every path pattern the rules write under the results folder, as its components, with
    the cell type's and the replicate's wildcards spelt {cell} and {reads}."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow/rules").glob("*.smk")))
    folders = {
        "LOGS": "logs", "BENCHMARKS": "benchmarks", "PLOTS": "plots", "TRACKS": "tracks",
        "RESULTS": "",
    }  # fmt: skip
    paths = []
    for root, rest in re.findall(r'f"\{(RESULTS|LOGS|BENCHMARKS|PLOTS|TRACKS)\}/([^"]*)"', text):
        if rest == "{path}":  # the tracks' files of track_paths(), under cell types' folders
            continue
        rest = rest.replace("{{", "{").replace("}}", "}").replace("{wildcards.cell}", "{cell}")
        rest = rest.replace("{reads.name}", "{cell}/{reads}")
        # A replicate is named {cell}/{reads}, a pooled mark {cell}/{mark}.
        rest = rest.replace("{replicate}", "{cell}/{reads}").replace("{pooled}", "{cell}/{mark}")
        paths.append([part for part in f"{folders[root]}/{rest}".split("/") if part])
    return paths


def test_rule_paths_hold_names_whole_so_distinct_names_are_distinct_files():
    """What the name checks rely on: a cell type's name is a whole path component, or one
    with a fixed suffix; a replicate's stem follows its cell type's folder; a folder holding
    cell types' entries holds nothing else but the results folder's own entries."""
    paths = rule_paths()
    assert ["bam", "{cell}", "{reads}.bam"] in paths
    entries: dict[tuple[str, ...], set[str]] = {}
    for parts in paths:
        for i, part in enumerate(parts):
            if "{cell}" in part:
                assert re.fullmatch(r"\{cell\}(\.[\w.]+)?", part), parts
                assert all("{cell}" not in p for p in parts[i + 1 :]), parts
            if "{reads}" in part:
                assert re.fullmatch(r"\{reads\}\.[\w.]+", part) and parts[i - 1] == "{cell}", parts
            entries.setdefault(tuple(parts[:i]), set()).add(part)
    for folder, names in entries.items():
        if any(name.startswith("{cell}") for name in names):
            fixed = {name for name in names if not name.startswith("{cell}")}
            allowed = {(): set(RESULTS_ENTRIES), ("tracks",): set(TRACKS_ENTRIES)}.get(
                folder, set()
            )
            assert fixed <= allowed, f"{'/'.join(folder)}/ holds {fixed} beside cell types"
