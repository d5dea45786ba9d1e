"""Train one model on one cell type, keep its best validation epoch, and score the test set.

Inputs are the three split files of a cell type (dataset.read_splits); the outputs are
the run folder's files (outputs.py). Torch models are trained here, epoch by epoch, and
can resume after a kill (checkpoint.py); the linear baseline is fitted by logistic.py
(classification) or ridge.py (regression).

Model selection follows the authors: after every epoch the validation AUROC is
computed; the epoch with the highest value is kept (ties: the earliest) and only that
epoch's weights are scored on the test set. For `task: regression` (task.py) the same
holds with the validation Pearson r of the predicted levels.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attentivechrome.data.dataset import SplitData, read_splits
from attentivechrome.data.prepare import read_genes
from attentivechrome.learn.checkpoint import (
    CHECKPOINT_NAME,
    RunState,
    Trainee,
    fingerprint,
    resume,
    save_checkpoint,
    snapshot,
)
from attentivechrome.learn.logistic import fit_logistic
from attentivechrome.learn.metrics import auprc, auroc, mse, pearson, r_squared, spearman
from attentivechrome.learn.model import (
    MODELS,
    TRANSFORMS,
    DeepChrome,
    LevelScale,
    ModelSpec,
    build_model,
    check_kernel,
    loss_function,
    scores,
    transform_counts,
)
from attentivechrome.learn.outputs import GeneScores, Predictions, write_outputs
from attentivechrome.learn.ridge import fit_ridge
from attentivechrome.progress import Progress
from attentivechrome.task import DEFAULT_TASK, get_task, metric_label

log = logging.getLogger(__name__)

# Genes per scoring pass: it changes no result; a larger batch's temporaries leave the
# cache and score slower (benchmarks/README.md).
EVAL_BATCH_SIZE = 128


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
    kernel: str = "torch"  # see model.KERNELS
    task: str = DEFAULT_TASK  # see task.py

    def fingerprint(self) -> dict:
        # The epoch count may grow between a killed run and its resumption.
        values = asdict(self)
        values.pop("epochs")
        # The reference kernel and the default task are left out, so that their runs keep
        # the fingerprint of settings without these keys and checkpoints written without
        # them resume; a run never changes kernel or task half-way.
        if values["kernel"] == "torch":
            values.pop("kernel")
        if values["task"] == DEFAULT_TASK:
            values.pop("task")
        return values


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
    if given["kernel"] == "numba" and given["device"].startswith("cuda"):
        log.info("the numba kernels are for the CPU; on %s PyTorch's layers run", given["device"])
        given["kernel"] = "torch"
    check_kernel(given["kernel"])
    get_task(given["task"])
    return Settings(model=spec.name, optimizer=spec.optimizer, **given)


def make_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    # Fused kernels: the same update rule in one pass over all parameters, faster than
    # the default foreach path (benchmarks/README.md).
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, fused=True)
    raise ValueError(f"unknown optimizer {name!r}")


@torch.no_grad()
def predict(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    scale: LevelScale | None = None,
    with_attention: bool = False,
    batch_size: int = EVAL_BATCH_SIZE,
) -> Predictions:
    """Score every gene in eval mode (dropout off); optionally collect attention weights.

    `y` holds the targets, for the loss: labels, or for a regression model (whose `scale`
    is given) the standardised levels; its scores are then the predicted levels."""
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
    loss = loss_function("classification" if scale is None else "regression")(logits, y).item()
    result = Predictions(scores(logits, scale).float().cpu().numpy(), loss)
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
    progress: Progress | None = None,
    task: str = DEFAULT_TASK,
    dropout: np.random.Generator | None = None,
) -> float:
    """One pass over the shuffled training genes; returns the mean per-gene loss.

    `progress`, when given, is told the genes done after each step (a long epoch, e.g.
    DeepChrome's one gene per step on a full-size cell type, then shows in the log).
    DeepChrome's fused numba steps (`fused_deepchrome`) draw their dropout masks from
    `dropout`; every other model draws from torch's generator."""
    model.train()
    order = torch.randperm(len(X), generator=shuffler).to(X.device)
    if fused_deepchrome(model, optimizer, batch_size, clip, X, task):
        from attentivechrome.learn.numba_deepchrome import train_epoch

        if dropout is None:
            raise ValueError("DeepChrome's numba kernel needs a dropout generator")
        lr = optimizer.param_groups[0]["lr"]
        return train_epoch(model, X, y, order, lr, dropout, progress)
    total = 0.0
    loss_of = loss_function(task)
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]
        loss = loss_of(model(X[idx]).logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * len(idx)
        if progress is not None:
            progress.update(start + len(idx))
    return total / len(X)


def fused_deepchrome(model, optimizer, batch_size: int, clip: float | None, X, task: str) -> bool:
    """Whether DeepChrome's training steps run its fused numba kernel
    (`DeepChrome.fused_sgd`), whose loss is classification's BCE: a regression runs
    PyTorch's layers."""
    if not isinstance(model, DeepChrome) or task != "classification":
        return False
    return model.fused_sgd(optimizer, batch_size, clip, X)


def gene_count(n: float) -> str:
    return f"{n:,.0f} genes"


def time_left(seconds: float) -> str:
    """`1h02m`, `5m07s` or `12s`: the estimate of the epochs still to run."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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
    kernel: str = "torch",
    task: str = DEFAULT_TASK,
    genes: str | Path | None = None,
    checkpoint: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict:
    """Train `model_name` on one cell type and write its outputs; returns the metrics.

    epochs, batch_size, lr and clip left as None take the model's published setting
    (`model.MODELS`, the one statement of them). `kernel` picks what runs the models'
    heavy layers on the CPU ("torch" or "numba", see model.py). `task` is
    "classification" or "regression" (task.py; regression needs split files with levels).
    `genes`, the reference gene table, names the genes of predictions.tsv (every gene
    scored by the kept model).
    `on_epoch_end(epoch)` runs after each epoch's checkpoint is written (used by tests to
    interrupt a run).
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
        kernel=kernel,
        task=task,
    )
    paths = {"train": train_npz, "valid": valid_npz, "test": test_npz}
    splits = read_splits(paths, task=settings.task)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gene_table = read_genes(genes) if genes is not None else None
    if spec.builder is None:
        return _train_linear(settings, splits, out_dir, gene_table)
    return _train_torch(settings, splits, out_dir, gene_table, checkpoint, on_epoch_end)


