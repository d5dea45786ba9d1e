"""Test and validation metrics of both tasks.

Ranking metrics refuse to return NaN: AUROC and AUPRC are undefined when a split holds a
single class; scikit-learn then warns and returns NaN (the published port reported NaN
AUPR). We raise instead, naming the split, so the problem is seen where it starts. Likewise
the regression metrics raise when a split's observed levels are all equal; a constant
prediction (a model that has not started to learn) has a NaN correlation.
"""

from __future__ import annotations

import numpy as np


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
    from sklearn.metrics import roc_auc_score  # here: the data steps import this module

    check_two_classes(labels, what)
    return float(roc_auc_score(labels, scores))


def auprc(labels: np.ndarray, scores: np.ndarray, what: str = "labels") -> float:
    """Average precision (scikit-learn's step-wise area under the precision-recall curve)."""
    from sklearn.metrics import average_precision_score

    check_two_classes(labels, what)
    return float(average_precision_score(labels, scores))


# Regression (task: regression): the predicted level against the observed one.


class NoSpreadError(ValueError):
    """A split's observed levels are all equal, so correlations with them are undefined."""


def check_spread(levels: np.ndarray, what: str = "levels") -> None:
    levels = np.asarray(levels)
    if levels.size and levels.max() == levels.min():
        raise NoSpreadError(
            f"{what}: all {levels.size} genes have level {levels.max():g}; Pearson and "
            "Spearman correlations need levels that differ (check the expression column or "
            "the split sizes)"
        )


def pearson(observed: np.ndarray, predicted: np.ndarray, what: str = "levels") -> float:
    """Pearson r; NaN when the prediction is constant (the observed levels must spread)."""
    check_spread(observed, what)
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.max() == predicted.min():
        return float("nan")
    return float(np.corrcoef(np.asarray(observed, dtype=np.float64), predicted)[0, 1])


def spearman(observed: np.ndarray, predicted: np.ndarray, what: str = "levels") -> float:
    """Spearman rho (ties averaged); NaN when the prediction is constant."""
    from scipy.stats import rankdata

    return pearson(rankdata(observed), rankdata(predicted), what)


def mse(observed: np.ndarray, predicted: np.ndarray) -> float:
    difference = np.asarray(predicted, dtype=np.float64) - np.asarray(observed, dtype=np.float64)
    return float(np.mean(difference**2))


def r_squared(observed: np.ndarray, predicted: np.ndarray, what: str = "levels") -> float:
    """1 - residual / total sum of squares (negative for a prediction worse than the mean)."""
    check_spread(observed, what)
    observed = np.asarray(observed, dtype=np.float64)
    total = float(np.sum((observed - observed.mean()) ** 2))
    return 1.0 - mse(observed, predicted) * observed.size / total
