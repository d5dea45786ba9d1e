"""The files of one training run, and its torch model read back.

Each written atomically into the run folder: model.pt, history.tsv (one row per epoch,
or per penalty for the linear baseline), test_predictions.tsv, attention.npz for models
with attention, and metrics.json last, so that its presence means the run finished.

test_predictions.tsv: `gene_id, label, probability` for classification; for regression
`gene_id, label, level, prediction` (the median label, the observed and the predicted
log2(expression + 1)). attention.npz holds gene_ids, marks, bin_attention,
mark_attention and labels, with `probabilities` (classification) or `levels` and
`predictions` (regression).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from attentivechrome.data.dataset import SplitData
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path, atomic_write_text
from attentivechrome.learn.model import MODELS
from attentivechrome.task import CLASSIFICATION, DEFAULT_TASK, get_task

HISTORY_COLUMNS = list(CLASSIFICATION.history_columns)


@dataclass
class Predictions:
    scores: np.ndarray  # (genes,) float32: probabilities, or predicted levels (regression)
    loss: float  # the task's loss: mean binary cross-entropy, or mean squared error
    bin_attention: np.ndarray | None = None  # (genes, marks, bins) float32
    mark_attention: np.ndarray | None = None  # (genes, marks) float32


def write_outputs(
    out_dir: Path,
    metrics: dict,
    history: list[dict],
    test: SplitData,
    test_predictions: Predictions,
    model_payload: dict,
    task: str = DEFAULT_TASK,
) -> None:
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model_payload, tmp)
    _write_history(history, out_dir / "history.tsv", task)
    _write_predictions(test, test_predictions.scores, out_dir / "test_predictions.tsv", task)
    if test_predictions.bin_attention is not None:
        _write_attention(test, test_predictions, out_dir / "attention.npz", task)
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def load_model(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained torch model from model.pt; returns (model in eval mode, payload)."""
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("model_name") not in MODELS or MODELS[payload["model_name"]].builder is None:
        raise InputError(path, f"not a saved torch model (model_name={payload.get('model_name')})")
    model = MODELS[payload["model_name"]].builder(**payload["hyperparameters"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


def _write_history(rows: list[dict], path: Path, task: str) -> None:
    table = pd.DataFrame(rows)
    first = list(get_task(task).history_columns)
    columns = first + [c for c in table.columns if c not in first]
    with atomic_path(path) as tmp:
        table[columns].to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _write_predictions(split: SplitData, scores: np.ndarray, path: Path, task: str) -> None:
    columns = {"gene_id": split.gene_ids, "label": split.y.astype(int)}
    if task == "regression":
        columns["level"] = split.level
    columns[get_task(task).score_column] = scores
    table = pd.DataFrame(columns)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _write_attention(split: SplitData, predictions: Predictions, path: Path, task: str) -> None:
    scores = predictions.scores.astype(np.float32)
    if task == "regression":
        by_task = {"levels": split.level.astype(np.float32), "predictions": scores}
    else:
        by_task = {"probabilities": scores}
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            gene_ids=split.gene_ids.astype(str),
            marks=split.marks.astype(str),
            bin_attention=predictions.bin_attention.astype(np.float32),
            mark_attention=predictions.mark_attention.astype(np.float32),
            labels=split.y.astype(np.int8),
            **by_task,
        )
