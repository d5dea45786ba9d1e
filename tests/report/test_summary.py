"""The summary over seeds and the paired comparison across cell types, against hand values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from attentivechrome.report.comparison import bootstrap_interval, comparison_table, seed_tables
from attentivechrome.report.summary import read_runs, read_summary, summary_table, write_summary


def write_run(folder, cell, model, seed, test_auroc, best_epoch=3):
    path = folder / cell / model / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    run = {
        "cell": cell,
        "model": model,
        "best_epoch": best_epoch,
        "valid_auroc": test_auroc + 0.01,
        "test_auroc": test_auroc,
        "test_auprc": test_auroc - 0.1,
        "n_train": 10,
        "n_valid": 5,
        "n_test": 5,
        "settings": {"seed": seed},
    }
    path.write_text(json.dumps(run))
    return path


def test_summary_gives_mean_sd_and_every_seed(tmp_path):
    values = {("E003", "attentivechrome"): [0.80, 0.82, 0.81], ("E003", "lstm"): [0.79, 0.78, 0.80]}
    metrics = {"attentivechrome": [], "lstm": []}
    for (cell, model), aurocs in values.items():
        for seed, value in zip((1, 2, 3), aurocs, strict=True):
            metrics[model].append(write_run(tmp_path, cell, model, seed, value, best_epoch=seed))
    out = tmp_path / "summary.tsv"
    write_summary(metrics, out)
    table = read_summary(out).set_index("model")
    assert table.loc["attentivechrome", "n_seeds"] == 3
    assert table.loc["attentivechrome", "test_auroc_mean"] == pytest.approx(0.81)
    assert table.loc["attentivechrome", "test_auroc_sd"] == pytest.approx(0.01)
    assert table.loc["lstm", "test_auroc_seed2"] == pytest.approx(0.78)
    assert table.loc["lstm", "best_epochs"] == "1,2,3"


def test_one_seed_leaves_the_sd_empty(tmp_path):
    runs = read_runs({"attentivechrome": [write_run(tmp_path, "E003", "attentivechrome", 1, 0.8)]})
    table = summary_table(runs)
    assert np.isnan(table.loc[0, "test_auroc_sd"]) and table.loc[0, "n_seeds"] == 1


def summary_of(means: dict[str, list[float]], sds: dict[str, list[float]] | None = None):
    cells = [f"E{i:03d}" for i in range(len(next(iter(means.values()))))]
    rows = []
    for model, values in means.items():
        for i, cell in enumerate(cells):
            sd = sds[model][i] if sds else np.nan
            rows.append(
                {"cell": cell, "model": model, "test_auroc_mean": values[i], "test_auroc_sd": sd}
            )
    return pd.DataFrame(rows)


def test_paired_statistics_match_a_hand_computed_example():
    a = [0.81, 0.83, 0.79, 0.80, 0.85, 0.77]
    b = [0.80, 0.83, 0.80, 0.78, 0.82, 0.76]
    summary = summary_of({"attentivechrome": a, "deepchrome": b})
    row = comparison_table(*seed_tables(summary)).iloc[0]
    difference = np.array(a) - np.array(b)
    assert (row["wins"], row["ties"], row["losses"]) == (4, 1, 1)
    assert row["mean_difference"] == pytest.approx(difference.mean())
    assert row["wilcoxon_p"] == pytest.approx(wilcoxon(difference).pvalue)
    assert row["ci95_low"] < difference.mean() < row["ci95_high"]
    assert np.isnan(row["beyond_seed_spread"])  # one seed: no spread to compare with


def test_bootstrap_interval_is_reproducible_and_narrows_with_more_cell_types():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.01, 0.01, 8), rng.normal(0.01, 0.01, 200)
    assert bootstrap_interval(few) == bootstrap_interval(few)
    assert np.diff(bootstrap_interval(many)) < np.diff(bootstrap_interval(few))


def test_differences_beyond_the_seed_spread_are_counted():
    means = {"attentivechrome": [0.82, 0.80, 0.81], "lstm": [0.80, 0.80, 0.805]}
    sds = {"attentivechrome": [0.005, 0.004, 0.003], "lstm": [0.004, 0.004, 0.004]}
    row = comparison_table(*seed_tables(summary_of(means, sds))).iloc[0]
    assert row["beyond_seed_spread"] == 1  # only E000 differs by more than 0.005 + 0.004


def test_rows_go_cell_type_by_cell_type(tmp_path):
    metrics = {
        model: [write_run(tmp_path, cell, model, 1, 0.8) for cell in ("E004", "E003")]
        for model in ("attentivechrome", "lstm")
    }
    table = summary_table(read_runs(metrics))
    assert list(zip(table["cell"], table["model"], strict=True)) == [
        ("E004", "attentivechrome"),
        ("E004", "lstm"),
        ("E003", "attentivechrome"),
        ("E003", "lstm"),
    ]


def test_one_cell_type_leaves_the_interval_empty_as_the_wilcoxon_p():
    row = comparison_table(*seed_tables(summary_of({"attentivechrome": [0.82], "lstm": [0.8]})))
    row = row.iloc[0]
    assert row["mean_difference"] == pytest.approx(0.02)
    assert np.isnan(row["ci95_low"]) and np.isnan(row["ci95_high"])
    assert np.isnan(row["wilcoxon_p"])
    assert np.isnan(bootstrap_interval(np.array([0.02]))).all()
