"""Own data that would silently give wrong inputs: each is refused with a clear message.

Reads aligned to another assembly, a mark that counts no read (or far fewer than in the
other cell types), CRAM or SAM named like a BAM, and BED files with UCSC track, browser
or comment lines (skipped, as bedtools does). The Snakemake tests run the own-data demo's
real rules on small BAMs made with pysam.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from attentivechrome import depth
from attentivechrome.bam_conversion import reads_to_bam, tagalign_to_bam
from attentivechrome.counting import ReadFilter, ReadTally, count_and_tally, count_multicov
from attentivechrome.errors import InputError
from attentivechrome.genome import check_lengths
from attentivechrome.reads import write_filtered
from attentivechrome.samples import content_kind, read_sample_sheet
from helpers import REPO, planned_jobs, snakemake

OWN = REPO / "resources/own_demo"
# The own-data demo's genome (resources/own_demo/genome.fa.fai).
SIZES = {"chr1": 7_000_000, "chr2": 6_000_000, "chr3": 5_000_000, "chrM": 16_569}
SIZES["chrUn_KI270302v1"] = 2274


def write_bam(path: Path, records, header=None, sort: bool = True) -> Path:
    """Records (chrom index, position, flag, MAPQ[, CIGAR]); sorted and indexed unless not."""
    header = header or {
        "HD": {"VN": "1.6", "SO": "coordinate" if sort else "unsorted"},
        "SQ": [{"SN": c, "LN": n} for c, n in SIZES.items()],
    }
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, (tid, position, flag, mapq, *cigar) in enumerate(
            sorted(records) if sort else records
        ):
            record = pysam.AlignedSegment(out.header)
            record.query_name, record.flag = f"r{i}", flag
            record.reference_id, record.reference_start = tid, position
            record.mapping_quality = mapq
            record.cigarstring = cigar[0] if cigar else "36M"
            out.write(record)
    if sort:
        pysam.index(str(path))
    return path


def reheadered(src: Path, dest: Path, lengths: dict[str, int], sort: bool = True) -> Path:
    """A copy of `src` whose @SQ lines give `lengths` (another assembly's), maybe indexed."""
    with pysam.AlignmentFile(str(src), check_sq=False) as bam:
        header = bam.header.to_dict()
        for sq in header["SQ"]:
            sq["LN"] = lengths.get(sq["SN"], sq["LN"])
        with pysam.AlignmentFile(str(dest), "wb", header=header) as out:
            for record in bam.fetch(until_eof=True):
                out.write(pysam.AlignedSegment.from_dict(record.to_dict(), out.header))
    if sort:
        pysam.index(str(dest))
    return dest


def positions(bam: Path) -> list[tuple[int, int]]:
    with pysam.AlignmentFile(str(bam)) as handle:
        return [
            (r.reference_id, r.reference_start)
            for r in handle.fetch(until_eof=True)
            if not r.is_unmapped
        ]


def records_of(bam: Path) -> list[str]:
    return pysam.view(str(bam)).splitlines()


# --- the checks themselves ---


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


TRACK_LINES = b'track name="K27" description="my reads"\nbrowser position chr1:1-1000\n# hi\n'


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


# --- through the real rules: the own-data demo with one file replaced ---


def own_rows(replace: dict[str, list[str]] | None = None) -> list[str]:
    """The shipped sheet's rows, absolute; `replace` maps 'CELL\\tMARK' to its new paths."""
    replace = replace or {}
    rows, done = [], set()
    for line in (OWN / "samples.tsv").read_text().splitlines()[1:]:
        line = line.replace("resources/own_demo", str(OWN))
        key = "\t".join(line.split("\t")[:2])
        if key not in replace:
            rows.append(line)
        elif key not in done:
            rows += [f"{key}\t{path}\t" for path in replace[key]]
            done.add(key)
    return rows


def run_own(tmp_path: Path, targets: list[str], rows: list[str], **settings):
    """Targets (under the results) of config/own-data.yaml with this sheet and settings."""
    results = tmp_path / "results"
    tmp_path.mkdir(parents=True, exist_ok=True)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("cell\tmark\tpath\tformat\n" + "".join(f"{row}\n" for row in rows))
    layer = {"results": str(results), "samples": str(sheet), **settings}
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
    configs = ["config/own-data.yaml", str(tmp_path / "layer.yaml")]
    paths = [str(results / target) for target in targets]
    result = snakemake(*paths, "--cores", "1", "--configfile", *configs, check=False)
    return result, results


def error_line(log: Path) -> str:
    """The one ERROR line of a job's log (after its time stamp and logger), no traceback."""
    text = log.read_text()
    assert "Traceback" not in text, text
    [line] = [line for line in text.splitlines() if " ERROR " in line]
    return line.split(": ", 1)[1]


@pytest.mark.slow
@pytest.mark.parametrize("counter", ["fast", "multicov"])
def test_bam_of_another_assembly_is_refused_before_counting(tmp_path, counter):
    # A sorted, indexed BAM (linked into the results), its chr2 another length (hg19 against
    # hg38): refused by its BAM job.
    other = reheadered(OWN / "reads/OWN1-H3K4me3.bam", tmp_path / "hg19.bam", {"chr2": 6_100_000})
    rows = own_rows({"OWN1\tH3K4me3": [str(other)]})
    result, results = run_own(tmp_path, ["OWN1/counts.npz"], rows, counter=counter)
    assert result.returncode != 0
    assert error_line(results / "logs/bam/OWN1/H3K4me3.log") == (
        f"{other}: chromosome chr2 is 6100000 bp long in its header but 6000000 bp in the "
        "chromosome sizes: the reads were aligned to another assembly (align them to the "
        "genome of sources.chrom_sizes, or name that genome's sizes)"
    )
    assert not list((results / "bam/OWN1").glob("H3K4me3.bam*"))
    assert not (results / "OWN1/counts.npz").exists()


@pytest.mark.slow
def test_unsorted_bam_of_another_assembly_is_refused_before_sorting(tmp_path):
    # Ensembl names (2 is chr2), unsorted: sorted into the results, once checked.
    source = OWN / "reads/OWN1-H3K27ac-rep2.bam"
    other = reheadered(source, tmp_path / "other.bam", {"2": 6_100_000}, sort=False)
    rows = own_rows({"OWN1\tH3K27ac": [str(OWN / "reads/OWN1-H3K27ac-rep1.bam"), str(other)]})
    result, results = run_own(tmp_path, ["OWN1/counts.npz"], rows)
    assert result.returncode != 0
    assert error_line(results / "logs/bam/OWN1/H3K27ac.rep2.log").startswith(
        f"{other}: chromosome 2 (chr2 in the sizes) is 6100000 bp long in its header but "
        "6000000 bp in the chromosome sizes"
    )
    assert not list((results / "bam/OWN1").glob("H3K27ac.rep2.bam*"))
    assert not (results / "OWN1/counts.npz").exists()


def zero_read_bams(folder: Path) -> dict[str, Path]:
    """BAMs that count nothing with min_mapq 10: header only, every read at MAPQ 0, every
    read a duplicate; the reads at the positions of the demo's H3K36me3 reads."""
    at = positions(OWN / "reads/OWN1-H3K36me3.bam")
    return {
        "header_only": write_bam(folder / "header_only.bam", []),
        "mapq0": write_bam(folder / "mapq0.bam", [(t, p, 0, 0) for t, p in at]),
        "duplicates": write_bam(folder / "duplicates.bam", [(t, p, 0x400, 60) for t, p in at]),
    }


@pytest.mark.slow
def test_marks_without_a_counted_read_stop_the_counting_with_the_reason(tmp_path):
    bams = zero_read_bams(tmp_path)
    n = len(positions(bams["mapq0"]))
    # Its own file: one file for two marks of a cell type is refused (samples).
    empty_replicate = tmp_path / "header-only-H3K27ac.bam"
    shutil.copy(bams["header_only"], empty_replicate)
    rows = own_rows(
        {
            "OWN1\tH3K4me3": [str(bams["header_only"])],
            "OWN1\tH3K36me3": [str(bams["mapq0"])],
            "OWN1\tH3K27me3": [str(bams["duplicates"])],
            # Replicate 1 counts nothing, replicate 2 does: a warning, not a stop.
            "OWN1\tH3K27ac": [str(empty_replicate), str(OWN / "reads/OWN1-H3K27ac-rep2.bam")],
        }
    )
    lines = {}
    for counter in ("fast", "multicov"):
        result, results = run_own(tmp_path / counter, ["OWN1/counts.npz"], rows, counter=counter)
        assert result.returncode != 0
        log = results / "logs/counts/OWN1.log"
        lines[counter] = error_line(log)
        assert not (results / "OWN1/counts.npz").exists()
        assert (
            f"WARNING attentivechrome.depth: OWN1 H3K27ac: replicate {empty_replicate} "
            "counted no read in any TSS window, its mark is counted from the other replicates: "
            "no records (a header-only BAM)"
        ) in log.read_text()
    assert lines["fast"] == lines["multicov"]  # the same decision and the same reasons
    zeros = "counted no read in any TSS window, so its input would be all zeros"
    assert lines["fast"] == (
        f"OWN1 H3K27me3 {zeros}: {bams['duplicates']}: {n} records, 0 passing the filters, 0 "
        f"in bins; left out: {n} flagged duplicate (0x400; counting.duplicates counts them) | "
        f"OWN1 H3K36me3 {zeros}: {bams['mapq0']}: {n} records, 0 passing the filters, 0 in "
        f"bins; left out: {n} with MAPQ below 10 (counting.min_mapq) | "
        f"OWN1 H3K4me3 {zeros}: {bams['header_only']}: no records (a header-only BAM)"
    )


@pytest.mark.slow
def test_proper_pairs_on_single_end_reads_stop_the_counting(tmp_path):
    counting = {"min_mapq": 10, "duplicates": False, "qc_fail": False, "proper_pairs": True}
    result, results = run_own(tmp_path, ["OWN2/counts.npz"], own_rows(), counting=counting)
    assert result.returncode != 0
    line = error_line(results / "logs/counts/OWN2.log")
    for mark in ("H3K27ac", "H3K27me3", "H3K36me3", "H3K4me3"):
        assert f"OWN2 {mark} counted no read in any TSS window" in line
    with pysam.AlignmentFile(str(OWN / "reads/OWN2-H3K4me3.bam")) as bam:
        n = bam.mapped + bam.unmapped
    assert f"{OWN}/reads/OWN2-H3K4me3.bam: {n} records, 0 passing the filters" in line
    assert "not in a proper pair (counting.proper_pairs; single-end reads never are)" in line
    assert not (results / "OWN2/counts.npz").exists()


@pytest.mark.slow
def test_a_mark_far_below_the_other_cell_types_is_a_warning(tmp_path):
    # OWN2's H3K4me3: one read in 100 of the demo's, sorted and indexed (linked).
    kept = positions(OWN / "reads/OWN2-H3K4me3.bam")[::100]
    thin = write_bam(tmp_path / "thin.bam", [(t, p, 0, 60) for t, p in kept])
    rows = own_rows({"OWN2\tH3K4me3": [str(thin)]})
    result, results = run_own(tmp_path, ["qc/depth.tsv"], rows)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(results / "qc/depth.tsv", sep="\t")
    assert list(table.columns) == depth.COLUMNS
    low = table[table["low"] == "yes"]
    assert list(zip(low["cell"], low["mark"], strict=True)) == [("OWN2", "H3K4me3")]
    with np.load(results / "OWN2/counts.npz") as archive:
        marks = list(archive["marks"])
        assert archive["reads_in_bins"].tolist() == archive["X"].sum(axis=(0, 2)).tolist()
        thin_reads = int(archive["reads_in_bins"][marks.index("H3K4me3")])
    log = (results / "logs/qc/depth.log").read_text()
    assert f"WARNING attentivechrome.depth: OWN2 H3K4me3: {thin_reads} reads in bins, " in log
    assert "of the median of H3K4me3 over the cell types" in log
    # The summary reads the table (and repeats its warnings in its log).
    (results / "qc/depth.tsv").unlink()
    target = str(results / "summary.tsv")
    jobs = planned_jobs(
        target, "--configfile", "config/own-data.yaml", str(tmp_path / "layer.yaml")
    )
    assert jobs["read_depth"] == 1 and jobs["summary"] == 1


def cram_and_sam(folder: Path) -> dict[str, Path]:
    """A real CRAM and a SAM text file, both named .bam."""
    fasta = folder / "ref.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 250 + "\n")
    pysam.faidx(str(fasta))
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    paths = {"cram": folder / "cram.bam", "sam": folder / "sam.bam"}
    for kind, mode in (("cram", "wc"), ("sam", "w")):
        with pysam.AlignmentFile(
            str(paths[kind]), mode, header=header, reference_filename=str(fasta)
        ) as out:
            record = pysam.AlignedSegment(out.header)
            record.query_name, record.reference_id, record.reference_start = "r", 0, 10
            record.cigarstring, record.query_sequence = "4M", "ACGT"
            out.write(record)
    return paths


@pytest.mark.slow
def test_cram_and_sam_named_bam_are_refused_before_any_job(tmp_path):
    files = cram_and_sam(tmp_path)
    for kind, declared, message in (
        ("cram", "", "is a CRAM file, not BAM: convert it with samtools view -b -T ref.fa"),
        ("sam", "bam", "is SAM text, not BAM: convert it with samtools view -b -o reads.bam"),
    ):
        rows = own_rows()
        rows[1] = f"OWN1\tH3K27ac\t{files[kind]}\t{declared}"  # sheet line 3
        folder = tmp_path / kind
        result, results = run_own(folder, ["summary.tsv"], rows)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert f"{folder}/samples.tsv, line 3: {files[kind]} {message}" in output
        assert not results.exists()
        with pytest.raises(InputError, match=message):
            read_sample_sheet(folder / "samples.tsv")


@pytest.mark.slow
@pytest.mark.parametrize("bam_writer", ["fast", "bedtools"])
def test_bed_with_track_lines_gives_the_bam_of_the_bed_without(tmp_path, bam_writer):
    plain = OWN / "reads/OWN2-H3K27me3.bed.gz"
    lines = gzip.decompress(plain.read_bytes()).splitlines(keepends=True)
    headed = tmp_path / "with-track-lines.bed"
    headed.write_bytes(
        TRACK_LINES + b"".join(lines[:100]) + b"# half way\n" + b"".join(lines[100:])
    )
    rows = own_rows({"OWN2\tH3K27me3": [str(plain), str(headed)]})
    result, results = run_own(tmp_path, ["OWN2/counts.npz"], rows, bam_writer=bam_writer)
    assert result.returncode == 0, result.stderr
    rep1, rep2 = (results / f"bam/OWN2/H3K27me3.rep{n}.bam" for n in (1, 2))
    assert len(records_of(rep1)) > 14_000
    assert records_of(rep2) == records_of(rep1)
    log = (results / "logs/bam/OWN2/H3K27me3.rep2.log").read_text()
    assert "4 track, browser or comment lines skipped" in log
