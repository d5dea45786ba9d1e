"""The logistic-regression floor (scikit-learn): L2 logistic regression on standardised,
flattened bin counts, one fit per C in the grid, C chosen on the validation AUROC.

Only the fitting and scoring live here; training.py records the result like any model's.
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
class LogisticFit:
    history: list[dict]  # one row per C: the history.tsv columns, an "epoch" per C, and C
    best: int  # index of the chosen C (the highest validation AUROC; ties: the smaller C)
    test: Predictions
    scored: dict[str, Predictions]  # every split by the chosen fit (test: `test`)
    parameters: dict  # what model.pt keeps of the chosen fit and its scaler

    @property
    def c_value(self) -> float:
        return LOGISTIC_C_GRID[self.best]


def fit_logistic(
    splits: dict[str, SplitData], *, transform: str, seed: int, threads: int
) -> LogisticFit:
    # Imported here: scikit-learn's estimators are needed by this one model only.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = {
        name: transform_counts(split.X, transform).reshape(split.n, -1)
        for name, split in splits.items()
    }
    scaler = StandardScaler().fit(features["train"])
    features = {name: scaler.transform(values) for name, values in features.items()}
    labels = {name: split.y.astype(int) for name, split in splits.items()}

    history, fits, best = [], [], 0
    with threadpool_limits(threads):
        for index, c_value in enumerate(LOGISTIC_C_GRID):
            fit_start = time.perf_counter()
            fit = LogisticRegression(C=c_value, max_iter=2000, random_state=seed)
            fit.fit(features["train"], labels["train"])
            valid_p = fit.predict_proba(features["valid"])[:, 1]
            history.append(
                {
                    "epoch": index + 1,
                    "train_loss": _log_loss(labels["train"], fit, features["train"]),
                    "valid_loss": _log_loss(labels["valid"], fit, features["valid"]),
                    "valid_auroc": auroc(labels["valid"], valid_p, "valid split"),
                    "valid_auprc": auprc(labels["valid"], valid_p, "valid split"),
                    "seconds": time.perf_counter() - fit_start,
                    "C": c_value,
                }
            )
            fits.append(fit)
            if history[-1]["valid_auroc"] > history[best]["valid_auroc"]:
                best = index
        fit = fits[best]
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
    return LogisticFit(history, best, test, scored, parameters)


def _log_loss(labels: np.ndarray, fit, features: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(labels, fit.predict_proba(features)[:, 1], labels=[0, 1]))
