"""Paired comparison of models across cell types, as the paper's "better on 49 of 56".

For every pair of models (A, B), on the per-cell-type means over seeds of the task's
primary metric (test AUROC, or test Pearson r for regression; task.py):
- wins / ties / losses of A against B (a tie: equal values at the decimals shown,
  `summary.DECIMALS`);
- the mean difference A - B with a bootstrap 95% interval over cell types (resampling
  cell types with replacement, a fixed seed, so the table is reproducible; empty with one
  cell type, whose resamples are all the same);
- the two-sided Wilcoxon signed-rank p-value over cell types (scipy; empty when fewer
  than two cell types differ);
- with several seeds, how many cell types differ by more than their seed spread,
  |mean A - mean B| > sd A + sd B (empty with one seed).

`compare_models`, the compare_models rule's step, writes the table (comparison.tsv), its
HTML page and the pairwise figure (drawn by `plots`).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.io import atomic_path
from attentivechrome.learn.model_facts import model_label
from attentivechrome.report.plots import plot_model_pairs, write_html_table
from attentivechrome.report.summary import DECIMALS, metric_column, read_summary, summary_task
from attentivechrome.task import metric_label

BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 20171204

COLUMNS = [
    "model_a",
    "model_b",
    "n_cells",
    "wins",
    "ties",
    "losses",
    "mean_difference",
    "ci95_low",
    "ci95_high",
    "wilcoxon_p",
    "beyond_seed_spread",
]


def auroc_by_cell(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """cells x models table of one summary column, models in the summary's order."""
    models = list(dict.fromkeys(summary["model"]))
    table = summary.pivot(index="cell", columns="model", values=column)
    return table.reindex(index=list(dict.fromkeys(summary["cell"])), columns=models)


def seed_tables(
    summary: pd.DataFrame, metric: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cells x models tables of a test metric's seed mean and its sd, from summary.tsv;
    by default the primary metric of the summary's task."""
    metric = metric or summary_task(summary).primary
    return (
        auroc_by_cell(summary, metric_column(metric, "mean")),
        auroc_by_cell(summary, metric_column(metric, "sd")),
    )


def bootstrap_interval(differences: np.ndarray, samples: int = BOOTSTRAP_SAMPLES):
    """95% percentile interval of the mean difference, resampling cell types; NaN for one
    cell type (every resample is that cell type: a zero-width interval would claim certainty)."""
    if len(differences) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(differences), size=(samples, len(differences)))
    means = differences[picks].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def wilcoxon_p(differences: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if np.count_nonzero(differences) < 2:
        return float("nan")
    return float(wilcoxon(differences).pvalue)


def compare_pair(means: pd.DataFrame, sds: pd.DataFrame, a: str, b: str) -> dict:
    difference = (means[a] - means[b]).to_numpy(dtype=float)
    shown = np.round(means[a], DECIMALS) - np.round(means[b], DECIMALS)
    low, high = bootstrap_interval(difference)
    spread = (sds[a] + sds[b]).to_numpy(dtype=float)
    beyond = np.nan if np.isnan(spread).all() else int((np.abs(difference) > spread).sum())
    return {
        "model_a": a,
        "model_b": b,
        "n_cells": len(difference),
        "wins": int((shown > 0).sum()),
        "ties": int((shown == 0).sum()),
        "losses": int((shown < 0).sum()),
        "mean_difference": float(difference.mean()),
        "ci95_low": low,
        "ci95_high": high,
        "wilcoxon_p": wilcoxon_p(difference),
        "beyond_seed_spread": beyond,
    }


def comparison_table(means: pd.DataFrame, sds: pd.DataFrame) -> pd.DataFrame:
    """Every pair of models (columns of `seed_tables`), the earlier one as A."""
    rows = [compare_pair(means, sds, a, b) for a, b in combinations(means.columns, 2)]
    return pd.DataFrame(rows, columns=COLUMNS)


def compare_models(summary_tsv: Path, outputs: Mapping[str, Path]) -> pd.DataFrame:
    """comparison.tsv, its HTML page and the pairwise figure. outputs: table, html, figure."""
    summary = read_summary(summary_tsv)
    metric = metric_label(summary_task(summary).primary)
    means, sds = seed_tables(summary)
    table = comparison_table(means, sds)
    with atomic_path(outputs["table"]) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4g", na_rep="")
    shown = table.assign(
        model_a=table["model_a"].map(model_label), model_b=table["model_b"].map(model_label)
    )
    write_html_table(
        shown,
        outputs["html"],
        title="Paired comparison of models across cell types",
        note=f"{metric[0].upper()}{metric[1:]} of model A against model B on each cell type's "
        "mean over seeds: "
        "wins/ties/losses of A, the mean difference A - B with a bootstrap 95% interval over "
        "cell types, the Wilcoxon signed-rank p-value and, with several seeds, the number of "
        "cell types whose difference exceeds the sum of the two seed standard deviations.",
    )
    # The summary's first model (AttentiveChrome in the workflow) is model A of all its pairs.
    reference = means.columns[0]
    against = table[table["model_a"] == reference]
    wins = dict(zip(against["model_b"], against["wins"], strict=True))
    plot_model_pairs(means, sds, wins, outputs["figure"], reference=reference, metric=metric)
    return table
