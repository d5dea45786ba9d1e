"""Training speed of AttentiveChrome layouts on a full-size synthetic cell type.

The five per-mark BiLSTMs can be run in several ways that compute the same function:

  per-mark        five nn.LSTM calls (the model's layout; oneDNN's fused LSTM on CPU)
  block-diagonal  one nn.LSTM with 5x32 units per direction whose weights are assembled
                  block-diagonally from the per-mark weights (one call, 5x the arithmetic)
  grouped-bmm     a hand-written LSTM stepping all 10 (mark, direction) LSTMs together
                  with one batched matmul per bin (autograd through 100 Python steps)
  grouped-manual  the same stepping with a hand-written backward pass and no autograd
                  inside the loop (grouped_lstm.py)

For each layout the script checks that outputs and gradients equal the per-mark layout
for the same weights, then times training steps (batch 16: forward, backward, gradient
clipping, Adam) and validation scoring, interleaving the layouts round by round so
that load from other processes hits all of them alike. Times for a whole epoch are
extrapolated from those samples (6601 training genes = 413 steps; 6601 validation
genes scored once per epoch; 6600 test genes once per run). `--jobs 2` also runs the
model's layout in two processes at once (one thread each) as the pipeline would on two
cores; with `--device cuda` the jobs share one GPU. Every time is given as wall-clock
and as CPU seconds: on a machine shared with other work the CPU time is the better
estimate of what a quiet core would take.

    python benchmarks/train_benchmark.py [--steps 40] [--jobs 2] [--deepchrome] [--full-epoch]
                                          [--device cuda] [--allocator system]
    python benchmarks/train_benchmark.py --compare-allocators [--rounds 3]

Jobs run under tcmalloc where it is installed, as the pipeline's training jobs do with
`train.allocator: tcmalloc` (`--allocator system` for glibc's malloc, the pipeline's
default); `--compare-allocators` times both.
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

from attentivechrome.allocator import find_tcmalloc, loaded_tcmalloc, restart_with_tcmalloc
from attentivechrome.io import atomic_write_text
from attentivechrome.model import AttentiveChrome, DeepChrome
from attentivechrome.training import make_optimizer, predict, train_one_epoch

N_TRAIN, N_VALID, N_TEST = 6601, 6601, 6600
N_MARKS, N_BINS, BATCH = 5, 100, 16
EVAL_WARMUP = 256
N_CELLS, N_EPOCHS, PARALLEL_JOBS = 56, 30, 2
TARGET_HOURS = 1.5


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


LAYOUTS = {
    "per-mark": AttentiveChrome,
    "block-diagonal": BlockDiagonalChrome,
    "grouped-bmm": GroupedBmmChrome,
    "grouped-manual": GroupedManualChrome,
}


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
    other.load_state_dict(reference.state_dict())
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


def epoch_seconds(step_s: float, gene_s: float, batch: int = BATCH) -> float:
    return math.ceil(N_TRAIN / batch) * step_s + N_VALID * gene_s


def run_seconds(step_s: float, gene_s: float) -> float:
    """One cell type: 30 epochs of training + validation, then the test set once."""
    return N_EPOCHS * epoch_seconds(step_s, gene_s) + N_TEST * gene_s


def summarise(steps: list[tuple[float, float]], genes: list[tuple[float, float]]) -> dict:
    """Medians over rounds, extrapolated to an epoch and a run, in wall and CPU seconds."""
    row = {}
    for index, kind in enumerate(("wall", "cpu")):
        step_s = statistics.median(s[index] for s in steps)
        gene_s = statistics.median(g[index] for g in genes)
        row[f"train_step_ms_{kind}"] = 1000 * step_s
        row[f"scoring_ms_per_gene_{kind}"] = 1000 * gene_s
        row[f"epoch_s_{kind}"] = epoch_seconds(step_s, gene_s)
        row[f"run_s_{kind}"] = run_seconds(step_s, gene_s)
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
    samples = {name: ([], []) for name in names}
    for _ in range(rounds):  # interleave so background load is shared fairly
        for name in names:
            samples[name][0].append(time_train_steps(models[name], X, y, steps, BATCH))
            samples[name][1].append(time_scoring(models[name], X[:eval_genes], y[:eval_genes]))
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


def measure_full_epoch(device: torch.device) -> dict:
    """One real epoch of the model's layout (6601 genes trained, 6601 scored): checks the
    extrapolation from samples."""
    X, y = on_device(N_TRAIN, 1, device)
    X_valid, y_valid = on_device(N_VALID, 3, device)
    torch.manual_seed(0)
    model = AttentiveChrome().to(device)
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


def _job_worker(args: tuple[int, int, int, str]) -> dict:
    steps, eval_genes, rounds, device = args
    torch.set_num_threads(1)
    return measure_layouts(["per-mark"], steps, eval_genes, rounds, torch.device(device))[
        "per-mark"
    ]


def measure_jobs(jobs: int, steps: int, eval_genes: int, rounds: int, device: str) -> list[dict]:
    """The model's layout in `jobs` processes at once, one CPU thread each, as the pipeline
    runs them (on a GPU they share the one device)."""
    with mp.get_context("spawn").Pool(jobs) as pool:
        return pool.map(_job_worker, [(steps, eval_genes, rounds, device)] * jobs)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per sample")
    parser.add_argument("--eval-genes", type=int, default=1024, help="genes scored per sample")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved samples per layout")
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="also time this many jobs side by side (2 = the pipeline on 2 cores)",
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
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train_benchmark.json"))
    args = parser.parse_args(argv)
    if args.compare_allocators:
        return compare_allocators(args)
    if args.allocator == "tcmalloc":
        restart_with_tcmalloc()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "1 CPU thread"

    x_check, _ = synthetic_counts(8, seed=2)
    print(f"torch {torch.__version__}, {where}, {platform.processor() or platform.machine()}")
    print(f"memory allocator: {loaded_tcmalloc() or 'system malloc'}")
    print(f"training sample: {args.steps} steps of batch {BATCH}, scoring {args.eval_genes} genes,")
    print(f"{args.rounds} interleaved rounds (medians); an epoch = 413 steps + 6601 genes scored")
    report: dict = {
        "device": where,
        "layouts": {},
        "agreement": {},
        "load_average_start": os.getloadavg(),
    }
    for name in args.layouts:
        if name != "per-mark":
            report["agreement"][name] = layout_agreement(name, x_check)
    report["layouts"] = measure_layouts(
        args.layouts, args.steps, args.eval_genes, args.rounds, device
    )

    header = f"{'layout':16}{'step ms':>14}{'score ms/gene':>16}{'epoch s':>14}"
    print(f"\n{header}  agreement with per-mark      (each: wall / CPU)")
    for name, row in report["layouts"].items():
        agree = report["agreement"].get(name)
        note = "reference" if agree is None else f"max |diff| {max(agree.values()):.1e}"
        print(
            f"{name:16}{row['train_step_ms_wall']:7.1f} /{row['train_step_ms_cpu']:5.1f}"
            f"{row['scoring_ms_per_gene_wall']:9.3f} /{row['scoring_ms_per_gene_cpu']:5.3f}"
            f"{row['epoch_s_wall']:7.1f} /{row['epoch_s_cpu']:5.1f}  {note}"
        )
    fastest = min(report["layouts"], key=lambda n: report["layouts"][n]["run_s_cpu"])
    chosen = report["layouts"][fastest]
    report["projection"] = {"fastest_layout": fastest, "target_hours": TARGET_HOURS}
    runs = []
    if args.jobs:
        runs = report["jobs"] = measure_jobs(
            args.jobs, args.steps, args.eval_genes, args.rounds, args.device
        )
        epochs = [round(r["epoch_s_wall"], 1) for r in runs]
        print(f"\nper-mark, {args.jobs} jobs at once: epoch {epochs} s wall")
    projections = projection_rows(device, chosen, runs)
    if args.deepchrome:
        report["deepchrome"] = measure_deepchrome(args.steps, args.eval_genes, device)
        dc = report["deepchrome"]
        print(
            f"deepchrome (batch 1, SGD): step {dc['train_step_ms_wall']:.2f} ms, "
            f"epoch {dc['epoch_s_wall']:.1f} s wall / {dc['epoch_s_cpu']:.1f} s CPU"
        )
    if args.full_epoch:
        report["full_epoch"] = full = measure_full_epoch(device)
        sampled = report["layouts"].get("per-mark", {})
        print(
            f"one real per-mark epoch: {full['epoch_s_wall']:.1f} s wall / "
            f"{full['epoch_s_cpu']:.1f} s CPU (extrapolated from samples: "
            f"{sampled.get('epoch_s_wall', math.nan):.1f} / "
            f"{sampled.get('epoch_s_cpu', math.nan):.1f})"
        )
    print(
        f"\nprojected AttentiveChrome ({fastest}), {N_CELLS} cells x {N_EPOCHS} epochs "
        f"(target <= {TARGET_HOURS} h with {PARALLEL_JOBS} one-thread jobs on 2 CPU cores):"
    )
    report["projection"]["rows"] = []
    for basis, run_s, jobs in projections:
        hours = hours_for_all_cells(run_s, jobs)
        report["projection"]["rows"].append(
            {"basis": basis, "run_s_per_cell": run_s, "jobs": jobs, "hours": hours}
        )
        print(f"  {basis:40} {run_s:6.0f} s per cell, {jobs} at once -> {hours:5.2f} h")
    report["load_average_end"] = os.getloadavg()
    print(f"load average at start {report['load_average_start']}, end {report['load_average_end']}")
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
