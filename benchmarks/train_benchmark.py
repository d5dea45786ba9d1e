"""Training speed of every model on both kernels, and of AttentiveChrome layouts, on a
full-size synthetic cell type.

`--models [NAME ...]` times real epochs (the training loop with each model's published
schedule, then scoring the validation genes) of AttentiveChrome, DeepChrome, LSTM and
LSTM-Attn on both kernels (`train.kernel`: torch and numba), interleaved round by round,
and prints each model's epoch on both, their ratio and the core-hours of 56 cell types;
`--genes` takes fewer genes per split (the core-hours are scaled to 6601). Findings
(issue 28, Xeon VM alone, 2026-12-07, 3 rounds at 6601 genes, CPU time, 16-float vectors):
DeepChrome 9.96 -> 0.76 s per epoch (12.6x), AttentiveChrome 9.43 -> 4.79 s (1.97x), LSTM
2.34 -> 1.25 s (1.79x), LSTM-Attn 2.46 -> 1.43 s (1.77x); benchmarks/README.md has the
table and where the LSTM baselines' time goes.

The rest of the script compares AttentiveChrome layouts.
The five per-mark BiLSTMs can be run in several ways that compute the same function
(the routes):

  per-mark        five nn.LSTM calls (the model's layout; oneDNN's fused LSTM on CPU)
  block-diagonal  one nn.LSTM with 5x32 units per direction whose weights are assembled
                  block-diagonally from the per-mark weights (one call, 5x the arithmetic)
  grouped-bmm     a hand-written LSTM stepping all 10 (mark, direction) LSTMs together
                  with one batched matmul per bin (autograd through 100 Python steps)
  grouped-manual  the same stepping with a hand-written backward pass and no autograd
                  inside the loop (grouped_lstm.py)
  numba-kernel    all 10 LSTMs in one numba kernel, forward and backward, fused per step
                  with register-blocked products, and the bin attention in one numba pass
                  each way (attentivechrome/numba_lstm.py and numba_attention.py;
                  the model's `kernel="numba"`, the pipeline's default on a CPU)
  compiled-*      per-mark or numba-kernel under torch.compile (inductor, which needs a C++
                  compiler); only when named in --layouts, as each compiles for a while

For each route the script checks that outputs and gradients equal the per-mark layout
for the same weights (the whole model, and the bin level alone against float64 as well:
bin_level_agreement), then times training steps (batch 16: forward, backward, gradient
clipping, Adam), validation scoring and the bin level alone, interleaving the routes
round by round so that load from other processes hits all of them alike. Times for a
whole epoch are extrapolated from those samples (6601 training genes = 413 steps; 6601
validation genes scored once per epoch; 6600 test genes once per run), and so is the
56 x 30 projection of every route. `--jobs 2` also runs the model's layout and the
fastest route that needs no compiler in two processes at once (one thread each) as the
pipeline would on two cores; with `--device cuda` the jobs share one GPU. Every time is
given as wall-clock and as CPU seconds: on a machine shared with other work the CPU time
is the better estimate of what a quiet core would take.

GFLOP/s count the bin level's matrix products as the issue does: per gene, bin and
LSTM, 2 x 4H(H + 1) forward (H = 32 units, one input), twice that backward; 406 MFLOP per
training step of 16 genes, 8.4 MFLOP per gene scored.

    python benchmarks/train_benchmark.py [--steps 40] [--jobs 2] [--deepchrome] [--full-epoch]
                                          [--layouts ...] [--device cuda] [--allocator system]
    python benchmarks/train_benchmark.py --compare-allocators [--rounds 3]
    python benchmarks/train_benchmark.py --models [NAME ...] [--genes 6601] [--rounds 3]

Jobs run under tcmalloc where it is installed, as the pipeline's training jobs do with
`train.allocator: tcmalloc` (`--allocator system` for glibc's malloc, the pipeline's
default); `--compare-allocators` times both.

Findings (issue 18; 2-core AMD EPYC shared with other work, CPU time):

- per-mark: step 34-43 ms, scoring 0.64-0.79 ms/gene, epoch 18-23 s on the machine of
  these runs (about 2x slower than the day of the README's first table); its bin level
  alone 26-35 ms per training step (11-16 GFLOP/s). The older layouts stay 1.5-4x
  slower per epoch.
- numba-kernel, LSTMs only (session 4, four runs): 1.69-2.07x per epoch. With the bin
  attention in numba too (its PyTorch form, broadcast products and sums over 2 MB of
  states, took 2.7 ms of a training step and 8.2 ms per 128 genes scored; in numba 1.3
  and 3.3 ms): step 19.7 ms, scoring 0.36 ms/gene, epoch 10.5 s, 2.18x per epoch
  (one real epoch 21.1 s against 12.4 s); two jobs side by side 20.7-22.8 s against
  13.0 s per epoch (1.67x: side by side the kernel loses more, probably as the two
  jobs' 12 MB of saved states per step share one 32 MB L3 cache). Bin level 13.4 ms
  per training step (30 GFLOP/s; of that the kernel alone about 10 ms), 33.5 ms per 128
  genes scored (32 GFLOP/s).
- Its bin-level outputs and gradients are as close to float64 as nn.LSTM's: relative to
  the largest value, outputs 3e-7 (nn.LSTM 1.5e-7), input gradient 6e-7 (6e-7), w_ih
  1.6e-6 (1.3e-5), w_hh 1.1e-6 (1.4e-6), biases 2.1e-6 (1.6e-5); against nn.LSTM itself
  at most 1.6e-5 of the largest value (max |diff| 1.2e-3 on w_ih gradients of size ~100).
  The attention likewise: 1e-7 to 1.2e-6 of the largest value against float64, PyTorch's
  own 7e-8 to 1.5e-6 (tests/learn/test_numba_lstm.py, tests/learn/test_numba_attention.py).
- compiled-per-mark: no gain (0.94-0.99x); compiled-numba-kernel: 3-9% over the
  LSTM-only numba-kernel (about the spread between runs), and it needs a C++ compiler.
- Tried and not kept: one division for the four gate activations instead of four (no
  measurable change), foreach gradient clipping (slower on a CPU: 0.65 against 0.50 ms).
  What is left of a step (mark-level LSTM, clipping, Adam, autograd) is about 5 ms.
- Projection, 56 x 30 on 2 cores, in the same run: numba-kernel 2.5 h extrapolated from
  one job, 3.1 h from two measured side by side; per-mark 5.4 and 5.3 h. The 1.5 h goal
  was set against the README's 2.4 h for per-mark on a machine then about 2.2x faster;
  scaled by the ratios measured here that is 1.1 h (one job) to 1.4 h (two side by side).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from grouped_lstm import grouped_lstm  # beside this script
from torch import nn
from torch.func import functional_call

from attentivechrome.io import atomic_write_text
from attentivechrome.learn.allocator import find_tcmalloc, loaded_tcmalloc, restart_with_tcmalloc
from attentivechrome.learn.model import (
    MODELS,
    AttentiveChrome,
    DeepChrome,
    build_model,
    check_kernel,
)
from attentivechrome.learn.training import make_optimizer, predict, train_one_epoch

try:
    check_kernel("numba")
    NUMBA_MISSING = None
except ModuleNotFoundError as error:  # the optional kernel's route is left out
    NUMBA_MISSING = str(error)

N_TRAIN, N_VALID, N_TEST = 6601, 6601, 6600
N_MARKS, N_BINS, BATCH = 5, 100, 16
EVAL_WARMUP = 256
N_CELLS, N_EPOCHS, PARALLEL_JOBS = 56, 30, 2
TARGET_HOURS = 1.5
TARGET_SPEEDUP = 1.6  # per epoch on one core: the bar for wiring a route into the model
EVAL_BATCH = 128  # training.EVAL_BATCH_SIZE
HIDDEN, GROUPS = 32, 2 * N_MARKS  # the bin level: 10 LSTMs (mark, direction), 32 units
# FLOPs of the bin level as the issue counts them: the two matrix products of every
# step, 2 * 4H * (H + inputs) per gene, step and LSTM, forward; backward twice that.
LSTM_FLOP_FORWARD_PER_GENE = 2 * 4 * HIDDEN * (HIDDEN + 1) * N_BINS * GROUPS
# A route's bin-level outputs and gradients may be off the float64 result by at most this
# many times nn.LSTM's own float32 error (plus 1e-6 of the largest value): bin_level_agreement.
BIN_LEVEL_TOLERANCE = 2


def block_diagonal_weights(lstms: list[nn.LSTM], suffix: str = "") -> dict[str, torch.Tensor]:
    """Weights of one LSTM that runs several 1-input LSTMs side by side, exactly.

    Unit j of mark m becomes unit m*H + j of a wide LSTM with hidden size M*H and one
    input per mark; the recurrent matrix is block-diagonal per gate, so marks do not
    see each other and gradients reach only the per-mark weights. `suffix` selects the
    direction ("" or "_reverse").
    """
    n_marks, hidden = len(lstms), lstms[0].hidden_size
    eye = torch.eye(n_marks, dtype=lstms[0].weight_hh_l0.dtype)

    def stacked(name: str) -> torch.Tensor:
        return torch.stack([getattr(lstm, f"{name}_l0{suffix}") for lstm in lstms])

    # PyTorch stores the gates (i, f, g, o) stacked along rows: view them as (gate, mark, unit).
    w_ih = stacked("weight_ih").view(n_marks, 4, hidden).transpose(0, 1)
    w_hh = stacked("weight_hh").view(n_marks, 4, hidden, hidden).transpose(0, 1)
    wide_ih = torch.einsum("gmj,mn->gmjn", w_ih, eye).reshape(4 * n_marks * hidden, n_marks)
    wide_hh = torch.einsum("gmjk,mn->gmjnk", w_hh, eye).reshape(
        4 * n_marks * hidden, n_marks * hidden
    )

    def bias(name: str) -> torch.Tensor:
        return stacked(name).view(n_marks, 4, hidden).transpose(0, 1).reshape(-1)

    return {
        f"weight_ih_l0{suffix}": wide_ih,
        f"weight_hh_l0{suffix}": wide_hh,
        f"bias_ih_l0{suffix}": bias("bias_ih"),
        f"bias_hh_l0{suffix}": bias("bias_hh"),
    }


class BlockDiagonalChrome(AttentiveChrome):
    """AttentiveChrome whose bin level runs as one wide LSTM with block-diagonal weights."""

    def __init__(self):
        super().__init__()
        wide = nn.LSTM(N_MARKS, N_MARKS * self.bin_hidden, bidirectional=True)
        wide.requires_grad_(False)
        self._wide = [wide]  # a plain list: its own weights are never used or trained

    def encode_bins(self, x: torch.Tensor) -> torch.Tensor:
        encoders = list(self.bin_encoders)
        weights = block_diagonal_weights(encoders) | block_diagonal_weights(encoders, "_reverse")
        out, _ = functional_call(self._wide[0], weights, (x.permute(2, 0, 1),))
        bins, batch = out.shape[:2]
        hidden = self.bin_hidden
        out = out.view(bins, batch, 2, N_MARKS, hidden).permute(3, 0, 1, 2, 4)
        return out.reshape(N_MARKS, bins, batch, 2 * hidden)


class GroupedBmmChrome(AttentiveChrome):
    """AttentiveChrome whose 10 bin-level LSTMs advance together, one bmm per bin."""

    def _stacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        directions = ("", "_reverse")
        lstms = [(lstm, d) for d in directions for lstm in self.bin_encoders]
        w_ih = torch.stack([getattr(m, f"weight_ih_l0{d}")[:, 0] for m, d in lstms])
        w_hh = torch.stack([getattr(m, f"weight_hh_l0{d}").t() for m, d in lstms])
        bias = torch.stack(
            [getattr(m, f"bias_ih_l0{d}") + getattr(m, f"bias_hh_l0{d}") for m, d in lstms]
        )
        return w_ih, w_hh, bias  # (G, 4H), (G, H, 4H), (G, 4H)

    def encode_bins(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.permute(2, 1, 0)  # (T, M, B)
        seq = torch.cat([seq, seq.flip(0)], dim=1)  # reverse directions read flipped bins
        out = self._run_groups(seq, *self._stacked())  # (T, G, B, H)
        both = torch.cat([out[:, :N_MARKS], out[:, N_MARKS:].flip(0)], dim=-1)
        return both.transpose(0, 1)  # (M, T, B, 2H)

    def _run_groups(self, seq, w_ih, w_hh, bias) -> torch.Tensor:
        """All groups' LSTMs over the bins, autograd through the Python loop."""
        inputs = torch.addcmul(bias[:, None], seq.unsqueeze(-1), w_ih[:, None])  # (T, G, B, 4H)
        groups, batch, hidden = w_hh.shape[0], seq.shape[2], self.bin_hidden
        h = seq.new_zeros(groups, batch, hidden)
        c = seq.new_zeros(groups, batch, hidden)
        states = []
        for step in range(inputs.shape[0]):
            i, f, g, o = torch.baddbmm(inputs[step], h, w_hh).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        return torch.stack(states)


