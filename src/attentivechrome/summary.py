"""The table across cell types: one row per cell type, each model's test metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .io import atomic_path

#: Columns kept for every model; AttentiveChrome's come unprefixed first.
METRIC_COLUMNS = ["best_epoch", "valid_auroc", "test_auroc", "test_auprc"]


def read_metrics(paths: list[Path]) -> pd.DataFrame:
    return pd.DataFrame([json.loads(Path(p).read_text()) for p in paths]).set_index("cell")


def summary_table(metrics: dict[str, list[Path]]) -> pd.DataFrame:
    """`metrics` maps model name -> its metrics.json files (one per cell type)."""
    main = read_metrics(metrics["attentivechrome"])
    table = main[METRIC_COLUMNS + ["n_train", "n_valid", "n_test"]].copy()
    for model, paths in metrics.items():
        if model == "attentivechrome":
            continue
        other = read_metrics(paths)
        for column in ("valid_auroc", "test_auroc", "test_auprc"):
            table[f"{model}_{column}"] = other[column]
    return table.reset_index()


def write_summary(metrics: dict[str, list[Path]], out: Path) -> pd.DataFrame:
    table = summary_table(metrics)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table
