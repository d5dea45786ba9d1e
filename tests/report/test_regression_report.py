"""summary.tsv, comparison.tsv and the figures of a regression run: the task's metrics,
Pearson r as the primary one, and runs of two tasks never mixed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attentivechrome.errors import InputError
from attentivechrome.report.comparison import compare_models
from attentivechrome.report.figures import read_cell_table, summary_frames
from attentivechrome.report.plots import plot_predicted_observed
from attentivechrome.report.summary import read_summary, summary_task, write_summary
from attentivechrome.task import REGRESSION

#: Test Pearson r and AUROC of the level per (cell, model), seeds 1 and 2: AttentiveChrome
#: has the higher r on both cell types but the lower AUROC on E004, so a comparison on the
#: wrong metric would be seen.
RUNS = {
    ("E003", "attentivechrome"): ([0.60, 0.62], [0.70, 0.72]),
    ("E003", "logistic"): ([0.50, 0.52], [0.68, 0.70]),
    ("E004", "attentivechrome"): ([0.55, 0.57], [0.60, 0.62]),
    ("E004", "logistic"): ([0.40, 0.42], [0.75, 0.77]),
}


def write_regression_run(folder, cell, model, seed, pearson, auroc, task="regression"):
    path = folder / cell / model / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    run = {
        "cell": cell,
        "model": model,
        "best_epoch": 2,
        "valid_pearson": pearson + 0.01,
        "test_pearson": pearson,
        "test_spearman": pearson - 0.05,
        "test_r2": pearson**2,
        "test_mse": 1 - pearson,
        "test_auroc": auroc,
        "n_train": 10,
        "n_valid": 5,
        "n_test": 5,
        "settings": {"seed": seed, "task": task},
    }
    path.write_text(json.dumps(run))
    return path


@pytest.fixture
def summary_tsv(tmp_path):
    metrics = {"attentivechrome": [], "logistic": []}
    for (cell, model), (pearsons, aurocs) in RUNS.items():
        for seed, (r, a) in enumerate(zip(pearsons, aurocs, strict=True), start=1):
            metrics[model].append(write_regression_run(tmp_path, cell, model, seed, r, a))
    out = tmp_path / "summary.tsv"
    write_summary(metrics, out)
    return out


def test_summary_has_the_regression_metrics_and_every_seeds_r(summary_tsv):
    table = read_summary(summary_tsv)
    assert summary_task(table) is REGRESSION
    for metric in REGRESSION.summary_metrics:
        assert f"{metric}_mean" in table and f"{metric}_sd" in table
    assert "test_auprc_mean" not in table and "test_auroc_seed1" not in table
    row = table.set_index(["cell", "model"]).loc[("E004", "logistic")]
    assert row["test_pearson_seed2"] == pytest.approx(0.42)
    assert row["test_auroc_mean"] == pytest.approx(0.76)


def test_comparison_pairs_models_on_pearson_r(summary_tsv, tmp_path):
    outputs = {k: tmp_path / f"c.{k}" for k in ("table", "html", "figure")}
    row = compare_models(summary_tsv, outputs).iloc[0]
    assert (row["model_a"], row["wins"], row["losses"]) == ("attentivechrome", 2, 0)
    assert row["mean_difference"] == pytest.approx(((0.61 - 0.51) + (0.56 - 0.41)) / 2)
    assert row["beyond_seed_spread"] == 2
    assert "Test Pearson r of model A" in outputs["html"].read_text()


def test_the_table_for_people_gives_r_and_the_auroc_of_the_level(summary_tsv):
    people, plot_table, sds = summary_frames(read_summary(summary_tsv), read_cell_table(None))
    assert list(people.columns) == [
        "cell",
        "name",
        "group",
        "AttentiveChrome r",
        "AttentiveChrome r sd",
        "AttentiveChrome AUROC",
        "AttentiveChrome AUROC sd",
        "Ridge regression r",
        "Ridge regression r sd",
        "Ridge regression AUROC",
        "Ridge regression AUROC sd",
    ]
    assert list(people["cell"]) == ["E003", "E004", "mean"]  # no published row: those are AUROCs
    assert people.loc[2, "Ridge regression r"] == pytest.approx((0.51 + 0.41) / 2)
    assert plot_table["attentivechrome"].tolist() == pytest.approx([0.61, 0.56])


def test_runs_of_two_tasks_are_not_summarised_together(tmp_path):
    regression = write_regression_run(tmp_path, "E003", "attentivechrome", 1, 0.6, 0.7)
    other = write_regression_run(tmp_path, "E003", "logistic", 1, 0.6, 0.7, "classification")
    with pytest.raises(InputError, match="a classification run, but .* is a regression run"):
        write_summary({"attentivechrome": [regression], "logistic": [other]}, tmp_path / "s.tsv")
    assert not (tmp_path / "s.tsv").exists()


def test_predicted_against_observed_figure(tmp_path):
    rng = np.random.default_rng(0)
    level = rng.uniform(0, 8, 100)
    runs = {
        "attentivechrome": pd.DataFrame({"level": level, "prediction": level / 4 + 2}),
        "logistic": pd.DataFrame({"level": level, "prediction": np.full(100, 3.0)}),
    }
    out = plot_predicted_observed(runs, tmp_path / "po.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