class GroupedManualChrome(GroupedBmmChrome):
    """AttentiveChrome whose 10 bin-level LSTMs step together with a hand-written backward."""

    def _run_groups(self, seq, w_ih, w_hh, bias) -> torch.Tensor:
        return grouped_lstm(seq, w_ih, w_hh, bias)


def numba_kernel_chrome() -> AttentiveChrome:
    """The model with its bin level (LSTMs and attention) run by the numba kernels
    (attentivechrome.learn.numba_lstm, attentivechrome.learn.numba_attention)."""
    return AttentiveChrome(kernel="numba")


def compiled(build):
    """A layout under torch.compile (inductor: needs a C++ compiler; minutes to compile).
    torch.compile cannot trace into numba: the numba kernels' callers are left to run as
    they are and the rest of the model is compiled."""

    def build_compiled():
        model = build()
        if isinstance(model, AttentiveChrome) and model.kernel == "numba":
            model.encode_bins = torch.compiler.disable(model.encode_bins)
            model.attend_bins = torch.compiler.disable(model.attend_bins)
        return torch.compile(model)

    return build_compiled


LAYOUTS = {
    "per-mark": AttentiveChrome,
    "block-diagonal": BlockDiagonalChrome,
    "grouped-bmm": GroupedBmmChrome,
    "grouped-manual": GroupedManualChrome,
}
if NUMBA_MISSING is None:
    LAYOUTS["numba-kernel"] = numba_kernel_chrome
