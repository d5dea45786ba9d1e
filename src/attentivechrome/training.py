"""Train one model on one cell type, keep its best validation epoch, and score the test set.

Inputs are the per-split binary datasets (`{split}.npz`: X int32 (genes, marks, bins)
in sorted mark order, y int8, gene_ids, marks). Outputs, each written atomically into
`out_dir`: model.pt, metrics.json, history.tsv, test_predictions.tsv and, for
AttentiveChrome, attention.npz. metrics.json is written last, so its presence means
the run finished.

Model selection follows the authors: after every epoch the validation AUROC is
computed; the epoch with the highest value is kept (ties: the earliest) and only that
epoch's weights are scored on the test set.

Resuming: after every epoch a checkpoint (model, optimizer and RNG states, history,
best epoch so far) is written to `out_dir/checkpoint.pt`. A run started again with the
same data and settings continues after the last finished epoch and ends with exactly
the metrics of an uninterrupted run. A checkpoint made with other data or settings is
ignored (logged). The checkpoint is deleted once all outputs are written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .dataset import SplitData, read_splits
from .errors import InputError
from .io import atomic_path, atomic_write_text, sha256_of
from .metrics import auprc, auroc
from .model import MODELS, TRANSFORMS, ModelSpec, build_model, transform_counts

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_auroc", "valid_auprc", "seconds"]
# Scoring only, so it changes no result. 128 scored fastest on one CPU thread (0.39 ms
# per gene against 0.56 at 256, whose larger temporaries no longer stay in cache).
EVAL_BATCH_SIZE = 128
LOGISTIC_C_GRID = (1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class Settings:
    """Every setting that shapes the result; recorded in metrics.json and checkpoints."""

    model: str
    cell: str
    epochs: int | None  # None for logistic regression, which is not trained in epochs
    batch_size: int
    lr: float
    optimizer: str
    clip: float | None
    seed: int
    threads: int
    device: str
    transform: str
    early_stopping_patience: int | None

    def fingerprint(self) -> dict:
        # The epoch count may grow between a killed run and its resumption.
        values = asdict(self)
        values.pop("epochs")
        return values


@dataclass
class Progress:
    """Everything the epoch loop carries from one epoch to the next (checkpointed)."""

    epoch: int = 0
    best_epoch: int = 0
    best_auroc: float = -math.inf
    best_state: dict | None = None
    epochs_without_gain: int = 0
    history: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- inputs


# ---------------------------------------------------------------- settings


def limit_threads(threads: int) -> None:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    # Settable once per process, before parallel work; later calls keep the first value.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA device is available")
    return torch.device(device)


def _resolve_settings(spec: ModelSpec, **given) -> Settings:
    """Fill settings left as None with the model's published defaults, and check them."""
    for key in ("batch_size", "lr", "clip", "epochs"):
        if given[key] is None:
            given[key] = getattr(spec, key)
    if given["transform"] not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {given['transform']!r}")
    if spec.builder is not None and given["epochs"] < 1:
        raise ValueError(f"epochs must be >= 1, got {given['epochs']}")
    if spec.builder is not None and given["batch_size"] < 1:
        raise ValueError(f"batch_size must be >= 1, got {given['batch_size']}")
    patience = given["early_stopping_patience"]
    if patience is not None and patience < 1:
        raise ValueError(f"early_stopping_patience must be >= 1 or None, got {patience}")
    return Settings(model=spec.name, optimizer=spec.optimizer, **given)


def make_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    # Fused kernels: the same update rule in one pass over all parameters (about 1.5 ms
    # less per AttentiveChrome step on one CPU thread than the default foreach path).
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, fused=True)
    raise ValueError(f"unknown optimizer {name!r}")


# ---------------------------------------------------------------- training and scoring


@dataclass
class Predictions:
    probabilities: np.ndarray  # (genes,) float32
    loss: float  # mean binary cross-entropy
    bin_attention: np.ndarray | None = None  # (genes, marks, bins) float32
    mark_attention: np.ndarray | None = None  # (genes, marks) float32


