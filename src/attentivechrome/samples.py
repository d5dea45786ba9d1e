"""Which reads feed each cell type and mark: a sample sheet, or the tagAlign URL pattern.

The sample sheet (`samples` in the config) is a TSV with a header and the columns `cell`,
`mark`, `path` (a local path or a URL) and, optionally, `format` (`tagalign`, `bed` or
`bam`). Rules recorded here once:
- An empty `format` is told from a local file's content (BAM or text, gzipped or not)
  and from a URL's name (`.bam` or not); a declared format must agree with the content.
  A CRAM file or SAM text, whatever its name or declared format, is refused with the
  command that converts it (reading CRAM needs its reference FASTA, which the sheet does
  not name; a BAM is what both counters read).
- Cell types and marks are the sheet's, in the order they first appear; every cell type
  needs every mark (a model sees all marks of a gene). `cell_types` or `marks` in the
  config select among them.
- Several rows for one (cell, mark) are replicates. Each becomes its own BAM, named
  `{cell}-{mark}.rep{n}` in row order (`{cell}-{mark}` when there is one), and a mark's
  counts are the sum of its replicates' counts: the counts of their merged BAM, since
  each read counts on its own.
- A local BAM that is coordinate-sorted and indexed (a `.bai` no older than it) is read
  where it is; any other BAM is sorted and indexed into the results, never in place.

`sources.tagalign`, a path or URL pattern with {cell} and {mark}, is a shorthand for a
sheet of tagAlign files, one per (cell, mark).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pysam

from .errors import InputError
from .io import is_gzip, read_table

#: The sheet's formats, and what each is read as: a BAM, or text (tagAlign and BED alike).
FORMAT_KINDS = {"tagalign": "text", "bed": "text", "bam": "bam"}
FORMATS = tuple(FORMAT_KINDS)
COLUMNS = ("cell", "mark", "path")
#: The marks of the paper, used when the tagAlign pattern is given without `marks`.
CORE_MARKS = ("H3K4me3", "H3K4me1", "H3K36me3", "H3K9me3", "H3K27me3")
#: Roadmap's names of the marks its tagAlign files hold (the pattern's {mark}): a name
#: outside these is a typo that would only show as a failed download.
ROADMAP_MARKS = (*CORE_MARKS, "H3K27ac", "H3K9ac", "H2A.Z", "H3K79me2", "H4K20me1", "DNase")
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

    @property
    def name(self) -> str:
        """Its name in results/bam/ and in the logs."""
        base = f"{self.cell}-{self.mark}"
        return base if self.n_replicates == 1 else f"{base}.rep{self.replicate}"

    @property
    def is_local(self) -> bool:
        return is_local(self.path)

    @property
    def local_path(self) -> Path:
        return local_path(self.path)

    def download_name(self) -> str | None:
        """Name under the download folder; None for a local BAM, which is read in place."""
        if self.kind == "text":
            return f"tagalign/{self.name}.tagAlign.gz"
        return None if self.is_local else f"bam/{self.name}.bam"


@dataclass(frozen=True)
class ReadSources:
    reads: tuple[Reads, ...]
    cells: tuple[str, ...]
    marks: tuple[str, ...]

    def of(self, cell: str, mark: str) -> list[Reads]:
        return [r for r in self.reads if r.cell == cell and r.mark == mark]

    def read_in_place(self) -> dict[str, Path]:
        """Index of each local BAM that needs no sorting (sorted, a current .bai), by name."""
        found = {
            r.name: bam_index(r.local_path) for r in self.reads if r.kind == "bam" and r.is_local
        }
        return {name: index for name, index in found.items() if index is not None}

    def table(self) -> pd.DataFrame:
        """One row per replicate, for schema validation and for users to read back."""
        columns = ["cell", "mark", "path", "kind", "replicate", "name"]
        return pd.DataFrame([[getattr(r, c) for c in columns] for r in self.reads], columns=columns)


def bam_index(bam: Path) -> Path | None:
    """The .bai of a coordinate-sorted BAM, when it exists and is not older than the BAM
    (a stale index would give multicov wrong counts)."""
    for index in (Path(f"{bam}.bai"), bam.with_suffix(".bai")):
        # Whole seconds, as htslib compares them: a copy made in one go keeps its index.
        if index.is_file() and int(index.stat().st_mtime) >= int(bam.stat().st_mtime):
            try:
                with pysam.AlignmentFile(str(bam), "rb", check_sq=False) as handle:
                    header = handle.header.to_dict()
            except (OSError, ValueError):
                return None
            return index if header.get("HD", {}).get("SO") == "coordinate" else None
    return None


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
    return Path(re.sub(r"^file://", "", path, flags=re.IGNORECASE))


def _kind(path: str, declared: str, where: Path, line: int) -> str:
    if not is_local(path):
        named = "bam" if path.lower().split("?")[0].endswith(".bam") else "text"
        return FORMAT_KINDS.get(declared, named)
    local = local_path(path)
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


def read_sample_sheet(
    path: str | Path, cells: Sequence[str] | None = None, marks: Sequence[str] | None = None
) -> ReadSources:
    """The sheet's reads, checked; `cells` and `marks`, when given, select among its own."""
    sheet = Path(path)
    if not sheet.is_file():
        raise InputError(sheet, "sample sheet not found")
    table = read_table(sheet, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            sheet,
            f"missing column {', '.join(missing)} (the sheet has {', '.join(table.columns)}; "
            f"it needs {', '.join(COLUMNS)} and may have format)",
            line=1,
        )
    if table.empty:
        raise InputError(sheet, "no rows (one per replicate of each cell type and mark)")
    rows = []
    for number, row in enumerate(table.to_dict("records"), start=2):
        values = {c: str(row[c]).strip() for c in COLUMNS}
        empty = [c for c in COLUMNS if not values[c]]
        if empty:
            raise InputError(sheet, f"empty {', '.join(empty)}", line=number)
        declared = str(row.get("format", "")).strip().lower()
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
    reads = tuple(
        Reads(cell, mark, pattern.format(cell=cell, mark=mark), "text")
        for cell in cells
        for mark in marks
    )
    return ReadSources(reads, tuple(cells), tuple(marks))


def _as_sources(rows: list[tuple], sheet: Path) -> ReadSources:
    cells = tuple(dict.fromkeys(r[0] for r in rows))
    marks = tuple(dict.fromkeys(r[1] for r in rows))
    seen: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        seen.setdefault((row[0], row[1]), []).append(row)
    for rows_of_mark in seen.values():
        paths: set[str] = set()
        for cell, mark, path, _, line in rows_of_mark:
            if path in paths:
                raise InputError(sheet, f"{path} is listed twice for {cell} {mark}", line=line)
            paths.add(path)
    holes = [f"{cell} {mark}" for cell in cells for mark in marks if (cell, mark) not in seen]
    if holes:
        raise InputError(
            sheet,
            f"no reads for {', '.join(holes)}: every cell type needs every mark "
            f"({', '.join(marks)})",
        )
    reads = tuple(
        Reads(cell, mark, path, kind, replicate, len(seen[(cell, mark)]))
        for (cell, mark), group in seen.items()
        for replicate, (_, _, path, kind, _) in enumerate(group, start=1)
    )
    return ReadSources(reads, cells, marks)


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
    return ReadSources(reads, cells, marks)