# Only when asked for (--layouts): each compiles for minutes first.
COMPILED = {"compiled-per-mark": compiled(AttentiveChrome)}
if NUMBA_MISSING is None:
    COMPILED["compiled-numba-kernel"] = compiled(numba_kernel_chrome)
LAYOUTS.update(COMPILED)
DEFAULT_LAYOUTS = [name for name in LAYOUTS if name not in COMPILED]


def uncompiled(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)  # torch.compile's wrapper holds the module


def synthetic_counts(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Counts like real ones: mostly 0-3 per bin, a gene-and-mark level spread over decades."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(0.8, 1.2, size=(n, N_MARKS, 1))
    X = rng.poisson(np.broadcast_to(level, (n, N_MARKS, N_BINS)))
    y = (level[:, 3, 0] > np.median(level[:, 3, 0])).astype(np.float32)
    return torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y)


def layout_agreement(name: str, x: torch.Tensor) -> dict:
    """Max differences of logits, attention and gradients versus the per-mark layout."""
    torch.manual_seed(0)
    reference = AttentiveChrome()
    other = LAYOUTS[name]()
    uncompiled(other).load_state_dict(reference.state_dict())
    ref_out, other_out = reference(x), other(x)
    ref_out.logits.sum().backward()
    other_out.logits.sum().backward()
    grads = [
        (a.grad - b.grad).abs().max().item()
        for a, b in zip(reference.parameters(), other.parameters(), strict=True)
    ]
    return {
        "logits": (ref_out.logits - other_out.logits).abs().max().item(),
        "bin_attention": (ref_out.bin_attention - other_out.bin_attention).abs().max().item(),
        "mark_attention": (ref_out.mark_attention - other_out.mark_attention).abs().max().item(),
        "gradients": max(grads),
    }


