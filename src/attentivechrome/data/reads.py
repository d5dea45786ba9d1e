"""Reads -> sorted, indexed BAM: tagAlign or BED text converted, a user's sorted BAM linked,
other BAMs sorted.

A tagAlign file is BED6 (chrom, start, end, name, score, strand), one read per line,
gzipped or plain (told apart by the gzip magic bytes, not by the file name).

Column rules (decided here, as the format allows some freedom):
- At least 3 tab-separated columns are required; the number of columns is taken from the
  first line of reads and every line must have that many.
- Lines that begin with `track`, `browser` (UCSC) or `#` are skipped wherever they are, as
  `bedtools bedtobam` 2.30 skips them (found by experiment: the word need only begin the
  line), so both BAM writers, and bedtobam run on the file itself, give the same records;
  they are counted in the log. Line numbers in messages are the file's.
- Only chrom, start, end and, when present, the strand (column 6) are used. Start and end
  must be plain integers with 0 <= start < end; the strand must be `+`, `-` or `.`.
- Files with 4 or more columns are passed to `bedtools bedtobam` line for line (it takes
  the read name from column 4 and the strand from column 6, `+` when absent); BED3 files
  get the name `N` and score 1000 of REMC.

Chromosome names are matched to the sizes' by genome.match_chroms (`1` is `chr1`) and
written as the sizes spell them. Reads on chromosomes absent from the sizes, or reaching
past a chromosome's end, are dropped and counted (not moved to the first chromosome as
bedtobam would do with them).

The parsed blocks (`parsed_blocks`) feed both BAM writers of module bam_conversion.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from attentivechrome.data.genome import match_chroms, no_shared_names
from attentivechrome.errors import InputError, separator_hint
from attentivechrome.io import atomic_path, is_gzip
from attentivechrome.progress import Progress, read_count

log = logging.getLogger(__name__)

#: Bytes of decompressed text parsed at a time: bounds memory whatever the file size.
BLOCK_BYTES = 32 * 1024 * 1024
STRANDS = ("+", "-", ".")
#: Name given to the reads of BED3 files (REMC's), as bedtobam needs one.
BED3_NAME = "N"


@dataclass
class ReadStats:
    """What happened to the reads of one tagAlign file."""

    n_reads: int = 0
    n_kept: int = 0
    n_unknown_chrom: int = 0
    n_past_end: int = 0
    n_header_lines: int = 0
    #: Dropped reads per chromosome (unknown chromosome or past its end).
    dropped_by_chrom: dict[str, int] = field(default_factory=dict)

    def add_dropped(self, counts: pd.Series) -> None:
        for chrom, n in counts.items():
            self.dropped_by_chrom[str(chrom)] = self.dropped_by_chrom.get(str(chrom), 0) + int(n)

    def summary(self) -> str:
        text = (
            f"{self.n_reads} reads, {self.n_kept} kept, {self.n_unknown_chrom} on unknown "
            f"chromosomes, {self.n_past_end} past a chromosome end"
        )
        if self.n_header_lines:
            text += f"; {self.n_header_lines} track, browser or comment lines skipped"
        if self.dropped_by_chrom:
            worst = sorted(self.dropped_by_chrom.items(), key=lambda kv: -kv[1])[:10]
            text += "; dropped by chromosome: " + ", ".join(f"{c}={n}" for c, n in worst)
        return text


def _text_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed text in blocks that end on a line break (the last one may not)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    compressed = is_gzip(path)
    rest = b""
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as handle:
            while True:
                data = handle.read(BLOCK_BYTES)
                if not data:
                    break
                data = rest + data
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) >= BLOCK_BYTES:  # no line break in a whole block
                    raise InputError(path, f"no line break in {len(data)} bytes: not a BED file")
                rest = data[cut:]
                if cut == 0:
                    continue
                yield data[:cut]
    except (EOFError, OSError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a cut-off file ends in EOFError.
        problem = "truncated or corrupted gzip data" if compressed else "cannot read the file"
        raise InputError(path, f"{problem} ({exc})") from None
    if rest:
        yield rest


def _count_columns(path: Path, block: bytes, line: int) -> int:
    first = block.split(b"\n", 1)[0]
    n = len(first.split(b"\t"))
    if n < 3 or not first.strip():
        raise InputError(
            path,
            "expected at least 3 tab-separated columns (chrom, start, end; REMC tagAlign "
            f"has 6: chrom, start, end, name, score, strand), found {first[:80]!r}"
            + separator_hint(first),
            line=line,
        )
    return n


def _line_ends(raw: np.ndarray) -> np.ndarray:
    """Offset just past each line of a block (its last line may lack the line break)."""
    ends = np.flatnonzero(raw == ord("\n")) + 1
    if len(raw) and raw[-1] != ord("\n"):
        ends = np.append(ends, len(raw))
    return ends


#: Lines skipped wherever they are, as bedtools skips them: UCSC's track and browser lines
#: and comments (the line need only begin with one of these).
HEADER_PREFIXES = (b"#", b"track", b"browser")


def _header_lines(raw: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """True for each line of a block that begins with one of HEADER_PREFIXES."""
    starts = np.concatenate([[0], ends[:-1]])
    found = np.zeros(len(starts), dtype=bool)
    for prefix in HEADER_PREFIXES:
        fits = np.flatnonzero(starts + len(prefix) <= len(raw))
        match = np.ones(len(fits), dtype=bool)
        for i, byte in enumerate(prefix):
            match &= raw[starts[fits] + i] == byte
        found[fits[match]] = True
    return found


def _check_columns(
    path: Path, raw: np.ndarray, ends: np.ndarray, n_cols: int, lines: np.ndarray
) -> np.ndarray:
    """Every line must have as many tab-separated fields as the first (counted vectorised).

    Returns the offsets of the tabs, one row per line."""
    tabs = np.flatnonzero(raw == ord("\t"))
    per_line = np.diff(np.searchsorted(tabs, ends), prepend=0)
    wrong = np.flatnonzero(per_line != n_cols - 1)
    if len(wrong):
        i = int(wrong[0])
        raise InputError(
            path,
            f"expected {n_cols} tab-separated columns like the first line of reads, found "
            f"{per_line[i] + 1}",
            line=int(lines[i]),
        )
    return tabs.reshape(len(ends), n_cols - 1)


def _parse_block(
    path: Path, block: bytes, n_cols: int, lines: np.ndarray, as_text: bool = False
) -> pd.DataFrame:
    """chrom, start, end (and strand) of every line of a block, with pandas' C parser.

    Coordinates are parsed as integers, or kept as text (as_text) to report bad values."""
    usecols = [0, 1, 2, 5] if n_cols >= 6 else [0, 1, 2]
    dtype = {0: "category", 5: "category"} if n_cols >= 6 else {0: "category"}
    if as_text:
        dtype.update({1: str, 2: str})
    try:
        table = pd.read_csv(
            io.BytesIO(block),
            sep="\t",
            header=None,
            names=list(range(n_cols)),
            usecols=usecols,
            dtype=dtype,
            lineterminator="\n",
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot parse as tab-separated text ({exc})") from None
    table.columns = ["chrom", "start", "end", "strand"][: len(usecols)]
    if len(table) != len(lines):  # cannot happen after _check_columns; guards line numbers
        raise InputError(path, f"parsed {len(table)} lines where there are {len(lines)}")
    table.index = pd.Index(lines)
    return table


def _as_integers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(numbers as float, True where the entry is not a plain integer) of a coordinate column."""
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.float64), np.zeros(len(values), dtype=bool)
    # Floats ("1e3", "10.0") are rejected like words: bedtools would read them differently.
    text = values.fillna("").astype(str)
    bad = ~text.str.fullmatch(r"-?\d+").to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~bad), errors="coerce").to_numpy(dtype=np.float64)
    return numbers, bad


