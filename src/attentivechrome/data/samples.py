"""Which reads feed each cell type and mark: a sample sheet, or the tagAlign URL pattern.

The sample sheet (`samples` in the config) is a table with a header line and the columns
`cell`, `mark`, `path` (a local path or a URL) and, optionally, `format` (`tagalign`, `bed`
or `bam`). Tabs or commas separate the columns (told by the header line); blank lines and
lines starting with `#` are skipped. Rules recorded here once:
- An empty `format` is told from a local file's content (BAM or text, gzipped or not)
  and from a URL's name (`.bam` or not); a declared format must agree with the content.
  A CRAM file or SAM text, whatever its name or declared format, is refused with the
  command that converts it (reading CRAM needs its reference FASTA, which the sheet does
  not name; a BAM is what both counters read).
- Cell types and marks are the sheet's, in the order they first appear; every cell type
  needs every mark (a model sees all marks of a gene). `cell_types` or `marks` in the
  config select among them.
- Names become folders and files: results/{cell}/, results/bam/{cell}/{mark}.bam,
  logs/bam/{cell}/{mark}.log, downloads/tagalign/{cell}/{mark}.tagAlign.gz. So a name
  holds letters, digits and `_ . -` only and starts with a letter, digit or `_`; a cell
  type is none of the results folder's own entries (`reference`, `bam`, `logs`, ...); a
  mark does not end like a replicate (`.rep2`). Every name derived from the rows is checked
  distinct, case ignored (one file on a case-insensitive disk), so that no two samples can
  write, or be counted from, one file.
- Several rows for one (cell, mark) are replicates. Each becomes its own BAM, named
  `{mark}.rep{n}` in row order (`{mark}` when there is one) in its cell type's folder, and
  a mark's counts are the sum of its replicates' counts: the counts of their merged BAM,
  since each read counts on its own.
- A local file is known by what it is (device and inode), not by how its path is spelt
  (a symlink, `a/./b`, relative or absolute, `file://`): one file twice for a cell type,
  as two replicates or two marks, is refused; one file for two cell types is a warning.

`sources.tagalign`, a path or URL pattern with {cell} and {mark}, is a shorthand for a
sheet of tagAlign files, one per (cell, mark).
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd

from attentivechrome.errors import InputError, separator_hint
from attentivechrome.io import header_separator, is_gzip, open_text

#: The sheet's formats, and what each is read as: a BAM, or text (tagAlign and BED alike).
FORMAT_KINDS = {"tagalign": "text", "bed": "text", "bam": "bam"}
FORMATS = tuple(FORMAT_KINDS)
COLUMNS = ("cell", "mark", "path")
#: The marks of the paper, used when the tagAlign pattern is given without `marks`.
CORE_MARKS = ("H3K4me3", "H3K4me1", "H3K36me3", "H3K9me3", "H3K27me3")
#: Roadmap's names of the marks its tagAlign files hold (the pattern's {mark}): a name
#: outside these is a typo that would only show as a failed download.
ROADMAP_MARKS = (*CORE_MARKS, "H3K27ac", "H3K9ac", "H2A.Z", "H3K79me2", "H4K20me1", "DNase")
#: What a cell type or mark may be: it names files and folders (no `/`, no space, not
#: hidden, not an option to a command-line tool).
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'"
#: A replicate's file name ends so; a mark named so would be another mark's replicate.
REPLICATE_SUFFIX = re.compile(r"\.rep\d+$", re.IGNORECASE)
#: Entries of the results folder beside the cell types' folders (results/{cell}/).
RESULTS_ENTRIES = (
    "bam",
    "benchmarks",
    "bundles",
    "comparison.tsv",
    "config.resolved.yaml",
    "downloads",
    "logs",
    "plots",
    "predict",
    "qc",
    "reference",
    "summary.tsv",
    "tracks",
)
#: Entries of the tracks folder beside the cell types' folders (results/tracks/{cell}/).
TRACKS_ENTRIES = ("genomes.txt", "hub.txt", "igv_session.xml", "predict", "trackDb.txt")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_BAM_MAGIC = b"BAM\x01"
_CRAM_MAGIC = b"CRAM"
#: The record types a SAM file's first (header) line may have.
_SAM_HEADER_TYPES = (b"@HD", b"@SQ", b"@RG", b"@PG", b"@CO")
#: Kinds content_kind finds but the pipeline does not read, and what to do with them.
REFUSED_KINDS = {
    "cram": "a CRAM file, not BAM: convert it with samtools view -b -T ref.fa -o reads.bam "
    "reads.cram (ref.fa: the FASTA it was aligned to)",
    "sam": "SAM text, not BAM: convert it with samtools view -b -o reads.bam reads.sam",
}


@dataclass(frozen=True)
class Reads:
    """One replicate's reads of one mark in one cell type."""

    cell: str
    mark: str
    path: str  # as the user gave it
    kind: str  # "bam" or "text" (tagAlign or BED, gzipped or plain)
    replicate: int = 1
    n_replicates: int = 1
    line: int | None = None  # its line in the sample sheet

    @property
    def stem(self) -> str:
        """Its file name in its cell type's folders, without suffix: the mark, or
        `{mark}.rep{n}` with replicates."""
        return self.mark if self.n_replicates == 1 else f"{self.mark}.rep{self.replicate}"

    @property
    def name(self) -> str:
        """`{cell}/{stem}`: results/bam/{name}.bam, logs/bam/{name}.log."""
        return f"{self.cell}/{self.stem}"

    @property
    def is_local(self) -> bool:
        return is_local(self.path)

    @property
    def local_path(self) -> Path:
        return local_path(self.path)

    def source_name(self) -> str:
        """Its name under the download folder (a URL's) and in `sources.sha256`."""
        if self.kind == "text":
            return f"tagalign/{self.name}.tagAlign.gz"
        return f"bam/{self.name}.bam"


