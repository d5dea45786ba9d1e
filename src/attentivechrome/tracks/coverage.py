"""Coverage tracks: reads per million (CPM) in bins along the whole genome, as bigWig.

One pass over a BAM (data.bamreader) gives, for each bin of `bin_size` bases (the last bin
of a chromosome ends at its end), the number of reads that overlap it by at least one
base: the counting rules of the TSS bins (data.counting), with the same ReadFilter, so a
read across a bin edge counts in both bins. CPM = reads in the bin x 10^6 / the reads that
passed the filters (ReadTally.passed). deepTools' `bamCoverage --normalizeUsing CPM
--binSize N` gives the same values where its filters match (tests/workflow/test_tracks.py):
it also counts every overlapped bin, and divides by the mapped reads, which are the passing
reads when no filter drops one.

The same pass tallies what became of each record (counting.passing) and how many passing
reads overlap a TSS window (counted once however many windows or bins they touch, as FRiP
counts reads in peaks): the per-sample QC (report.qc).

A pooled track (a mark's replicates together) is the CPM of their reads taken together:
reads per bin summed over the replicates, divided by their passing reads summed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.bamreader import iter_alignments
from attentivechrome.data.counting import (
    DROP_REASONS,
    ReadFilter,
    ReadTally,
    genome_references,
    passing,
)
from attentivechrome.data.genome import load_chrom_sizes, match_chroms
from attentivechrome.data.prepare import read_genes
from attentivechrome.data.windows import gene_windows
from attentivechrome.io import atomic_path
from attentivechrome.progress import Progress, read_count
from attentivechrome.tracks.bigwig import bin_runs, write_bigwig

log = logging.getLogger(__name__)

#: Reads per million.
PER_MILLION = 1e6


@dataclass
class Windows:
    """Disjoint, sorted intervals per chromosome: the union of the genes' TSS windows."""

    starts: dict[str, np.ndarray]
    ends: dict[str, np.ndarray]

    @classmethod
    def of_genes(cls, genes: pd.DataFrame, chrom_sizes: dict[str, int], flank: int) -> Windows:
        table = gene_windows(genes, chrom_sizes, flank)
        table = table[table["end"] > table["start"]].sort_values(["chrom", "start"])
        starts, ends = {}, {}
        for chrom, group in table.groupby("chrom", sort=False):
            start = group["start"].to_numpy(dtype=np.int64)
            end = np.maximum.accumulate(group["end"].to_numpy(dtype=np.int64))
            # A window begins a merged interval when it starts past every earlier end.
            begins = np.concatenate(([True], start[1:] > end[:-1]))
            first = np.flatnonzero(begins)
            starts[str(chrom)] = start[first]
            ends[str(chrom)] = end[np.concatenate((first[1:] - 1, [len(end) - 1]))]
        return cls(starts, ends)

    def overlapping(self, chrom: str, start: np.ndarray, end: np.ndarray) -> int:
        """How many of the reads [start, end) overlap a window of `chrom` by >= 1 base."""
        if chrom not in self.starts:
            return 0
        starts, ends = self.starts[chrom], self.ends[chrom]
        last = np.searchsorted(starts, end, side="left") - 1  # the last window starting before
        inside = last >= 0
        inside[inside] = ends[last[inside]] > start[inside]
        return int(np.count_nonzero(inside))


