"""REMC tagAlign reads -> validated BED -> sorted, indexed BAM.

A tagAlign file is BED6 (chrom, start, end, name, score, strand), one read per line,
gzipped or plain (told apart by the gzip magic bytes, not by the file name).

Column rules (decided here, as the format allows some freedom):
- At least 3 tab-separated columns are required; the number of columns is taken from the
  first line and every line must have that many.
- Only chrom, start, end and, when present, the strand (column 6) are used. Start and end
  must be plain integers with 0 <= start < end; the strand must be `+`, `-` or `.`.
- Files with 4 or more columns are passed to `bedtools bedtobam` line for line (it takes
  the read name from column 4 and the strand from column 6, `+` when absent); BED3 files
  get the name `N` and score 1000 of REMC.

Reads on chromosomes absent from the sizes, or reaching past a chromosome's end, are
dropped and counted (not moved to the first chromosome as bedtobam would do with them).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pysam

from .errors import InputError, separator_hint
from .io import atomic_path, is_gzip

#: Bytes of decompressed text parsed at a time: bounds memory whatever the file size.
BLOCK_BYTES = 32 * 1024 * 1024
STRANDS = ("+", "-", ".")


@dataclass
class ReadStats:
    """What happened to the reads of one tagAlign file."""

    n_reads: int = 0
    n_kept: int = 0
    n_unknown_chrom: int = 0
    n_past_end: int = 0
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


def _count_columns(path: Path, block: bytes) -> int:
    first = block.split(b"\n", 1)[0]
    n = len(first.split(b"\t"))
    if n < 3 or not first.strip():
        raise InputError(
            path,
            "expected at least 3 tab-separated columns (chrom, start, end; REMC tagAlign "
            f"has 6: chrom, start, end, name, score, strand), found {first[:80]!r}"
            + separator_hint(first),
            line=1,
        )
    return n


def _line_ends(raw: np.ndarray) -> np.ndarray:
    """Offset just past each line of a block (its last line may lack the line break)."""
    ends = np.flatnonzero(raw == ord("\n")) + 1
    if len(raw) and raw[-1] != ord("\n"):
        ends = np.append(ends, len(raw))
    return ends


def _check_columns(
    path: Path, raw: np.ndarray, ends: np.ndarray, n_cols: int, first_line: int
) -> None:
    """Every line must have as many tab-separated fields as line 1 (counted vectorised)."""
    tabs = np.flatnonzero(raw == ord("\t"))
    per_line = np.diff(np.searchsorted(tabs, ends), prepend=0)
    wrong = np.flatnonzero(per_line != n_cols - 1)
    if len(wrong):
        i = int(wrong[0])
        raise InputError(
            path,
            f"expected {n_cols} tab-separated columns like line 1, found {per_line[i] + 1}",
            line=first_line + i,
        )


def _parse_block(
    path: Path, block: bytes, n_cols: int, first_line: int, as_text: bool = False
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
    table.index = pd.RangeIndex(first_line, first_line + len(table))
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


def _keep_mask(table: pd.DataFrame, chrom_sizes: dict[str, int], stats: ReadStats) -> np.ndarray:
    size = table["chrom"].map(chrom_sizes).astype("float64").to_numpy()
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


def _kept_lines(block: bytes, raw: np.ndarray, ends: np.ndarray, keep: np.ndarray) -> bytes:
    """The block without the lines where keep is False (vectorised over bytes)."""
    if keep.all():
        return block
    return raw[np.repeat(keep, np.diff(ends, prepend=0))].tobytes()


def _as_bed6(table: pd.DataFrame, keep: np.ndarray) -> bytes:
    kept = table.loc[keep, ["chrom", "start", "end"]]
    kept.insert(3, "name", "N")
    kept.insert(4, "score", 1000)
    kept.insert(5, "strand", ".")
    return kept.to_csv(sep="\t", header=False, index=False, lineterminator="\n").encode()


def write_filtered(src: str | Path, chrom_sizes: dict[str, int], out: BinaryIO) -> ReadStats:
    """Validate `src` and write its kept reads as BED to the binary stream `out`."""
    path = Path(src)
    stats = ReadStats()
    n_cols = 0
    next_line = 1
    for block in _text_blocks(path):
        if not n_cols:
            n_cols = _count_columns(path, block)
        raw = np.frombuffer(block, dtype=np.uint8)
        ends = _line_ends(raw)
        _check_columns(path, raw, ends, n_cols, next_line)
        table = _parse_block(path, block, n_cols, next_line)
        if len(table) != len(ends):  # cannot happen after _check_columns; guards line numbers
            raise InputError(path, f"parsed {len(table)} lines where there are {len(ends)}")
        if not all(pd.api.types.is_integer_dtype(table[c]) for c in ("start", "end")):
            table = _parse_block(path, block, n_cols, next_line, as_text=True)
        next_line += len(table)
        _validate(path, table, n_cols)
        keep = _keep_mask(table, chrom_sizes, stats)
        if n_cols >= 4:
            out.write(_kept_lines(block, raw, ends, keep))
        else:
            out.write(_as_bed6(table, keep))
    if stats.n_reads == 0:
        raise InputError(path, "no reads (the file is empty)")
    if stats.n_kept == 0:
        raise InputError(
            path,
            "no read lies on a chromosome of the chromosome sizes (do the names match, "
            f"e.g. 'chr1' and '1'?): {stats.summary()}",
        )
    return stats


def filter_tagalign(src: str | Path, chrom_sizes: dict[str, int], dest: str | Path) -> ReadStats:
    """Validate a tagAlign file and write its kept reads to `dest` as BED (atomically)."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        stats = write_filtered(src, chrom_sizes, out)
    return stats


