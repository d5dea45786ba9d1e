"""AttentiveChrome and its baselines: DeepChrome, the paper's LSTM and LSTM-Attn, an ablation.

Logistic regression, the fifth, lives in logistic.py (scikit-learn).

Every torch model takes float input of shape (batch, marks, bins) (`transform_counts`
makes it from read counts) and returns a `ModelOutput` with one output per gene. For
classification that output is a logit: the training loss takes the logits (BCE with
logits); everywhere else they become probabilities through `probabilities`, the one
sigmoid, so that no path applies it twice or skips it (forward never returns
probabilities). For regression (see task.py) the same output of the same architecture
is the predicted level, standardised by the training split's mean and sd (`LevelScale`,
kept in model.pt), trained with mean squared error (`loss_function`, `scores`).

The per-mark LSTMs: every mark has its own BiLSTM, as in the original: five `nn.LSTM`
modules, called one after the other, which on a CPU run PyTorch's fused LSTM kernel
(the layouts that step all five together, and how they compared, are in
benchmarks/README.md). Hidden states are kept sequence-first, (marks, bins, batch, 2H)
as nn.LSTM returns them, so the attention needs no transposed copies.

`kernel` picks what runs a model's heavy layers on the CPU: "torch" (PyTorch's layers,
the reference and the models' default here) or "numba" (faster per training epoch, see
benchmarks/README.md): for the LSTM models their BiLSTMs (numba_lstm.py: register-blocked
kernels, forward and backward) and their attention over bins (numba_attention.py, one
pass each way), outputs and gradients as close to float64 as PyTorch's (about 1e-6 of
their size); for DeepChrome a whole SGD step per gene, forward, backward and update
(numba_deepchrome.py), which the training loop runs when DeepChrome trains as published
(`DeepChrome.fused_sgd`). The pipeline's configuration picks numba on a CPU
(train.kernel). Training amplifies such rounding differences, so whole runs differ as
they would under another BLAS. The parameters are the same modules either way, so saved
models do not depend on it (a half-done training run resumes only with the kernel it
began with); on a GPU, or for float64 input, PyTorch's layers always run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

INIT_BOUND = 0.1  # the authors' port draws every parameter from uniform(-0.1, 0.1)
TRANSFORMS = ("none", "log1p")  # read counts -> model input: see transform_counts
KERNELS = ("torch", "numba")  # what runs the heavy layers on the CPU: module docstring


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # (batch,): the logit, or in regression the predicted level
    bin_attention: torch.Tensor | None = None  # (batch, marks, bins), rows sum to 1
    mark_attention: torch.Tensor | None = None  # (batch, marks), rows sum to 1


def probabilities(logits):
    """Probability of expression above the median, from logits: the one sigmoid.

    A torch tensor stays a tensor of its dtype (training's scoring); a numpy array or
    number gives a float64 numpy result (saliency tables, gene figures).
    """
    if isinstance(logits, torch.Tensor):
        return torch.sigmoid(logits)
    return torch.sigmoid(torch.as_tensor(logits, dtype=torch.float64)).numpy()


@dataclass(frozen=True)
class LevelScale:
    """How a regression model's output maps to log2(expression + 1): models are trained on
    the levels standardised by the training split's mean and sd, so that the loss and its
    gradients have the size they have in classification whatever the expression unit."""

    mean: float
    sd: float

    @classmethod
    def of(cls, levels: np.ndarray) -> LevelScale:
        """The scale of the training split's levels (which differ: dataset.read_npz)."""
        levels = np.asarray(levels, dtype=np.float64)
        return cls(float(levels.mean()), float(levels.std()))

    @classmethod
    def from_payload(cls, payload: Mapping) -> LevelScale | None:
        """The scale saved in a model.pt; None for a classification model."""
        if "level_mean" not in payload:
            return None
        return cls(float(payload["level_mean"]), float(payload["level_sd"]))

    def payload(self) -> dict:
        return {"level_mean": self.mean, "level_sd": self.sd}

    def standardise(self, levels):
        return (levels - self.mean) / self.sd

    def levels(self, outputs):
        """Predicted levels from outputs (a tensor or an array, keeping its kind)."""
        return outputs * self.sd + self.mean


def loss_function(task: str):
    """The training loss of a task on the models' outputs and the targets."""
    if task == "regression":
        return nn.functional.mse_loss
    return nn.functional.binary_cross_entropy_with_logits


def scores(outputs, scale: LevelScale | None = None):
    """What a model's outputs say about each gene: the probability of expression above the
    median (a classification model, by `probabilities`, for tensors and arrays alike), or
    the predicted level (a regression model, whose `scale` is given)."""
    return probabilities(outputs) if scale is None else scale.levels(outputs)


def transform_counts(counts, transform: str):
    """Model input from read counts: raw counts as the authors used, or log1p(counts).

    A numpy array gives a float32 copy (training, logistic regression); a float torch
    tensor gives a tensor autograd can differentiate back to the counts (saliency).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown count transform {transform!r}; expected one of {TRANSFORMS}")
    if isinstance(counts, np.ndarray):
        values = counts.astype(np.float32)
        return np.log1p(values) if transform == "log1p" else values
    return counts.log1p() if transform == "log1p" else counts


def check_kernel(kernel: str) -> str:
    """`kernel` if it is one of KERNELS and can run here (numba is installed)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {KERNELS}")
    if kernel == "numba" and importlib.util.find_spec("numba") is None:
        raise ModuleNotFoundError(
            "the numba kernels need the numba package, a dependency of this "
            "package: pip install numba (or train.kernel: torch)"
        )
    return kernel


def runs_numba(kernel: str, x: torch.Tensor) -> bool:
    """Whether the numba kernels run on x: asked for, float32, on the CPU."""
    return kernel == "numba" and x.device.type == "cpu" and x.dtype == torch.float32


_BIT_SHIFTS = torch.arange(8, dtype=torch.uint8)


def half_dropout(x: torch.Tensor, training: bool) -> torch.Tensor:
    """nn.Dropout(0.5) whose masks are the bits of random bytes from torch's generator,
    eight values per byte: the same distribution, drawn about ten times faster on a CPU
    than nn.Dropout's one Bernoulli draw per value (benchmarks/README.md); float32 on the
    CPU goes through numba_lstm.bit_dropout (the same values, one pass each way)."""
    if not training:
        return x
    n = x.numel()
    random_bytes = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8, device=x.device)
    if runs_numba("numba", x):  # one pass each way (numba is imported only where it runs)
        from attentivechrome.learn.numba_lstm import bit_dropout

        return bit_dropout(x, random_bytes)
    keep = (random_bytes[:, None] >> _BIT_SHIFTS.to(x.device)) & 1
    return x * (keep.view(-1)[:n].view(x.shape).to(x.dtype) * 2)


