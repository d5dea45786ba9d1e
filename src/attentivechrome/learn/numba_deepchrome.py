"""DeepChrome's SGD training as one numba kernel: forward, backward and update per gene (CPU).

Used with `train.kernel: numba` when DeepChrome trains as published (plain SGD, one gene
per step, no clipping); importing this module needs numba. PyTorch's time on such a step
goes nearly all into the overhead of some thirty small operations and an optimizer step
over eight tensors; the arithmetic (about 4 MFLOP, 0.64 M weights read and updated) is a
small part of it (benchmarks/README.md). `FusedDeepChrome(model)` holds the model's weights
in the kernel's layout; `train(X, y, order, keep, lr)` runs SGD steps over the genes
`order` with the given dropout masks and returns each step's loss; `write_to(model)` puts
the weights back into the modules. `train_epoch` is the epoch the training loop calls:
masks drawn from a numpy generator of the run's own (checkpointed with the run), the
weights copied in and out once per epoch.

Each step is the model's own (tests/learn/test_numba_deepchrome.py): conv (kernel 10) ->
ReLU -> max-pool 5 -> flatten -> dropout 0.5 -> 900 -> 625 -> ReLU -> 125 -> ReLU -> 2,
logit = the two outputs' difference, BCE with logits, then w -= lr * dL/dw; in float32,
summed in another order than PyTorch's, so each step equals PyTorch's to float32
rounding.

How the kernel is built:

- Weights are stored transposed where that makes the step's work contiguous: each input
  of a linear layer owns a row of its weights (900 x 625 and 625 x 125), so that forward
  adds `input * row` into the outputs and backward reads and updates the same row once:
  the input's gradient (a dot product with the output gradients) and the row's update
  (input x output gradients) in one pass.
- Inputs that are zero (dropped by dropout, or zero after a ReLU) add nothing forward and
  get no weight update backward: their rows are skipped. Dropout alone halves the work of
  the largest layer.
- The convolution's channels are vectors of 8 (`numba_vector.f32x8`), five positions (one
  pooling window) at a time in registers; its backward pass takes the gradient only at
  each window's maximum (the first one, as PyTorch's max-pool picks).
- Sizes are padded with zeros to whole vectors (channels to 8, hidden units to 32), which
  stay zero through every update.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from attentivechrome.learn.numba_vector import JIT, vdot, vfma, vload, vmax, vsplat, vstore, vsum

#: Genes per kernel call: the progress line is updated between calls.
CHUNK = 512


def _padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# --- the kernel ---------------------------------------------------------------------------


@njit(inline="always", **JIT)
def _sgd(array, at, step, grad):
    """array[at : at + 8] += step * grad: an SGD update, step = -lr."""
    vstore(array, at, vfma(step, grad, vload(array, at)))


@njit(**JIT)
def _train(
    X, y, order, keep, first, count, lr, scale, conv_w, conv_b, w1, b1, w2, b2, w3, b3, losses,
    marks, bins, width, pool, filters, channels, pooled, hidden1, hidden2,
):  # fmt: skip
    """SGD steps for the genes order[first : first + count], one gene at a time, in place.

    X (genes, marks, bins) and keep (count, filters * pooled; 1 keeps a feature) flat;
    conv_w (marks * width, channels) [m * width + k, c], conv_b (channels); w1 (filters *
    pooled, hidden1) = fc1.weight transposed, w2 (hidden1, hidden2) likewise, w3 (2,
    hidden2) as stored; biases padded like their layer. pool must be 5 and width a
    multiple of 5. Kept features are scaled by `scale` (dropout's 1 / (1 - p)). losses[n]
    gets step n's loss.
    """
    features = filters * pooled
    used = pooled * pool  # conv positions that reach a pooling window
    lr = np.float32(lr)
    one = np.float32(1.0)
    step = vsplat(-lr)
    zero = vsplat(0.0)
    z = np.empty(used * channels, dtype=np.float32)  # conv outputs (position, channel)
    pool_max = np.empty(pooled * channels, dtype=np.float32)  # after ReLU (window, channel)
    x1 = np.empty(features, dtype=np.float32)  # dropout's output, fc1's input
    active = np.empty(features, dtype=np.int64)  # its nonzero entries
    h1 = np.empty(hidden1, dtype=np.float32)
    d1 = np.empty(hidden1, dtype=np.float32)
    rows1 = np.empty(hidden1, dtype=np.int64)  # fc1 units above zero
    h2 = np.empty(hidden2, dtype=np.float32)
    d2 = np.empty(hidden2, dtype=np.float32)
    dx1 = np.zeros(features, dtype=np.float32)
    dz = np.zeros(used * channels, dtype=np.float32)
    for n in range(count):
        gene = order[first + n]
        x0 = gene * marks * bins
        # Convolution, five positions (one pooling window) per vector of 8 channels.
        for p in range(pooled):
            for cv in range(0, channels, 8):
                a0 = a1 = a2 = a3 = a4 = vload(conv_b, cv)
                for m in range(marks):
                    row = x0 + m * bins + p * pool
                    for k in range(width):
                        w = vload(conv_w, (m * width + k) * channels + cv)
                        a0 = vfma(vsplat(X[row + k]), w, a0)
                        a1 = vfma(vsplat(X[row + k + 1]), w, a1)
                        a2 = vfma(vsplat(X[row + k + 2]), w, a2)
                        a3 = vfma(vsplat(X[row + k + 3]), w, a3)
                        a4 = vfma(vsplat(X[row + k + 4]), w, a4)
                at = p * pool * channels + cv
                vstore(z, at, a0)
                vstore(z, at + channels, a1)
                vstore(z, at + 2 * channels, a2)
                vstore(z, at + 3 * channels, a3)
                vstore(z, at + 4 * channels, a4)
                top = vmax(vmax(vmax(a0, a1), vmax(a2, a3)), vmax(a4, zero))
                vstore(pool_max, p * channels + cv, top)
        # Flatten (channel-major, as nn.Flatten) and dropout.
        n_active = 0
        for c in range(filters):
            for p in range(pooled):
                j = c * pooled + p
                value = pool_max[p * channels + c] * scale if keep[n * features + j] else 0
                x1[j] = value
                if value != 0:
                    active[n_active] = j
                    n_active += 1
        # fc1 (+ ReLU): the outputs, 32 at a time, sum the rows of the nonzero inputs.
        for u in range(0, hidden1, 32):
            s0, s1, s2, s3 = vload(b1, u), vload(b1, u + 8), vload(b1, u + 16), vload(b1, u + 24)
            for a in range(n_active):
                j = active[a]
                xv = vsplat(x1[j])
                at = j * hidden1 + u
                s0 = vfma(xv, vload(w1, at), s0)
                s1 = vfma(xv, vload(w1, at + 8), s1)
                s2 = vfma(xv, vload(w1, at + 16), s2)
                s3 = vfma(xv, vload(w1, at + 24), s3)
            vstore(h1, u, vmax(s0, zero))
            vstore(h1, u + 8, vmax(s1, zero))
            vstore(h1, u + 16, vmax(s2, zero))
            vstore(h1, u + 24, vmax(s3, zero))
        n_rows = 0
        for i in range(hidden1):
            if h1[i] > 0:
                rows1[n_rows] = i
                n_rows += 1
        # fc2 (+ ReLU), the same way over the active fc1 units.
        for u in range(0, hidden2, 32):
            s0, s1, s2, s3 = vload(b2, u), vload(b2, u + 8), vload(b2, u + 16), vload(b2, u + 24)
            for a in range(n_rows):
                i = rows1[a]
                hv = vsplat(h1[i])
                at = i * hidden2 + u
                s0 = vfma(hv, vload(w2, at), s0)
                s1 = vfma(hv, vload(w2, at + 8), s1)
                s2 = vfma(hv, vload(w2, at + 16), s2)
                s3 = vfma(hv, vload(w2, at + 24), s3)
            vstore(h2, u, vmax(s0, zero))
            vstore(h2, u + 8, vmax(s1, zero))
            vstore(h2, u + 16, vmax(s2, zero))
            vstore(h2, u + 24, vmax(s3, zero))
        # fc3 and the loss: logit = score 1 - score 0, BCE with logits.
        score0 = b3[0] + vdot(w3, 0, h2, 0, hidden2)
        score1 = b3[1] + vdot(w3, hidden2, h2, 0, hidden2)
        logit = score1 - score0
        label = y[gene]
        losses[n] = max(logit, 0) - logit * label + math.log1p(math.exp(-abs(logit)))
        if logit >= 0:
            d_logit = one / (one + np.exp(-logit)) - label
        else:
            e = np.exp(logit)
            d_logit = e / (one + e) - label
        g0, g1 = vsplat(-d_logit), vsplat(d_logit)  # d loss / d score 0 and 1
        # fc3 backward and update; d2 = the gradient of fc2's output, zero where its ReLU was.
        for u in range(0, hidden2, 8):
            h = vload(h2, u)
            r0, r1 = vload(w3, u), vload(w3, hidden2 + u)
            vstore(d2, u, vfma(g0, r0, g1 * r1))
            vstore(w3, u, vfma(step, g0 * h, r0))
            vstore(w3, hidden2 + u, vfma(step, g1 * h, r1))
        for i in range(hidden2):
            if h2[i] <= 0:
                d2[i] = 0
        b3[0] += lr * d_logit
        b3[1] -= lr * d_logit
        # fc2 backward and update, row by row over the active fc1 units: d1 = the gradient
        # of fc1's output (zero where its ReLU was), the row's update from the same loads.
        d1[:] = 0
        for a in range(n_rows):
            i = rows1[a]
            hv = vsplat(h1[i])
            total = zero
            for u in range(0, hidden2, 16):
                at = i * hidden2 + u
                f0, f1 = vload(d2, u), vload(d2, u + 8)
                r0, r1 = vload(w2, at), vload(w2, at + 8)
                total = vfma(r0, f0, vfma(r1, f1, total))
                vstore(w2, at, vfma(step, hv * f0, r0))
                vstore(w2, at + 8, vfma(step, hv * f1, r1))
            d1[i] = vsum(total)
        for u in range(0, hidden2, 8):
            _sgd(b2, u, step, vload(d2, u))
        # fc1 backward and update over the nonzero inputs: dx1 from the same loads.
        for a in range(n_active):
            j = active[a]
            xv = vsplat(x1[j])
            t0, t1 = zero, zero
            for u in range(0, hidden1, 16):
                at = j * hidden1 + u
                f0, f1 = vload(d1, u), vload(d1, u + 8)
                r0, r1 = vload(w1, at), vload(w1, at + 8)
                t0 = vfma(r0, f0, t0)
                t1 = vfma(r1, f1, t1)
                vstore(w1, at, vfma(step, xv * f0, r0))
                vstore(w1, at + 8, vfma(step, xv * f1, r1))
            dx1[j] = vsum(t0 + t1)
        for u in range(0, hidden1, 8):
            _sgd(b1, u, step, vload(d1, u))
        # Back through dropout (x scale) and the max-pool: each window's gradient goes to its
        # first maximum, which is above zero (a window at zero passes none through the ReLU).
        for a in range(n_active):
            j = active[a]
            c, p = j // pooled, j % pooled
            top = pool_max[p * channels + c]
            q = 0
            while z[(p * pool + q) * channels + c] != top:
                q += 1
            dz[(p * pool + q) * channels + c] = dx1[j] * scale
        # Convolution: weight gradients over the positions, five taps at a time, and update.
        for cv in range(0, channels, 8):
            bias_grad = zero
            for t in range(used):
                bias_grad = bias_grad + vload(dz, t * channels + cv)
            _sgd(conv_b, cv, step, bias_grad)
            for m in range(marks):
                for k in range(0, width, 5):
                    a0 = a1 = a2 = a3 = a4 = zero
                    row = x0 + m * bins + k
                    for t in range(used):
                        d = vload(dz, t * channels + cv)
                        a0 = vfma(vsplat(X[row + t]), d, a0)
                        a1 = vfma(vsplat(X[row + t + 1]), d, a1)
                        a2 = vfma(vsplat(X[row + t + 2]), d, a2)
                        a3 = vfma(vsplat(X[row + t + 3]), d, a3)
                        a4 = vfma(vsplat(X[row + t + 4]), d, a4)
                    at = (m * width + k) * channels + cv
                    _sgd(conv_w, at, step, a0)
                    _sgd(conv_w, at + channels, step, a1)
                    _sgd(conv_w, at + 2 * channels, step, a2)
                    _sgd(conv_w, at + 3 * channels, step, a3)
                    _sgd(conv_w, at + 4 * channels, step, a4)
        # Clear what this step set, for the next.
        for a in range(n_active):
            j = active[a]
            c, p = j // pooled, j % pooled
            for q in range(pool):
                dz[(p * pool + q) * channels + c] = 0


# --- the model's weights in the kernel's layout ---------------------------------------------


def _padded_rows(weight: torch.Tensor, rows: int, cols: int) -> np.ndarray:
    """A 2-D weight as a flat float32 (rows, cols) array, zero-padded on both sides."""
    out = np.zeros((rows, cols), dtype=np.float32)
    out[: weight.shape[0], : weight.shape[1]] = weight.detach().cpu().numpy()
    return out.reshape(-1)


class FusedDeepChrome:
    """A DeepChrome model's weights in the kernel's layout, trained in place by SGD steps."""

    def __init__(self, model):
        conv, dropout = model.features[0], model.features[4]
        fc1, fc2, fc3 = model.mlp[0], model.mlp[2], model.mlp[4]
        self.marks, self.bins = model.n_marks, model.n_bins
        self.filters, self.width = conv.out_channels, conv.kernel_size[0]
        self.pool = model.features[2].kernel_size
        self.pooled = fc1.in_features // self.filters
        if self.pool != 5 or self.width % 5:
            raise ValueError("the numba DeepChrome kernel takes max-pool 5 and a conv width of 5k")
        self.features = fc1.in_features
        self.keep_probability = 1 - dropout.p
        self.scale = np.float32(1 / (1 - dropout.p))
        self.channels = _padded(self.filters, 8)
        self.hidden1, self.hidden2 = _padded(fc1.out_features, 32), _padded(fc2.out_features, 32)
        taps = conv.weight.permute(1, 2, 0).reshape(self.marks * self.width, self.filters)
        self.conv_w = _padded_rows(taps, self.marks * self.width, self.channels)
        self.conv_b = _padded_rows(conv.bias[None], 1, self.channels)
        self.w1 = _padded_rows(fc1.weight.t(), self.features, self.hidden1)
        self.b1 = _padded_rows(fc1.bias[None], 1, self.hidden1)
        self.w2 = _padded_rows(fc2.weight.t(), self.hidden1, self.hidden2)
        self.b2 = _padded_rows(fc2.bias[None], 1, self.hidden2)
        self.w3 = _padded_rows(fc3.weight, 2, self.hidden2)
        self.b3 = fc3.bias.detach().cpu().numpy().astype(np.float32)

    def train(self, X: np.ndarray, y: np.ndarray, order: np.ndarray, keep: np.ndarray, lr: float):
        """One SGD step per gene of `order` (indices into X (genes, marks, bins) and y, both
        float32), with keep (len(order), features) the dropout masks (True keeps); returns
        each step's loss (float64)."""
        count = len(order)
        if keep.shape != (count, self.features) or X.shape[1:] != (self.marks, self.bins):
            raise ValueError("the numba DeepChrome kernel got inputs or masks of another shape")
        losses = np.empty(count, dtype=np.float64)
        _train(
            np.ascontiguousarray(X, dtype=np.float32).reshape(-1),
            np.ascontiguousarray(y, dtype=np.float32), np.ascontiguousarray(order, np.int64),
            np.ascontiguousarray(keep).reshape(-1), 0, count, lr, self.scale,
            self.conv_w, self.conv_b, self.w1, self.b1, self.w2, self.b2, self.w3, self.b3,
            losses, self.marks, self.bins, self.width, self.pool, self.filters, self.channels,
            self.pooled, self.hidden1, self.hidden2,
        )  # fmt: skip
        return losses

    def draw_masks(self, generator: np.random.Generator, count: int) -> np.ndarray:
        """Dropout masks of `count` steps (True keeps a feature), from the run's generator."""
        return generator.random((count, self.features), dtype=np.float32) < self.keep_probability

    @torch.no_grad()
    def write_to(self, model) -> None:
        """The trained weights back into the model's modules."""
        conv, fc1, fc2, fc3 = model.features[0], model.mlp[0], model.mlp[2], model.mlp[4]
        taps = self.conv_w.reshape(self.marks * self.width, self.channels)[:, : self.filters]
        conv.weight.copy_(
            torch.from_numpy(taps.reshape(self.marks, self.width, self.filters)).permute(2, 0, 1)
        )
        conv.bias.copy_(torch.from_numpy(self.conv_b[: self.filters]))
        for layer, w, b, rows, cols in (
            (fc1, self.w1, self.b1, self.features, self.hidden1),
            (fc2, self.w2, self.b2, self.hidden1, self.hidden2),
        ):
            out, inp = layer.weight.shape
            layer.weight.copy_(torch.from_numpy(w.reshape(rows, cols)[:inp, :out]).t())
            layer.bias.copy_(torch.from_numpy(b[:out]))
        fc3.weight.copy_(torch.from_numpy(self.w3.reshape(2, self.hidden2)[:, : fc3.in_features]))
        fc3.bias.copy_(torch.from_numpy(self.b3))


def train_epoch(model, X, y, order, lr: float, generator: np.random.Generator, progress=None):
    """One epoch of SGD steps over the genes `order` (X, y and order torch tensors on the
    CPU); dropout masks from `generator`, CHUNK genes at a time. Returns the mean loss."""
    fused = FusedDeepChrome(model)
    X_np, y_np, order_np = X.numpy(), y.numpy(), order.numpy()
    losses = []
    for first in range(0, len(order_np), CHUNK):
        genes = order_np[first : first + CHUNK]
        losses.append(fused.train(X_np, y_np, genes, fused.draw_masks(generator, len(genes)), lr))
        if progress is not None:
            progress.update(first + len(genes))
    fused.write_to(model)
    return float(np.concatenate(losses).mean())
