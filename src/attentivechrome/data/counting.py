"""Reads per bin for several BAM files: `bedtools multicov` and an exact vectorised twin.

Semantics (those of `bedtools multicov` 2.30, checked on hand-made BAMs in
tests/data/test_counting.py): a record counts in every bin it overlaps by >= 1 bp, strand
ignored, each record on its own (both mates of a pair count). By default records flagged
duplicate (0x400) or QC-fail (0x200) are skipped; unmapped records that have a position,
secondary and supplementary records, and any mapping quality count. ReadFilter holds
multicov's switches: -q N (count MAPQ >= N; 255, "not available", passes), -D (count
duplicates), -F (count QC-fail) and -p (count proper pairs, 0x2, only). A record spans
[start, bam_endpos): start + the reference length of its CIGAR (M, D, N, =, X), or one base
for unmapped or CIGAR-less records; records whose CIGAR consumes no reference (only S/I)
never count. Empty bins (start == end) count 0, as do bins on chromosomes that a BAM lacks.
A BAM's chromosome names are matched to the bins' by genome.match_chroms (`1` is `chr1`).

count_fast: for the reads of one chromosome in a chunk, the number that overlap [bs, be) is
#(read start < be) - #(read end <= bs), two binary searches over the sorted starts and ends.
The difference is additive over chunks, so each chunk adds its share and memory stays
bounded by the chunk size.

The fast counter also tallies, in the same pass, what became of every record (ReadTally):
passed every filter (and of those, how many are secondary alignments), or the first filter
in DROP_REASONS' order that left it out. It costs a few boolean passes over each decoded
chunk (about 2% of the counting time). Whether a passing record lies in a window is not
tallied: where a BAM counted nothing, none does. `passing` is that step, shared with the
coverage tracks' pass (tracks.coverage).

Before counting, every BAM's header must give each chromosome of the sizes that it names
the sizes' length (check_assembly): reads aligned to another assembly would be counted as
if they matched.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from attentivechrome.data.bamreader import AlignmentChunk, iter_alignments, read_header
from attentivechrome.data.genome import check_lengths, match_chroms, names_example
from attentivechrome.errors import InputError
from attentivechrome.progress import Progress, read_count

log = logging.getLogger(__name__)

FLAG_PROPER_PAIR = 0x2
FLAG_SECONDARY = 0x100
FLAG_QC_FAIL = 0x200
FLAG_DUPLICATE = 0x400


@dataclass(frozen=True)
class ReadFilter:
    """Which records count: `bedtools multicov`'s -q, -D, -F and -p; defaults are its own."""

    min_mapq: int = 0  # -q
    duplicates: bool = False  # -D
    qc_fail: bool = False  # -F
    proper_pairs: bool = False  # -p

    def multicov_options(self) -> list[str]:
        options = ["-q", str(self.min_mapq)] if self.min_mapq else []
        switches = {"-D": self.duplicates, "-F": self.qc_fail, "-p": self.proper_pairs}
        return options + [switch for switch, on in switches.items() if on]

    def drops(self, chunk: AlignmentChunk, on_genome: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(reason, True where it applies) for each filter in force, in DROP_REASONS' order.

        `on_genome[ref_id]` says whether a reference is a chromosome of the genome (its last
        entry, False, stands for unplaced records and out-of-range ids)."""
        if on_genome[:-1].all():  # every reference is a chromosome (a sizes-made BAM)
            off_genome = chunk.ref_id >= len(on_genome) - 1
        else:
            off_genome = ~on_genome[np.clip(chunk.ref_id, -1, len(on_genome) - 1)]
        drops = [
            ("unplaced", chunk.ref_id < 0),
            ("off_genome", off_genome),
            ("no_span", chunk.end <= chunk.start),
        ]
        if not self.qc_fail:
            drops.append(("qc_fail", (chunk.flag & FLAG_QC_FAIL) != 0))
        if not self.duplicates:
            drops.append(("duplicate", (chunk.flag & FLAG_DUPLICATE) != 0))
        if self.min_mapq:
            drops.append(("mapq", chunk.mapq < self.min_mapq))
        if self.proper_pairs:
            drops.append(("not_proper_pair", (chunk.flag & FLAG_PROPER_PAIR) == 0))
        return drops

    def reason(self, name: str) -> str:
        """What DROP_REASONS' `name` means, with the setting that decides it."""
        return DROP_REASONS[name].format(min_mapq=self.min_mapq)


#: multicov without switches.
MULTICOV_DEFAULTS = ReadFilter()

#: Why a record counts in no bin; a record is tallied under the first that applies.
DROP_REASONS = {
    "unplaced": "unmapped without a position",
    "off_genome": "on chromosomes absent from the chromosome sizes",
    "no_span": "spanning no reference base (a CIGAR of only S or I)",
    "qc_fail": "flagged QC-fail (0x200; counting.qc_fail counts them)",
    "duplicate": "flagged duplicate (0x400; counting.duplicates counts them)",
    "mapq": "with MAPQ below {min_mapq} (counting.min_mapq)",
    "not_proper_pair": "not in a proper pair (counting.proper_pairs; single-end reads never are)",
}


@dataclass
class ReadTally:
    """What became of the records of one BAM: passed every filter, or which left it out."""

    records: int = 0
    passed: int = 0
    #: Passing records flagged secondary (0x100): they count, as multicov counts them.
    secondary: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))

    def describe(self, read_filter: ReadFilter, reads_in_bins: int) -> str:
        """One line: the records, those passing, the BAM's reads-in-bins (its counts summed)
        and how many each filter left out; with no reads in bins, every passing record lies
        outside every TSS window."""
        if not self.records:
            return "no records (a header-only BAM)"
        reasons = [f"{n} {read_filter.reason(name)}" for name, n in self.dropped.items() if n]
        if not reads_in_bins and self.passed:
            reasons.append(f"{self.passed} outside every TSS window")
        text = f"{self.records} records, {self.passed} passing the filters, {reads_in_bins} in bins"
        return text + (f"; left out: {', '.join(reasons)}" if reasons else "")