def _validate(path: Path, table: pd.DataFrame, n_cols: int) -> None:
    """Raise InputError for the first malformed line of the block, naming what is wrong."""
    columns = ["chrom", "start", "end"] + (["strand"] if "strand" in table else [])
    missing = table[columns].isna().any(axis=1).to_numpy()
    start, bad_start = _as_integers(table["start"])
    end, bad_end = _as_integers(table["end"])
    negative = start < 0
    empty = start >= end  # False where either is NaN
    bad = missing | bad_start | bad_end | negative | empty
    if "strand" in table:
        bad |= ~table["strand"].isin(STRANDS).to_numpy()
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    row = table.iloc[i]
    if missing[i]:
        message = "empty field (expected chrom, start, end" + (", strand)" if n_cols >= 6 else ")")
    elif bad_start[i]:
        message = f"start {row['start']!r} is not an integer"
    elif bad_end[i]:
        message = f"end {row['end']!r} is not an integer"
    elif negative[i]:
        message = f"start {row['start']} is negative"
    elif empty[i]:
        message = f"start {row['start']} must be less than end {row['end']} (empty or reversed)"
    else:
        message = f"strand {row['strand']!r} is not one of '+', '-', '.'"
    raise InputError(path, message, line=int(table.index[i]))


def _keep_mask(
    table: pd.DataFrame, chrom_sizes: dict[str, int], spelling: dict[str, str], stats: ReadStats
) -> np.ndarray:
    sizes = {name: chrom_sizes[chrom] for name, chrom in spelling.items()}
    size = table["chrom"].map(sizes).astype("float64").to_numpy()
    unknown = np.isnan(size)
    past_end = ~unknown & (table["end"].to_numpy() > size)
    dropped = unknown | past_end
    stats.n_reads += len(table)
    stats.n_unknown_chrom += int(unknown.sum())
    stats.n_past_end += int(past_end.sum())
    if dropped.any():
        stats.add_dropped(table["chrom"][dropped].astype(str).value_counts())
    keep = ~dropped
    stats.n_kept += int(keep.sum())
    return keep