def _train_torch(
    settings: Settings,
    splits: dict[str, SplitData],
    out_dir: Path,
    gene_table,
    checkpoint: bool,
    on_epoch_end: Callable[[int], None] | None,
) -> dict:
    started = time.perf_counter()
    device = torch.device(settings.device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    task = settings.task
    scale = LevelScale.of(splits["train"].level) if task == "regression" else None
    tensors = {
        name: (
            torch.from_numpy(transform_counts(split.X, settings.transform)).to(device),
            torch.from_numpy(targets(split, scale)).to(device),
        )
        for name, split in splits.items()
    }
    _, n_marks, n_bins = splits["train"].X.shape
    torch.manual_seed(settings.seed)
    model = build_model(settings.model, n_marks, n_bins, settings.kernel).to(device)
    optimizer = make_optimizer(settings.optimizer, model.parameters(), settings.lr)
    shuffler = torch.Generator().manual_seed(settings.seed)
    dropout = np.random.default_rng(settings.seed)  # DeepChrome's fused steps' masks
    trainee = Trainee(model, optimizer, shuffler, device, dropout)

    checkpoint_path = out_dir / CHECKPOINT_NAME
    state = RunState()
    if checkpoint:
        run_fingerprint = fingerprint(
            settings.fingerprint(), {name: split.path for name, split in splits.items()}
        )
        state = resume(checkpoint_path, run_fingerprint, trainee, settings.epochs)

    (X_train, y_train), (X_valid, y_valid) = tensors["train"], tensors["valid"]
    fused = fused_deepchrome(
        model, optimizer, settings.batch_size, settings.clip, X_train, settings.task
    )
    if isinstance(model, DeepChrome) and settings.kernel == "numba" and not fused:
        log.info(
            "DeepChrome's numba kernel takes its published schedule and classification's "
            "loss; PyTorch's runs"
        )
    patience = settings.early_stopping_patience
    first_epoch, run_start = state.epoch + 1, time.perf_counter()
    for epoch in range(first_epoch, settings.epochs + 1):
        if patience is not None and state.epochs_without_gain >= patience:
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
            progress=Progress(
                log, f"{settings.cell} {settings.model} epoch {epoch}", gene_count, len(X_train)
            ),
            task=task,
            dropout=dropout,
        )
        valid = predict(model, X_valid, y_valid, scale=scale)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid.loss,
            **validation_scores(splits["valid"], valid.scores, task),
            "seconds": time.perf_counter() - epoch_start,
        }
        state.history.append(row)
        selected = get_task(task).selection
        # Strict: ties keep the earliest epoch. A NaN (constant predictions) never wins,
        # but the first epoch is kept when no epoch has a number.
        if row[selected] > state.best_score or state.best_state is None:
            state.best_score, state.best_epoch = row[selected], epoch
            state.best_state = snapshot(model)
            state.epochs_without_gain = 0
        else:
            state.epochs_without_gain += 1
        state.epoch = epoch
        per_epoch = (time.perf_counter() - run_start) / (epoch - first_epoch + 1)
        log.info(
            "%s %s epoch %d of %d: train loss %.4f, %s %.4f (%.1fs; about %s left)",
            settings.cell,
            settings.model,
            epoch,
            settings.epochs,
            train_loss,
            metric_label(selected),
            row[selected],
            row["seconds"],
            time_left(per_epoch * (settings.epochs - epoch)),
        )
        if checkpoint:
            save_checkpoint(checkpoint_path, run_fingerprint, trainee, state)
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    model.load_state_dict(state.best_state)
    spec = MODELS[settings.model]
    X_test, y_test = tensors["test"]
    test = predict(model, X_test, y_test, scale=scale, with_attention=spec.has_attention)
    scored = {
        name: test
        if name == "test"
        else predict(model, *tensors[name], scale=scale, with_attention=spec.has_attention)
        for name in splits
    }
    best_row = state.history[state.best_epoch - 1]
    metrics = _metrics(settings, splits, state.best_epoch, best_row, test)
    metrics["epochs_run"] = state.epoch
    metrics["n_parameters"] = sum(p.numel() for p in model.parameters())
    metrics.update(scale.payload() if scale else {})
    metrics["seconds_total"] = time.perf_counter() - started
    payload = {
        "model_name": settings.model,
        "hyperparameters": model.hyperparameters(),
        "state_dict": state.best_state,
        "marks": [str(m) for m in splits["train"].marks],
        "transform": settings.transform,
        "best_epoch": state.best_epoch,
        "cell": settings.cell,
        "task": task,
        **(scale.payload() if scale else {}),
    }
    every_gene = GeneScores.of_splits(splits, scored, task)
    write_outputs(
        out_dir,
        metrics,
        state.history,
        splits["test"],
        test,
        payload,
        every_gene,
        gene_table,
        task,
    )
    checkpoint_path.unlink(missing_ok=True)  # the run is complete: nothing left to resume
    return metrics


