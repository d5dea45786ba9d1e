"""The real `snakemake` on the demo with `task: regression`, through the same rules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from attentivechrome.data.dataset import read_npz
from attentivechrome.learn.outputs import REGRESSION_GENE_COLUMNS, read_gene_predictions
from attentivechrome.predict.bundle import read_bundle
from attentivechrome.report.summary import read_summary
from helpers import FAST, snakemake

CELLS = ["DEMO1", "DEMO2", "DEMO3"]
MODELS = ["attentivechrome", "logistic"]


@pytest.fixture(scope="module")
def regression(demo, tmp_path_factory):
    """The demo as a regression (tests/configs/regression.yaml), from the classification
    demo's genes, BAMs, counts and coverage tracks (copied, as neither depends on the
    task): the run starts at the split files."""
    results = tmp_path_factory.mktemp("regression") / "results"
    for name in ("reference", "bam", "qc/conversion", "qc/samples"):
        shutil.copytree(demo / name, results / name)
    for cell in CELLS:
        (results / cell).mkdir()
        shutil.copy2(demo / cell / "counts.npz", results / cell / "counts.npz")
        (results / "tracks" / cell).mkdir(parents=True)
        for coverage in (demo / "tracks" / cell).glob("*.cpm.bw"):
            shutil.copy2(coverage, results / "tracks" / cell / coverage.name)
    config = ("--configfile", *FAST[1:], "tests/configs/regression.yaml")
    result = snakemake("--cores", "2", *config, "--config", f"results={results}")
    return results, result.stdout + result.stderr


def test_regression_runs_through_the_same_rules(regression):
    results, output = regression
    for rule in ("bins_count", "reads_to_bam", "bam_coverage"):
        assert rule not in output  # reused
    for rule in ("datasets_build", "train_attentivechrome", "train_baseline", "plot_cell"):
        assert rule in output
    summary = read_summary(results / "summary.tsv")
    assert list(summary["model"]) == MODELS * len(CELLS)
    for column in ("test_pearson_mean", "test_spearman_mean", "test_r2_mean", "test_mse_mean"):
        assert summary[column].notna().all(), column
    assert "test_auroc_mean" in summary and "test_pearson_seed1" in summary
    assert "test_auprc_mean" not in summary
    # The planted, noisy link between marks and expression is learnt as a level too: ridge
    # regression's level ranks genes by the median label about as logistic regression's
    # probability does (AUROC about 0.73 on the demo).
    ridge = summary[summary["model"] == "logistic"]
    assert (ridge["test_pearson_mean"] > 0.2).all() and (ridge["test_auroc_mean"] > 0.65).all()
    comparison = pd.read_csv(results / "comparison.tsv", sep="\t")
    assert (comparison[["wins", "ties", "losses"]].sum(axis=1) == len(CELLS)).all()
    page = (results / "plots/auroc.html").read_text()
    assert "Regression: test Pearson r per cell type" in page and "Ridge regression r" in page


def test_regression_outputs_carry_levels(regression, demo):
    results, _ = regression
    test = read_npz(results / "DEMO2/data/test.npz")
    assert test.level is not None and read_npz(demo / "DEMO2/data/test.npz").level is None
    assert (results / "DEMO2/data/test.csv").read_bytes() == (
        demo / "DEMO2/data/test.csv"
    ).read_bytes()  # the same split and labels: the CSV has no levels
    run = results / "DEMO2/attentivechrome/seed1"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["settings"]["task"] == "regression" and "test_pearson" in metrics
    predictions = pd.read_csv(run / "test_predictions.tsv", sep="\t")
    np.testing.assert_allclose(predictions["level"], test.level, rtol=1e-5)
    with np.load(run / "attention.npz") as attention:
        np.testing.assert_allclose(attention["predictions"], predictions["prediction"], atol=1e-4)
    ridge = json.loads((results / "DEMO2/logistic/seed1/metrics.json").read_text())
    assert "alpha" in ridge and "C" not in ridge
    for cell in CELLS:
        assert (results / cell / "plots/predicted_observed.png").stat().st_size > 0
    saliency = pd.read_csv(results / "DEMO2/saliency_agreement.tsv", sep="\t")
    assert "prediction" in saliency and "probability" not in saliency


def test_every_gene_and_predicted_samples_carry_predicted_levels(regression):
    results, _ = regression
    every = read_gene_predictions(results / "DEMO2/logistic/seed1/predictions.tsv")
    assert list(every.columns) == REGRESSION_GENE_COLUMNS and len(every) == 1200
    # config/config.yaml predicts DEMO2 with DEMO1's model: levels, ranked by prediction.
    predicted = read_gene_predictions(results / "predict/DEMO2/attentivechrome.tsv")
    assert list(predicted.columns) == REGRESSION_GENE_COLUMNS
    np.testing.assert_allclose(predicted["level"], every["level"])
    card = json.loads((results / "predict/DEMO2/attentivechrome.json").read_text())
    assert card["task"] == "regression" and np.isfinite(card["pearson_test"])
    training = pd.read_csv(results / "qc/training_mqc.tsv", sep="\t", comment="#")
    assert training.set_index("sample").loc["DEMO2", "logistic"] == pytest.approx(
        read_summary(results / "summary.tsv")
        .set_index(["cell", "model"])
        .loc[("DEMO2", "logistic"), "test_pearson_mean"],
        abs=1e-4,
    )
    genes = pd.read_csv(results / "tracks/DEMO2/predictions.bed", sep="\t", header=None)
    # Scored by the predicted level's percentile among the genes (0 lowest, 1000 highest).
    assert genes[4].min() == 0 and genes[4].max() == 1000
    assert abs(genes[4].median() - 500) < 10
    bundle = read_bundle(results / "bundles/DEMO1/logistic-seed1.zip")
    assert bundle.task == "regression" and "alpha" in bundle.card["hyperparameters"]