#: The longest read name a BAM record holds (l_read_name, one byte, counts the final NUL).
MAX_NAME_BYTES = 254


@dataclass
class ParsedBlock:
    """Whole lines of a tagAlign file, checked, parsed, with the reads to keep marked."""

    data: bytes
    raw: np.ndarray  # the same bytes as uint8 (no copy)
    ends: np.ndarray  # offset just past each line
    tabs: np.ndarray  # offsets of the tabs, one row per line
    n_cols: int
    table: pd.DataFrame  # chrom, start, end (and strand) of every line
    keep: np.ndarray  # False for reads on unknown chromosomes or past a chromosome end
    spelling: dict[str, str]  # the sizes' name of each chromosome name of the block

    def renamed(self) -> bool:
        """Whether some chromosome of the block is spelt otherwise in the sizes."""
        return any(name != chrom for name, chrom in self.spelling.items())

    def name_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Offsets of the first byte of column 4 and just past it, on every line."""
        first = self.tabs[:, 2] + 1
        if self.n_cols >= 5:
            return first, self.tabs[:, 3]
        ends = self.ends
        return first, ends - (self.raw[ends - 1] == ord("\n"))


def _check_names(path: Path, block: ParsedBlock, lines: np.ndarray) -> None:
    """bedtobam writes a corrupt BAM record for a name longer than BAM allows: refuse it."""
    first, past = block.name_bounds()
    too_long = np.flatnonzero(past - first > MAX_NAME_BYTES)
    if len(too_long):
        i = int(too_long[0])
        raise InputError(
            path,
            f"read name of {past[i] - first[i]} bytes (column 4); BAM allows {MAX_NAME_BYTES}",
            line=int(lines[i]),
        )


def _skip_header_lines(
    data: bytes, first_line: int, stats: ReadStats
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """The block without its track, browser and comment lines: its bytes, as uint8, the
    offset past each line, and each line's number in the file."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = _line_ends(raw)
    header = _header_lines(raw, ends)
    if not header.any():
        return data, raw, ends, np.arange(first_line, first_line + len(ends))
    stats.n_header_lines += int(header.sum())
    data = raw[np.repeat(~header, np.diff(ends, prepend=0))].tobytes()
    raw = np.frombuffer(data, dtype=np.uint8)
    return data, raw, _line_ends(raw), first_line + np.flatnonzero(~header)


