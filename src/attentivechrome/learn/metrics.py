"""Ranking metrics that refuse to return NaN.

AUROC and AUPRC are undefined when a split holds a single class; scikit-learn then
warns and returns NaN (the published port reported NaN AUPR). We raise instead, naming
the split, so the problem is seen where it starts.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


class OneClassError(ValueError):
    """A split has only positive or only negative labels, so AUROC/AUPRC are undefined."""


def check_two_classes(labels: np.ndarray, what: str = "labels") -> None:
    labels = np.asarray(labels)
    n_pos = int((labels == 1).sum())
    n_neg = int((labels == 0).sum())
    if n_pos + n_neg != labels.size:
        raise ValueError(f"{what}: labels must be 0 or 1")
    if n_pos == 0 or n_neg == 0:
        raise OneClassError(
            f"{what}: {n_pos} positive and {n_neg} negative genes; AUROC and AUPRC need "
            "both classes (check the labels or the split sizes)"
        )


def auroc(labels: np.ndarray, scores: np.ndarray, what: str = "labels") -> float:
    check_two_classes(labels, what)
    return float(roc_auc_score(labels, scores))


def auprc(labels: np.ndarray, scores: np.ndarray, what: str = "labels") -> float:
    """Average precision (scikit-learn's step-wise area under the precision-recall curve)."""
    check_two_classes(labels, what)
    return float(average_precision_score(labels, scores))
