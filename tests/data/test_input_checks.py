"""Own data that would silently give wrong inputs: each is refused with a clear message.

Reads aligned to another assembly, a mark that counts no read (or far fewer than in the
other cell types), CRAM or SAM named like a BAM, and BED files with UCSC track, browser
or comment lines (skipped, as bedtools does). The Snakemake tests run the own-data demo's
real rules on small BAMs made with pysam.
"""

from __future__ import annotations

import gzip
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from attentivechrome.data import depth
from attentivechrome.data.bam_conversion import reads_to_bam, tagalign_to_bam
from attentivechrome.data.counting import ReadFilter, ReadTally, count_and_tally, count_multicov
from attentivechrome.data.genome import check_lengths
from attentivechrome.data.reads import write_filtered
from attentivechrome.data.samples import content_kind
from attentivechrome.errors import InputError
from bam_records import SIZES, TRACK_LINES, records_of, write_bam


def test_lengths_must_be_the_sizes_for_every_matched_chromosome():
    check_lengths("a.bam", ["chr1", "chrUn_x"], [7_000_000, 5], SIZES)  # contig: not compared
    with pytest.raises(
        InputError,
        match=r"^a.bam: chromosome chr2 is 6100000 bp long in its header but 6000000 bp in the "
        "chromosome sizes: the reads were aligned to another assembly",
    ):
        check_lengths("a.bam", ["chr1", "chr2", "chr3"], [7_000_000, 6_100_000, 1], SIZES)
    with pytest.raises(InputError, match=r"chromosome MT \(chrM in the sizes\) is 16571 bp.*rCRS"):
        check_lengths("b.bam", ["1", "MT"], [7_000_000, 16_571], SIZES)


def test_tally_says_which_filter_left_each_record_out(tmp_path):
    records = [
        (0, 1000, 0, 60),  # counted
        (0, 1000, 0x400, 60),  # duplicate
        (0, 1000, 0x600, 0),  # QC-fail first, then duplicate and MAPQ
        (0, 1000, 0, 5),  # MAPQ
        (0, 1000, 0x1 | 0x2 | 0x40, 60),  # proper pair: counted
        (0, 1000, 0x1 | 0x40, 60),  # not a proper pair
        (0, 500_000, 0x1 | 0x2 | 0x80, 60),  # passes, outside every window
        (0, 1000, 0, 60, "5S"),  # no reference span
        (5, 10, 0, 60),  # chrUn: off the sizes
    ]
    header = {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [*({"SN": c, "LN": n} for c, n in SIZES.items()), {"SN": "chrUn", "LN": 100}],
    }
    bam = write_bam(tmp_path / "t.bam", records, header)
    bins = pd.DataFrame({"chrom": "chr1", "start": [900, 1010], "end": [1010, 1100]})
    read_filter = ReadFilter(min_mapq=10, proper_pairs=True)
    counts, [tally] = count_and_tally([bam], bins, read_filter, SIZES)
    assert counts[:, 0].tolist() == [1, 1]  # the proper pair, in both bins
    assert tally.records == len(records) and tally.passed == 2
    assert {k: v for k, v in tally.dropped.items() if v} == {
        "off_genome": 1,
        "no_span": 1,
        "qc_fail": 1,
        "duplicate": 1,
        "mapq": 1,
        "not_proper_pair": 2,  # the single-end records that passed the other filters
    }
    assert tally.describe(read_filter, 2).startswith("9 records, 2 passing the filters, 2 in bins")
    np.testing.assert_array_equal(count_multicov([bam], bins, read_filter), counts)


def test_every_mark_must_count_a_read():
    per_bam = np.array([[0, 3, 0], [0, 1, 0]])
    marks, sources = ["A", "B", "B"], ["a.bam", "b1.bam", "b2.bam"]
    filters = ReadFilter(min_mapq=10)

    def tallies(columns):
        return {c: ReadTally() for c in columns}

    with pytest.raises(InputError) as error:
        depth.check_every_mark_counted(per_bam, marks, sources, tallies, filters, "C1")
    assert str(error.value) == (
        "C1 A counted no read in any TSS window, so its input would be all zeros: a.bam: no "
        "records (a header-only BAM)"
    )
    depth.check_every_mark_counted(per_bam[:, 1:], marks[1:], sources[1:], tallies, filters, "C")


