"""The linear baseline of `task: regression`: ridge regression (scikit-learn) on the
standardised, flattened bin counts that logistic regression reads, one fit per penalty
strength, the strength chosen on the validation Pearson r.

The strengths are decades of alpha from 10^6 down to 1 (scikit-learn's Ridge minimises
|y - Xw|^2 + alpha |w|^2, summed over the training genes): with 500 correlated bin counts
and a few hundred to several thousand training genes, the validation optimum can lie far
beyond the logistic grid's range (on the demo above 10^4), so the grid spans it. The
levels are standardised as for the torch models (model.LevelScale), which moves no
prediction (the fit scales with them) and puts the losses on the same scale.
Only the fitting and scoring live here; training.py records the result like any model's.
"""

from __future__ import annotations

import numpy as np
import torch

from attentivechrome.data.dataset import SplitData
from attentivechrome.learn.logistic import LinearFit, penalty_search, standardised_features
from attentivechrome.learn.metrics import auroc, mse, pearson, spearman
from attentivechrome.learn.model import LevelScale
from attentivechrome.learn.outputs import Predictions

#: From the strongest penalty to the weakest, as the C grid goes; ties keep the stronger.
RIDGE_ALPHA_GRID = (1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1.0)


def fit_ridge(splits: dict[str, SplitData], *, transform: str, threads: int) -> LinearFit:
    from sklearn.linear_model import Ridge
    from threadpoolctl import threadpool_limits

    features, scaler = standardised_features(splits, transform)
    scale = LevelScale.of(splits["train"].level)
    targets = {
        name: scale.standardise(split.level.astype(np.float64)) for name, split in splits.items()
    }

    def scores_of(fit) -> dict:
        valid = scale.levels(fit.predict(features["valid"]))
        return {
            "train_loss": mse(targets["train"], fit.predict(features["train"])),
            "valid_loss": mse(targets["valid"], scale.standardise(valid)),
            "valid_pearson": pearson(splits["valid"].level, valid, "valid split"),
            "valid_spearman": spearman(splits["valid"].level, valid, "valid split"),
            "valid_auroc": auroc(splits["valid"].y, valid, "valid split"),
        }

    with threadpool_limits(threads):
        fit, best, history = penalty_search(
            RIDGE_ALPHA_GRID,
            "alpha",
            lambda alpha: Ridge(alpha=alpha).fit(features["train"], targets["train"]),
            scores_of,
            "valid_pearson",
        )
        scored = {
            name: Predictions(
                scale.levels(fit.predict(values)).astype(np.float32),
                mse(targets[name], fit.predict(values)),
            )
            for name, values in features.items()
        }
    parameters = {
        "coef": torch.from_numpy(fit.coef_.astype(np.float64)),
        "intercept": float(fit.intercept_),
        "alpha": RIDGE_ALPHA_GRID[best],
        "scaler_mean": torch.from_numpy(scaler.mean_),
        "scaler_scale": torch.from_numpy(scaler.scale_),
        **scale.payload(),
    }
    return LinearFit(
        history, best, scored["test"], scored, parameters, "alpha", RIDGE_ALPHA_GRID[best]
    )
