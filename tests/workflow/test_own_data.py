"""The second demo (your own data's form) end to end: its counts are bedtools multicov's."""

from __future__ import annotations

import hashlib
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest
import yaml

from attentivechrome.data.counting import ReadFilter, count_and_tally
from attentivechrome.data.genome import load_chrom_sizes
from helpers import REPO, check_igv_session, check_track_hub, snakemake

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
    # Reads to the summary, the comparison, the prediction, the tracks and the QC report;
    # the figure rules are the demo's tests' part.
    outputs = ("summary.tsv", "comparison.tsv", "predict/OWN2/attentivechrome.json")
    outputs += ("tracks/igv_session.xml", "qc/multiqc_report.html")
    targets = [str(folder / "results" / name) for name in outputs]
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


def direct_multicov(bam: Path, bins: pd.DataFrame, folder: Path, options) -> np.ndarray:
    """`bedtools multicov OPTIONS` run by hand on one BAM; empty bins count 0."""
    counts = np.zeros(len(bins), dtype=np.int64)
    rows = np.flatnonzero((bins["end"] > bins["start"]).to_numpy())
    bed = folder / f"{bam.name}.{'_'.join(options) or 'default'}.bed"
    bam_naming(bins, bam).iloc[rows, :3].to_csv(bed, sep="\t", header=False, index=False)
    command = ["bedtools", "multicov", *options, "-bams", str(bam), "-bed", str(bed)]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    counts[rows] = [int(line.split("\t")[3]) for line in lines.splitlines()]
    return counts