def test_depth_table_flags_a_mark_below_5_percent_of_its_median(tmp_path, caplog):
    counts = {}
    for cell, scale in (("A", 100), ("B", 90), ("C", 3)):  # C's K4 is 3% of the median
        X = np.zeros((2, 2, 10), dtype=np.int32)
        X[:, 0, :] = scale
        X[:, 1, :] = 50
        counts[cell] = tmp_path / f"{cell}.npz"
        extra = {"reads_in_bins": X.sum(axis=(0, 2))} if cell != "B" else {}  # B: older file
        np.savez(counts[cell], X=X, marks=np.array(["K4", "K27"]), **extra)
    with caplog.at_level("WARNING"):
        table = depth.write_depth(counts, tmp_path / "qc/depth.tsv")
        depth.report_depth(tmp_path / "qc/depth.tsv")
    assert table.loc[table["low"] == "yes", ["cell", "mark"]].values.tolist() == [["C", "K4"]]
    assert table["reads_in_bins"].tolist() == [2000, 1000, 1800, 1000, 60, 1000]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    expected = (
        "C K4: 60 reads in bins, 3.3% of the median of K4 over the cell types (1800), below 5%"
    )
    assert [w.startswith(expected) for w in warned] == [True, False]
    assert warned[1].startswith(f"read depth: {expected}")  # the summary's copy


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:10\n", "sam"),
        (b"@SQ\tSN:chr1\tLN:10\nr\t0\tchr1\t1\t60\t5M\t*\t0\t0\t*\t*\n", "sam"),
        (gzip.compress(b"@PG\tID:bwa\n"), "sam"),
        (b"CRAM\x03\x00rest", "cram"),
        (b"# reads\nchr1\t1\t5\n", "text"),
        (b"@readname\nACGT\n", "text"),  # FASTQ is not SAM (the reads' reader refuses it)
    ],
)
def test_content_kind_tells_cram_and_sam(tmp_path, content, kind):
    path = tmp_path / "reads.bam"
    path.write_bytes(content)
    assert content_kind(path) == kind


def test_real_cram_and_bgzipped_sam_are_told_apart(tmp_path):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 250 + "\n")
    pysam.faidx(str(fasta))
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    cram, sam = tmp_path / "reads.bam", tmp_path / "reads.sam.gz"
    with pysam.AlignmentFile(str(cram), "wc", header=header, reference_filename=str(fasta)):
        pass
    with pysam.AlignmentFile(str(tmp_path / "reads.sam"), "w", header=header):
        pass
    pysam.tabix_compress(str(tmp_path / "reads.sam"), str(sam))
    assert (content_kind(cram), content_kind(sam)) == ("cram", "sam")
    with pytest.raises(InputError, match=r"reads.bam: found a CRAM file, not BAM: convert it"):
        reads_to_bam(cram, "unused", tmp_path / "out.bam", kind="bam")
    assert not (tmp_path / "out.bam").exists()


def test_track_browser_and_comment_lines_are_skipped_like_bedtools(tmp_path):
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    lines = [
        f"chr{1 + i % 3}\t{100 * i}\t{100 * i + 36}\tN\t1000\t{'+-'[i % 2]}\n" for i in range(50)
    ]
    plain = tmp_path / "plain.bed"
    plain.write_text("".join(lines))
    headed = tmp_path / "headed.bed"
    headed.write_bytes(
        TRACK_LINES + "".join(lines[:20]).encode() + b"#x\n" + "".join(lines[20:]).encode()
    )
    bams = {}
    for writer in ("fast", "bedtools"):
        for source in (plain, headed):
            bams[writer, source.stem] = tmp_path / writer / f"{source.stem}.bam"
            tagalign_to_bam(source, sizes, bams[writer, source.stem], bam_writer=writer)
    expected = records_of(bams["fast", "plain"])
    assert len(expected) == 50
    assert all(records_of(bam) == expected for bam in bams.values())
    # bedtobam run on the file itself skips the same lines.
    direct = subprocess.run(
        ["bedtools", "bedtobam", "-i", str(headed), "-g", str(sizes)],
        check=True,
        capture_output=True,
    ).stdout
    (tmp_path / "direct.bam").write_bytes(direct)
    pysam.sort("-o", str(tmp_path / "direct.sorted.bam"), str(tmp_path / "direct.bam"))
    assert records_of(tmp_path / "direct.sorted.bam") == expected
    with open(tmp_path / "kept.bed", "wb") as out:
        stats = write_filtered(headed, SIZES, out)
    assert stats.n_reads == 50 and stats.n_header_lines == 4
    assert "4 track, browser or comment lines skipped" in stats.summary()


def test_line_numbers_after_skipped_lines_are_the_files(tmp_path):
    bad = tmp_path / "bad.bed"
    bad.write_bytes(TRACK_LINES + b"chr1\t10\t46\tN\t0\t+\n#\nchr1\t1x\t46\tN\t0\t+\n")
    only = tmp_path / "only.bed"
    only.write_bytes(TRACK_LINES)
    with open(tmp_path / "out.bed", "wb") as out:
        with pytest.raises(InputError, match=r"bad.bed, line 6: start '1x' is not an integer"):
            write_filtered(bad, SIZES, out)
        with pytest.raises(InputError, match="no reads .the file holds only track, browser or"):
            write_filtered(only, SIZES, out)