@dataclass(frozen=True)
class ReadSources:
    reads: tuple[Reads, ...]
    cells: tuple[str, ...]
    marks: tuple[str, ...]
    #: Things worth telling that do not stop the run (one file for two cell types).
    warnings: tuple[str, ...] = ()

    def of(self, cell: str, mark: str) -> list[Reads]:
        return [r for r in self.reads if r.cell == cell and r.mark == mark]

    def table(self) -> pd.DataFrame:
        """One row per replicate, for schema validation and for users to read back."""
        columns = ["cell", "mark", "path", "kind", "replicate", "name"]
        return pd.DataFrame([[getattr(r, c) for c in columns] for r in self.reads], columns=columns)


def content_kind(path: Path) -> str:
    """ "bam", "cram", "sam" or "text", by the bytes, never the name: BGZF holding the BAM
    magic number; the CRAM magic number; text (plain or gzipped) whose first line is a SAM
    header line (@HD, @SQ, @RG, @PG or @CO, then a tab); anything else is text reads."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as handle:
                head = handle.read(4)
        else:
            with open(path, "rb") as handle:
                head = handle.read(4)
            if head == _CRAM_MAGIC:
                return "cram"
    except (OSError, EOFError):
        return "text"  # damaged gzip: the reads' reader names the problem
    if head == _BAM_MAGIC:
        return "bam"
    return "sam" if head[:3] in _SAM_HEADER_TYPES and head[3:] == b"\t" else "text"


def is_local(path: str) -> bool:
    """A plain path or a file:// URL (read from disk), not an http(s) or other URL."""
    return not _URL.match(path) or path.lower().startswith("file://")


def local_path(path: str) -> Path:
    """The file a plain path or a file:// URL names (`file:///a%20b` is `/a b`)."""
    if path.lower().startswith("file://"):
        return Path(unquote(urlsplit(path).path))
    return Path(path)


def name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot be a cell type's or mark's (`what`) name, or None when it can."""
    if not NAME.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9_.-]", c)})
        shown = f"has {', '.join(map(repr, bad))}" if bad else f"starts with {name[:1]!r}"
        return f"{what} {name!r} cannot name a file (it {shown}): use {NAME_RULE}"
    if what == "mark" and REPLICATE_SUFFIX.search(name):
        return (
            f"mark {name!r} ends like a replicate's file name "
            f"({REPLICATE_SUFFIX.search(name).group()}): rows of one mark are its replicates, "
            "so rename the mark"
        )
    if what == "cell type" and name.casefold() in RESULTS_ENTRIES:
        return (
            f"cell type {name!r} is an entry of the results folder itself (results/{name}); "
            f"choose another name (none of {', '.join(RESULTS_ENTRIES)})"
        )
    if what == "cell type" and name.casefold() in TRACKS_ENTRIES:
        return (
            f"cell type {name!r} is an entry of the tracks folder (results/tracks/{name}); "
            f"choose another name (none of {', '.join(TRACKS_ENTRIES)})"
        )
    return None


def _identity(path: str) -> tuple:
    """What a reads path is: a local file's device and inode, or the URL, normalised."""
    if is_local(path):
        stat = os.stat(local_path(path))
        return ("file", stat.st_dev, stat.st_ino)
    parts = urlsplit(path)
    return ("url", parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query)


