"""Own data that would silently give wrong inputs: each is refused with a clear message.

Reads aligned to another assembly, a mark that counts no read (or far fewer than in the
other cell types), CRAM or SAM named like a BAM, and BED files with UCSC track, browser
or comment lines (skipped, as bedtools does). The Snakemake tests run the own-data demo's
real rules on small BAMs made with pysam.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from attentivechrome.data import depth
from attentivechrome.data.samples import read_sample_sheet
from attentivechrome.errors import InputError
from bam_records import OWN, TRACK_LINES, positions, records_of, reheadered, write_bam
from helpers import planned_jobs, snakemake

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
            f"WARNING attentivechrome.data.depth: OWN1 H3K27ac: replicate {empty_replicate} "
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
    assert f"WARNING attentivechrome.data.depth: OWN2 H3K4me3: {thin_reads} reads in bins, " in log
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