@torch.no_grad()
def predict(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    with_attention: bool = False,
    batch_size: int = EVAL_BATCH_SIZE,
) -> Predictions:
    """Score every gene in eval mode (dropout off); optionally collect attention weights."""
    was_training = model.training
    model.eval()
    logits, bins, marks = [], [], []
    for start in range(0, len(X), batch_size):
        out = model(X[start : start + batch_size])
        logits.append(out.logits)
        if with_attention:
            bins.append(out.bin_attention)
            marks.append(out.mark_attention)
    model.train(was_training)
    logits = torch.cat(logits)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, y).item()
    result = Predictions(torch.sigmoid(logits).float().cpu().numpy(), loss)
    if with_attention:
        result.bin_attention = torch.cat(bins).float().cpu().numpy()
        result.mark_attention = torch.cat(marks).float().cpu().numpy()
    return result


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    clip: float | None,
    shuffler: torch.Generator,
) -> float:
    """One pass over the shuffled training genes; returns the mean per-gene loss."""
    model.train()
    order = torch.randperm(len(X), generator=shuffler).to(X.device)
    total = 0.0
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]
        loss = nn.functional.binary_cross_entropy_with_logits(model(X[idx]).logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(X)


def _snapshot(model: nn.Module) -> dict:
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}


def _torch_save(payload: dict, path: Path) -> None:
    """torch.save under a temporary name, renamed when complete (model.pt, checkpoints)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _rng_states(shuffler: torch.Generator, device: torch.device) -> dict:
    states = {"shuffler": shuffler.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _restore_rng_states(states: dict, shuffler: torch.Generator, device: torch.device) -> None:
    shuffler.set_state(states["shuffler"])
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


def _try_resume(
    path: Path,
    fingerprint: dict,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffler: torch.Generator,
    device: torch.device,
    epochs: int,
) -> Progress:
    """Load the checkpoint if it belongs to this very run; otherwise start from scratch."""
    if not path.exists():
        return Progress()
    try:
        # Loaded to the CPU: RNG states must stay CPU tensors, and load_state_dict moves
        # model and optimizer tensors to the parameters' device (a GPU run resumes too).
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: never fatal, just retrain
        log.warning("ignoring unreadable checkpoint %s (%s)", path, error)
        return Progress()
    if saved.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: it was made with other data or settings", path)
        return Progress()
    progress = Progress(**saved["progress"])
    if progress.epoch > epochs:
        log.warning("ignoring checkpoint %s: at epoch %d, beyond %d", path, progress.epoch, epochs)
        return Progress()
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    _restore_rng_states(saved["rng"], shuffler, device)
    log.info("resuming %s after epoch %d", path.parent, progress.epoch)
    return progress


# ---------------------------------------------------------------- outputs


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


def _finish(
    out_dir: Path,
    metrics: dict,
    history: list[dict],
    test: SplitData,
    test_predictions: Predictions,
    model_payload: dict,
) -> dict:
    _torch_save(model_payload, out_dir / "model.pt")
    _write_history(history, out_dir / "history.tsv")
    _write_predictions(test, test_predictions.probabilities, out_dir / "test_predictions.tsv")
    if test_predictions.bin_attention is not None:
        _write_attention(test, test_predictions, out_dir / "attention.npz")
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return metrics


def load_model(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained torch model from model.pt; returns (model in eval mode, payload)."""
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("model_name") not in MODELS or MODELS[payload["model_name"]].builder is None:
        raise InputError(path, f"not a saved torch model (model_name={payload.get('model_name')})")
    model = MODELS[payload["model_name"]].builder(**payload["hyperparameters"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


# ---------------------------------------------------------------- entry points


def train_and_evaluate(
    model_name: str,
    train_npz: str | Path,
    valid_npz: str | Path,
    test_npz: str | Path,
    out_dir: str | Path,
    *,
    cell: str,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 1,
    clip: float | None = None,
    threads: int = 1,
    device: str = "auto",
    transform: str = "none",
    early_stopping_patience: int | None = None,
    checkpoint: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict:
    """Train `model_name` on one cell type and write its outputs; returns the metrics.

    epochs, batch_size, lr and clip left as None take the model's published setting (see
    `model.MODELS`): AttentiveChrome and the LSTMs Adam 2e-4, batch 16, clip 1, 30
    epochs; DeepChrome SGD 1e-3, batch 1, no clipping, 100 epochs. `on_epoch_end(epoch)`
    runs after each epoch's checkpoint is written (used by tests to interrupt a run).
    """
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; expected one of {sorted(MODELS)}")
    spec = MODELS[model_name]
    limit_threads(threads)
    settings = _resolve_settings(
        spec,
        cell=cell,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        clip=clip,
        threads=threads,
        device=str(resolve_device(device)),
        transform=transform,
        early_stopping_patience=early_stopping_patience,
    )
    paths = {"train": train_npz, "valid": valid_npz, "test": test_npz}
    splits = read_splits(paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if spec.builder is None:
        return _train_logistic(settings, splits, out_dir)
    return _train_torch(settings, splits, out_dir, checkpoint, on_epoch_end)


def _train_torch(
    settings: Settings,
    splits: dict[str, SplitData],
    out_dir: Path,
    checkpoint: bool,
    on_epoch_end: Callable[[int], None] | None,
) -> dict:
    started = time.perf_counter()
    device = torch.device(settings.device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    tensors = {
        name: (
            torch.from_numpy(transform_counts(split.X, settings.transform)).to(device),
            torch.from_numpy(split.y.astype(np.float32)).to(device),
        )
        for name, split in splits.items()
    }
    _, n_marks, n_bins = splits["train"].X.shape
    torch.manual_seed(settings.seed)
    model = build_model(settings.model, n_marks, n_bins).to(device)
    optimizer = make_optimizer(settings.optimizer, model.parameters(), settings.lr)
    shuffler = torch.Generator().manual_seed(settings.seed)

    fingerprint = {
        "settings": settings.fingerprint(),
        "data": {name: sha256_of(split.path) for name, split in splits.items()},
    }
    checkpoint_path = out_dir / CHECKPOINT_NAME
    progress = Progress()
    if checkpoint:
        progress = _try_resume(
            checkpoint_path, fingerprint, model, optimizer, shuffler, device, settings.epochs
        )

    (X_train, y_train), (X_valid, y_valid) = tensors["train"], tensors["valid"]
    patience = settings.early_stopping_patience
    for epoch in range(progress.epoch + 1, settings.epochs + 1):
        if patience is not None and progress.epochs_without_gain >= patience:
            log.info("early stop: no validation gain for %d epochs", patience)
            break
        epoch_start = time.perf_counter()
        train_loss = train_one_epoch(
            model,
            optimizer,
            X_train,
            y_train,
            batch_size=settings.batch_size,
            clip=settings.clip,
            shuffler=shuffler,
        )
        valid = predict(model, X_valid, y_valid)
        valid_auroc = auroc(splits["valid"].y, valid.probabilities, "valid split")
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid.loss,
            "valid_auroc": valid_auroc,
            "valid_auprc": auprc(splits["valid"].y, valid.probabilities, "valid split"),
            "seconds": time.perf_counter() - epoch_start,
        }
        progress.history.append(row)
        if valid_auroc > progress.best_auroc:  # strict: ties keep the earliest epoch
            progress.best_auroc, progress.best_epoch = valid_auroc, epoch
            progress.best_state = _snapshot(model)
            progress.epochs_without_gain = 0
        else:
            progress.epochs_without_gain += 1
        progress.epoch = epoch
        log.info(
            "%s %s epoch %d: train loss %.4f, valid AUROC %.4f (%.1fs)",
            settings.cell,
            settings.model,
            epoch,
            train_loss,
            valid_auroc,
            row["seconds"],
        )
        if checkpoint:
            _torch_save(
                {
                    "fingerprint": fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": _rng_states(shuffler, device),
                    "progress": asdict(progress),
                },
                checkpoint_path,
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    model.load_state_dict(progress.best_state)
    spec = MODELS[settings.model]
    X_test, y_test = tensors["test"]
    test = predict(model, X_test, y_test, with_attention=spec.has_attention)
    best_row = progress.history[progress.best_epoch - 1]
    metrics = _metrics(settings, splits, progress.best_epoch, best_row, test)
    metrics["epochs_run"] = progress.epoch
    metrics["n_parameters"] = sum(p.numel() for p in model.parameters())
    metrics["seconds_total"] = time.perf_counter() - started
    payload = {
        "model_name": settings.model,
        "hyperparameters": model.hyperparameters(),
        "state_dict": progress.best_state,
        "marks": [str(m) for m in splits["train"].marks],
        "transform": settings.transform,
        "best_epoch": progress.best_epoch,
        "cell": settings.cell,
    }
    return _finish(out_dir, metrics, progress.history, splits["test"], test, payload)


def _metrics(
    settings: Settings,
    splits: dict[str, SplitData],
    best_epoch: int,
    best_row: dict,
    test: Predictions,
) -> dict:
    test_split = splits["test"]
    return {
        "cell": settings.cell,
        "model": settings.model,
        "best_epoch": best_epoch,
        "valid_auroc": best_row["valid_auroc"],
        "valid_auprc": best_row["valid_auprc"],
        "test_auroc": auroc(test_split.y, test.probabilities, "test split"),
        "test_auprc": auprc(test_split.y, test.probabilities, "test split"),
        "test_loss": test.loss,
        "n_train": splits["train"].n,
        "n_valid": splits["valid"].n,
        "n_test": test_split.n,
        "marks": [str(m) for m in test_split.marks],
        "n_bins": int(test_split.X.shape[2]),
        "settings": asdict(settings),
        "torch_version": torch.__version__,
    }


def _train_logistic(settings: Settings, splits: dict[str, SplitData], out_dir: Path) -> dict:
    """Logistic regression floor: one fit per C in the grid, C chosen on validation AUROC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    features = {
        name: transform_counts(split.X, settings.transform).reshape(split.n, -1)
        for name, split in splits.items()
    }
    scaler = StandardScaler().fit(features["train"])
    features = {name: scaler.transform(values) for name, values in features.items()}
    labels = {name: split.y.astype(int) for name, split in splits.items()}

    history, fits, best = [], [], 0
    with threadpool_limits(settings.threads):
        for index, c_value in enumerate(LOGISTIC_C_GRID):
            fit_start = time.perf_counter()
            fit = LogisticRegression(C=c_value, max_iter=2000, random_state=settings.seed)
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
        test_p = fit.predict_proba(features["test"])[:, 1].astype(np.float32)
    test = Predictions(test_p, _log_loss(labels["test"], fit, features["test"]))
    metrics = _metrics(settings, splits, best + 1, history[best], test)
    metrics["C"] = LOGISTIC_C_GRID[best]
    metrics["epochs_run"] = len(history)
    metrics["seconds_total"] = time.perf_counter() - started
    payload = {
        "model_name": "logistic",
        "coef": torch.from_numpy(fit.coef_[0].astype(np.float64)),
        "intercept": float(fit.intercept_[0]),
        "C": LOGISTIC_C_GRID[best],
        "scaler_mean": torch.from_numpy(scaler.mean_),
        "scaler_scale": torch.from_numpy(scaler.scale_),
        "marks": [str(m) for m in splits["train"].marks],
        "n_bins": int(splits["train"].X.shape[2]),
        "transform": settings.transform,
        "best_epoch": best + 1,
        "cell": settings.cell,
    }
    return _finish(out_dir, metrics, history, splits["test"], test, payload)


def _log_loss(labels: np.ndarray, fit, features: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(labels, fit.predict_proba(features)[:, 1], labels=[0, 1]))


def run(params: dict) -> dict:
    """`train_and_evaluate` from a dict (e.g. a Snakemake rule's params and inputs)."""
    params = dict(params)
    try:
        positional = [
            params.pop(key) for key in ("model_name", "train_npz", "valid_npz", "test_npz")
        ]
        out_dir = params.pop("out_dir")
    except KeyError as missing:
        raise ValueError(f"training parameters lack {missing}") from None
    return train_and_evaluate(*positional, out_dir, **params)


__all__ = [
    "Predictions",
    "Settings",
    "load_model",
    "predict",
    "run",
    "train_and_evaluate",
    "train_one_epoch",
]