def bin_level_agreement(name: str, x: torch.Tensor) -> dict:
    """The bin-level LSTMs alone (encode_bins) against the nn.LSTM route and against the
    same LSTMs in float64, for the outputs and the gradients of the input, the input
    weights, the recurrent weights and the biases (both directions of every mark).

    Per kind: max_abs_diff (against nn.LSTM), relative (that / the largest |value|), and
    each route's own error against float64, relative the same way. `within_tolerance`:
    for every tensor the route's float64 error is at most BIN_LEVEL_TOLERANCE, i.e. twice
    nn.LSTM's own plus 1e-6 of the largest value (both sum float32 in their own order,
    so neither is exact: nn.LSTM's errors reach about 2e-5 of the largest value).
    """
    torch.manual_seed(0)
    reference = AttentiveChrome()
    other = uncompiled(LAYOUTS[name]())
    other.load_state_dict(reference.state_dict())
    exact = AttentiveChrome().double()
    exact.load_state_dict(reference.state_dict())
    results = []
    for model, inputs in ((exact, x.double()), (reference, x), (other, x)):
        inputs = inputs.clone().requires_grad_()
        out = model.encode_bins(inputs)
        weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        params = dict(model.bin_encoders.named_parameters())
        grads = torch.autograd.grad((out * weight).sum(), [inputs, *params.values()])
        results.append({"outputs": out, **dict(zip(["input", *params], grads, strict=True))})
    truth, ref, value = results
    report: dict = {}
    ok = True
    for key in truth:
        kind = key.split(".")[-1].removesuffix("_reverse")  # bin_encoders.{m}.{name}
        kind = {"outputs": "outputs", "input": "grad_input", "weight_ih_l0": "grad_w_ih"}.get(
            kind, "grad_w_hh" if kind == "weight_hh_l0" else "grad_biases"
        )
        scale = truth[key].abs().max().item()
        diff = (ref[key] - value[key]).abs().max().item()
        ref_error = (ref[key].double() - truth[key]).abs().max().item()
        error = (value[key].double() - truth[key]).abs().max().item()
        ok = ok and error <= BIN_LEVEL_TOLERANCE * ref_error + 1e-6 * scale
        row = report.setdefault(kind, dict.fromkeys(FIELDS, 0.0))
        numbers = (diff, diff / scale, ref_error / scale, error / scale)
        for field, number in zip(FIELDS, numbers, strict=True):
            row[field] = max(row[field], number)
    report["within_tolerance"] = ok
    return report


FIELDS = ("max_abs_diff", "relative", "nn_lstm_error", "error")


class Clock:
    """Wall-clock and CPU seconds of a block. CPU time excludes waiting for a core, so on
    a shared machine it estimates what a quiet core would take (a lower bound). On a GPU
    only the wall clock means anything; it waits for queued kernels at both ends."""

    def __init__(self, device: torch.device | None = None):
        on_gpu = device is not None and device.type == "cuda"
        self.sync = torch.cuda.synchronize if on_gpu else lambda: None

    def __enter__(self) -> Clock:
        self.sync()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_) -> None:
        self.sync()
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def time_train_steps(model: nn.Module, X, y, steps: int, batch: int, opt: str = "adam"):
    """(wall, cpu) seconds per step of the real training loop (forward, backward, clip, step)."""
    optimizer = make_optimizer(opt, model.parameters(), 2e-4 if opt == "adam" else 1e-3)
    n = min(len(X), steps * batch)
    with Clock(X.device) as clock:
        train_one_epoch(
            model,
            optimizer,
            X[:n],
            y[:n],
            batch_size=batch,
            clip=1.0 if opt == "adam" else None,
            shuffler=torch.Generator().manual_seed(0),
        )
    n_steps = math.ceil(n / batch)
    return clock.wall / n_steps, clock.cpu / n_steps


def time_scoring(model: nn.Module, X: torch.Tensor, y: torch.Tensor):
    """(wall, cpu) seconds per gene scored by the real evaluation code (its batch size)."""
    with Clock(X.device) as clock:
        predict(model, X, y)
    return clock.wall / len(X), clock.cpu / len(X)


def time_bin_level(model: nn.Module, X: torch.Tensor, reps: int) -> dict:
    """(wall, cpu) seconds of the bin-level LSTMs alone: forward and backward at the
    training batch (gradients of the weights, as in training), forward at the scoring
    batch without autograd."""
    params = list(model.bin_encoders.parameters())
    x_train, x_score = X[:BATCH], X[:EVAL_BATCH]

    def train_pass():
        out = model.encode_bins(x_train)
        torch.autograd.grad(out.sum(), params)

    def score_pass():
        with torch.no_grad():
            model.encode_bins(x_score)

    row = {}
    for key, run in (("train", train_pass), ("score", score_pass)):
        run()
        with Clock(X.device) as clock:
            for _ in range(reps):
                run()
        row[key] = (clock.wall / reps, clock.cpu / reps)
    return row


def epoch_seconds(step_s: float, gene_s: float, batch: int = BATCH) -> float:
    return math.ceil(N_TRAIN / batch) * step_s + N_VALID * gene_s


def run_seconds(step_s: float, gene_s: float) -> float:
    """One cell type: 30 epochs of training + validation, then the test set once."""
    return N_EPOCHS * epoch_seconds(step_s, gene_s) + N_TEST * gene_s


def summarise(
    steps: list[tuple[float, float]], genes: list[tuple[float, float]], bins: list[dict]
) -> dict:
    """Medians over rounds, extrapolated to an epoch and a run, in wall and CPU seconds;
    the bin level's own times and GFLOP/s (LSTM_FLOP_FORWARD_PER_GENE) where measured."""
    row = {}
    for index, kind in enumerate(("wall", "cpu")):
        step_s = statistics.median(s[index] for s in steps)
        gene_s = statistics.median(g[index] for g in genes)
        row[f"train_step_ms_{kind}"] = 1000 * step_s
        row[f"scoring_ms_per_gene_{kind}"] = 1000 * gene_s
        row[f"epoch_s_{kind}"] = epoch_seconds(step_s, gene_s)
        row[f"run_s_{kind}"] = run_seconds(step_s, gene_s)
        if bins:
            train_s = statistics.median(b["train"][index] for b in bins)
            score_s = statistics.median(b["score"][index] for b in bins)
            row[f"bin_level_train_ms_{kind}"] = 1000 * train_s
            row[f"bin_level_score_ms_{kind}"] = 1000 * score_s
            row[f"bin_level_train_gflops_{kind}"] = (
                3 * BATCH * LSTM_FLOP_FORWARD_PER_GENE / train_s / 1e9
            )
            row[f"bin_level_score_gflops_{kind}"] = (
                EVAL_BATCH * LSTM_FLOP_FORWARD_PER_GENE / score_s / 1e9
            )
    row["samples_step_ms_wall"] = [round(1000 * s[0], 2) for s in steps]
    return row


