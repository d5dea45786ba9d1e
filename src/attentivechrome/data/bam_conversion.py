"""Reads -> sorted, indexed BAM, for rule reads_to_bam: text reads converted (module reads
parses them), a BAM sorted or linked, every BAM indexed in the results.

A BAM input is sorted and indexed as it is (samtools sort), every record kept: counting
applies multicov's rules to it. A local BAM that is coordinate-sorted is not copied: the
results hold a symlink to it and an index made here, since an index found beside the
user's file may belong to another BAM (its age says nothing about that) and would give
multicov wrong counts. A BAM that says it is sorted but is not fails indexing and is
sorted instead. A BAM without its end-of-file marker is refused as truncated, since
samtools would sort or index what it could read with a warning; so is a BAM whose header
gives a chromosome of the sizes another length (aligned to another assembly,
genome.check_lengths). CRAM and SAM are refused with the command that converts them
(samples.REFUSED_KINDS).

Both BAM writers read the same validated blocks (`parsed_blocks`): `fast` builds the
records with numpy and compresses them with bgzip (module bamwriter); `bedtools` streams
the kept lines into `bedtools bedtobam` and sorts with samtools, the reference the fast
writer is tested against (same records, same order).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pysam

from attentivechrome.data import bamwriter
from attentivechrome.data.bamreader import read_header
from attentivechrome.data.genome import check_lengths, load_chrom_sizes
from attentivechrome.data.reads import (
    BED3_NAME,
    ParsedBlock,
    ReadStats,
    parsed_blocks,
    write_filtered,
)
from attentivechrome.data.samples import REFUSED_KINDS, content_kind
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_write_text, pipe_into

log = logging.getLogger(__name__)


def _sort(unsorted: Path, sorted_bam: Path, threads: int, memory: str) -> None:
    prefix = str(sorted_bam.with_suffix(".sorttmp"))
    extra = str(max(threads - 1, 0))  # samtools counts threads beyond the main one
    pysam.sort("-@", extra, "-m", memory, "-T", prefix, "-o", str(sorted_bam), str(unsorted))


def _index(sorted_bam: Path, threads: int) -> None:
    pysam.index("-@", str(max(threads - 1, 0)), str(sorted_bam))


def _bedtobam(src: Path, sizes: dict[str, int], sizes_file: Path, unsorted: Path) -> ReadStats:
    """Stream the filtered reads into `bedtools bedtobam` (it runs on another core)."""
    command = ["bedtools", "bedtobam", "-i", "stdin", "-g", str(sizes_file)]
    with open(unsorted, "wb") as bam:

        def feed(writer) -> ReadStats:
            return write_filtered(src, sizes, writer)

        return pipe_into(command, bam, feed, "bedtools bedtobam", str(src))


def _kept_names(block: ParsedBlock, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Names (column 4, or BED3_NAME) of the kept reads: NUL-padded rows, and lengths."""
    n = int(keep.sum())
    if block.n_cols < 4:
        name = np.frombuffer(BED3_NAME.encode(), dtype=np.uint8)
        return np.tile(name, (n, 1)), np.full(n, len(name), dtype=np.uint8)
    first, past = (bound[keep] for bound in block.name_bounds())
    lengths = past - first
    width = int(lengths.max(initial=0))
    column = np.arange(width)
    inside = column < lengths[:, None]
    offsets = np.where(inside, first[:, None] + column, 0)
    names = np.where(inside, block.raw[offsets], 0).astype(np.uint8)
    return names, lengths.astype(np.uint8)


def _kept_reads(block: ParsedBlock, tids: dict[str, int]) -> tuple[np.ndarray, bamwriter.Reads]:
    """Reference ids and columns of the kept reads of a block, for the fast writer."""
    keep, table = block.keep, block.table
    chrom = table["chrom"].cat
    spelt = [block.spelling.get(c) for c in chrom.categories]
    tid_of_category = np.array([tids.get(c, -1) for c in spelt], dtype=np.int32)
    tid = tid_of_category[chrom.codes.to_numpy()[keep]]
    start = np.asarray(table["start"].to_numpy()[keep], dtype=np.int32)
    end = np.asarray(table["end"].to_numpy()[keep], dtype=np.int32)
    if block.n_cols >= 6:
        reverse = (table["strand"] == "-").to_numpy()[keep]
    else:
        reverse = np.zeros(len(start), dtype=bool)  # bedtobam's strand without column 6: +
    names, lengths = _kept_names(block, keep)
    return tid, bamwriter.Reads(start, end, reverse, lengths, names)