def _kind(path: str, declared: str, where: Path, line: int) -> str:
    if not is_local(path):
        named = "bam" if path.lower().split("?")[0].endswith(".bam") else "text"
        return FORMAT_KINDS.get(declared, named)
    if path.lower().startswith("file://") and urlsplit(path).netloc not in ("", "localhost"):
        raise InputError(where, f"{path}: a file:// URL of another host", line=line)
    local = local_path(path)
    if local.is_dir():
        raise InputError(where, f"reads file {path} is a folder", line=line)
    if not local.is_file():
        raise InputError(where, f"reads file {path} does not exist", line=line)
    found = content_kind(local)
    if found in REFUSED_KINDS:
        raise InputError(where, f"{path} is {REFUSED_KINDS[found]}", line=line)
    expected = FORMAT_KINDS.get(declared, found)
    if found != expected:
        shown = "a BAM file" if found == "bam" else "text, not a BAM file"
        raise InputError(where, f"{path} is declared {declared} but is {shown}", line=line)
    return found


def _sheet_lines(sheet: Path) -> list[tuple[int, list[str]]]:
    """The sheet's header and rows, split, with their line numbers; `#` and blank lines
    skipped; tabs or commas, as the header line has them."""
    try:
        with open_text(sheet) as handle:
            lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(handle, start=1)]
    except UnicodeDecodeError:
        raise InputError(sheet, "not a text file (a sample sheet is a table of text)") from None
    kept = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise InputError(sheet, f"no header line ({', '.join(COLUMNS)} and optionally format)")
    first, header = kept[0]
    separator = header_separator(header)
    if separator == "\t" and separator_hint(header):
        raise InputError(
            sheet,
            "expected a tab- or comma-separated header (its columns are separated by spaces)",
            line=first,
        )
    dialect = (
        {"delimiter": ","} if separator == "," else {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    )
    return [(n, [v.strip() for v in next(csv.reader([line], **dialect))]) for n, line in kept]


def read_sample_sheet(
    path: str | Path, cells: Sequence[str] | None = None, marks: Sequence[str] | None = None
) -> ReadSources:
    """The sheet's reads, checked; `cells` and `marks`, when given, select among its own."""
    sheet = Path(path)
    if sheet.is_dir():
        raise InputError(sheet, f"a folder, not a sample sheet (a table: {', '.join(COLUMNS)})")
    if not sheet.is_file():
        raise InputError(sheet, "sample sheet not found")
    (header_line, columns), *lines = _sheet_lines(sheet)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InputError(sheet, f"column {', '.join(repeated)} appears twice", line=header_line)
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise InputError(
            sheet,
            f"missing column {', '.join(missing)} (the sheet has {', '.join(columns)}; "
            f"it needs {', '.join(COLUMNS)} and may have format)",
            line=header_line,
        )
    if not lines:
        raise InputError(sheet, "no rows (one per replicate of each cell type and mark)")
    rows = []
    for number, fields in lines:
        if len(fields) > len(columns):
            raise InputError(
                sheet, f"{len(fields)} fields, the header has {len(columns)}", line=number
            )
        row = dict(zip(columns, fields + [""] * (len(columns) - len(fields)), strict=True))
        values = {c: row[c] for c in COLUMNS}
        empty = [c for c in COLUMNS if not values[c]]
        if empty:
            raise InputError(sheet, f"empty {', '.join(empty)}", line=number)
        for key, what in (("cell", "cell type"), ("mark", "mark")):
            problem = name_problem(values[key], what)
            if problem:
                raise InputError(sheet, problem, line=number)
        declared = row.get("format", "").lower()
        if declared and declared not in FORMATS:
            raise InputError(
                sheet,
                f"format {declared!r} is not one of {', '.join(FORMATS)} (or empty: told "
                "from the content)",
                line=number,
            )
        kind = _kind(values["path"], declared, sheet, number)
        rows.append((values["cell"], values["mark"], values["path"], kind, number))
    return _select(_as_sources(rows, sheet), cells, marks, sheet)


def reads_from_pattern(pattern: str, cells: Sequence[str], marks: Sequence[str]) -> ReadSources:
    """The tagAlign shorthand: one text file per (cell, mark), named by the pattern."""
    for mark in marks:
        if mark not in ROADMAP_MARKS:
            raise InputError(
                None,
                f"mark {mark} is not a Roadmap mark ({', '.join(ROADMAP_MARKS)}); reads of "
                "other marks are named in a sample sheet (samples)",
            )
    for names, what in ((cells, "cell type"), (marks, "mark")):
        for name in names:
            problem = name_problem(name, what)
            if problem:
                key = "cell_types" if what == "cell type" else "marks"
                raise InputError(None, f"{key}: {problem}")
    rows = [
        (cell, mark, pattern.format(cell=cell, mark=mark), "text", None)
        for cell in cells
        for mark in marks
    ]
    return _as_sources(rows, None)


def _where(sheet: Path | None, line: int | None) -> str:
    return f"line {line}" if sheet is not None else "sources.tagalign"


def _check_distinct(reads: tuple[Reads, ...], sheet: Path | None) -> None:
    """Refuse rows whose derived names meet, case ignored: every path of the results is a
    fixed prefix and suffix around a cell type's name (results/{cell}/, logs/counts/
    {cell}.log) or a replicate's (results/bam/{cell}/{stem}.bam, logs/bam/{cell}/{stem}.log,
    downloads/tagalign/{cell}/{stem}.tagAlign.gz), so distinct names are distinct files."""
    cells: dict[str, Reads] = {}
    names: dict[str, Reads] = {}
    for r in reads:
        first_cell = cells.setdefault(r.cell.casefold(), r)
        first_name = names.setdefault(r.name.casefold(), r)
        if first_cell.cell != r.cell:
            first, shown = first_cell, f"results/{r.cell}/"
        elif first_name is not r:
            first, shown = first_name, f"results/bam/{r.name}.bam"
        else:
            continue
        raise InputError(
            sheet,
            f"{r.cell} {r.mark} and {first.cell} {first.mark} ({_where(sheet, first.line)}) "
            f"would share files ({shown}, case ignored as some disks do): rename one",
            line=r.line,
        )


def _check_same_files(reads: tuple[Reads, ...], sheet: Path | None) -> tuple[str, ...]:
    """Refuse one file twice for a cell type (as replicates every count would double; as
    two marks one would be counted for the other); one file for two cell types is a warning."""
    by_file: dict[tuple, Reads] = {}
    warnings = []
    for r in reads:
        if r.is_local and not r.local_path.is_file():
            continue  # a pattern's missing file: the rule reading it names it
        first = by_file.setdefault(_identity(r.path), r)
        if first is r:
            continue
        spelt = "" if first.path == r.path else f" (as {first.path})"
        where = f"{_where(sheet, first.line)}{spelt}"
        if (first.cell, first.mark) == (r.cell, r.mark):
            raise InputError(
                sheet,
                f"{r.path} is listed twice for {r.cell} {r.mark} ({where}): the same reads "
                "would be pooled as two replicates, every count doubled",
                line=r.line,
            )
        if first.cell == r.cell:
            raise InputError(
                sheet,
                f"{r.path} is the reads of both {r.cell} {first.mark} ({where}) and "
                f"{r.cell} {r.mark}: one file cannot be two marks",
                line=r.line,
            )
        location = f"{sheet}, line {r.line}" if sheet is not None else "sources.tagalign"
        warnings.append(
            f"{location}: {r.path} is the reads of {r.cell} {r.mark} and also of "
            f"{first.cell} {first.mark} ({where}): one file for two cell types"
        )
    return tuple(warnings)


def _as_sources(rows: list[tuple], sheet: Path | None) -> ReadSources:
    cells = tuple(dict.fromkeys(r[0] for r in rows))
    marks = tuple(dict.fromkeys(r[1] for r in rows))
    seen: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        seen.setdefault((row[0], row[1]), []).append(row)
    holes = [f"{cell} {mark}" for cell in cells for mark in marks if (cell, mark) not in seen]
    if holes:
        raise InputError(
            sheet,
            f"no reads for {', '.join(holes)}: every cell type needs every mark "
            f"({', '.join(marks)})",
        )
    reads = tuple(
        Reads(cell, mark, path, kind, replicate, len(group), line)
        for (cell, mark), group in seen.items()
        for replicate, (_, _, path, kind, line) in enumerate(group, start=1)
    )
    _check_distinct(reads, sheet)
    warnings = _check_same_files(reads, sheet)
    return ReadSources(reads, cells, marks, warnings)


def _select(
    sources: ReadSources, cells: Sequence[str] | None, marks: Sequence[str] | None, sheet: Path
) -> ReadSources:
    for wanted, have, what in ((cells, sources.cells, "cell type"), (marks, sources.marks, "mark")):
        unknown = [w for w in wanted or () if w not in have]
        if unknown:
            raise InputError(
                sheet,
                f"{what} {', '.join(unknown)} is named in the config but has no rows here "
                f"(the sheet has {', '.join(have)})",
            )
    cells = tuple(cells or sources.cells)
    marks = tuple(marks or sources.marks)
    reads = tuple(r for r in sources.reads if r.cell in cells and r.mark in marks)
    return ReadSources(reads, cells, marks, sources.warnings)