def _sort_and_index(unsorted: Path, sorted_bam: Path, threads: int, memory: str) -> None:
    prefix = str(sorted_bam.with_suffix(".sorttmp"))
    extra = str(max(threads - 1, 0))  # samtools counts threads beyond the main one
    pysam.sort("-@", extra, "-m", memory, "-T", prefix, "-o", str(sorted_bam), str(unsorted))
    pysam.index("-@", extra, str(sorted_bam))


class _BackgroundWriter:
    """Writes blocks to a pipe from a thread, so parsing and bedtobam run at the same time."""

    def __init__(self, pipe: BinaryIO):
        self.pipe = pipe
        self.blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # After a failure (bedtobam died: broken pipe) keep taking blocks until the final
        # None, so that the producer never blocks on a full queue.
        while (block := self.blocks.get()) is not None:
            if self.error is None:
                try:
                    self.pipe.write(block)
                except BaseException as exc:
                    self.error = exc
        try:
            self.pipe.close()
        except BaseException as exc:
            self.error = self.error or exc

    def write(self, block: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.blocks.put(block)

    def close(self) -> None:
        self.blocks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def close_quietly(self) -> None:
        """Stop the thread after a failure elsewhere (the pipe's reader is already killed)."""
        with contextlib.suppress(BrokenPipeError):
            self.close()


def _bedtobam(src: Path, sizes: dict[str, int], sizes_file: Path, unsorted: Path) -> ReadStats:
    """Stream the filtered reads into `bedtools bedtobam` (it runs on another core)."""
    with open(unsorted, "wb") as bam, tempfile.TemporaryFile() as err:
        command = ["bedtools", "bedtobam", "-i", "stdin", "-g", str(sizes_file)]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=bam, stderr=err)
        writer = _BackgroundWriter(proc.stdin)
        stats = None
        try:
            stats = write_filtered(src, sizes, writer)
            writer.close()
        except BrokenPipeError:
            writer.close_quietly()  # bedtobam died: its own message is reported below
        except BaseException:
            proc.kill()
            writer.close_quietly()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0 or stats is None:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"bedtools bedtobam failed (exit {code}) on {src}: {message}")
    return stats


def tagalign_to_bam(
    src: str | Path,
    chrom_sizes_file: str | Path,
    dest_bam: str | Path,
    threads: int = 1,
    memory_per_thread: str = "768M",
) -> ReadStats:
    """Convert a tagAlign file to a coordinate-sorted BAM with its .bai index.

    `dest_bam` and `dest_bam.bai` appear together at the end or not at all; temporary
    files are kept beside `dest_bam` and removed whatever happens.
    """
    from .genome import load_chrom_sizes

    dest = Path(dest_bam)
    sizes_file = Path(chrom_sizes_file)
    sizes = load_chrom_sizes(sizes_file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        unsorted = work / "unsorted.bam"
        sorted_bam = work / "sorted.bam"
        stats = _bedtobam(Path(src), sizes, sizes_file, unsorted)
        _sort_and_index(unsorted, sorted_bam, threads, memory_per_thread)
        # Index first: when the BAM appears its (newer) index is already there.
        os.replace(work / "sorted.bam.bai", f"{dest}.bai")
        os.replace(sorted_bam, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return stats
