"""The real `snakemake` command on the embedded demo and on the REMC configuration."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from attentivechrome.data.dataset import read_authors_csv, read_npz
from attentivechrome.report.summary import read_summary
from helpers import FAST, MARKS, REPO, planned_jobs, snakemake

DEMO_CELLS = ["DEMO1", "DEMO2", "DEMO3"]


@pytest.mark.slow
def test_remc_dry_run_plans_the_whole_paper(tmp_path):
    jobs = planned_jobs("--configfile", "config/remc.yaml", "--config", f"results={tmp_path}")
    assert jobs == {
        "download": 280 + 2,  # reads, RPKM matrix, gene_info (hg19 sizes come with pybedtools)
        "reference_chrom_sizes": 1,
        "reference_genes": 1,
        "reads_to_bam": 280,
        "bins_count": 56,
        "datasets_build": 56,
        "train_attentivechrome": 56,
        "train_baseline": 56 * 4,  # DeepChrome, LSTM, LSTM-Attn, logistic regression
        "read_depth": 1,
        "summary": 1,
        "compare_models": 1,
        "plot_cell": 56,
        "plot_saliency": 56,
        "plot_summary": 1,
        "bundle_export": 56 * 5,  # every trained model, logistic regression included
        "bam_coverage": 280,  # the coverage tracks and the QC tally of each file
        "tracks_attention": 56,
        "tracks_session": 1,
        "qc_samples": 1,
        "qc_multiqc": 1,
        "all": 1,
    }


@pytest.mark.slow
def test_remc_one_cell_type_by_target_name(tmp_path):
    target = f"{tmp_path}/E003/attentivechrome/seed1/metrics.json"
    jobs = planned_jobs(
        target, "--configfile", "config/remc.yaml", "--config", f"results={tmp_path}"
    )
    assert jobs == {
        "download": 5 + 2,
        "reference_chrom_sizes": 1,
        "reference_genes": 1,
        "reads_to_bam": 5,
        "bins_count": 1,
        "datasets_build": 1,
        "train_attentivechrome": 1,
    }


@pytest.mark.slow
def test_demo_config_is_valid_and_plans_every_cell(tmp_path):
    jobs = planned_jobs("--config", f"results={tmp_path}")
    assert jobs["train_attentivechrome"] == 3 and jobs["reads_to_bam"] == 15


@pytest.mark.slow
def test_demo_one_cell_type_plans_nothing_else(tmp_path):
    target = f"{tmp_path}/DEMO2/attentivechrome/seed1/metrics.json"
    jobs = planned_jobs(target, "--config", f"results={tmp_path}")
    assert jobs["reads_to_bam"] == 5 and jobs["bins_count"] == 1
    assert jobs["train_attentivechrome"] == 1 and "train_baseline" not in jobs


@pytest.mark.slow
def test_demo_summary_has_every_cell_type_and_model(demo):
    summary = read_summary(demo / "summary.tsv")
    models = ["attentivechrome", "deepchrome", "lstm", "lstm-attention", "logistic"]
    assert list(summary["cell"].unique()) == DEMO_CELLS
    assert list(summary["model"]) == [m for _ in DEMO_CELLS for m in models]
    assert summary["test_auroc_mean"].between(0, 1).all()
    # The planted signal is learnable: even three epochs beat chance clearly.
    logistic = summary[summary["model"] == "logistic"]
    assert (logistic["test_auroc_mean"] > 0.7).all()
    assert (summary["n_train"] + summary["n_valid"] + summary["n_test"] == 1200).all()
    # Two seeds (tests/configs/fast.yaml): each its own run, with its own numbers.
    assert (summary["n_seeds"] == 2).all() and summary["test_auroc_sd"].notna().all()
    assert (summary["test_auroc_seed1"] != summary["test_auroc_seed2"]).any()
    first = demo / "DEMO1/attentivechrome/seed1/metrics.json"
    assert json.loads(first.read_text())["settings"]["seed"] == 1
    comparison = pd.read_csv(demo / "comparison.tsv", sep="\t")
    assert len(comparison) == len(models) * (len(models) - 1) // 2
    assert (comparison[["wins", "ties", "losses"]].sum(axis=1) == len(DEMO_CELLS)).all()
    assert comparison["beyond_seed_spread"].between(0, len(DEMO_CELLS)).all()


@pytest.mark.slow
def test_demo_outputs_follow_the_contract(demo):
    cell = demo / "DEMO2"
    run = cell / "attentivechrome/seed1"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in (
        "cell",
        "best_epoch",
        "valid_auroc",
        "test_auroc",
        "test_auprc",
        "n_train",
        "n_valid",
        "n_test",
    ):
        assert key in metrics
    assert metrics["cell"] == "DEMO2" and 0 < metrics["test_auroc"] <= 1

    test = read_npz(cell / "data/test.npz")
    assert read_authors_csv(cell / "data/test.csv", MARKS).X.tolist() == test.X.tolist()
    assert test.X.shape[1:] == (5, 100)

    with np.load(run / "attention.npz") as attention:
        assert list(attention["gene_ids"]) == list(test.gene_ids)
        np.testing.assert_allclose(attention["bin_attention"].sum(axis=2), 1, rtol=1e-4)
        np.testing.assert_allclose(attention["mark_attention"].sum(axis=1), 1, rtol=1e-4)

    bam = demo / "bam/DEMO1/H3K9me3.bam"
    assert (demo / "bam/DEMO1/H3K9me3.bam.bai").exists()
    header = pysam.AlignmentFile(bam).header.to_dict()
    assert header["HD"]["SO"] == "coordinate"
    log = (demo / "logs/bam/DEMO1/H3K9me3.log").read_text()
    assert "chrUn_demo" in log  # reads on a chromosome missing from the sizes are logged
    # tcmalloc is off unless train.allocator asks for it (tests/learn/test_allocator.py tries it).
    train_log = (demo / "logs/train/DEMO2/attentivechrome-seed1.log").read_text()
    assert "memory allocator: the system's malloc" in train_log
    assert not (demo / "downloads").exists()  # local inputs are read where they are


@pytest.mark.slow
def test_multicov_counter_gives_the_same_counts(demo, tmp_path):
    target = f"{tmp_path}/DEMO1/counts.npz"
    snakemake(target, "--cores", "2", "--config", f"results={tmp_path}", "counter=multicov")
    with np.load(target) as reference, np.load(demo / "DEMO1/counts.npz") as fast:
        assert reference["X"].sum() > 0
        np.testing.assert_array_equal(reference["X"], fast["X"])


@pytest.mark.slow
def test_rerun_of_a_finished_demo_does_nothing(demo):
    result = snakemake("--cores", "2", *FAST, "--config", f"results={demo}")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_repository_has_no_results_committed():
    # What git tracks, not what .gitignore says: results must never be committed.
    tracked = subprocess.run(
        ["git", "ls-files", "results", ".snakemake"], cwd=REPO, capture_output=True, text=True
    )
    if tracked.returncode != 0:
        pytest.skip(f"not a git checkout: {tracked.stderr.strip()}")
    assert tracked.stdout == ""
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "results/summary.tsv"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "results/ must be ignored by git"


@pytest.mark.slow
def test_authors_matrices_reproduce_the_native_metrics(demo, tmp_path):
    """Import the CSVs a native run exported, laid out as on Zenodo: same data, same model."""
    for split in ("train", "valid", "test"):
        folder = tmp_path / "zenodo/DEMO1/classification"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.csv").write_bytes((demo / f"DEMO1/data/{split}.csv").read_bytes())
    results = tmp_path / "results"
    target = str(results / "DEMO1/attentivechrome/seed1/metrics.json")
    config = ["--config", f"results={results}", f"authors_data={tmp_path / 'zenodo'}"]
    jobs = planned_jobs(target, *FAST, *config)
    assert set(jobs) == {"datasets_import", "train_attentivechrome"}
    snakemake(target, "--cores", "2", *FAST, *config)
    run = "DEMO1/attentivechrome/seed1/metrics.json"
    got, want = (json.loads((r / run).read_text()) for r in (results, demo))
    for key in ("best_epoch", "valid_auroc", "test_auroc", "test_auprc", "n_test"):
        assert got[key] == want[key], key


@pytest.mark.slow
def test_gene_plot_on_demand_and_html_report(demo, tmp_path):
    predictions = demo / "DEMO2/attentivechrome/seed1/test_predictions.tsv"
    gene = pd.read_csv(predictions, sep="\t")["gene_id"].iloc[0]
    target = demo / f"DEMO2/genes/{gene}.png"
    snakemake(str(target), "--cores", "1", *FAST, "--config", f"results={demo}")
    assert target.read_bytes().startswith(b"\x89PNG")

    report = tmp_path / "report.html"
    snakemake("--report", str(report), *FAST, "--config", f"results={demo}")
    html = report.read_text()
    for name in (
        "attention_profile.png",
        "saliency.png",
        "auroc.png",
        "mark_attention_heatmap.png",
        "model_pairs.png",
        "comparison.html",
    ):
        assert name in html, name