def targets(split: SplitData, scale: LevelScale | None) -> np.ndarray:
    """What a model is trained towards: the median labels, or for regression the levels
    standardised by `scale` (the training split's)."""
    if scale is None:
        return split.y.astype(np.float32)
    return scale.standardise(split.level.astype(np.float64)).astype(np.float32)


def validation_scores(valid: SplitData, predicted: np.ndarray, task: str) -> dict:
    """The history.tsv columns that judge one epoch (or fit) on the validation split."""
    if task == "regression":
        return {
            "valid_pearson": pearson(valid.level, predicted, "valid split"),
            "valid_spearman": spearman(valid.level, predicted, "valid split"),
            "valid_auroc": auroc(valid.y, predicted, "valid split"),
        }
    return {
        "valid_auroc": auroc(valid.y, predicted, "valid split"),
        "valid_auprc": auprc(valid.y, predicted, "valid split"),
    }


def test_scores(test_split: SplitData, test: Predictions, task: str) -> dict:
    """metrics.json's test metrics: the ranking of the score against the median label, and
    in regression how well the predicted levels match the observed ones."""
    if task == "regression":
        observed, predicted = test_split.level, test.scores
        return {
            "test_pearson": pearson(observed, predicted, "test split"),
            "test_spearman": spearman(observed, predicted, "test split"),
            "test_r2": r_squared(observed, predicted, "test split"),
            "test_mse": mse(observed, predicted),
            "test_auroc": auroc(test_split.y, predicted, "test split"),
            "test_auprc": auprc(test_split.y, predicted, "test split"),
        }
    return {
        "test_auroc": auroc(test_split.y, test.scores, "test split"),
        "test_auprc": auprc(test_split.y, test.scores, "test split"),
        "test_loss": test.loss,
    }