@dataclass
class _ChromBins:
    rows: np.ndarray  # row numbers in the bins table
    start: np.ndarray
    end: np.ndarray


def _check_bins(bins: pd.DataFrame) -> None:
    missing = {"chrom", "start", "end"} - set(bins.columns)
    if missing:
        raise InputError(None, f"bins: missing columns {sorted(missing)}")
    start = bins["start"].to_numpy()
    end = bins["end"].to_numpy()
    if not (np.issubdtype(start.dtype, np.integer) and np.issubdtype(end.dtype, np.integer)):
        raise InputError(None, "bins: start and end must be integer columns")
    bad = (start < 0) | (end < start)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(None, f"bins: row {row} has start {start[row]} and end {end[row]}")


def _bins_by_chrom(bins: pd.DataFrame) -> dict[str, _ChromBins]:
    """Non-empty bins grouped by chromosome; empty bins are left out (they count 0)."""
    start = bins["start"].to_numpy(dtype=np.int64)
    end = bins["end"].to_numpy(dtype=np.int64)
    codes, names = pd.factorize(bins["chrom"])
    nonempty = np.flatnonzero(end > start)
    nonempty = nonempty[np.argsort(codes[nonempty], kind="stable")]
    bounds = np.searchsorted(codes[nonempty], np.arange(len(names) + 1))
    grouped = {}
    for i, name in enumerate(names):
        rows = nonempty[bounds[i] : bounds[i + 1]]
        grouped[str(name)] = _ChromBins(rows=rows, start=start[rows], end=end[rows])
    return grouped


def _sorted(values: np.ndarray) -> np.ndarray:
    """values sorted; reads of a coordinate-sorted BAM usually are already."""
    if len(values) < 2 or (values[1:] >= values[:-1]).all():
        return values
    return np.sort(values)


