"""model.ContextAttention as numba kernels, one pass forward and one backward (CPU).

Used with `train.kernel: numba` for the attention over bins, over the BiLSTM states of
numba_lstm.py: AttentiveChrome's per mark (marks, bins, batch, 2H), LSTM-Attn's one (1,
bins, batch, 2H). There PyTorch's broadcast products and sums over all the states cost
more than one pass (benchmarks/README.md); AttentiveChrome's mark level's five positions
gain nothing and stay in PyTorch. Importing this module needs numba.
`attention(hidden, context)` gives ContextAttention's (pooled (G, B, D), weights (G, P,
B)) from hidden (G, P, B, D) and one context per group (G, D), D a multiple of 8; its
backward pass gives the gradients of both, through the weights too where they enter a
loss. Outputs and gradients are as close to a float64 computation as PyTorch's
(tests/learn/test_numba_attention.py).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from attentivechrome.learn.numba_vector import JIT, flat, vdot, vfma, vload, vsplat, vstore

# --- the kernel ---------------------------------------------------------------------------


@njit(**JIT)
def _attend(h, context, weights, pooled, groups, positions, batch, dim):
    """Context attention, ContextAttention's arithmetic: per group g and gene b, weights
    (G, P, B) = softmax over positions p of h[g, p, b] . context[g], and pooled (G, B, D)
    = the sum over p of weights * h[g, p, b]; h (G, P, B, D), context (G, D), flat."""
    for g in range(groups):
        for p in range(positions):
            for b in range(batch):
                row = ((g * positions + p) * batch + b) * dim
                weights[(g * positions + p) * batch + b] = vdot(h, row, context, g * dim, dim)
        for b in range(batch):
            first = g * positions * batch + b
            top = weights[first]
            for p in range(1, positions):
                top = max(top, weights[first + p * batch])
            total = np.float32(0.0)
            for p in range(positions):
                e = np.exp(weights[first + p * batch] - top)
                weights[first + p * batch] = e
                total += e
            for p in range(positions):
                weights[first + p * batch] /= total
        out = g * batch * dim
        pooled[out : out + batch * dim] = 0
        for p in range(positions):
            for b in range(batch):
                row = ((g * positions + p) * batch + b) * dim
                w = vsplat(weights[(g * positions + p) * batch + b])
                for j in range(0, dim, 8):
                    at = out + b * dim + j
                    vstore(pooled, at, vfma(w, vload(h, row + j), vload(pooled, at)))


@njit(**JIT)
def _attend_backward(
    h, context, weights, d_pooled, d_weights, dh, d_context, groups, positions, batch, dim,
    has_d_weights,
):  # fmt: skip
    """Gradients of h and context from those of _attend's outputs (d_weights only with
    has_d_weights: the attention maps rarely enter a loss); flat arrays, overwritten."""
    d_scores = np.empty(positions * batch, dtype=np.float32)
    part = np.empty(dim, dtype=np.float32)  # one position's share of d_context
    d_context[:] = 0
    for g in range(groups):
        # d_loss / d_weight, then back through the softmax.
        for p in range(positions):
            for b in range(batch):
                row = ((g * positions + p) * batch + b) * dim
                dot = vdot(h, row, d_pooled, (g * batch + b) * dim, dim)
                extra = d_weights[(g * positions + p) * batch + b] if has_d_weights else 0.0
                d_scores[p * batch + b] = dot + extra
        for b in range(batch):
            mean = np.float32(0.0)
            for p in range(positions):
                mean += weights[(g * positions + p) * batch + b] * d_scores[p * batch + b]
            for p in range(positions):
                w = weights[(g * positions + p) * batch + b]
                d_scores[p * batch + b] = w * (d_scores[p * batch + b] - mean)
        # dh = weight * d_pooled + d_score * context; d_context sums d_score * h.
        for p in range(positions):
            part[:] = 0
            for b in range(batch):
                row = ((g * positions + p) * batch + b) * dim
                w = vsplat(weights[(g * positions + p) * batch + b])
                d = vsplat(d_scores[p * batch + b])
                for j in range(0, dim, 8):
                    through_pool = w * vload(d_pooled, (g * batch + b) * dim + j)
                    vstore(dh, row + j, vfma(d, vload(context, g * dim + j), through_pool))
                    vstore(part, j, vfma(d, vload(h, row + j), vload(part, j)))
            for j in range(dim):
                d_context[g * dim + j] += part[j]


# --- autograd -----------------------------------------------------------------------------


class AttentionFunction(torch.autograd.Function):
    """(G, P, B, D) hidden states and (G, D) contexts -> pooled (G, B, D), weights (G, P, B)."""

    @staticmethod
    def forward(ctx, hidden, context):
        groups, positions, batch, dim = hidden.shape
        if hidden.device.type != "cpu" or hidden.dtype != torch.float32 or dim % 8:
            raise ValueError("the numba attention takes float32 on the CPU, 8k values per state")
        hidden = hidden.contiguous()
        weights = torch.empty(groups, positions, batch)
        pooled = torch.empty(groups, batch, dim)
        _attend(
            flat(hidden), flat(context), weights.view(-1).numpy(), pooled.view(-1).numpy(),
            groups, positions, batch, dim,
        )  # fmt: skip
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(hidden, context, weights)
        return pooled, weights

    @staticmethod
    def backward(ctx, d_pooled, d_weights):
        hidden, context, weights = ctx.saved_tensors
        groups, positions, batch, dim = hidden.shape
        if d_pooled is None:
            d_pooled = hidden.new_zeros(groups, batch, dim)
        has_d_weights = d_weights is not None
        dh = torch.empty_like(hidden)
        d_context = torch.empty_like(context)
        _attend_backward(
            flat(hidden), flat(context), flat(weights), flat(d_pooled.to(torch.float32)),
            flat(d_weights.to(torch.float32)) if has_d_weights else np.empty(1, np.float32),
            dh.view(-1).numpy(), d_context.view(-1).numpy(),
            groups, positions, batch, dim, has_d_weights,
        )  # fmt: skip
        return dh, d_context


def attention(hidden: torch.Tensor, context: torch.Tensor):
    """model.ContextAttention's forward with its context (G, D) over hidden (G, P, B, D):
    (pooled (G, B, D), weights (G, P, B)), in one pass each way."""
    return AttentionFunction.apply(hidden, context)
