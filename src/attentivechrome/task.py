"""The two prediction tasks (config `task`) and what each trains on, keeps and reports.

- `classification`, the paper's: a gene's label is 1 when its expression is strictly above
  the cell type's median; a model's one output is a logit (BCE with logits), its score the
  probability; the epoch with the best validation AUROC is kept.
- `regression`: the target is the level log2(expression + 1) of the same table and cell
  type column; a model's one output is the predicted level (mean squared error); the epoch
  with the best validation Pearson r is kept. The AUROC of the predicted level against the
  median label is reported too, so that one axis compares both tasks.

Both keep the earliest epoch among ties, and use the same split, models and schedules.
Kept free of torch and scikit-learn: the report's steps read it.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("classification", "regression")
DEFAULT_TASK = "classification"


@dataclass(frozen=True)
class Task:
    name: str
    #: history.tsv column that picks the kept epoch (higher is better).
    selection: str
    #: metrics.json key of the test metric that summary.tsv, comparison.tsv and the
    #: figures rank models by.
    primary: str
    #: metrics.json keys summarised over seeds in summary.tsv.
    summary_metrics: tuple[str, ...]
    #: history.tsv columns, in order (a fit's own, e.g. C, follow).
    history_columns: tuple[str, ...]
    #: test_predictions.tsv column of the model's score.
    score_column: str
    #: what the training loss is called in figures.
    loss_name: str


CLASSIFICATION = Task(
    name="classification",
    selection="valid_auroc",
    primary="test_auroc",
    summary_metrics=("test_auroc", "test_auprc", "valid_auroc"),
    history_columns=(
        "epoch",
        "train_loss",
        "valid_loss",
        "valid_auroc",
        "valid_auprc",
        "seconds",
    ),
    score_column="probability",
    loss_name="BCE loss",
)

REGRESSION = Task(
    name="regression",
    selection="valid_pearson",
    primary="test_pearson",
    summary_metrics=(
        "test_pearson",
        "test_spearman",
        "test_r2",
        "test_mse",
        "test_auroc",
        "valid_pearson",
    ),
    history_columns=(
        "epoch",
        "train_loss",
        "valid_loss",
        "valid_pearson",
        "valid_spearman",
        "valid_auroc",
        "seconds",
    ),
    score_column="prediction",
    loss_name="MSE loss",
)

BY_NAME = {task.name: task for task in (CLASSIFICATION, REGRESSION)}

#: How figures and tables name a metric.
METRIC_LABELS = {
    "test_auroc": "test AUROC",
    "valid_auroc": "validation AUROC",
    "test_auprc": "test AUPRC",
    "test_pearson": "test Pearson r",
    "valid_pearson": "validation Pearson r",
    "test_spearman": "test Spearman rho",
    "test_r2": "test R^2",
    "test_mse": "test MSE",
}


def get_task(name: str) -> Task:
    if name not in BY_NAME:
        raise ValueError(f"unknown task {name!r}; expected one of {TASKS}")
    return BY_NAME[name]


def task_of_run(metrics: dict) -> Task:
    """The task of a run from its metrics.json (runs written before tasks existed classify)."""
    return get_task(metrics.get("settings", {}).get("task", DEFAULT_TASK))


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)