def multicov_of_each(bams: list[Path], bins, folder, options) -> dict[Path, np.ndarray]:
    """direct_multicov of every BAM, two at a time (one per core)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = pool.map(lambda bam: direct_multicov(bam, bins, folder, options), bams)
        return dict(zip(bams, counts, strict=True))


def replicate_bams(results: Path, cell: str, mark: str) -> list[Path]:
    """Each replicate's BAM as counting reads it: results/bam/{cell}/{mark}[.rep{n}].bam."""
    sheet = pd.read_csv(OWN_DATA / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    rows = sheet[(sheet["cell"] == cell) & (sheet["mark"] == mark)]
    stems = [mark] if len(rows) == 1 else [f"{mark}.rep{n}" for n in range(1, len(rows) + 1)]
    return [results / "bam" / cell / f"{stem}.bam" for stem in stems]


@pytest.mark.slow
def test_own_data_end_to_end(own_run):
    results, before = own_run
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert set(zip(summary["cell"], summary["model"], strict=True)) == {
        (cell, model) for cell in ("OWN1", "OWN2") for model in ("attentivechrome", "logistic")
    }
    assert summary["test_auroc_mean"].between(0.5, 1).all()
    # OWN2 scored by OWN1's model, four marks matched by name.
    card = json.loads((results / "predict/OWN2/attentivechrome.json").read_text())
    assert card["ensemble"][0]["source"] == "OWN1 attentivechrome seed 1"
    assert sorted(card["ensemble"][0]["depth_ratio"]) == [
        "H3K27ac",
        "H3K27me3",
        "H3K36me3",
        "H3K4me3",
    ]
    assert 0 < card["auroc_test"] < 1
    # Only the unsorted BAM and the BED file were written under results/bam/; the sorted
    # BAMs are links to the user's files, each with an index of its own. The user's files
    # are as they were (no index written beside the unsorted BAM).
    written = sorted(str(p.relative_to(results / "bam")) for p in (results / "bam").rglob("*.bam"))
    assert [name for name in written if not (results / "bam" / name).is_symlink()] == [
        "OWN1/H3K27ac.rep2.bam",
        "OWN2/H3K27me3.bam",
    ]
    assert len(written) == 9
    assert all(Path(f"{results / 'bam' / name}.bai").is_file() for name in written)
    assert digests(OWN_DATA) == before


@pytest.mark.slow
def test_own_data_counts_are_multicovs(own_run, tmp_path):
    results, _ = own_run
    bins = pd.read_csv(
        results / "reference/bins.bed", sep="\t", header=None, names=["chrom", "start", "end", "n"]
    )
    cells = ("OWN1", "OWN2")
    marks = sorted(["H3K4me3", "H3K27ac", "H3K36me3", "H3K27me3"])
    bams = {(cell, mark): replicate_bams(results, cell, mark) for cell in cells for mark in marks}
    every_bam = [bam for group in bams.values() for bam in group]
    by_bam = multicov_of_each(every_bam, bins, tmp_path, ["-q", str(MIN_MAPQ)])
    for cell in cells:
        with np.load(results / cell / "counts.npz") as archive:
            X = archive["X"]
            assert list(archive["marks"]) == marks
        for m, mark in enumerate(marks):
            expected = sum(by_bam[bam] for bam in bams[(cell, mark)])
            counted = X[:, m, :].reshape(-1)
            np.testing.assert_array_equal(counted, expected, err_msg=f"{cell} {mark}")
    # Replicate 2 is spelt 1, 2, MT, and still counted.
    replicates = bams[("OWN1", "H3K27ac")]
    assert len(replicates) == 2 and by_bam[replicates[1]].sum() > 0
    # The switch matters on these BAMs: multicov's defaults count the MAPQ-0 reads too.
    default = multicov_of_each(replicates, bins, tmp_path, [])
    assert sum(default.values()).sum() > sum(by_bam[bam] for bam in replicates).sum()


@pytest.mark.slow
def test_own_data_tracks_pool_replicates_and_qc_counts_the_filters(own_run):
    results, _ = own_run
    sizes = load_chrom_sizes(results / "reference/chrom.sizes")
    rows = [(c, s, min(s + 50, n)) for c, n in sizes.items() for s in range(0, n, 50)]
    tiles = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    reads = ReadFilter(min_mapq=MIN_MAPQ)
    replicates = replicate_bams(results, "OWN1", "H3K27ac")
    counts, tallies = count_and_tally(replicates, tiles, reads, sizes)
    kept = sum(tally.passed for tally in tallies)
    with pyBigWig.open(str(results / "tracks/OWN1/H3K27ac.cpm.bw")) as pooled:
        values = np.concatenate(
            [np.nan_to_num(pooled.values(c, 0, n, numpy=True))[::50] for c, n in sizes.items()]
        )
    # The pooled track: both replicates' reads per bin, per million of their kept reads.
    np.testing.assert_allclose(values, counts.sum(axis=1) * 1e6 / kept, rtol=1e-6)
    tracks = results / "tracks"
    assert {p.name for p in (tracks / "OWN1").glob("H3K27ac*.bw")} == {
        "H3K27ac.cpm.bw",
        "H3K27ac.rep1.cpm.bw",
        "H3K27ac.rep2.cpm.bw",
    }
    assert not list((tracks / "OWN2").glob("*.rep*.bw"))
    panels = check_igv_session(tracks / "igv_session.xml")
    assert "OWN1 H3K27ac rep2 CPM, 50-bp bins" in panels["OWN1"]
    check_track_hub(tracks)
    assert (tracks / "genomes.txt").read_text().startswith("genome hg38\n")
    table = pd.read_csv(results / "qc/samples_mqc.tsv", sep="\t", comment="#")
    table = table.set_index("sample")
    assert (table["reads_in"] == table["kept"] + table.filter(like="dropped_").sum(axis=1)).all()
    rep2 = table.loc["OWN1 H3K27ac.rep2"]
    assert rep2["kept"] == tallies[1].passed and rep2["dropped_mapq"] == tallies[1].dropped["mapq"]
    assert table["dropped_mapq"].sum() > 0  # min_mapq 10 leaves the MAPQ-0 reads out
    assert (results / "qc/multiqc_report.html").stat().st_size > 0