def _fast_bam(
    src: Path, sizes: dict[str, int], sizes_file: Path, work: Path, bam: Path, threads: int
) -> ReadStats:
    """Validated reads -> numpy BAM records sorted per chromosome -> bgzip (see bamwriter)."""
    stats = ReadStats()
    tids = {chrom: i for i, chrom in enumerate(sizes)}
    header = bamwriter.header_text(sizes, str(sizes_file))
    writer = bamwriter.SortedBamWriter(sizes, header, work, bamwriter.HELD_BYTES)
    for block in parsed_blocks(src, sizes, stats):
        writer.add(*_kept_reads(block, tids))
    writer.write(bam, threads)
    return stats


#: bam_writer values: fast (bamwriter, the default) or bedtools (bedtobam + samtools sort).
BAM_WRITERS = ("fast", "bedtools")


def _remove_stale_work(dest: Path) -> None:
    """Temporary folders a killed conversion to `dest` left behind (none if it finished)."""
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def tagalign_to_bam(
    src: str | Path,
    chrom_sizes_file: str | Path,
    dest_bam: str | Path,
    threads: int = 1,
    memory_per_thread: str = "768M",
    bam_writer: str = "fast",
) -> ReadStats:
    """Convert a tagAlign file to a coordinate-sorted BAM with its .bai index.

    `bam_writer` is `fast` (records built with numpy, see bamwriter) or `bedtools` (the
    reference: bedtobam, then samtools sort with `memory_per_thread`); both give the same
    records in the same order.
    """
    if bam_writer not in BAM_WRITERS:
        raise ValueError(f"bam_writer must be one of {BAM_WRITERS}, not {bam_writer!r}")
    sizes_file = Path(chrom_sizes_file)
    sizes = load_chrom_sizes(sizes_file)
    with _sorted_bam_at(dest_bam, threads) as work:
        sorted_bam = work / "sorted.bam"
        if bam_writer == "fast":
            return _fast_bam(Path(src), sizes, sizes_file, work, sorted_bam, threads)
        unsorted = work / "unsorted.bam"
        stats = _bedtobam(Path(src), sizes, sizes_file, unsorted)
        _sort(unsorted, sorted_bam, threads, memory_per_thread)
        return stats


