"""Resuming a killed training run from the checkpoint written after every epoch.

`out_dir/checkpoint.pt` holds the model and optimizer states, every RNG state the loop
draws from (torch's, the shuffler's and the numpy generator of DeepChrome's fused dropout
masks), and the `RunState` (history, best epoch so far and its weights). It belongs
to one run, named by its fingerprint: the settings and the SHA-256 of each split file.
A run started again with the same fingerprint continues after the last finished epoch
and ends with exactly the metrics of an uninterrupted run; a checkpoint with another
fingerprint, past the requested epochs or unreadable is ignored (logged) and the run
starts afresh. Training deletes the checkpoint once all outputs are written.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attentivechrome.io import atomic_path, sha256_of

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class RunState:
    """Everything the epoch loop carries from one epoch to the next (checkpointed)."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf  # the task's validation score of best_epoch (task.py)
    best_state: dict | None = None
    epochs_without_gain: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class Trainee:
    """What a run trains and draws from, which a checkpoint saves and restores."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    shuffler: torch.Generator
    device: torch.device
    dropout: np.random.Generator | None = None  # DeepChrome's fused steps' masks


def snapshot(model: nn.Module) -> dict:
    """A CPU copy of the model's weights, unaffected by further training."""
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}


def fingerprint(settings: dict, data: dict[str, Path]) -> dict:
    """What a checkpoint must match to be resumed: settings, and each data file's digest."""
    return {"settings": settings, "data": {name: sha256_of(path) for name, path in data.items()}}


def save_checkpoint(path: Path, run_fingerprint: dict, run: Trainee, progress: RunState) -> None:
    payload = {
        "fingerprint": run_fingerprint,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "rng": _rng_states(run),
        "progress": asdict(progress),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def resume(path: Path, run_fingerprint: dict, run: Trainee, epochs: int) -> RunState:
    """Load the checkpoint if it belongs to this very run; otherwise start from scratch."""
    if not path.exists():
        return RunState()
    try:
        # Loaded to the CPU: RNG states must stay CPU tensors, and load_state_dict moves
        # model and optimizer tensors to the parameters' device (a GPU run resumes too).
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: never fatal, just retrain
        log.warning("ignoring unreadable checkpoint %s (%s)", path, error)
        return RunState()
    if saved.get("fingerprint") != run_fingerprint:
        log.warning("ignoring checkpoint %s: it was made with other data or settings", path)
        return RunState()
    saved_progress = dict(saved["progress"])
    if "best_auroc" in saved_progress:  # the key of checkpoints that know one task only
        saved_progress["best_score"] = saved_progress.pop("best_auroc")
    progress = RunState(**saved_progress)
    if progress.epoch > epochs:
        log.warning("ignoring checkpoint %s: at epoch %d, beyond %d", path, progress.epoch, epochs)
        return RunState()
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    _restore_rng_states(saved["rng"], run)
    log.info("resuming %s after epoch %d", path.parent, progress.epoch)
    return progress


def _rng_states(run: Trainee) -> dict:
    states = {"shuffler": run.shuffler.get_state(), "torch": torch.get_rng_state()}
    if run.device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(run.device)
    if run.dropout is not None:  # a numpy state is a dict of ints: kept as JSON text
        states["dropout"] = json.dumps(run.dropout.bit_generator.state)
    return states


def _restore_rng_states(states: dict, run: Trainee):
    run.shuffler.set_state(states["shuffler"])
    torch.set_rng_state(states["torch"])
    if run.device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], run.device)
    if run.dropout is not None and "dropout" in states:
        run.dropout.bit_generator.state = json.loads(states["dropout"])
