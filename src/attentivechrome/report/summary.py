"""The table across cell types: one row per (cell type, model), over its training seeds.

Every model is read the same way, from its metrics.json files: the mean and standard
deviation over seeds (sample sd; empty with one seed) beside each seed's own value of the
task's primary metric (test AUROC, or test Pearson r for regression; task.py). The
metrics are the task's: `summary_task` tells a table's task from its columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path
from attentivechrome.task import CLASSIFICATION, REGRESSION, Task, get_task, task_of_run

#: Metrics summarised over seeds, for classification (a Task's summary_metrics in general).
METRICS = list(CLASSIFICATION.summary_metrics)
#: Decimals the metrics are written with, here and in the AUROC tables of the report; the
#: comparison calls two models tied when their AUROCs agree to this many.
DECIMALS = 4
FLOAT_FORMAT = f"%.{DECIMALS}f"


def run_columns(task: Task) -> list[str]:
    """Columns of one training run, as read from its metrics.json."""
    return [
        "cell",
        "model",
        "seed",
        "task",
        "best_epoch",
        *task.summary_metrics,
        "n_train",
        "n_valid",
        "n_test",
    ]


def metric_column(metric: str, statistic: str) -> str:
    """The summary.tsv column of `statistic` ('mean' or 'sd') over seeds of `metric`."""
    return f"{metric}_{statistic}"


def summary_task(summary: pd.DataFrame) -> Task:
    """The task of a summary.tsv: regression when it has the Pearson r columns."""
    regression = metric_column(REGRESSION.primary, "mean") in summary.columns
    return REGRESSION if regression else CLASSIFICATION


def read_runs(metrics: Mapping[str, Sequence[Path]]) -> pd.DataFrame:
    """One row per training run; `metrics` maps a model to its metrics.json files, which
    must all be of one task."""
    rows, first = [], None
    for model, paths in metrics.items():
        for path in paths:
            run = json.loads(Path(path).read_text())
            task = task_of_run(run).name
            first = first or (task, path)
            if task != first[0]:
                raise InputError(
                    path,
                    f"a {task} run, but {first[1]} is a {first[0]} run: one summary holds "
                    "runs of one task (rerun them with the configured task)",
                )
            rows.append({**run, "model": model, "seed": run["settings"]["seed"], "task": task})
    task = get_task(first[0]) if first else CLASSIFICATION
    return pd.DataFrame(rows, columns=run_columns(task))


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (cell type, model): n_seeds, mean and sd of each metric of the runs' task, best
    epochs, and each seed's value of the primary metric.

    Rows go cell type by cell type, models within each, both in the order `runs` first
    lists them.
    """
    task = get_task(runs["task"].iloc[0]) if len(runs) else CLASSIFICATION
    keys = ["cell", "model"]
    runs = runs.assign(
        cell=pd.Categorical(runs["cell"], categories=runs["cell"].unique()),
        model=pd.Categorical(runs["model"], categories=runs["model"].unique()),
    ).sort_values(keys, kind="stable")
    grouped = runs.groupby(keys, sort=False, observed=True)
    table = grouped.size().rename("n_seeds").to_frame()
    for metric in task.summary_metrics:
        table[metric_column(metric, "mean")] = grouped[metric].mean()
        table[metric_column(metric, "sd")] = grouped[metric].std(ddof=1)
    table["best_epochs"] = grouped["best_epoch"].agg(lambda e: ",".join(map(str, e)))
    for name in ("n_train", "n_valid", "n_test"):
        table[name] = grouped[name].first()
    per_seed = runs.pivot_table(
        index=keys, columns="seed", values=task.primary, sort=False, observed=True
    )
    per_seed.columns = [f"{task.primary}_seed{seed}" for seed in per_seed.columns]
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