@contextmanager
def _sorted_bam_at(dest_bam: str | Path, threads: int) -> Iterator[Path]:
    """A work folder beside `dest_bam`; the caller writes (or links) `sorted.bam` there, and
    it is indexed here.

    `dest_bam` and `dest_bam.bai` appear together at the end or not at all; temporary files
    are removed whatever happens (a killed run's are removed by the next one)."""
    dest = Path(dest_bam)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_work(dest)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield work
        sorted_bam = work / "sorted.bam"
        _index(sorted_bam, threads)
        # Index first: when the BAM appears its (newer) index is already there.
        os.replace(work / "sorted.bam.bai", f"{dest}.bai")
        os.replace(sorted_bam, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: The empty BGZF block that ends every complete BAM file (SAM specification, 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _check_bam(path: Path, doing: str, chrom_sizes: dict[str, int] | None) -> None:
    """A whole BAM (its end-of-file marker) aligned to the genome of `chrom_sizes`."""
    with open(path, "rb") as handle:
        handle.seek(max(path.stat().st_size - len(BGZF_EOF), 0))
        if handle.read() != BGZF_EOF:
            raise InputError(path, f"truncated BAM file (no end-of-file marker): cannot {doing} it")
    if chrom_sizes is not None:
        header = read_header(path)
        check_lengths(path, header.references, header.lengths, chrom_sizes)


def _records(bam: str | Path) -> str:
    with pysam.AlignmentFile(str(bam), "rb") as handle:
        mapped, unmapped = handle.mapped, handle.unmapped
    return f"{mapped + unmapped} records ({mapped} mapped)"


def sort_bam(
    src: str | Path,
    dest_bam: str | Path,
    chrom_sizes: dict[str, int] | None = None,
    threads: int = 1,
    memory_per_thread: str = "768M",
) -> str:
    """Sort and index a BAM as it is, into `dest_bam` (the source is only read); with
    `chrom_sizes`, its header's lengths must be theirs (check_lengths)."""
    path = Path(src)
    _check_bam(path, "sort", chrom_sizes)
    with _sorted_bam_at(dest_bam, threads) as work:
        try:
            _sort(path, work / "sorted.bam", threads, memory_per_thread)
        except pysam.utils.SamtoolsError as exc:
            raise InputError(path, f"samtools sort failed: {exc}") from None
    return f"sorted and indexed {_records(dest_bam)}"


def link_bam(
    src: str | Path,
    dest_bam: str | Path,
    chrom_sizes: dict[str, int] | None = None,
    threads: int = 1,
) -> str | None:
    """`dest_bam`, a symlink to a coordinate-sorted BAM, with an index of its own made here;
    None, and nothing written, when the BAM is not sorted (its header or its records say so).
    With `chrom_sizes`, its header's lengths must be theirs (check_lengths).

    The link and its index appear together or not at all; the source is only read.
    """
    path = Path(src)
    _check_bam(path, "index", chrom_sizes)
    try:
        with pysam.AlignmentFile(str(path), "rb", check_sq=False) as handle:
            order = handle.header.to_dict().get("HD", {}).get("SO")
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the BAM file: {exc}") from None
    if order != "coordinate":
        return None
    try:
        with _sorted_bam_at(dest_bam, threads) as work:
            (work / "sorted.bam").symlink_to(path.absolute())
    except pysam.utils.SamtoolsError as exc:
        log.warning("%s says it is sorted but cannot be indexed (%s): sorting it", path, exc)
        return None
    return f"linked {path} (coordinate-sorted) and indexed its {_records(dest_bam)}"


def reads_to_bam(
    src: str | Path,
    chrom_sizes_file: str | Path,
    dest_bam: str | Path,
    kind: str = "text",
    threads: int = 1,
    bam_writer: str = "fast",
    link: bool = False,
    stats_out: str | Path | None = None,
) -> str:
    """One replicate's reads as a sorted BAM with its own index; `kind` (bam or text) must
    be right. With `link` (the user's own file, not a temporary download) a sorted BAM is
    linked rather than copied. `stats_out` gets what the conversion dropped (write_stats)."""
    found = content_kind(Path(src))
    if found in REFUSED_KINDS:
        raise InputError(src, f"found {REFUSED_KINDS[found]}")
    if found != kind:
        expected = "a BAM file" if kind == "bam" else "tagAlign or BED text"
        shown = "a BAM file" if found == "bam" else "text"
        raise InputError(src, f"expected {expected}, found {shown} (see its format)")
    if kind == "bam":
        sizes = load_chrom_sizes(chrom_sizes_file)
        linked = link and link_bam(src, dest_bam, sizes, threads)
        summary = linked or sort_bam(src, dest_bam, sizes, threads)
        stats = None
    else:
        stats = tagalign_to_bam(src, chrom_sizes_file, dest_bam, threads, bam_writer=bam_writer)
        summary = stats.summary()
    if stats_out is not None:
        write_stats(stats, stats_out)
    return summary


def write_stats(stats: ReadStats | None, out: str | Path) -> None:
    """The reads of a text input and those it dropped, as JSON (ReadStats' counts); a BAM
    input, which drops nothing here (counting's filters apply to its records), is `{}`."""
    fields = ("n_reads", "n_kept", "n_unknown_chrom", "n_past_end", "n_header_lines")
    counts = {name: getattr(stats, name) for name in fields} if stats else {}
    atomic_write_text(out, json.dumps(counts, indent=1) + "\n")