def uniform_init_(module: nn.Module, bound: float = INIT_BOUND) -> None:
    for parameter in module.parameters():
        nn.init.uniform_(parameter, -bound, bound)


class ContextAttention(nn.Module):
    """Attention of the authors' port: softmax over positions of (hidden state . context).

    Holds one learned context vector per group (one per mark at the bin level, a single
    one at the mark level). Input is sequence-first like nn.LSTM output, (groups,
    positions, batch, dim), so no copy is needed; returns the attention-weighted sum
    (groups, batch, dim) and the weights (groups, positions, batch).
    """

    def __init__(self, n_groups: int, dim: int):
        super().__init__()
        self.context = nn.Parameter(torch.empty(n_groups, dim))

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # A broadcast product and sum, not matmul, which broadcasts into thousands of
        # tiny products (benchmarks/README.md).
        scores = (hidden * self.context[:, None, None, :]).sum(-1)
        weights = torch.softmax(scores, dim=1)
        pooled = (weights.unsqueeze(-1) * hidden).sum(dim=1)
        return pooled, weights


def attend(attention: ContextAttention, hidden: torch.Tensor, kernel: str):
    """`attention` over bins: in one numba pass each way with the numba kernel (the mark
    level's five positions gain nothing from it and stay in PyTorch)."""
    if runs_numba(kernel, hidden):
        from attentivechrome.learn.numba_attention import attention as numba_attention

        return numba_attention(hidden, attention.context)
    return attention(hidden)


def final_states(outputs: torch.Tensor) -> torch.Tensor:
    """Summary of BiLSTM outputs (..., positions, batch, 2H) without attention.

    The forward direction's state after the last position and the backward direction's
    state after the first, concatenated (..., batch, 2H): the same as nn.LSTM's h_n.
    """
    half = outputs.shape[-1] // 2
    return torch.cat([outputs[..., -1, :, :half], outputs[..., 0, :, half:]], dim=-1)


