"""The demo's genome-browser tracks, session, hub and QC report (the shared demo run):
coverage against deepTools' bamCoverage and the pipeline's own counter, attention at each
gene's TSS, the hub's structure, and the MultiQC report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from attentivechrome.data.counting import count_fast
from attentivechrome.data.genome import load_chrom_sizes
from attentivechrome.learn.outputs import read_gene_predictions
from helpers import MARKS, check_igv_session, check_track_hub

BIN = 50  # tracks.bin_size in config/config.yaml
CELLS = ["DEMO1", "DEMO2", "DEMO3"]
BAM_COVERAGE = Path(sys.executable).parent / "bamCoverage"


def tiles(sizes: dict[str, int]) -> pd.DataFrame:
    rows = [(c, s, min(s + BIN, n)) for c, n in sizes.items() for s in range(0, n, BIN)]
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def bins_of(path: Path, sizes: dict[str, int]) -> np.ndarray:
    """A bigWig's value in every 50-bp bin of the genome (no data read as 0)."""
    with pyBigWig.open(str(path)) as bigwig:
        return np.concatenate(
            [np.nan_to_num(bigwig.values(c, 0, n, numpy=True))[::BIN] for c, n in sizes.items()]
        )


def qc_table(demo: Path) -> pd.DataFrame:
    return pd.read_csv(demo / "qc/samples_mqc.tsv", sep="\t", comment="#").set_index("sample")


@pytest.mark.slow
def test_coverage_is_deeptools_cpm_and_the_pipelines_counts(demo, tmp_path):
    sizes = load_chrom_sizes(demo / "reference/chrom.sizes")
    kept = qc_table(demo)["kept"]
    for cell, mark in (("DEMO1", "H3K4me3"), ("DEMO3", "H3K9me3")):
        bam, ours = demo / f"bam/{cell}/{mark}.bam", demo / f"tracks/{cell}/{mark}.cpm.bw"
        theirs = tmp_path / f"{cell}.{mark}.bw"
        command = [str(BAM_COVERAGE), "-b", str(bam), "-o", str(theirs), "-p", "1"]
        command += ["--normalizeUsing", "CPM", "--binSize", str(BIN)]
        subprocess.run(command, check=True, capture_output=True)
        values = bins_of(ours, sizes)
        # deepTools keeps 6 significant digits of its scale factor (40.1768 for 10^6 /
        # 24,890 = 40.176778): a relative difference up to 3e-6; zeros are zeros.
        np.testing.assert_allclose(values, bins_of(theirs, sizes), rtol=1e-5, atol=0)
        # The pipeline's counter (multicov's rules) on the same bins, per million kept reads.
        counts = count_fast([bam], tiles(sizes))[:, 0]
        np.testing.assert_allclose(values, counts * 1e6 / kept[f"{cell} {mark}"], rtol=1e-6)
        assert counts.sum() > kept[f"{cell} {mark}"]  # reads across a bin edge count twice


@pytest.mark.slow
def test_session_and_hub_name_every_track_grouped_by_cell_type(demo):
    tracks = demo / "tracks"
    panels = check_igv_session(tracks / "igv_session.xml")
    assert list(panels) == CELLS
    # DEMO2 and DEMO3 are trained and also predicted from DEMO1's model (config predict).
    n_model = len(MARKS) + 1
    assert [len(panels[c]) for c in CELLS] == [5 + n_model, 5 + 2 * n_model, 5 + 2 * n_model]
    assert "DEMO2 H3K4me3 AttentiveChrome bin attention (predicted by DEMO1)" in panels["DEMO2"]
    assert "DEMO1 H3K4me3 AttentiveChrome bin attention (mean of seeds 1, 2)" in panels["DEMO1"]
    stanzas = check_track_hub(tracks)
    assert [s["track"] for s in stanzas if "superTrack" in s] == CELLS
    assert (tracks / "genomes.txt").read_text().startswith("genome hg19\n")
    # Every track file of the folder is in the hub.
    named = {s["bigDataUrl"] for s in stanzas if "bigDataUrl" in s}
    on_disk = {str(p.relative_to(tracks)) for p in tracks.rglob("*.b[wb]")}
    assert named == on_disk


@pytest.mark.slow
def test_attention_at_each_tss_is_the_models_tss_bin(demo):
    flank, bin_size = 5000, 100
    for cell in CELLS:
        runs = [demo / f"{cell}/attentivechrome/seed{seed}" for seed in (1, 2)]
        genes = read_gene_predictions(runs[0] / "predictions.tsv")
        attention = []
        for run in runs:
            with np.load(run / "gene_attention.npz") as archive:
                assert list(archive["gene_ids"]) == list(genes["gene_id"])
                marks = list(archive["marks"])
                attention.append(archive["bin_attention"][:, :, flank // bin_size])
        mean = np.mean(attention, axis=0)
        # Genes whose nearest TSS is their own at their TSS: all but those sharing one.
        alone = ~genes.duplicated(["chrom", "tss"], keep=False)
        for m, mark in enumerate(marks):
            with pyBigWig.open(str(demo / f"tracks/{cell}/attention/{mark}.bw")) as bigwig:
                places = zip(genes["chrom"], genes["tss"], strict=True)
                got = [bigwig.values(chrom, tss, tss + 1)[0] for chrom, tss in places]
            np.testing.assert_allclose(np.array(got)[alone], mean[alone, m], rtol=1e-5)
        bed = pd.read_csv(demo / f"tracks/{cell}/predictions.bed", sep="\t", header=None)
        probability = np.mean(
            [read_gene_predictions(r / "predictions.tsv")["probability"] for r in runs], axis=0
        )
        score = np.rint(1000 * probability).astype(int)
        scores = dict(zip(zip(genes["tss"], genes["symbol"], strict=True), score, strict=True))
        assert len(bed) == len(genes) == len(scores)
        assert [scores[key] for key in zip(bed[6], bed[3], strict=True)] == bed[4].tolist()


@pytest.mark.slow
def test_qc_report_accounts_for_every_read_and_holds_the_tables(demo):
    table = qc_table(demo)
    assert len(table) == len(CELLS) * len(MARKS)
    dropped = table.filter(like="dropped_").sum(axis=1)
    assert (table["reads_in"] == table["kept"] + dropped).all()
    # The demo plants reads on chrUn_demo, which the sizes lack: the BAM job logged them.
    bam_log = (demo / "logs/bam/DEMO1/H3K9me3.log").read_text()
    unknown = int(re.search(r"(\d+) on unknown chromosomes", bam_log).group(1))
    assert unknown > 0 and table.loc["DEMO1 H3K9me3", "dropped_unknown_chrom"] == unknown
    # Kept reads are those the counting job's tally passed.
    counts_log = (demo / "logs/counts/DEMO1.log").read_text()
    passing = re.search(r"H3K9me3\.tagAlign\.gz: \d+ records, (\d+) passing", counts_log)
    assert table.loc["DEMO1 H3K9me3", "kept"] == int(passing.group(1))
    assert table["tss_fraction"].between(0, 1).all() and (table["flag"] == "ok").all()
    html = (demo / "qc/multiqc_report.html").read_text()
    for text in ("Reads per sample", "Read fates", "Reads per cell type and mark", "Test AUROC"):
        assert text in html
    assert "DEMO3 H3K27me3" in html
