"""A bundle scores a sample: inputs matched by mark name, depth scaling, ensembles.

Depth: the published models eat raw counts, so a sample sequenced deeper than the
training sample looks, to the model, like one with more signal everywhere. With
`depth: scaled` each mark's counts are multiplied by (training sample's depth / this
sample's depth), both measured as the mean reads per gene window (bundle.DEPTH_MEASURE);
`raw` leaves them as counted. A bundle that does not know its training depth (the
authors' files) scores raw counts. Either way a mark whose depth differs from the
training sample's by more than DEPTH_WARNING_RATIO is a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from attentivechrome.errors import InputError
from attentivechrome.learn.model import MODELS, probabilities, transform_counts
from attentivechrome.learn.outputs import Predictions
from attentivechrome.learn.training import predict
from attentivechrome.predict.bundle import Bundle, sample_depth

log = logging.getLogger(__name__)

DEPTH_MODES = ("scaled", "raw")
DEPTH_WARNING_RATIO = 2.0


def model_inputs(bundle: Bundle, X: np.ndarray, marks: Sequence[str], window: dict) -> np.ndarray:
    """The sample's counts (genes, marks, bins) in the bundle's mark order, by name.

    A mark the bundle needs and the sample lacks, or another window or bin size, stops
    with the names; marks the bundle does not use are left out (logged)."""
    marks = [str(m) for m in marks]
    missing = [m for m in bundle.marks if m not in marks]
    if missing:
        raise InputError(
            bundle.path,
            f"the model needs the marks {', '.join(bundle.marks)}; the sample lacks "
            f"{', '.join(missing)} (it has {', '.join(marks)})",
        )
    bundle_window = bundle.card["window"]
    if (bundle_window["flank"], bundle_window["bin_size"]) != (window["flank"], window["bin_size"]):
        raise InputError(
            bundle.path,
            f"the model was trained on TSS +/- {bundle_window['flank']} bp in bins of "
            f"{bundle_window['bin_size']} bp; this run counts +/- {window['flank']} bp in bins "
            f"of {window['bin_size']} bp (set window to the model's)",
        )
    if X.shape[2] != bundle.card["n_bins"]:
        raise InputError(
            bundle.path,
            f"the model takes {bundle.card['n_bins']} bins, the sample has {X.shape[2]}",
        )
    unused = [m for m in marks if m not in bundle.marks]
    if unused:
        log.info("%s: marks %s are not inputs of this model", bundle.path, ", ".join(unused))
    return X[:, [marks.index(m) for m in bundle.marks], :]


def depth_ratios(bundle: Bundle, X: np.ndarray) -> dict[str, float] | None:
    """Per mark: this sample's depth over the training sample's (X in the bundle's order)."""
    if bundle.depth is None:
        return None
    here = sample_depth(X, bundle.marks)
    return {m: here[m] / bundle.depth[m] if bundle.depth[m] else float("inf") for m in bundle.marks}


def warn_about_depth(bundle: Bundle, ratios: dict[str, float] | None, sample: str) -> None:
    if ratios is None:
        log.warning(
            "%s: the model's training depth is not known (%s): %s is scored on raw counts",
            bundle.path,
            bundle.card.get("source", "no depth in its card"),
            sample,
        )
        return
    for mark, ratio in ratios.items():
        if not 1 / DEPTH_WARNING_RATIO <= ratio <= DEPTH_WARNING_RATIO:
            log.warning(
                "%s %s: %.2fx the depth of the model's training sample (%s %s, %s)",
                sample,
                mark,
                ratio,
                bundle.card["cell"],
                mark,
                bundle.card.get("depth_measure", "reads per gene window"),
            )


def score_sample(
    bundle: Bundle,
    X: np.ndarray,
    marks: Sequence[str],
    window: dict,
    depth: str,
    sample: str,
) -> tuple[Predictions, dict[str, float] | None]:
    """Every gene of a sample scored by one bundle; returns the predictions and the
    depth ratios (None when the bundle does not know its training depth)."""
    if depth not in DEPTH_MODES:
        raise ValueError(f"depth must be one of {DEPTH_MODES}, got {depth!r}")
    inputs = model_inputs(bundle, X, marks, window).astype(np.float32)
    ratios = depth_ratios(bundle, inputs)
    warn_about_depth(bundle, ratios, sample)
    if depth == "scaled" and ratios is not None:
        inputs = inputs / np.array([ratios[m] for m in bundle.marks], np.float32)[None, :, None]
    transformed = transform_counts(inputs, bundle.card["transform"])
    if bundle.model_name == "logistic":
        return Predictions(
            logistic_probabilities(bundle.weights, transformed), float("nan")
        ), ratios
    model = bundle.torch_model()
    x = torch.from_numpy(np.ascontiguousarray(transformed))
    with_attention = MODELS[bundle.model_name].has_attention
    scored = predict(model, x, torch.zeros(len(x)), with_attention=with_attention)
    scored.loss = float("nan")
    return scored, ratios


def logistic_probabilities(weights: dict, X: np.ndarray) -> np.ndarray:
    """Logistic regression's probabilities from its bundle: standardised flat counts."""
    flat = X.reshape(len(X), -1).astype(np.float64)
    standard = (flat - weights["scaler_mean"].numpy()) / weights["scaler_scale"].numpy()
    logits = standard @ weights["coef"].numpy() + float(weights["intercept"])
    return probabilities(logits).astype(np.float32)


def average(scored: list[Predictions]) -> Predictions:
    """The ensemble of several models' predictions: the mean probability (and the mean
    attention when every member has attention)."""
    mean = Predictions(
        np.mean([p.probabilities for p in scored], axis=0).astype(np.float32), float("nan")
    )
    if all(p.bin_attention is not None for p in scored):
        mean.bin_attention = np.mean([p.bin_attention for p in scored], axis=0)
        mean.mark_attention = np.mean([p.mark_attention for p in scored], axis=0)
    return mean
