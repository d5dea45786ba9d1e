"""The second demo (your own data's form) end to end: its counts are bedtools multicov's."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from helpers import REPO, snakemake

OWN_DATA = REPO / "resources/own_demo"
MIN_MAPQ = yaml.safe_load((REPO / "config/own-data.yaml").read_text())["counting"]["min_mapq"]


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """The own-data configuration with one epoch, results in a temporary folder."""
    folder = tmp_path_factory.mktemp("own-data")
    layer = folder / "short.yaml"
    layer.write_text(yaml.safe_dump({"results": str(folder / "results"), "train": {"epochs": 1}}))
    before = digests(OWN_DATA)
    # Reads to the summary and the comparison; the figure rules are the demo's tests' part.
    targets = [str(folder / "results" / name) for name in ("summary.tsv", "comparison.tsv")]
    snakemake(*targets, "--cores", "2", "--configfile", "config/own-data.yaml", str(layer))
    return folder / "results", before


def bam_naming(bins: pd.DataFrame, bam: Path) -> pd.DataFrame:
    """The bins with chromosomes spelt as the BAM spells them (by hand: chr1 -> 1, chrM -> MT)."""
    with pysam.AlignmentFile(str(bam)) as handle:
        names = handle.references
    if "chr1" in names:
        return bins
    ensembl = bins["chrom"].str.removeprefix("chr").replace({"M": "MT"})
    return bins.assign(chrom=ensembl)


def direct_multicov(bams: list[Path], bins: pd.DataFrame, folder: Path, options) -> np.ndarray:
    """Sum over the BAMs of `bedtools multicov OPTIONS` run by hand; empty bins count 0."""
    total = np.zeros(len(bins), dtype=np.int64)
    rows = np.flatnonzero((bins["end"] > bins["start"]).to_numpy())
    for i, bam in enumerate(bams):
        bed = folder / f"bins{i}.bed"
        bam_naming(bins, bam).iloc[rows, :3].to_csv(bed, sep="\t", header=False, index=False)
        command = ["bedtools", "multicov", *options, "-bams", str(bam), "-bed", str(bed)]
        lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        total[rows] += [int(line.split("\t")[3]) for line in lines.splitlines()]
    return total


def replicate_bams(results: Path, cell: str, mark: str) -> list[Path]:
    """Each replicate's BAM as counting reads it: the user's when sorted and indexed."""
    sheet = pd.read_csv(OWN_DATA / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    rows = sheet[(sheet["cell"] == cell) & (sheet["mark"] == mark)]
    bams = []
    for replicate, path in enumerate(rows["path"], start=1):
        name = f"{cell}-{mark}" + (f".rep{replicate}" if len(rows) > 1 else "")
        converted = results / "bam" / f"{name}.bam"
        bams.append(converted if converted.exists() else REPO / path)
    return bams


@pytest.mark.slow
def test_own_data_end_to_end(own_run):
    results, before = own_run
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert set(zip(summary["cell"], summary["model"], strict=True)) == {
        (cell, model) for cell in ("OWN1", "OWN2") for model in ("attentivechrome", "logistic")
    }
    assert summary["test_auroc_mean"].between(0.5, 1).all()
    # Only the unsorted BAM and the BED file were written under results/bam/; the user's
    # files are as they were (no index written beside the unsorted BAM).
    assert sorted(p.name for p in (results / "bam").glob("*.bam")) == [
        "OWN1-H3K27ac.rep2.bam",
        "OWN2-H3K27me3.bam",
    ]
    assert digests(OWN_DATA) == before


@pytest.mark.slow
def test_own_data_counts_are_multicovs(own_run, tmp_path):
    results, _ = own_run
    bins = pd.read_csv(
        results / "reference/bins.bed", sep="\t", header=None, names=["chrom", "start", "end", "n"]
    )
    for cell in ("OWN1", "OWN2"):
        with np.load(results / cell / "counts.npz") as archive:
            X, marks = archive["X"], list(archive["marks"])
        assert marks == sorted(["H3K4me3", "H3K27ac", "H3K36me3", "H3K27me3"])
        for m, mark in enumerate(marks):
            bams = replicate_bams(results, cell, mark)
            expected = direct_multicov(bams, bins, tmp_path, ["-q", str(MIN_MAPQ)])
            counted = X[:, m, :].reshape(-1)
            np.testing.assert_array_equal(counted, expected, err_msg=f"{cell} {mark}")
    # The switch matters on these BAMs: multicov's defaults count the MAPQ-0 reads too.
    bams = replicate_bams(results, "OWN1", "H3K27ac")
    assert len(bams) == 2
    default = direct_multicov(bams, bins, tmp_path, [])
    with np.load(results / "OWN1/counts.npz") as archive:
        assert default.sum() > archive["X"][:, marks.index("H3K27ac"), :].sum()
    # Replicate 2 is spelt 1, 2, MT and still counted.
    assert direct_multicov(bams[1:], bins, tmp_path, ["-q", str(MIN_MAPQ)]).sum() > 0