def _metrics(
    settings: Settings,
    splits: dict[str, SplitData],
    best_epoch: int,
    best_row: dict,
    test: Predictions,
) -> dict:
    test_split = splits["test"]
    validation = [c for c in get_task(settings.task).history_columns if c.startswith("valid_")]
    return {
        "cell": settings.cell,
        "model": settings.model,
        "best_epoch": best_epoch,
        **{c: best_row[c] for c in validation if c != "valid_loss"},
        **test_scores(test_split, test, settings.task),
        "n_train": splits["train"].n,
        "n_valid": splits["valid"].n,
        "n_test": test_split.n,
        "marks": [str(m) for m in test_split.marks],
        "n_bins": int(test_split.X.shape[2]),
        "settings": asdict(settings),
        "torch_version": torch.__version__,
    }


def _train_linear(
    settings: Settings, splits: dict[str, SplitData], out_dir: Path, gene_table
) -> dict:
    """The linear baseline, recorded like a torch model: one history row per penalty.

    Logistic regression (one row per C) for classification, ridge regression (one row per
    alpha) for regression, on the same standardised inputs."""
    started = time.perf_counter()
    if settings.task == "regression":
        fit = fit_ridge(splits, transform=settings.transform, threads=settings.threads)
    else:
        fit = fit_logistic(
            splits, transform=settings.transform, seed=settings.seed, threads=settings.threads
        )
    metrics = _metrics(settings, splits, fit.best + 1, fit.history[fit.best], fit.test)
    metrics[fit.penalty_name] = fit.penalty
    metrics["epochs_run"] = len(fit.history)
    metrics["seconds_total"] = time.perf_counter() - started
    payload = {
        "model_name": "logistic",
        **fit.parameters,
        "marks": [str(m) for m in splits["train"].marks],
        "n_bins": int(splits["train"].X.shape[2]),
        "transform": settings.transform,
        "best_epoch": fit.best + 1,
        "cell": settings.cell,
        "task": settings.task,
    }
    every_gene = GeneScores.of_splits(splits, fit.scored, settings.task)
    write_outputs(
        out_dir,
        metrics,
        fit.history,
        splits["test"],
        fit.test,
        payload,
        every_gene,
        gene_table,
        settings.task,
    )
    return metrics


__all__ = [
    "Settings",
    "make_optimizer",
    "predict",
    "train_and_evaluate",
    "train_one_epoch",
]