def passing(
    chunk: AlignmentChunk, on_genome: np.ndarray, read_filter: ReadFilter, tally: ReadTally
) -> np.ndarray:
    """True for the records of `chunk` that pass every filter; each record is added to
    `tally` (`on_genome` as in ReadFilter.drops, from genome_references)."""
    keep = np.ones(len(chunk), dtype=bool)
    for reason, applies in read_filter.drops(chunk, on_genome):
        if applies.any():
            dropped = keep & applies
            tally.dropped[reason] += int(np.count_nonzero(dropped))
            keep ^= dropped
    tally.records += len(chunk)
    tally.passed += int(np.count_nonzero(keep))
    tally.secondary += int(np.count_nonzero(keep & ((chunk.flag & FLAG_SECONDARY) != 0)))
    return keep


def genome_references(references: list[str], genome: dict[str, int]) -> np.ndarray:
    """ReadFilter.drops' `on_genome` for a BAM of these references: True at each that
    names a chromosome of `genome` (match_chroms), and a last entry, False, for unplaced
    records."""
    ref_ids = {name: i for i, name in enumerate(references)}
    on_genome = np.zeros(len(references) + 1, dtype=bool)
    on_genome[[ref_ids[name] for name in match_chroms(references, genome)]] = True
    return on_genome


def _add_chunk(
    counts: np.ndarray,
    chunk: AlignmentChunk,
    bins_by_ref: dict[int, _ChromBins],
    on_genome: np.ndarray,
    read_filter: ReadFilter,
    tally: ReadTally,
) -> None:
    keep = passing(chunk, on_genome, read_filter, tally)
    ref_id = chunk.ref_id[keep]
    start = chunk.start[keep]
    end = chunk.end[keep]
    for ref in np.unique(ref_id):
        chrom_bins = bins_by_ref.get(int(ref))
        if chrom_bins is None or not len(chrom_bins.rows):
            continue
        on_ref = ref_id == ref
        starts = _sorted(start[on_ref])
        ends = _sorted(end[on_ref])
        begun = np.searchsorted(starts, chrom_bins.end, side="left")
        finished = np.searchsorted(ends, chrom_bins.start, side="right")
        counts[chrom_bins.rows] += begun - finished


def bam_names(bam: str | Path, references: list[str], bin_chroms) -> dict[str, str]:
    """The BAM's spelling of each bins chromosome it holds; an error when it holds none."""
    sizes = dict.fromkeys(map(str, bin_chroms), 0)
    to_bins = match_chroms(references, sizes)
    if references and sizes and not to_bins:
        raise InputError(
            bam,
            f"none of its chromosome names ({names_example(references)}) matches the "
            f"genome's ({names_example(sizes)}), even up to a 'chr' prefix and chrM/MT",
        )
    return {chrom: name for name, chrom in to_bins.items()}


def count_bam(
    bam: str | Path,
    bins_by_chrom: dict[str, _ChromBins],
    n_bins: int,
    read_filter: ReadFilter = MULTICOV_DEFAULTS,
    chrom_sizes: dict[str, int] | None = None,
) -> tuple[np.ndarray, ReadTally]:
    """Reads per bin of one BAM (sorted or not; no index needed), and its tally; records
    on chromosomes of neither `chrom_sizes` nor the bins are tallied off the genome."""
    header, chunks = iter_alignments(bam)
    ref_ids = {name: i for i, name in enumerate(header.references)}
    spelling = bam_names(bam, header.references, bins_by_chrom)
    bins_by_ref = {ref_ids[spelling[c]]: b for c, b in bins_by_chrom.items() if c in spelling}
    genome = dict.fromkeys(bins_by_chrom, 0) | (chrom_sizes or {})
    on_genome = genome_references(header.references, genome)
    counts = np.zeros(n_bins, dtype=np.int64)
    tally = ReadTally()
    progress = Progress(log, f"{Path(bam).name} counted", read_count)
    for chunk in chunks:
        _add_chunk(counts, chunk, bins_by_ref, on_genome, read_filter, tally)
        progress.update(tally.records)
    return counts, tally


def count_and_tally(
    bams: Sequence[str | Path],
    bins: pd.DataFrame,
    read_filter: ReadFilter = MULTICOV_DEFAULTS,
    chrom_sizes: dict[str, int] | None = None,
) -> tuple[np.ndarray, list[ReadTally]]:
    """count_fast's counts and each BAM's ReadTally, from one pass over each BAM."""
    _check_bins(bins)
    grouped = _bins_by_chrom(bins)
    counts = np.zeros((len(bins), len(bams)), dtype=np.int64)
    tallies = []
    for column, bam in enumerate(bams):
        counts[:, column], tally = count_bam(bam, grouped, len(bins), read_filter, chrom_sizes)
        tallies.append(tally)
    return counts, tallies


