"""The files of one training run, and its torch model read back.

Each written atomically into the run folder: model.pt, history.tsv (one row per epoch,
or per C for logistic regression), test_predictions.tsv, attention.npz (test genes) for
models with attention, predictions.tsv (every gene: `write_gene_predictions`, the one
contract of that table, also used for predicted new samples) with gene_attention.npz
beside it for models with attention, and metrics.json last, so that its presence means
the run finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from attentivechrome.data.dataset import NO_LABEL, SplitData
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path, atomic_write_text
from attentivechrome.learn.model import MODELS

HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_auroc", "valid_auprc", "seconds"]
#: predictions.tsv: one row per gene; `tss` 0-based as in reference/genes.tsv, `label` empty
#: where the cell type has no expression, `rank` 1 for the highest probability.
GENE_PREDICTION_COLUMNS = [
    "gene_id",
    "symbol",
    "chrom",
    "tss",
    "strand",
    "split",
    "label",
    "probability",
    "rank",
]


@dataclass
class Predictions:
    probabilities: np.ndarray  # (genes,) float32
    loss: float  # mean binary cross-entropy
    bin_attention: np.ndarray | None = None  # (genes, marks, bins) float32
    mark_attention: np.ndarray | None = None  # (genes, marks) float32


@dataclass
class GeneScores:
    """A model's predictions for every gene of a cell type, in gene order."""

    gene_ids: np.ndarray  # (genes,) str
    splits: np.ndarray  # (genes,) str: train, valid, test, or "" for a new sample
    labels: np.ndarray  # (genes,) int, NO_LABEL where unknown
    marks: np.ndarray  # (marks,) str, the model's input order
    predictions: Predictions

    @classmethod
    def of_splits(cls, splits: dict[str, SplitData], scored: dict[str, Predictions]):
        """Joined over the splits in their order (train, valid, test: gene id order)."""
        names = list(splits)
        parts = [scored[name] for name in names]

        def joined(field: str):
            values = [getattr(part, field) for part in parts]
            return None if values[0] is None else np.concatenate(values)

        return cls(
            np.concatenate([splits[name].gene_ids for name in names]),
            np.concatenate([np.full(splits[name].n, name) for name in names]),
            np.concatenate([splits[name].y.astype(int) for name in names]),
            splits[names[0]].marks,
            Predictions(
                joined("probabilities"),
                float(np.mean([part.loss for part in parts])),
                joined("bin_attention"),
                joined("mark_attention"),
            ),
        )


def write_outputs(
    out_dir: Path,
    metrics: dict,
    history: list[dict],
    test: SplitData,
    test_predictions: Predictions,
    model_payload: dict,
    every_gene: GeneScores,
    genes: pd.DataFrame | None = None,
) -> None:
    """`genes`, the reference gene table (symbol, chrom, tss, strand), names the genes of
    predictions.tsv; without it (the authors' matrices) those columns are empty."""
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model_payload, tmp)
    _write_history(history, out_dir / "history.tsv")
    _write_predictions(test, test_predictions.probabilities, out_dir / "test_predictions.tsv")
    if test_predictions.bin_attention is not None:
        _write_attention(test, test_predictions, out_dir / "attention.npz")
    write_gene_predictions(every_gene, genes, out_dir / "predictions.tsv")
    if every_gene.predictions.bin_attention is not None:
        write_gene_attention(every_gene, out_dir / "gene_attention.npz")
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def gene_predictions_table(scores: GeneScores, genes: pd.DataFrame | None) -> pd.DataFrame:
    """predictions.tsv's rows: each gene's place from `genes` (by id), split, label,
    probability and rank (1 = most likely expressed; ties share the best rank)."""
    table = pd.DataFrame({"gene_id": scores.gene_ids.astype(str)})
    places = ["symbol", "chrom", "tss", "strand"]
    if genes is not None:
        table = table.merge(genes[["gene_id", *places]], on="gene_id", how="left")
        table["tss"] = table["tss"].astype("Int64")
    else:
        for column in places:
            table[column] = pd.NA
    table["split"] = scores.splits
    labels = pd.Series(scores.labels, dtype="Int64")
    table["label"] = labels.mask(labels == NO_LABEL)
    table["probability"] = scores.predictions.probabilities
    table["rank"] = table["probability"].rank(ascending=False, method="min").astype(int)
    return table[GENE_PREDICTION_COLUMNS]


def write_gene_predictions(
    scores: GeneScores, genes: pd.DataFrame | None, path: str | Path
) -> pd.DataFrame:
    table = gene_predictions_table(scores, genes)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table


def read_gene_predictions(path: str | Path) -> pd.DataFrame:
    """predictions.tsv as written, checked for its columns."""
    table = pd.read_csv(
        path, sep="\t", dtype={"gene_id": str, "chrom": str, "symbol": str, "split": str}
    )
    if list(table.columns) != GENE_PREDICTION_COLUMNS:
        raise InputError(path, f"expected the columns {', '.join(GENE_PREDICTION_COLUMNS)}", line=1)
    table["label"] = table["label"].astype("Int64")
    return table


def write_gene_attention(scores: GeneScores, path: str | Path) -> None:
    """Every gene's attention, in predictions.tsv's gene order."""
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            gene_ids=scores.gene_ids.astype(str),
            marks=scores.marks.astype(str),
            bin_attention=scores.predictions.bin_attention.astype(np.float32),
            mark_attention=scores.predictions.mark_attention.astype(np.float32),
        )


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