def parsed_blocks(
    src: str | Path, chrom_sizes: dict[str, int], stats: ReadStats
) -> Iterator[ParsedBlock]:
    """Validate `src` block by block, counting its reads in `stats`; both writers read this.

    Raises InputError for the first malformed line, and at the end for a file without
    reads or without a read on a known chromosome."""
    path = Path(src)
    n_cols = 0
    next_line = 1
    progress = Progress(log, f"{path.name} read", read_count)
    for block_data in _text_blocks(path):
        n_lines = block_data.count(b"\n") + (not block_data.endswith(b"\n"))
        data, raw, ends, lines = _skip_header_lines(block_data, next_line, stats)
        next_line += n_lines
        if not data:
            continue
        if not n_cols:
            n_cols = _count_columns(path, data, int(lines[0]))
        tabs = _check_columns(path, raw, ends, n_cols, lines)
        table = _parse_block(path, data, n_cols, lines)
        if not all(pd.api.types.is_integer_dtype(table[c]) for c in ("start", "end")):
            table = _parse_block(path, data, n_cols, lines, as_text=True)
        _validate(path, table, n_cols)
        spelling = match_chroms(table["chrom"].cat.categories, chrom_sizes)
        keep = np.empty(0, dtype=bool)
        block = ParsedBlock(data, raw, ends, tabs, n_cols, table, keep, spelling)
        if n_cols >= 4:
            _check_names(path, block, lines)
        block.keep = _keep_mask(table, chrom_sizes, spelling, stats)
        yield block
        progress.update(stats.n_reads)
    if stats.n_reads == 0:
        only = "holds only track, browser or comment lines" if stats.n_header_lines else "is empty"
        raise InputError(path, f"no reads (the file {only})")
    if stats.n_kept == 0 and stats.n_unknown_chrom == stats.n_reads:
        raise no_shared_names(path, stats.dropped_by_chrom, chrom_sizes)
    if stats.n_kept == 0:
        raise InputError(path, f"no read lies within its chromosome: {stats.summary()}")


def _kept_lines(block: ParsedBlock) -> bytes:
    """The block without the lines where keep is False (vectorised over bytes)."""
    if block.renamed():
        return _renamed_lines(block)
    if block.keep.all():
        return block.data
    return block.raw[np.repeat(block.keep, np.diff(block.ends, prepend=0))].tobytes()


def _renamed_lines(block: ParsedBlock) -> bytes:
    """The kept lines with their chromosome spelt as in the sizes (bedtobam looks it up)."""
    chrom = block.table["chrom"].cat
    names = [block.spelling.get(c, c).encode() for c in chrom.categories]
    codes = chrom.codes.to_numpy()
    after_chrom = block.tabs[:, 0]
    data, ends = block.data, block.ends
    return b"".join(
        names[codes[i]] + data[after_chrom[i] : ends[i]] for i in np.flatnonzero(block.keep)
    )


def _as_bed6(table: pd.DataFrame, keep: np.ndarray, spelling: dict[str, str]) -> bytes:
    kept = table.loc[keep, ["chrom", "start", "end"]]
    kept["chrom"] = kept["chrom"].map(spelling)
    kept.insert(3, "name", BED3_NAME)
    kept.insert(4, "score", 1000)
    kept.insert(5, "strand", ".")
    return kept.to_csv(sep="\t", header=False, index=False, lineterminator="\n").encode()


def write_filtered(src: str | Path, chrom_sizes: dict[str, int], out: BinaryIO) -> ReadStats:
    """Validate `src` and write its kept reads as BED to the binary stream `out`."""
    stats = ReadStats()
    for block in parsed_blocks(src, chrom_sizes, stats):
        if block.n_cols >= 4:
            out.write(_kept_lines(block))
        else:
            out.write(_as_bed6(block.table, block.keep, block.spelling))
    return stats


def filter_tagalign(src: str | Path, chrom_sizes: dict[str, int], dest: str | Path) -> ReadStats:
    """Validate a tagAlign file and write its kept reads to `dest` as BED (atomically)."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        stats = write_filtered(src, chrom_sizes, out)
    return stats
