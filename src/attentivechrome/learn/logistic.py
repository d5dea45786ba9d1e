"""The logistic-regression floor (scikit-learn): L2 logistic regression on standardised,
flattened bin counts, one fit per C in the grid, C chosen on the validation AUROC.

Only the fitting and scoring live here; training.py records the result like any model's.
Its regression form, ridge regression on the same inputs, is ridge.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from attentivechrome.data.dataset import SplitData
from attentivechrome.learn.metrics import auprc, auroc
from attentivechrome.learn.model import transform_counts
from attentivechrome.learn.outputs import Predictions

LOGISTIC_C_GRID = (1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class LinearFit:
    """The chosen fit of a linear baseline over its grid of penalties."""

    history: list[dict]  # one row per penalty: the history.tsv columns, an "epoch" each
    best: int  # index of the chosen penalty (the best validation score; ties: the stronger)
    test: Predictions
    scored: dict[str, Predictions]  # every split by the chosen fit (test: `test`)
    parameters: dict  # what model.pt keeps of the chosen fit and its scaler
    penalty_name: str  # "C" (logistic) or "alpha" (ridge), a column of history.tsv
    penalty: float  # the chosen value


def penalty_search(grid, name: str, fit_at, scores_of, key: str):
    """Fits `fit_at(penalty)` for each penalty of `grid`, in order: the fit with the best
    `scores_of(fit)[key]` (ties: the earlier), its index and the history rows (an "epoch"
    each, the scores, the seconds of fit and scoring, the penalty as column `name`)."""
    history, fits, best = [], [], 0
    for index, penalty in enumerate(grid):
        start = time.perf_counter()
        fits.append(fit_at(penalty))
        row = {"epoch": index + 1, **scores_of(fits[-1])}
        history.append({**row, "seconds": time.perf_counter() - start, name: penalty})
        if history[-1][key] > history[best][key]:
            best = index
    return fits[best], best, history


def standardised_features(splits: dict[str, SplitData], transform: str):
    """Each split's flattened (transformed) counts scaled by the training split's mean and
    sd, and the fitted scaler."""
    from sklearn.preprocessing import StandardScaler

    features = {
        name: transform_counts(split.X, transform).reshape(split.n, -1)
        for name, split in splits.items()
    }
    scaler = StandardScaler().fit(features["train"])
    return {name: scaler.transform(values) for name, values in features.items()}, scaler


def fit_logistic(
    splits: dict[str, SplitData], *, transform: str, seed: int, threads: int
) -> LinearFit:
    # Imported here: scikit-learn's estimators are needed by this one model only.
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    features, scaler = standardised_features(splits, transform)
    labels = {name: split.y.astype(int) for name, split in splits.items()}

    with threadpool_limits(threads):
        fit, best, history = penalty_search(
            LOGISTIC_C_GRID,
            "C",
            lambda c: LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(
                features["train"], labels["train"]
            ),
            lambda fit: _logistic_scores(fit, features, labels),
            "valid_auroc",
        )
        scored = {
            name: Predictions(
                fit.predict_proba(values)[:, 1].astype(np.float32),
                _log_loss(labels[name], fit, values),
            )
            for name, values in features.items()
        }
    test = scored["test"]
    parameters = {
        "coef": torch.from_numpy(fit.coef_[0].astype(np.float64)),
        "intercept": float(fit.intercept_[0]),
        "C": LOGISTIC_C_GRID[best],
        "scaler_mean": torch.from_numpy(scaler.mean_),
        "scaler_scale": torch.from_numpy(scaler.scale_),
    }
    return LinearFit(history, best, test, scored, parameters, "C", LOGISTIC_C_GRID[best])


def _logistic_scores(fit, features: dict, labels: dict) -> dict:
    valid_p = fit.predict_proba(features["valid"])[:, 1]
    return {
        "train_loss": _log_loss(labels["train"], fit, features["train"]),
        "valid_loss": _log_loss(labels["valid"], fit, features["valid"]),
        "valid_auroc": auroc(labels["valid"], valid_p, "valid split"),
        "valid_auprc": auprc(labels["valid"], valid_p, "valid split"),
    }


def _log_loss(labels: np.ndarray, fit, features: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(labels, fit.predict_proba(features)[:, 1], labels=[0, 1]))
