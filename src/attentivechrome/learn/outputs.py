"""The files of one training run, and its torch model read back.

Each written atomically into the run folder: model.pt, history.tsv (one row per epoch,
or per C for logistic regression), test_predictions.tsv, attention.npz for models with
attention, and metrics.json last, so that its presence means the run finished.
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

HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_auroc", "valid_auprc", "seconds"]


@dataclass
class Predictions:
    probabilities: np.ndarray  # (genes,) float32
    loss: float  # mean binary cross-entropy
    bin_attention: np.ndarray | None = None  # (genes, marks, bins) float32
    mark_attention: np.ndarray | None = None  # (genes, marks) float32


def write_outputs(
    out_dir: Path,
    metrics: dict,
    history: list[dict],
    test: SplitData,
    test_predictions: Predictions,
    model_payload: dict,
) -> None:
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model_payload, tmp)
    _write_history(history, out_dir / "history.tsv")
    _write_predictions(test, test_predictions.probabilities, out_dir / "test_predictions.tsv")
    if test_predictions.bin_attention is not None:
        _write_attention(test, test_predictions, out_dir / "attention.npz")
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def load_model(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained torch model from model.pt; returns (model in eval mode, payload)."""
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("model_name") not in MODELS or MODELS[payload["model_name"]].builder is None:
        raise InputError(path, f"not a saved torch model (model_name={payload.get('model_name')})")
    model = MODELS[payload["model_name"]].builder(**payload["hyperparameters"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


def _write_history(rows: list[dict], path: Path) -> None:
    table = pd.DataFrame(rows)
    columns = HISTORY_COLUMNS + [c for c in table.columns if c not in HISTORY_COLUMNS]
    with atomic_path(path) as tmp:
        table[columns].to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _write_predictions(split: SplitData, probabilities: np.ndarray, path: Path) -> None:
    table = pd.DataFrame(
        {"gene_id": split.gene_ids, "label": split.y.astype(int), "probability": probabilities}
    )
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _write_attention(split: SplitData, predictions: Predictions, path: Path) -> None:
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            gene_ids=split.gene_ids.astype(str),
            marks=split.marks.astype(str),
            bin_attention=predictions.bin_attention.astype(np.float32),
            mark_attention=predictions.mark_attention.astype(np.float32),
            labels=split.y.astype(np.int8),
            probabilities=predictions.probabilities.astype(np.float32),
        )