class HierarchicalLSTM(nn.Module):
    """Two-level BiLSTM: one BiLSTM per mark over bins, then one BiLSTM over marks.

    With `attention=True` this is AttentiveChrome: each level pools its sequence with a
    `ContextAttention`. With `attention=False` it is the "LSTM without attention"
    baseline: each level instead summarises its sequence by the final hidden states of
    both directions (forward after the last position, backward after the first),
    concatenated, which has the same size as the attention-pooled vector.
    """

    def __init__(
        self,
        n_marks: int = 5,
        n_bins: int = 100,
        bin_hidden: int = 32,
        mark_hidden: int = 16,
        attention: bool = True,
        kernel: str = "torch",
    ):
        super().__init__()
        self.n_marks, self.n_bins = n_marks, n_bins
        self.bin_hidden, self.mark_hidden = bin_hidden, mark_hidden
        self.attention = attention
        self.kernel = check_kernel(kernel)
        self.bin_encoders = nn.ModuleList(
            nn.LSTM(1, bin_hidden, bidirectional=True) for _ in range(n_marks)
        )
        self.mark_encoder = nn.LSTM(2 * bin_hidden, mark_hidden, bidirectional=True)
        if attention:
            self.bin_attention = ContextAttention(n_marks, 2 * bin_hidden)
            self.mark_attention = ContextAttention(1, 2 * mark_hidden)
        self.classifier = nn.Linear(2 * mark_hidden, 1)
        uniform_init_(self)

    def hyperparameters(self) -> dict:
        return {
            "n_marks": self.n_marks,
            "n_bins": self.n_bins,
            "bin_hidden": self.bin_hidden,
            "mark_hidden": self.mark_hidden,
        }

    def encode_bins(self, x: torch.Tensor) -> torch.Tensor:
        """Each mark's BiLSTM over its bins: (B, M, T) -> (M, T, B, 2H), [forward|backward]."""
        if runs_numba(self.kernel, x):
            from attentivechrome.learn.numba_lstm import (
                lstm_outputs,  # numba is imported only where it runs
            )

            return lstm_outputs(x, list(self.bin_encoders))
        # nn.LSTM wants (seq, batch, features): bins are the sequence, one count per step.
        outputs = [
            encoder(x[:, m, :].t().unsqueeze(-1))[0] for m, encoder in enumerate(self.bin_encoders)
        ]
        return torch.stack(outputs)

    def attend_bins(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return attend(self.bin_attention, hidden, self.kernel)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_input(x, self.n_marks, self.n_bins)
        hidden = self.encode_bins(x)
        if self.attention:
            mark_embeddings, bin_weights = self.attend_bins(hidden)  # (M, B, 2H), (M, T, B)
        else:
            mark_embeddings = final_states(hidden)
        mark_out, _ = self.mark_encoder(mark_embeddings)  # marks are the sequence: (M, B, 2h)
        if not self.attention:
            return ModelOutput(self.classifier(final_states(mark_out)).squeeze(-1))
        gene, mark_weights = self.mark_attention(mark_out.unsqueeze(0))
        logits = self.classifier(gene[0]).squeeze(-1)
        return ModelOutput(logits, bin_weights.permute(2, 0, 1), mark_weights[0].t())


class AttentiveChrome(HierarchicalLSTM):
    """The published model: `HierarchicalLSTM` with attention at both levels; it takes
    HierarchicalLSTM's keywords but `attention`."""

    def __init__(self, **options):
        super().__init__(attention=True, **options)


class HierarchicalPlainLSTM(HierarchicalLSTM):
    """Ablation: AttentiveChrome with both attention levels replaced by final states; it
    takes HierarchicalLSTM's keywords but `attention`.

    Not a published baseline (the paper's LSTM reads the marks together: `FlatLSTM`).
    """

    def __init__(self, **options):
        super().__init__(attention=False, **options)


class FlatLSTM(nn.Module):
    """The paper's LSTM baselines: one BiLSTM over the bins, the marks its inputs per step.

    From the `rnn` and `rnn-attention` branches of the authors' Lua model
    (OLD-v1LuaTorch/2_model.lua): `rnn_size` 32 units per direction, dropout 0.5 on the
    LSTM outputs, then a linear layer. Without attention (the paper's "LSTM") the two
    directions' final states are joined; with attention ("LSTM-Attn") the bins' states
    are pooled by one context-vector attention over bins, as AttentiveChrome's first
    level does per mark. The Lua `rnn-attention` branch ends in `Linear(1, 2)` after a
    pooled vector of 64 values, which cannot run; we read it as Linear(64 -> 1).
    With the numba kernel its BiLSTM and attention run in numba_lstm.py and
    numba_attention.py, and the dropout masks are drawn as random bits (`half_dropout`);
    without attention only the two final states are dropped out, the only outputs read
    (the same distribution as dropping all of them out, at a hundredth of the draws).
    """

    def __init__(
        self,
        n_marks: int = 5,
        n_bins: int = 100,
        hidden: int = 32,
        attention: bool = False,
        kernel: str = "torch",
    ):
        super().__init__()
        self.n_marks, self.n_bins, self.hidden = n_marks, n_bins, hidden
        self.attention = attention
        self.kernel = check_kernel(kernel)
        self.encoder = nn.LSTM(n_marks, hidden, bidirectional=True)
        self.dropout = nn.Dropout(0.5)
        if attention:
            self.bin_attention = ContextAttention(1, 2 * hidden)
        self.classifier = nn.Linear(2 * hidden, 1)
        uniform_init_(self)

    def hyperparameters(self) -> dict:
        return {"n_marks": self.n_marks, "n_bins": self.n_bins, "hidden": self.hidden}

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_input(x, self.n_marks, self.n_bins)
        if runs_numba(self.kernel, x):
            from attentivechrome.learn.numba_lstm import lstm_outputs

            hidden = lstm_outputs(x, [self.encoder])[0]
            if not self.attention:  # dropout is per value: only the two states read
                states = half_dropout(final_states(hidden), self.training)
                return ModelOutput(self.classifier(states).squeeze(-1))
            hidden = half_dropout(hidden, self.training)
        else:
            hidden, _ = self.encoder(x.permute(2, 0, 1))  # bins are the sequence: (T, B, 2H)
            hidden = self.dropout(hidden)
        if not self.attention:
            return ModelOutput(self.classifier(final_states(hidden)).squeeze(-1))
        # (1, B, 2H), (1, T, B)
        pooled, weights = attend(self.bin_attention, hidden.unsqueeze(0), self.kernel)
        return ModelOutput(self.classifier(pooled[0]).squeeze(-1), weights.permute(2, 0, 1))


class FlatLSTMAttention(FlatLSTM):
    """The paper's LSTM-Attn: `FlatLSTM` with attention; it takes FlatLSTM's keywords but
    `attention`."""

    def __init__(self, **options):
        super().__init__(attention=True, **options)


class DeepChrome(nn.Module):
    """DeepChrome CNN (Singh et al. 2016): conv 10 -> ReLU -> max-pool 5 -> dropout -> MLP.

    The original ends in Linear(125 -> 2) + LogSoftMax + NLL. We keep the two outputs
    and return their difference as the logit: softmax over two classes equals the
    sigmoid of that difference, so BCE-with-logits on it is the same loss and the same
    parameterisation. Default PyTorch initialisation (close to Lua torch's 1/sqrt(fan_in)).
    Its forward pass is always PyTorch's; with the numba kernel the training loop runs
    whole SGD steps in numba_deepchrome.py instead, where `fused_sgd` says so.
    """

    def __init__(
        self, n_marks: int = 5, n_bins: int = 100, n_filters: int = 50, kernel: str = "torch"
    ):
        super().__init__()
        self.n_marks, self.n_bins, self.n_filters = n_marks, n_bins, n_filters
        self.kernel = check_kernel(kernel)
        kernel, pool = 10, 5
        pooled = (n_bins - kernel + 1) // pool
        if pooled < 1:
            raise ValueError(f"DeepChrome needs at least {kernel + pool - 1} bins, got {n_bins}")
        self.features = nn.Sequential(
            nn.Conv1d(n_marks, n_filters, kernel),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.Flatten(),
            nn.Dropout(0.5),
        )
        self.mlp = nn.Sequential(
            nn.Linear(n_filters * pooled, 625),  # 900 for 100 bins, as published
            nn.ReLU(),
            nn.Linear(625, 125),
            nn.ReLU(),
            nn.Linear(125, 2),
        )

    def hyperparameters(self) -> dict:
        return {"n_marks": self.n_marks, "n_bins": self.n_bins, "n_filters": self.n_filters}

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_input(x, self.n_marks, self.n_bins)
        scores = self.mlp(self.features(x))
        return ModelOutput(scores[:, 1] - scores[:, 0])

    def fused_sgd(
        self, optimizer: torch.optim.Optimizer, batch_size: int, clip: float | None, x
    ) -> bool:
        """Whether training steps run numba_deepchrome's fused kernel: the numba kernel on
        float32 CPU input, with the published schedule it implements (plain SGD without
        momentum or weight decay, one gene per step, no clipping); otherwise PyTorch's."""
        group = optimizer.param_groups[0]
        plain = type(optimizer) is torch.optim.SGD and len(optimizer.param_groups) == 1
        plain = plain and group["momentum"] == 0 and group["weight_decay"] == 0
        return runs_numba(self.kernel, x) and plain and batch_size == 1 and clip is None


def check_input(x: torch.Tensor, n_marks: int, n_bins: int) -> None:
    if x.dim() != 3 or x.shape[1] != n_marks or x.shape[2] != n_bins:
        raise ValueError(
            f"expected input of shape (batch, {n_marks} marks, {n_bins} bins), got {tuple(x.shape)}"
        )


@dataclass(frozen=True)
class ModelSpec:
    """How a model is built and trained by default (each setting as its authors used it)."""

    name: str
    builder: type[nn.Module] | None  # None: not a torch model (logistic regression)
    optimizer: str  # "adam", "sgd" or "lbfgs" (scikit-learn)
    lr: float | None
    batch_size: int | None
    clip: float | None
    epochs: int | None  # None: not trained in epochs (logistic regression)
    has_attention: bool
    description: str


def _port_schedule(name: str, builder: type[nn.Module], has_attention: bool, description: str):
    """A model trained as the authors' PyTorch port trains AttentiveChrome: Adam 2e-4,
    batch 16, gradient-norm clip 1, 30 epochs (the LSTM baselines share it, so that a
    comparison with AttentiveChrome changes only the model)."""
    return ModelSpec(name, builder, "adam", 2e-4, 16, 1.0, 30, has_attention, description)


MODELS: dict[str, ModelSpec] = {
    "attentivechrome": _port_schedule(
        "attentivechrome",
        AttentiveChrome,
        True,
        "two-level BiLSTM with bin and mark attention; Adam 2e-4, batch 16, clip 1, "
        "30 epochs (PyTorch port of the authors)",
    ),
    "lstm": _port_schedule(
        "lstm",
        FlatLSTM,
        False,
        "the paper's LSTM: one BiLSTM (32 per direction) over the bins with the five marks "
        "as inputs per step, final states joined, dropout 0.5 (the authors' Lua `rnn` "
        "branch); trained like AttentiveChrome",
    ),
    "lstm-attention": _port_schedule(
        "lstm-attention",
        FlatLSTMAttention,
        False,
        "the paper's LSTM-Attn: the same BiLSTM pooled by one attention over bins (the "
        "authors' Lua `rnn-attention` branch); trained like AttentiveChrome",
    ),
    "hierarchical-lstm": _port_schedule(
        "hierarchical-lstm",
        HierarchicalPlainLSTM,
        False,
        "ablation, not a published model: AttentiveChrome's two-level BiLSTM with final "
        "states instead of attention at both levels; trained like AttentiveChrome",
    ),
    "deepchrome": ModelSpec(
        "deepchrome",
        DeepChrome,
        "sgd",
        1e-3,
        1,
        None,
        100,
        False,
        "DeepChrome CNN; plain SGD lr 1e-3, one gene per step, no momentum and no "
        "clipping, 100 epochs, as in the authors' Lua code (its doall.lua)",
    ),
    "logistic": ModelSpec(
        "logistic",
        None,
        "lbfgs",
        None,
        None,
        None,
        None,
        False,
        "L2 logistic regression on standardised flattened bin counts (scikit-learn); "
        "C picked on the validation AUROC",
    ),
}


def build_model(name: str, n_marks: int, n_bins: int, kernel: str = "torch") -> nn.Module:
    """A fresh torch model of the registry's kind for inputs of n_marks x n_bins, whose
    heavy layers on a CPU run in `kernel` (KERNELS)."""
    spec = MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if spec.builder is None:
        raise ValueError(f"model {name!r} is not a torch model")
    return spec.builder(n_marks=n_marks, n_bins=n_bins, kernel=kernel)
