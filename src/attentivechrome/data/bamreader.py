"""Vectorised BAM decoding: reference id, start, end and flag of every record, chunk by chunk.

Only the fixed part of each record and its CIGAR are decoded, with numpy, from the
decompressed BGZF stream (pysam's htslib does the decompression). Memory stays bounded by
the chunk size whatever the size of the file.

Finding where records begin is the only sequential part of BAM decoding. Records written by
one tool mostly share one length (bedtobam: always), so from a record of size s we predict
the next offsets o + k * (s + 4) and verify the block_size at each with one numpy gather:
by induction every verified prediction is a true record start, and the first mismatch is the
start of the next run. Runs of records of mixed lengths (aligner BAMs with varying names and
tags) are walked one record at a time, which is exact but slower.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from attentivechrome.errors import InputError

#: Decompressed bytes decoded at a time (about 800,000 bedtobam records).
CHUNK_BYTES = 32 * 1024 * 1024
BAM_MAGIC = b"BAM\x01"
#: Fixed part of a record after block_size: refID .. tlen (32 bytes).
MIN_BLOCK_SIZE = 32
#: Larger "records" are taken as corruption rather than buffered (real ones are < 10 MiB).
MAX_BLOCK_SIZE = 256 * 1024 * 1024
#: CIGAR operations that consume the reference: M(0), D(2), N(3), =(7), X(8).
REF_CONSUMING = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 7) | (1 << 8)
FLAG_UNMAPPED = 0x4
#: Records of mixed lengths are walked one by one for this many before trying runs again.
SCALAR_BATCH = 64


@dataclass
class BamHeader:
    references: list[str]
    lengths: list[int]


@dataclass
class AlignmentChunk:
    """Decoded records; `end` follows htslib's bam_endpos (what bedtools 2.30 uses):
    start + reference length of the CIGAR, or start + 1 for unmapped or CIGAR-less records."""

    ref_id: np.ndarray  # int32, -1 when unplaced
    start: np.ndarray  # int64, 0-based
    end: np.ndarray  # int64, exclusive
    flag: np.ndarray  # uint16
    mapq: np.ndarray  # uint8 (255: not available)

    def __len__(self) -> int:
        return len(self.start)


class _Stream:
    """Decompressed bytes of a BAM file with a read position, refilled on demand."""

    def __init__(self, path: Path, read_size: int = CHUNK_BYTES):
        self.path = path
        self.read_size = read_size
        try:
            self.handle = pysam.BGZFile(str(path), "rb")
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot open as BAM ({exc})") from None
        self.buffer = b""
        self.pos = 0
        self.eof = False

    def fill(self, n_bytes: int) -> None:
        """Read on until at least n_bytes are buffered after pos (or the file ends)."""
        parts = [self.buffer[self.pos :]]
        have = len(parts[0])
        while have < n_bytes and not self.eof:
            try:
                data = self.handle.read(max(n_bytes - have, self.read_size))
            except (OSError, ValueError) as exc:
                raise InputError(self.path, f"corrupted BGZF data ({exc})") from None
            if not data:
                self.eof = True
            parts.append(data)
            have += len(data)
        self.buffer = b"".join(parts)
        self.pos = 0

    def take(self, n_bytes: int, what: str) -> bytes:
        if len(self.buffer) - self.pos < n_bytes:
            self.fill(n_bytes)
        if len(self.buffer) - self.pos < n_bytes:
            raise InputError(self.path, f"truncated BAM file (in the {what})")
        data = self.buffer[self.pos : self.pos + n_bytes]
        self.pos += n_bytes
        return data

    def close(self) -> None:
        self.handle.close()


def _read_header(stream: _Stream) -> BamHeader:
    if stream.take(4, "magic number") != BAM_MAGIC:
        raise InputError(stream.path, "not a BAM file (no BAM magic number)")
    (l_text,) = struct.unpack("<i", stream.take(4, "header"))
    stream.take(l_text, "header text")
    (n_ref,) = struct.unpack("<i", stream.take(4, "header"))
    references, lengths = [], []
    for _ in range(n_ref):
        (l_name,) = struct.unpack("<i", stream.take(4, "reference list"))
        references.append(stream.take(l_name, "reference list").rstrip(b"\0").decode())
        (length,) = struct.unpack("<i", stream.take(4, "reference list"))
        lengths.append(length)
    return BamHeader(references, lengths)


def _strided_view(buffer: bytes, dtype: str) -> np.ndarray:
    """A `dtype` value starting at every byte offset of buffer (unaligned reads are fine)."""
    itemsize = np.dtype(dtype).itemsize
    count = max(len(buffer) - itemsize + 1, 0)
    return np.ndarray((count,), dtype=dtype, buffer=buffer, offset=0, strides=(1,))


def _check_size(size: int, path: Path) -> None:
    if not MIN_BLOCK_SIZE <= size <= MAX_BLOCK_SIZE:
        raise InputError(path, f"corrupted BAM record (block_size {size})")


def record_offsets(buffer: bytes, path: Path) -> tuple[np.ndarray, int]:
    """Offsets of the complete records at the start of buffer, and where the rest begins."""
    int32_at = _strided_view(buffer, "<i4")
    n = len(buffer)
    pieces: list[np.ndarray] = []
    offset = 0
    window = 64
    while offset + 4 <= n:
        size = int(int32_at[offset])
        _check_size(size, path)
        stride = size + 4
        if offset + stride > n:
            break
        count = min((n - offset) // stride, window)
        predicted = offset + stride * np.arange(count, dtype=np.int64)
        same = int32_at[predicted] == size
        run = count if same.all() else int(np.argmin(same))
        pieces.append(predicted[:run])
        offset += stride * run
        if run == count:
            window = min(window * 2, 1 << 20)
            continue
        window = 64
        if run < 8:  # mixed lengths: walk a batch one record at a time
            walked, offset = _walk(int32_at, offset, n, path)
            pieces.append(walked)
    offsets = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return offsets, offset


def _walk(int32_at: np.ndarray, offset: int, n: int, path: Path) -> tuple[np.ndarray, int]:
    walked = []
    for _ in range(SCALAR_BATCH):
        if offset + 4 > n:
            break
        size = int(int32_at[offset])
        _check_size(size, path)
        if offset + size + 4 > n:
            break
        walked.append(offset)
        offset += size + 4
    return np.array(walked, dtype=np.int64), offset


def _reference_lengths(
    uint32_at: np.ndarray, cigar_at: np.ndarray, n_cigar: np.ndarray
) -> np.ndarray:
    """Sum of the lengths of the reference-consuming CIGAR operations of each record."""
    lengths = np.zeros(len(n_cigar), dtype=np.int64)
    single = n_cigar == 1
    if single.any():
        ops = uint32_at[cigar_at[single]].astype(np.int64)
        lengths[single] = (ops >> 4) * ((REF_CONSUMING >> (ops & 0xF)) & 1)
    multi = np.flatnonzero(n_cigar > 1)
    if len(multi):
        counts = n_cigar[multi].astype(np.int64)
        first = np.cumsum(counts) - counts
        within = np.arange(counts.sum()) - np.repeat(first, counts)
        ops = uint32_at[np.repeat(cigar_at[multi], counts) + 4 * within].astype(np.int64)
        consumed = (ops >> 4) * ((REF_CONSUMING >> (ops & 0xF)) & 1)
        lengths[multi] = np.add.reduceat(consumed, first)
    return lengths


def decode_records(buffer: bytes, offsets: np.ndarray, path: Path) -> AlignmentChunk:
    """Fields of the records that begin at `offsets` (each starting with its block_size)."""
    int32_at = _strided_view(buffer, "<i4")
    uint16_at = _strided_view(buffer, "<u2")
    uint32_at = _strided_view(buffer, "<u4")
    raw = np.frombuffer(buffer, dtype=np.uint8)
    block_size = int32_at[offsets]
    ref_id = int32_at[offsets + 4]
    start = int32_at[offsets + 8].astype(np.int64)
    name_length = raw[offsets + 12].astype(np.int64)
    mapq = raw[offsets + 13]
    n_cigar = uint16_at[offsets + 16]
    flag = uint16_at[offsets + 18]
    cigar_at = offsets + 36 + name_length
    fits = 32 + name_length + 4 * n_cigar.astype(np.int64) <= block_size
    if not fits.all():
        raise InputError(path, "corrupted BAM record (read name and CIGAR exceed the record)")
    end = start + _reference_lengths(uint32_at, cigar_at, n_cigar)
    no_span = ((flag & FLAG_UNMAPPED) != 0) | (n_cigar == 0)
    end[no_span] = start[no_span] + 1
    return AlignmentChunk(ref_id=ref_id, start=start, end=end, flag=flag, mapq=mapq)


def read_header(path: str | Path) -> BamHeader:
    """The references of a BAM and their lengths, reading no further than its header."""
    stream = _Stream(Path(path), 1 << 16)
    try:
        return _read_header(stream)
    finally:
        stream.close()


def iter_alignments(
    path: str | Path, chunk_bytes: int = CHUNK_BYTES
) -> tuple[BamHeader, Iterator[AlignmentChunk]]:
    """The header and an iterator over decoded chunks of records, in file order."""
    stream = _Stream(Path(path), chunk_bytes)
    try:
        header = _read_header(stream)
    except BaseException:
        stream.close()
        raise
    return header, _chunks(stream, chunk_bytes)


def _chunks(stream: _Stream, chunk_bytes: int) -> Iterator[AlignmentChunk]:
    want = chunk_bytes
    try:
        while True:
            stream.fill(want)
            buffer = stream.buffer
            if not buffer:
                return
            offsets, used = record_offsets(buffer, stream.path)
            if used == 0:  # not even one whole record buffered
                if stream.eof:
                    raise InputError(stream.path, "truncated BAM file (last record cut off)")
                want = 2 * len(buffer)
                continue
            want = chunk_bytes
            stream.pos = used
            yield decode_records(buffer, offsets, stream.path)
    finally:
        stream.close()
