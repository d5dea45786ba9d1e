"""Model bundles: one file holding a trained model's weights and its model card.

A bundle is a zip archive of two members: `card.json` (what the model is and how its
input is made: model and hyperparameters, marks in input order, window and bin size,
count transform, the training sample's depth, training cell type, split sizes, metrics,
versions, the configuration it came from) and `weights.pt` (the parameters, loaded with
torch's weights_only). `read_bundle` also takes the authors' published `state_dict`
files (authors_model.py), so that every model a user can score with comes through one
reader. Marks are matched by name when a bundle scores a sample (scoring.py).
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attentivechrome import __version__
from attentivechrome.data.dataset import read_splits
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path
from attentivechrome.learn.model import MODELS
from attentivechrome.predict import authors_model

FORMAT = "attentivechrome-bundle"
FORMAT_VERSION = 1
CARD, WEIGHTS = "card.json", "weights.pt"
#: How a sample's depth is measured, for the depth scaling of scoring.py.
DEPTH_MEASURE = "mean reads per gene window"
_CARD_KEYS = ("model", "hyperparameters", "marks", "window", "n_bins", "transform")


@dataclass
class Bundle:
    card: dict
    weights: dict  # a torch state_dict, or logistic regression's parameters
    path: str  # where it was read from, for messages

    @property
    def model_name(self) -> str:
        return self.card["model"]

    @property
    def marks(self) -> list[str]:
        return list(self.card["marks"])

    @property
    def depth(self) -> dict[str, float] | None:
        """The training sample's depth per mark (DEPTH_MEASURE); None when not known."""
        return self.card.get("depth")

    def torch_model(self) -> nn.Module:
        """The model in eval mode, on the reference kernel (scores to float32 rounding)."""
        spec = MODELS[self.model_name]
        model = spec.builder(**self.card["hyperparameters"])
        model.load_state_dict(self.weights)
        return model.eval()


def sample_depth(X: np.ndarray, marks) -> dict[str, float]:
    """Mean reads per gene window of each mark: X is (genes, marks, bins)."""
    per_mark = X.sum(axis=2, dtype=np.float64).mean(axis=0)
    return {str(mark): float(value) for mark, value in zip(marks, per_mark, strict=True)}


def bundle_export(
    model_pt: Path,
    metrics_json: Path,
    split_files: dict[str, Path],
    window: dict,
    config: dict,
    out: Path,
) -> dict:
    """One trained run as a bundle; returns its card."""
    payload = torch.load(model_pt, map_location="cpu", weights_only=True)
    metrics = json.loads(Path(metrics_json).read_text())
    splits = read_splits(split_files)
    X = np.concatenate([split.X for split in splits.values()])
    marks = [str(m) for m in payload["marks"]]
    if payload["model_name"] == "logistic":
        weights = {key: payload[key] for key in ("coef", "scaler_mean", "scaler_scale")}
        weights["intercept"] = torch.tensor(payload["intercept"], dtype=torch.float64)
        hyperparameters = {"n_marks": len(marks), "n_bins": payload["n_bins"], "C": payload["C"]}
    else:
        weights, hyperparameters = payload["state_dict"], payload["hyperparameters"]
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": payload["model_name"],
        "hyperparameters": hyperparameters,
        "marks": marks,
        "window": {"flank": window["flank"], "bin_size": window["bin_size"]},
        "n_bins": int(X.shape[2]),
        "transform": payload["transform"],
        "depth_measure": DEPTH_MEASURE,
        "depth": sample_depth(X, marks),
        "cell": payload["cell"],
        "seed": metrics["settings"]["seed"],
        "best_epoch": payload["best_epoch"],
        "split_sizes": {name: split.n for name, split in splits.items()},
        "metrics": {
            key: metrics[key]
            for key in ("valid_auroc", "valid_auprc", "test_auroc", "test_auprc")
            if key in metrics
        },
        "settings": metrics["settings"],
        "versions": {
            "attentivechrome": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "config": config,
        "source": "trained by the attentivechrome pipeline",
    }
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CARD, json.dumps(card, indent=2, default=str) + "\n")
        archive.writestr(WEIGHTS, buffer.getvalue())
    return card


def read_bundle(path: str | Path, name: str | None = None) -> Bundle:
    """A bundle of ours, or one of the authors' state_dict files; anything else (a
    truncated download, another model's file) is an InputError naming the file.

    `name` is what messages call the file (the configured source of a download)."""
    where = name or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            if CARD in members:
                card = json.loads(archive.read(CARD))
                weights = torch.load(
                    io.BytesIO(archive.read(WEIGHTS)), map_location="cpu", weights_only=True
                )
                return _checked(Bundle(card, weights, where))
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, OSError) as error:
        raise InputError(where, f"not a readable model bundle ({_first_line(error)})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(where, f"not a readable model bundle ({_first_line(error)})") from None
    if not authors_model.is_authors_state_dict(state):
        raise InputError(
            where,
            "neither a bundle of this pipeline (card.json and weights.pt) nor an "
            "AttentiveChrome state_dict of the authors (rnn_hms.*, hm_level_rnn_1.*)",
        )
    return _authors_bundle(state, Path(path), where)


def _authors_bundle(state: dict, path: Path, where: str) -> Bundle:
    try:
        weights = authors_model.from_authors_state_dict(state)
    except (KeyError, ValueError) as error:
        raise InputError(where, f"an incomplete AttentiveChrome state_dict ({error})") from None
    hyperparameters = authors_model.authors_hyperparameters(state)
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": "attentivechrome",
        "hyperparameters": hyperparameters,
        "marks": list(authors_model.AUTHORS_MARKS)[: hyperparameters["n_marks"]],
        "window": dict(authors_model.AUTHORS_WINDOW),
        "n_bins": hyperparameters["n_bins"],
        "transform": "none",
        "depth": None,
        "cell": authors_model.authors_cell(Path(where).name) or path.stem,
        "source": "a state_dict of the authors' PyTorch port (QData/AttentiveChrome)",
    }
    bundle = Bundle(card, weights, where)
    try:
        bundle.torch_model()
    except RuntimeError as error:
        raise InputError(
            where, f"weights do not fit AttentiveChrome ({_first_line(error)})"
        ) from None
    return bundle


def _first_line(error: Exception) -> str:
    """The telling line of an error (torch's shape mismatches come after a heading line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        return lines[1]
    return lines[0] if lines else type(error).__name__


def _checked(bundle: Bundle) -> Bundle:
    card = bundle.card
    if card.get("format") != FORMAT or card.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"card.json is format {card.get('format')} {card.get('format_version')}, "
            f"expected {FORMAT} {FORMAT_VERSION}"
        )
    missing = [key for key in _CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"card.json lacks {', '.join(missing)}")
    if card["model"] not in MODELS:
        raise ValueError(f"card.json names an unknown model {card['model']!r}")
    if MODELS[card["model"]].builder is not None:
        bundle.torch_model()  # the weights fit the architecture the card names
    return bundle
