"""The table across cell types: one row per (cell type, model), over its training seeds.

Every model is read the same way, from its metrics.json files: the mean and standard
deviation over seeds (sample sd; empty with one seed) beside each seed's own value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from attentivechrome.io import atomic_path

#: Metrics summarised over seeds.
METRICS = ["test_auroc", "test_auprc", "valid_auroc"]
#: Decimals the metrics are written with, here and in the AUROC tables of the report; the
#: comparison calls two models tied when their AUROCs agree to this many.
DECIMALS = 4
FLOAT_FORMAT = f"%.{DECIMALS}f"
#: Columns of one training run, as read from its metrics.json.
RUN_COLUMNS = ["cell", "model", "seed", "best_epoch", *METRICS, "n_train", "n_valid", "n_test"]


def metric_column(metric: str, statistic: str) -> str:
    """The summary.tsv column of `statistic` ('mean' or 'sd') over seeds of `metric`."""
    return f"{metric}_{statistic}"


def read_runs(metrics: Mapping[str, Sequence[Path]]) -> pd.DataFrame:
    """One row per training run; `metrics` maps a model to its metrics.json files."""
    rows = []
    for model, paths in metrics.items():
        for path in paths:
            run = json.loads(Path(path).read_text())
            rows.append({**run, "model": model, "seed": run["settings"]["seed"]})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (cell type, model): n_seeds, mean and sd of each metric, best epochs, per-seed AUROC.

    Rows go cell type by cell type, models within each, both in the order `runs` first
    lists them.
    """
    keys = ["cell", "model"]
    runs = runs.assign(
        cell=pd.Categorical(runs["cell"], categories=runs["cell"].unique()),
        model=pd.Categorical(runs["model"], categories=runs["model"].unique()),
    ).sort_values(keys, kind="stable")
    grouped = runs.groupby(keys, sort=False, observed=True)
    table = grouped.size().rename("n_seeds").to_frame()
    for metric in METRICS:
        table[metric_column(metric, "mean")] = grouped[metric].mean()
        table[metric_column(metric, "sd")] = grouped[metric].std(ddof=1)
    table["best_epochs"] = grouped["best_epoch"].agg(lambda e: ",".join(map(str, e)))
    for name in ("n_train", "n_valid", "n_test"):
        table[name] = grouped[name].first()
    per_seed = runs.pivot_table(
        index=keys, columns="seed", values="test_auroc", sort=False, observed=True
    )
    per_seed.columns = [f"test_auroc_seed{seed}" for seed in per_seed.columns]
    table = table.join(per_seed).reset_index()
    return table.astype({"cell": str, "model": str})


def write_summary(metrics: Mapping[str, Sequence[Path]], out: Path) -> pd.DataFrame:
    table = summary_table(read_runs(metrics))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT)
    return table


def read_summary(path: str | Path) -> pd.DataFrame:
    """summary.tsv as written by write_summary (cell ids kept as text)."""
    return pd.read_csv(path, sep="\t", dtype={"cell": str, "model": str, "best_epochs": str})
