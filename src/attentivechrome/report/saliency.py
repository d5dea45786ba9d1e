"""Input-gradient saliency and how well it agrees with AttentiveChrome's attention.

Saliency of gene g at (mark m, bin b) is |d logit_g / d x_gmb|, the first-order change
of the model's logit (before the sigmoid) per extra read in that bin; for a regression
model, of its predicted level log2(expression + 1). Attention says
where the model pools; saliency says where the input moves the output. Where both point
at the same bins and marks, the attention maps are a fair reading of the model.

Agreement is measured per test gene with Spearman rank correlation (ties averaged):
per mark between the 100 bin-attention weights and the 100 bin saliencies, and between
the mark attention and the saliency summed over each mark's bins. A constant vector
(for example an all-zero gradient) has no ranks to compare and gives NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from attentivechrome.errors import InputError
from attentivechrome.learn.model import LevelScale, scores, transform_counts

#: Genes per forward/backward pass: bounds memory, the result does not depend on it.
BATCH_SIZE = 256


@dataclass
class SaliencyResult:
    saliency: np.ndarray  # (genes, marks, bins) float32, |d logit / d input|
    logits: np.ndarray  # (genes,) float32: the model's outputs
    bin_attention: np.ndarray | None  # (genes, marks, bins) or None for models without
    mark_attention: np.ndarray | None  # (genes, marks)
    scale: LevelScale | None = None  # a regression model's: its outputs are levels by it

    @property
    def scores(self) -> np.ndarray:
        """Each gene's probability, or predicted level (a regression model)."""
        return scores(self.logits, self.scale)


def input_saliency(
    model: nn.Module,
    inputs: np.ndarray,
    *,
    transform: str = "none",
    batch_size: int = BATCH_SIZE,
) -> SaliencyResult:
    """|d logit / d x| for every gene of `inputs` (genes, marks, bins), in eval mode.

    `transform` is the model's count transform (model.transform_counts); the gradient is
    taken with respect to the raw counts, through that transform, so the saliency always
    refers to bins of reads as a user sees them.
    Genes are independent in eval mode (no batch statistics, dropout off), so the
    gradient of the summed logits gives each gene's own gradient.
    """
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"sal": [], "logit": [], "bin": [], "mark": []}
    for start in range(0, len(inputs), batch_size):
        x = torch.as_tensor(np.asarray(inputs[start : start + batch_size]), dtype=torch.float32)
        x.requires_grad_(True)
        out = model(transform_counts(x, transform))
        (grad,) = torch.autograd.grad(out.logits.sum(), x)
        parts["sal"].append(grad.abs().numpy())
        parts["logit"].append(out.logits.detach().numpy())
        if getattr(out, "bin_attention", None) is not None:
            parts["bin"].append(out.bin_attention.detach().numpy())
            parts["mark"].append(out.mark_attention.detach().numpy())

    def joined(key: str) -> np.ndarray | None:
        return np.concatenate(parts[key]).astype(np.float32) if parts[key] else None

    return SaliencyResult(joined("sal"), joined("logit"), joined("bin"), joined("mark"))


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation along the last axis; NaN where either row is constant."""
    ra = rankdata(np.asarray(a, dtype=float), axis=-1)
    rb = rankdata(np.asarray(b, dtype=float), axis=-1)
    ra -= ra.mean(axis=-1, keepdims=True)
    rb -= rb.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(axis=-1) * (rb**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=-1) / denominator
    return np.where(denominator > 0, rho, np.nan)


def bin_agreement(bin_attention: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """(genes, marks): Spearman over bins between attention and saliency, per mark."""
    return rowwise_spearman(bin_attention, saliency)


def mark_saliency(saliency: np.ndarray) -> np.ndarray:
    """(genes, marks): each mark's share of the gene's total saliency."""
    totals = saliency.sum(axis=2)
    return totals / np.maximum(totals.sum(axis=1, keepdims=True), 1e-30)


def mark_agreement(mark_attention: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """(genes,): Spearman over marks between mark attention and summed saliency."""
    return rowwise_spearman(mark_attention, mark_saliency(saliency))


def agreement_table(
    gene_ids: np.ndarray,
    labels: np.ndarray,
    logits: np.ndarray,
    marks: list[str],
    bin_attention: np.ndarray,
    mark_attention: np.ndarray,
    saliency: np.ndarray,
    scale: LevelScale | None = None,
) -> pd.DataFrame:
    """One row per gene: agreement measures and the top mark by attention and by saliency;
    the model's score is its probability, or for a regression model (whose `scale` is
    given) the predicted level, column `prediction`."""
    bin_rho = bin_agreement(bin_attention, saliency)
    table = pd.DataFrame(
        {
            "gene_id": gene_ids,
            "label": labels.astype(int),
            "probability" if scale is None else "prediction": scores(logits, scale),
            "mark_spearman": mark_agreement(mark_attention, saliency),
            "top_mark_attention": np.asarray(marks)[mark_attention.argmax(axis=1)],
            "top_mark_saliency": np.asarray(marks)[mark_saliency(saliency).argmax(axis=1)],
        }
    )
    for m, mark in enumerate(marks):
        table[f"bin_spearman_{mark}"] = bin_rho[:, m]
    return table


def model_saliency(
    model_path: str | Path, X: np.ndarray, marks: list[str], *, threads: int = 1
) -> SaliencyResult:
    """Load a trained AttentiveChrome model.pt and compute saliency and attention on X.

    The saved model must have attention (it is compared with saliency) and have been
    trained on the same marks in the same order as X.
    """
    from attentivechrome.learn.outputs import load_model

    torch.set_num_threads(threads)
    model, payload = load_model(model_path)
    saved_marks = [str(m) for m in payload.get("marks", [])]
    if saved_marks != [str(m) for m in marks]:
        raise InputError(
            model_path, f"model trained on marks {saved_marks}, data has {list(map(str, marks))}"
        )
    if not getattr(model, "attention", False):
        raise InputError(
            model_path,
            f"model {payload['model_name']!r} has no attention; saliency is compared with "
            "AttentiveChrome's attention, so give its model.pt",
        )
    result = input_saliency(model, X, transform=payload.get("transform") or "none")
    result.scale = LevelScale.from_payload(payload)
    if result.scale is not None:  # the gradient of the predicted level, not of its z-score
        result.saliency *= np.float32(result.scale.sd)
    return result