@dataclass
class Coverage:
    """Reads per bin of every chromosome of one or more BAMs, with their tallies."""

    chrom_sizes: dict[str, int]
    bin_size: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    tallies: list[ReadTally] = field(default_factory=list)
    in_windows: list[int] = field(default_factory=list)

    def __post_init__(self):
        # Differences: counts are their cumulative sums, taken in place at the end (finish).
        # 4 bytes a bin: hg19 in 50-bp bins is 62 M bins, 250 MB.
        self.counts = {
            chrom: np.zeros(-(-size // self.bin_size) + 1, dtype=np.int32)
            for chrom, size in self.chrom_sizes.items()
        }

    def add_reads(self, chrom: str, start: np.ndarray, end: np.ndarray) -> None:
        """Add reads [start, end) of `chrom` to every bin they overlap."""
        diff = self.counts[chrom]
        n_bins = len(diff) - 1
        first = start // self.bin_size
        last = np.minimum((end - 1) // self.bin_size, n_bins - 1)
        on = first < n_bins  # a read wholly past the end overlaps no bin
        first, last = first[on], last[on]
        if not len(first):
            return
        low, high = int(first.min()), int(last.max()) + 2
        change = np.bincount(first - low, minlength=high - low)
        change -= np.bincount(last + 1 - low, minlength=high - low)
        diff[low:high] += change.astype(np.int32)

    def finish(self) -> None:
        for chrom, diff in self.counts.items():
            self.counts[chrom] = np.cumsum(diff, out=diff)[:-1]

    def passed(self) -> int:
        return sum(tally.passed for tally in self.tallies)

    def cpm_entries(self):
        """Each chromosome's CPM runs, for write_bigwig (none when no read passed)."""
        scale = PER_MILLION / self.passed() if self.passed() else 0.0
        for chrom, size in self.chrom_sizes.items():
            starts, ends, counts = bin_runs(self.counts[chrom], self.bin_size, size)
            yield chrom, starts, ends, counts * scale


def coverage(
    bams: Sequence[str | Path],
    chrom_sizes: dict[str, int],
    bin_size: int,
    read_filter: ReadFilter,
    windows: Windows | None = None,
) -> Coverage:
    """The reads per bin of `bams` together, each BAM's tally and its passing reads that
    overlap `windows`, from one pass over each BAM (sorted or not)."""
    result = Coverage(dict(chrom_sizes), bin_size)
    for bam in bams:
        header, chunks = iter_alignments(bam)
        to_sizes = match_chroms(header.references, chrom_sizes)
        chrom_of = [to_sizes.get(name) for name in header.references]
        on_genome = genome_references(header.references, chrom_sizes)
        tally, in_windows = ReadTally(), 0
        progress = Progress(log, f"{Path(bam).name} read", read_count)
        for chunk in chunks:
            keep = passing(chunk, on_genome, read_filter, tally)
            ref_id, start, end = chunk.ref_id[keep], chunk.start[keep], chunk.end[keep]
            for ref in np.unique(ref_id):
                on_ref = ref_id == ref
                chrom = chrom_of[ref]
                result.add_reads(chrom, start[on_ref], end[on_ref])
                if windows is not None:
                    in_windows += windows.overlapping(chrom, start[on_ref], end[on_ref])
            progress.update(tally.records)
        result.tallies.append(tally)
        result.in_windows.append(in_windows)
        log.info(
            "%s: %d records, %d passing the filters, %d of them in TSS windows",
            bam,
            tally.records,
            tally.passed,
            in_windows,
        )
    result.finish()
    return result


def sample_row(tally: ReadTally, in_windows: int) -> dict[str, int]:
    """One sample's tally as a table row: records, passed, secondary, each drop reason
    (`dropped_{reason}`) and its passing reads in TSS windows."""
    row = {"records": tally.records, "passed": tally.passed, "secondary": tally.secondary}
    row |= {f"dropped_{reason}": tally.dropped[reason] for reason in DROP_REASONS}
    return row | {"in_windows": in_windows}


def bam_coverage(
    bam: Path,
    genes: Path,
    chrom_sizes: Path,
    flank: int,
    bin_size: int,
    read_filter: dict,
    qc_out: Path,
    bigwig_out: Path | None = None,
) -> Coverage:
    """One replicate: its QC row (sample_row) and, when asked, its CPM bigWig."""
    sizes = load_chrom_sizes(chrom_sizes)
    windows = Windows.of_genes(read_genes(genes), sizes, flank)
    result = coverage([bam], sizes, bin_size, ReadFilter(**read_filter), windows)
    if bigwig_out is not None:
        write_bigwig(bigwig_out, sizes, result.cpm_entries())
    with atomic_path(qc_out) as tmp:
        row = sample_row(result.tallies[0], result.in_windows[0])
        pd.DataFrame([row]).to_csv(tmp, sep="\t", index=False)
    return result


def tracks_pool(
    bams: list[Path], chrom_sizes: Path, bin_size: int, read_filter: dict, out: Path
) -> Coverage:
    """The CPM bigWig of a mark's replicates taken together."""
    sizes = load_chrom_sizes(chrom_sizes)
    result = coverage(bams, sizes, bin_size, ReadFilter(**read_filter))
    write_bigwig(out, sizes, result.cpm_entries())
    log.info("%d BAMs pooled: %d passing reads", len(bams), result.passed())
    return result