def on_device(n: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = synthetic_counts(n, seed)
    return X.to(device), y.to(device)


def measure_layouts(
    names: list[str], steps: int, eval_genes: int, rounds: int, device: torch.device
) -> dict:
    X, y = on_device(N_TRAIN, 1, device)
    models = {}
    for name in names:
        torch.manual_seed(0)
        models[name] = LAYOUTS[name]().to(device)
    for model in models.values():  # warm-up: first calls allocate buffers and kernels
        time_train_steps(model, X, y, 2, BATCH)
        time_scoring(model, X[:EVAL_WARMUP], y[:EVAL_WARMUP])
    samples = {name: ([], [], []) for name in names}
    for _ in range(rounds):  # interleave so background load is shared fairly
        for name in names:
            samples[name][0].append(time_train_steps(models[name], X, y, steps, BATCH))
            samples[name][1].append(time_scoring(models[name], X[:eval_genes], y[:eval_genes]))
            if name not in COMPILED:  # a compiled model's encode_bins is not what runs
                samples[name][2].append(time_bin_level(models[name], X, max(2, steps // 4)))
    return {name: summarise(*samples[name]) for name in names}


def measure_deepchrome(steps: int, eval_genes: int, device: torch.device) -> dict:
    """The CNN baseline trains one gene per SGD step, as published."""
    X, y = on_device(N_TRAIN, 1, device)
    torch.manual_seed(0)
    model = DeepChrome().to(device)
    time_train_steps(model, X, y, 16, 1, opt="sgd")
    time_scoring(model, X[:EVAL_WARMUP], y[:EVAL_WARMUP])
    step = time_train_steps(model, X, y, steps * 16, 1, opt="sgd")
    gene = time_scoring(model, X[:eval_genes], y[:eval_genes])
    row = {}
    for index, kind in enumerate(("wall", "cpu")):
        epoch = N_TRAIN * step[index] + N_VALID * gene[index]
        row[f"train_step_ms_{kind}"] = 1000 * step[index]
        row[f"epoch_s_{kind}"] = epoch
        row[f"run_s_{kind}"] = N_EPOCHS * epoch + N_TEST * gene[index]
    return row


def measure_full_epoch(device: torch.device, layout: str = "per-mark") -> dict:
    """One real epoch of a route (6601 genes trained, 6601 scored): checks the
    extrapolation from samples."""
    X, y = on_device(N_TRAIN, 1, device)
    X_valid, y_valid = on_device(N_VALID, 3, device)
    torch.manual_seed(0)
    model = LAYOUTS[layout]().to(device)
    time_train_steps(model, X, y, 2, BATCH)  # warm-up: first calls compile or allocate
    optimizer = make_optimizer("adam", model.parameters(), 2e-4)
    with Clock(device) as train_clock:
        train_one_epoch(
            model,
            optimizer,
            X,
            y,
            batch_size=BATCH,
            clip=1.0,
            shuffler=torch.Generator().manual_seed(0),
        )
    with Clock(device) as score_clock:
        predict(model, X_valid, y_valid)
    return {
        "epoch_s_wall": train_clock.wall + score_clock.wall,
        "epoch_s_cpu": train_clock.cpu + score_clock.cpu,
    }


def _job_worker(args: tuple[str, int, int, int, str]) -> dict:
    layout, steps, eval_genes, rounds, device = args
    torch.set_num_threads(1)
    return measure_layouts([layout], steps, eval_genes, rounds, torch.device(device))[layout]


def measure_jobs(
    layout: str, jobs: int, steps: int, eval_genes: int, rounds: int, device: str
) -> list[dict]:
    """A layout in `jobs` processes at once, one CPU thread each, as the pipeline runs
    them (on a GPU they share the one device)."""
    with mp.get_context("spawn").Pool(jobs) as pool:
        return pool.map(_job_worker, [(layout, steps, eval_genes, rounds, device)] * jobs)


def projection_rows(
    device: torch.device, alone: dict, side_by_side: list[dict]
) -> list[tuple[str, float, int]]:
    """(basis, seconds per cell type, jobs at once) rows of the 56 x 30 projection.

    On the CPU the basis of the target is one one-thread job per core; on a GPU, one job
    at a time. Jobs measured side by side (`--jobs`) add rows of their own, the slowest
    job counting. CPU time means nothing on a GPU, so only wall-clock rows are made there.
    """
    clocks = {"wall": "wall", "cpu": "CPU time"} if device.type == "cpu" else {"wall": "wall"}
    if device.type == "cpu":
        basis, jobs = f"{PARALLEL_JOBS} such jobs on {PARALLEL_JOBS} cores", PARALLEL_JOBS
    else:
        basis, jobs = "one job at a time on the GPU", 1
    rows = [(f"{basis}, {label}", alone[f"run_s_{clock}"], jobs) for clock, label in clocks.items()]
    if side_by_side:
        n = len(side_by_side)
        rows += [
            (
                f"{n} jobs measured side by side, {label}",
                max(r[f"run_s_{clock}"] for r in side_by_side),
                n,
            )
            for clock, label in clocks.items()
        ]
    return rows


def hours_for_all_cells(run_s: float, jobs: int) -> float:
    return N_CELLS * run_s / jobs / 3600


def compare_allocators(args: argparse.Namespace) -> int:
    """The model's layout timed in fresh processes, alternating system malloc and tcmalloc."""
    if find_tcmalloc() is None:
        print("tcmalloc is not installed (Debian: libtcmalloc-minimal4; conda: gperftools)")
        return 1
    samples: dict[str, list[dict]] = {"system": [], "tcmalloc": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for allocator in samples:
                out = Path(tmp, f"{allocator}{round_}.json")
                command = [sys.executable, __file__, "--layouts", "per-mark", "--rounds", "1"]
                command += ["--steps", str(args.steps), "--eval-genes", str(args.eval_genes)]
                command += ["--allocator", allocator, "--out", str(out)]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                samples[allocator].append(json.loads(out.read_text())["layouts"]["per-mark"])
    print(f"per-mark layout, {args.rounds} alternating runs per allocator (medians, CPU time)")
    print(f"{'allocator':12}{'step ms':>10}{'score ms/gene':>16}{'epoch s':>10}")
    medians = {}
    for allocator, rows in samples.items():
        medians[allocator] = {
            key: statistics.median(row[key] for row in rows)
            for key in ("train_step_ms_cpu", "scoring_ms_per_gene_cpu", "epoch_s_cpu")
        }
        m = medians[allocator]
        print(
            f"{allocator:12}{m['train_step_ms_cpu']:10.1f}{m['scoring_ms_per_gene_cpu']:16.3f}"
            f"{m['epoch_s_cpu']:10.1f}"
        )
    # Each round's two runs sat side by side in time: their ratio cancels slow drifts in
    # the machine's load that the ratio of medians does not.
    ratios = [
        system["epoch_s_cpu"] / fast["epoch_s_cpu"]
        for system, fast in zip(samples["system"], samples["tcmalloc"], strict=True)
    ]
    ratio = statistics.median(ratios)
    print(
        f"epoch: tcmalloc {ratio:.2f}x faster than system malloc (median of the rounds' "
        f"ratios; range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    report = {"samples": samples, "medians": medians, "epoch_speedups": ratios}
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


# --- every model's epoch on both kernels (--models) ------------------------------------------

MODEL_NAMES = ("attentivechrome", "deepchrome", "lstm", "lstm-attention")
KERNEL_NAMES = ("torch", "numba")


def model_epoch_runner(name: str, kernel: str, data: dict, genes: int):
    """A function that trains `name` on `kernel` for one real epoch of `genes` training
    genes with the model's published schedule (as the pipeline's training loop runs it)
    and scores `genes` validation genes; each call returns (train, score) Clocks."""
    spec = MODELS[name]
    torch.manual_seed(0)
    model = build_model(name, N_MARKS, N_BINS, kernel)
    optimizer = make_optimizer(spec.optimizer, model.parameters(), spec.lr)
    shuffler = torch.Generator().manual_seed(0)
    dropout = np.random.default_rng(0)
    X, y = data["train"]
    X_valid, y_valid = data["valid"]

    def epoch(n_train: int = genes, n_valid: int = genes) -> tuple[Clock, Clock]:
        with Clock() as train_clock:
            train_one_epoch(
                model,
                optimizer,
                X[:n_train],
                y[:n_train],
                batch_size=spec.batch_size,
                clip=spec.clip,
                shuffler=shuffler,
                dropout=dropout,
            )
        with Clock() as score_clock:
            predict(model, X_valid[:n_valid], y_valid[:n_valid])
        return train_clock, score_clock

    return epoch


def measure_models(names: list[str], genes: int, rounds: int) -> dict:
    """Real epochs of every model on both kernels, interleaved round by round (model by
    model, the two kernels back to back), so that other processes' load hits all alike.
    Per model and kernel: median train, score and epoch seconds (wall and CPU); per model
    the torch / numba ratio of each round's CPU epoch time and their median."""
    data = {"train": synthetic_counts(N_TRAIN, 1), "valid": synthetic_counts(N_VALID, 3)}
    runners = {(n, k): model_epoch_runner(n, k, data, genes) for n in names for k in KERNEL_NAMES}
    for run in runners.values():  # warm-up: numba compiles (or loads its cache), buffers
        run(64, EVAL_WARMUP)
    samples: dict = {key: [] for key in runners}
    for round_ in range(rounds):
        for key, run in runners.items():
            train, score = run()
            samples[key].append({"train": train, "score": score})
            wall, cpu = train.wall + score.wall, train.cpu + score.cpu
            print(
                f"  round {round_ + 1}: {key[0]:16}{key[1]:6} epoch {wall:7.2f} s wall / "
                f"{cpu:7.2f} s CPU",
                flush=True,
            )
    report: dict = {"genes": genes, "rounds": rounds, "models": {}}
    for name in names:
        row: dict = {}
        for kernel in KERNEL_NAMES:
            runs = samples[(name, kernel)]
            for clock in ("wall", "cpu"):
                for part in ("train", "score"):
                    row[f"{kernel}_{part}_s_{clock}"] = statistics.median(
                        getattr(r[part], clock) for r in runs
                    )
                row[f"{kernel}_epoch_s_{clock}"] = statistics.median(
                    getattr(r["train"], clock) + getattr(r["score"], clock) for r in runs
                )
        ratios = [
            (t["train"].cpu + t["score"].cpu) / (n["train"].cpu + n["score"].cpu)
            for t, n in zip(samples[(name, "torch")], samples[(name, "numba")], strict=True)
        ]
        row["speedups_cpu"] = ratios
        row["speedup_cpu"] = statistics.median(ratios)
        report["models"][name] = row
    return report


def print_models(report: dict) -> None:
    """The table of --models, and each model's full REMC run projected from it."""
    genes, scale = report["genes"], N_TRAIN / report["genes"]
    print(
        f"\nepoch = {genes} training genes (published schedule) + {genes} validation genes "
        f"scored; medians of {report['rounds']} rounds (wall / CPU s)"
    )
    print(
        f"{'model':16}{'torch epoch':>16}{'numba epoch':>16}{'speed-up':>10}  (per round)"
        f"{'':6}core-hours for 56 cell types, torch -> numba"
    )
    for name, row in report["models"].items():
        epochs = MODELS[name].epochs
        hours = {k: N_CELLS * epochs * row[f"{k}_epoch_s_cpu"] * scale / 3600 for k in KERNEL_NAMES}
        row["core_hours_cpu"] = hours
        per_round = " ".join(f"{r:.2f}" for r in row["speedups_cpu"])
        print(
            f"{name:16}{row['torch_epoch_s_wall']:7.2f} /{row['torch_epoch_s_cpu']:6.2f}"
            f"{row['numba_epoch_s_wall']:9.2f} /{row['numba_epoch_s_cpu']:6.2f}"
            f"{row['speedup_cpu']:9.2f}x  ({per_round})  {epochs} epochs: "
            f"{hours['torch']:.1f} -> {hours['numba']:.1f}"
        )
    if scale != 1:
        print(f"(core-hours scaled from {genes} to {N_TRAIN} genes per split)")


def compare_models(args: argparse.Namespace) -> int:
    if NUMBA_MISSING is not None:
        print(NUMBA_MISSING)
        return 1
    if args.allocator == "tcmalloc":
        restart_with_tcmalloc()
    torch.set_num_threads(1)
    names = args.models or list(MODEL_NAMES)
    print(f"torch {torch.__version__}, 1 CPU thread, {platform.processor() or platform.machine()}")
    print(f"memory allocator: {loaded_tcmalloc() or 'system malloc'}")
    print(f"load average at start {os.getloadavg()}")
    report = measure_models(names, args.genes, args.rounds)
    report["load_average_start"] = os.getloadavg()
    print_models(report)
    report["load_average_end"] = os.getloadavg()
    print(f"load average at end {report['load_average_end']}")
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per sample")
    parser.add_argument("--eval-genes", type=int, default=1024, help="genes scored per sample")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved samples per layout")
    parser.add_argument(
        "--layouts",
        nargs="+",
        default=DEFAULT_LAYOUTS,
        choices=list(LAYOUTS),
        help=f"routes to time (default: {' '.join(DEFAULT_LAYOUTS)}; the compiled ones take "
        "minutes to compile)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="also time this many jobs side by side (2 = the pipeline on 2 cores), of the "
        "model's layout and of the fastest route",
    )
    parser.add_argument("--deepchrome", action="store_true", help="also time the CNN baseline")
    parser.add_argument("--full-epoch", action="store_true", help="also time one real epoch")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--allocator",
        choices=["tcmalloc", "system"],
        default="tcmalloc",
        help="memory allocator (default tcmalloc when installed; the pipeline's is system)",
    )
    parser.add_argument(
        "--compare-allocators",
        action="store_true",
        help="only time the model's layout under each allocator, alternating runs",
    )
    parser.add_argument(
        "--models",
        nargs="*",
        choices=list(MODEL_NAMES),
        help="only time real epochs of these models (default: all four) on both kernels, "
        "interleaved (train.kernel)",
    )
    parser.add_argument(
        "--genes",
        type=int,
        default=N_TRAIN,
        help=f"training and validation genes per epoch with --models (default {N_TRAIN})",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train_benchmark.json"))
    args = parser.parse_args(argv)
    if args.compare_allocators:
        return compare_allocators(args)
    if args.models is not None:
        return compare_models(args)
    if args.allocator == "tcmalloc":
        restart_with_tcmalloc()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "1 CPU thread"
    layouts = list(dict.fromkeys(["per-mark", *args.layouts]))  # the reference comes first
    if device.type == "cuda":  # the kernel is CPU-only: on a GPU its route is per-mark again
        layouts = [name for name in layouts if "numba" not in name]

    x_check, _ = synthetic_counts(8, seed=2)
    x_bins, _ = synthetic_counts(BATCH - 1, seed=4)  # odd: the kernel pads a gene
    print(f"torch {torch.__version__}, {where}, {platform.processor() or platform.machine()}")
    print(f"memory allocator: {loaded_tcmalloc() or 'system malloc'}")
    if NUMBA_MISSING is not None:
        print(f"numba-kernel route left out: {NUMBA_MISSING}")
    print(f"training sample: {args.steps} steps of batch {BATCH}, scoring {args.eval_genes} genes,")
    print(f"{args.rounds} interleaved rounds (medians); an epoch = 413 steps + 6601 genes scored")
    report: dict = {
        "device": where,
        "layouts": {},
        "agreement": {},
        "bin_level_agreement": {},
        "bin_level_tolerance": BIN_LEVEL_TOLERANCE,
        "load_average_start": os.getloadavg(),
    }
    for name in layouts:
        if name != "per-mark":
            report["agreement"][name] = layout_agreement(name, x_check)
            if name not in COMPILED:
                report["bin_level_agreement"][name] = bin_level_agreement(name, x_bins)
    report["layouts"] = rows = measure_layouts(
        layouts, args.steps, args.eval_genes, args.rounds, device
    )
    print_routes(report)
    print_bin_level(report)

    reference = rows["per-mark"]
    # The pick for the pipeline needs no compiler on the user's machine: compiled routes
    # are measured beside it, not chosen.
    fastest = min((n for n in rows if n not in COMPILED), key=lambda n: rows[n]["epoch_s_cpu"])
    report["projection"] = {"fastest_layout": fastest, "target_hours": TARGET_HOURS}
    side_by_side: dict[str, list[dict]] = {}
    if args.jobs:
        for name in dict.fromkeys(["per-mark", fastest]):
            side_by_side[name] = measure_jobs(
                name, args.jobs, args.steps, args.eval_genes, args.rounds, args.device
            )
            epochs = [round(r["epoch_s_wall"], 1) for r in side_by_side[name]]
            print(f"{name}, {args.jobs} jobs at once: epoch {epochs} s wall")
        report["jobs"] = side_by_side
    if args.deepchrome:
        report["deepchrome"] = measure_deepchrome(args.steps, args.eval_genes, device)
        dc = report["deepchrome"]
        print(
            f"deepchrome (batch 1, SGD): step {dc['train_step_ms_wall']:.2f} ms, "
            f"epoch {dc['epoch_s_wall']:.1f} s wall / {dc['epoch_s_cpu']:.1f} s CPU"
        )
    if args.full_epoch:
        report["full_epoch"] = {}
        for name in dict.fromkeys(["per-mark", fastest]):
            report["full_epoch"][name] = full = measure_full_epoch(device, name)
            print(
                f"one real {name} epoch: {full['epoch_s_wall']:.1f} s wall / "
                f"{full['epoch_s_cpu']:.1f} s CPU (extrapolated from samples: "
                f"{rows[name]['epoch_s_wall']:.1f} / {rows[name]['epoch_s_cpu']:.1f})"
            )
    print(
        f"\nprojected AttentiveChrome, {N_CELLS} cells x {N_EPOCHS} epochs "
        f"(target <= {TARGET_HOURS} h with {PARALLEL_JOBS} one-thread jobs on 2 CPU cores):"
    )
    report["projection"]["rows"] = []
    for name, row in rows.items():
        for basis, run_s, jobs in projection_rows(device, row, side_by_side.get(name, [])):
            hours = hours_for_all_cells(run_s, jobs)
            report["projection"]["rows"].append(
                {
                    "layout": name,
                    "basis": basis,
                    "run_s_per_cell": run_s,
                    "jobs": jobs,
                    "hours": hours,
                }
            )
            print(f"  {name:22} {basis:40} {run_s:6.0f} s per cell -> {hours:5.2f} h")
    speedup = reference["epoch_s_cpu"] / rows[fastest]["epoch_s_cpu"]
    print(
        f"fastest without a compiler: {fastest}, {speedup:.2f}x per epoch (CPU time) against "
        f"per-mark; the bar for wiring a route in is {TARGET_SPEEDUP}x"
    )
    report["load_average_end"] = os.getloadavg()
    print(f"load average at start {report['load_average_start']}, end {report['load_average_end']}")
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def print_routes(report: dict) -> None:
    """Step, scoring and epoch times of every route, its speed-up and its agreement."""
    rows = report["layouts"]
    reference = rows["per-mark"]
    print(
        f"\n{'route':22}{'step ms':>14}{'score ms/gene':>16}{'epoch s':>14}{'speed-up':>10}"
        "  agreement with per-mark   (each: wall / CPU; speed-up per epoch, CPU)"
    )
    for name, row in rows.items():
        agree = report["agreement"].get(name)
        note = "reference" if agree is None else f"max |diff| {max(agree.values()):.1e}"
        row["epoch_speedup_cpu"] = reference["epoch_s_cpu"] / row["epoch_s_cpu"]
        row["epoch_speedup_wall"] = reference["epoch_s_wall"] / row["epoch_s_wall"]
        print(
            f"{name:22}{row['train_step_ms_wall']:7.1f} /{row['train_step_ms_cpu']:5.1f}"
            f"{row['scoring_ms_per_gene_wall']:9.3f} /{row['scoring_ms_per_gene_cpu']:5.3f}"
            f"{row['epoch_s_wall']:7.1f} /{row['epoch_s_cpu']:5.1f}"
            f"{row['epoch_speedup_cpu']:9.2f}x  {note}"
        )


def print_bin_level(report: dict) -> None:
    """The ten bin-level LSTMs alone: times, GFLOP/s, and agreement of outputs and gradients."""
    rows = {n: r for n, r in report["layouts"].items() if "bin_level_train_ms_cpu" in r}
    train_mflop = 3 * BATCH * LSTM_FLOP_FORWARD_PER_GENE / 1e6
    score_mflop = EVAL_BATCH * LSTM_FLOP_FORWARD_PER_GENE / 1e6
    print(
        f"\nbin level alone (10 LSTMs x {N_BINS} bins x {HIDDEN} units; FLOPs = 2 x 4H(H + 1) "
        f"per gene, bin and LSTM forward, backward twice that): forward + backward at batch "
        f"{BATCH} = {train_mflop:.0f} MFLOP, forward at batch {EVAL_BATCH} = {score_mflop:.0f} "
        "MFLOP (CPU time)"
    )
    print(f"{'route':22}{'train ms':>10}{'GFLOP/s':>9}{'score ms':>10}{'GFLOP/s':>9}")
    for name, row in rows.items():
        print(
            f"{name:22}{row['bin_level_train_ms_cpu']:10.2f}"
            f"{row['bin_level_train_gflops_cpu']:9.1f}{row['bin_level_score_ms_cpu']:10.2f}"
            f"{row['bin_level_score_gflops_cpu']:9.1f}"
        )
    print(
        "bin-level outputs and gradients: max |diff| from nn.LSTM's (and / max |value|); "
        "error against float64 / max |value|, nn.LSTM's -> the route's (tolerance: "
        f"{report['bin_level_tolerance']:g}x nn.LSTM's + 1e-6, per tensor)"
    )
    for name, agree in report["bin_level_agreement"].items():
        verdict = "within tolerance" if agree["within_tolerance"] else "OUTSIDE TOLERANCE"
        print(f"  {name}: {verdict}")
        for kind, v in agree.items():
            if isinstance(v, dict):
                print(
                    f"    {kind:12} {v['max_abs_diff']:.1e} ({v['relative']:.1e}); "
                    f"float64 error {v['nn_lstm_error']:.1e} -> {v['error']:.1e}"
                )


if __name__ == "__main__":
    sys.exit(main())