def count_fast(
    bams: Sequence[str | Path], bins: pd.DataFrame, read_filter: ReadFilter = MULTICOV_DEFAULTS
) -> np.ndarray:
    """Reads per bin, shape (len(bins), len(bams)), identical to `bedtools multicov`."""
    return count_and_tally(bams, bins, read_filter)[0]


def check_assembly(
    bams: Sequence[str | Path], sources: Sequence[str | Path], chrom_sizes: dict[str, int]
) -> None:
    """Every BAM's header gives the sizes' lengths (genome.check_lengths); an error names
    the BAM's `source`, the user's file, and costs a header read per BAM."""
    for bam, source in zip(bams, sources, strict=True):
        header = read_header(bam)
        check_lengths(source, header.references, header.lengths, chrom_sizes)


def count_multicov(
    bams: Sequence[str | Path],
    bins: pd.DataFrame,
    read_filter: ReadFilter = MULTICOV_DEFAULTS,
    processes: int = 1,
) -> np.ndarray:
    """Reads per bin with `bedtools multicov -bams ... -bed bins` (the slow reference).

    BAMs that spell the chromosomes alike share one multicov call, with the bins written
    in their spelling. With `processes` > 1 every BAM gets its own call, that many at
    once: multicov counts each BAM on its own, so the counts are the same."""
    _check_bins(bins)
    for bam in bams:
        if not Path(f"{bam}.bai").exists() and not Path(bam).with_suffix(".bai").exists():
            raise InputError(bam, "multicov needs a coordinate-sorted BAM with a .bai index")
    counts = np.zeros((len(bins), len(bams)), dtype=np.int64)
    start = bins["start"].to_numpy(dtype=np.int64)
    end = bins["end"].to_numpy(dtype=np.int64)
    rows = np.flatnonzero(end > start)
    if not len(rows) or not len(bams):
        return counts
    chroms = bins["chrom"].astype(str).to_numpy()[rows]
    groups: dict[tuple, list[int]] = {}
    for column, bam in enumerate(bams):
        with pysam.AlignmentFile(str(bam), "rb") as handle:
            references = list(handle.references)
        spelling = bam_names(bam, references, np.unique(chroms))
        groups.setdefault(tuple(sorted(spelling.items())), []).append(column)
    calls = []  # (columns, their BAMs, the bins in their spelling)
    for spelling, columns in groups.items():
        renamed = pd.Series(chroms).map(dict(spelling)).fillna(pd.Series(chroms)).to_numpy()
        table = pd.DataFrame({"chrom": renamed, "start": start[rows], "end": end[rows]})
        parts = [[c] for c in columns] if processes > 1 else [columns]
        calls += [(part, [bams[c] for c in part], table) for part in parts]
    with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
        results = pool.map(lambda call: _run_multicov(call[1], call[2], read_filter), calls)
        for (columns, _, _), result in zip(calls, results, strict=True):
            counts[np.ix_(rows, columns)] = result
    return counts


def _run_multicov(bams: list, table: pd.DataFrame, read_filter: ReadFilter) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="multicov.") as work:
        bed, out = Path(work, "bins.bed"), Path(work, "counts.tsv")
        table.to_csv(bed, sep="\t", header=False, index=False)
        command = [
            "bedtools",
            "multicov",
            *read_filter.multicov_options(),
            "-bams",
            *map(str, bams),
            "-bed",
            str(bed),
        ]
        with open(out, "wb") as stdout:
            result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE)
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"bedtools multicov failed (exit {result.returncode}): {message}")
        output = pd.read_csv(
            out, sep="\t", header=None, usecols=range(3, 3 + len(bams)), dtype=np.int64
        ).to_numpy()
    if len(output) != len(table):
        raise RuntimeError(f"bedtools multicov gave {len(output)} lines for {len(table)} bins")
    return output
