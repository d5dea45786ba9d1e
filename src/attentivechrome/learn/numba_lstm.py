"""The models' BiLSTMs as one numba kernel, forward and backward (CPU).

Used with `train.kernel: numba`; importing this module needs numba. AttentiveChrome's
bin level is ten independent LSTMs (five marks, two directions), each with one input
feature, H units (32) and one step per bin; the paper's LSTM baselines (model.FlatLSTM)
are one BiLSTM of H units with the five marks as its inputs per bin. `lstm_outputs(x,
lstms)` runs such BiLSTMs, each over its own I input channels of x (batch, channels,
bins), with the weights of the nn.LSTM modules and returns what nn.LSTM gives there,
(LSTMs, bins, batch, 2H) [forward | backward]; its backward pass gives the gradients of
the input and of every weight and bias, which autograd hands on to the modules'
parameters. The arithmetic is nn.LSTM's (gates i, f, g, o; zero initial state), in
float32, in another order: outputs and gradients agree with nn.LSTM's to about 1e-6 of
their largest value (tests/learn/test_numba_lstm.py). The attention over these states is
numba_attention.py.

How the kernel is built:

- One LSTM at a time, all of its steps, so that its weights (W_hh is 16 KB) and state
  stay in L1 cache; the LSTMs are independent, so nothing is gained by interleaving them.
- Per step, a fused micro-kernel per two genes and LANES units: eight vector accumulators
  (the i, f, g, o pre-activations of both genes) start from bias + x @ W_ih^T, take the
  recurrent product h_prev @ W_hh^T as H rank-one updates in registers, and end in the
  activations, the cell and the hidden state, written straight into the output layout.
- Backward walks the steps in reverse: per step and gene the gate gradients (fused, the
  same shape), then two register-blocked products, dh_prev = dgates @ W_hh (blocks of four
  genes x 2 LANES units) and dW_hh += dgates^T @ h_prev (four gate rows x 2 LANES units),
  so no per-step gate gradients are kept. What the forward pass kept (8 MB per batch of
  16, more than an L2 cache holds) is prefetched a step ahead.
- The arithmetic is on vectors of LANES floats, 16 where the CPU has AVX-512 and 8
  elsewhere (`numba_vector.HOST_LANES`), so that a micro-kernel's accumulators stay in
  registers. The two widths sum in other orders: their results differ by float32
  rounding (about 3e-7 of the largest value), each as close to nn.LSTM as the tests ask.
- tanh and the sigmoid are an odd rational approximation of tanh (Eigen's, clamped at
  +-7.9; sigmoid(x) = (1 + tanh(x / 2)) / 2) in plain arithmetic, absolute error below
  3.1e-7 (float32 itself: 6e-8 near 1), because libm's tanhf and expf do not vectorise.
- numba compiles the kernel on first use and caches it (`numba_vector.JIT`).
- The batch is padded to a multiple of GENE_BLOCK (four); a padded gene gets zero output
  gradients and so adds nothing to any gradient.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit
from torch import nn

from attentivechrome.learn.numba_vector import (
    HOST_LANES,
    HOST_LANES_DETECTED,
    JIT,
    flat,
    lanes,
    prefetch,
    vfma,
    vmax,
    vmin,
    vstore,
    vsum,
)

#: Floats per vector: 16 on CPUs with AVX-512, else 8 (numba_vector.HOST_LANES).
LANES = HOST_LANES
vload, vsplat = lanes(LANES).vload, lanes(LANES).vsplat
# A width other than the CPU's own (a test's override) compiles afresh, never from or into
# the cache of the CPU's width.
KERNEL_JIT = JIT if HOST_LANES_DETECTED else {**JIT, "cache": False}
#: Genes per block of the backward pass's products: the batch is padded to a multiple.
GENE_BLOCK = 4

# --- the kernel ---------------------------------------------------------------------------


@njit(inline="always", **KERNEL_JIT)
def _tanh(x):
    clamp = np.float32(7.90531110763549805)
    x = vmin(vmax(x, vsplat(-clamp)), vsplat(clamp))
    x2 = x * x
    p = vfma(x2, vsplat(-2.76076847742355e-16), vsplat(2.00018790482477e-13))
    p = vfma(p, x2, vsplat(-8.60467152213735e-11))
    p = vfma(p, x2, vsplat(5.12229709037114e-08))
    p = vfma(p, x2, vsplat(1.48572235717979e-05))
    p = vfma(p, x2, vsplat(6.37261928875436e-04))
    p = vfma(p, x2, vsplat(4.89352455891786e-03))
    q = vfma(x2, vsplat(1.19825839466702e-06), vsplat(1.18534705686654e-04))
    q = vfma(q, x2, vsplat(2.26843463243900e-03))
    q = vfma(q, x2, vsplat(4.89352518554385e-03))
    return p * x / q


@njit(inline="always", **KERNEL_JIT)
def _sigmoid(x):
    half = vsplat(0.5)
    return vfma(_tanh(x * half), half, half)


@njit(inline="always", **KERNEL_JIT)
def _load4(array, index, stride):
    """Four vectors `stride` floats apart."""
    return (
        vload(array, index),
        vload(array, index + stride),
        vload(array, index + 2 * stride),
        vload(array, index + 3 * stride),
    )


@njit(inline="always", **KERNEL_JIT)
def _store4(array, index, stride, vectors):
    a, b, c, d = vectors
    vstore(array, index, a)
    vstore(array, index + stride, b)
    vstore(array, index + 2 * stride, c)
    vstore(array, index + 3 * stride, d)


@njit(inline="always", **KERNEL_JIT)
def _fma4(scale, vectors, sums):
    """sums + scale * vectors, four vectors at once."""
    a, b, c, d = vectors
    p, q, r, s = sums
    return vfma(scale, a, p), vfma(scale, b, q), vfma(scale, c, r), vfma(scale, d, s)


@njit(inline="always", **KERNEL_JIT)
def _cell(pre, cs, hs, out, act, c_prev, c_row, h_row, o_row, a_row, keep, hidden):
    """Activations, cell and hidden state of LANES units of one gene, from the four gate
    pre-activations; stores the states (and, with keep, the activations)."""
    i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), _tanh(pre[2]), _sigmoid(pre[3])
    c = vfma(f, vload(cs, c_prev), i * g)
    h = o * _tanh(c)
    vstore(cs, c_row, c)
    vstore(hs, h_row, h)
    vstore(out, o_row, h)
    if keep:
        _store4(act, a_row, hidden, (i, f, g, o))


@njit(inline="always", **KERNEL_JIT)
def _products(scales, first, j_step, k_step, rows, row, row_step, count):
    """A register block of the backward pass's two products: for j < 4, the sums over k <
    count of scales[first + j * j_step + k * k_step] times the two vectors rows[row + k *
    row_step + (0 | LANES)]; (j = 0 low, j = 0 high, j = 1 low, ..., j = 3 high)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = vsplat(0.0)
    for k in range(count):
        low = vload(rows, row + k * row_step)
        high = vload(rows, row + k * row_step + LANES)
        at = first + k * k_step
        g0, g1 = vsplat(scales[at]), vsplat(scales[at + j_step])
        g2, g3 = vsplat(scales[at + 2 * j_step]), vsplat(scales[at + 3 * j_step])
        a0, a1 = vfma(g0, low, a0), vfma(g0, high, a1)
        a2, a3 = vfma(g1, low, a2), vfma(g1, high, a3)
        a4, a5 = vfma(g2, low, a4), vfma(g2, high, a5)
        a6, a7 = vfma(g3, low, a6), vfma(g3, high, a7)
    return a0, a1, a2, a3, a4, a5, a6, a7


@njit(inline="always", **KERNEL_JIT)
def _put(array, index, step, sums, add):
    """Writes (or with add, adds) _products' block: pair j at index + j * step."""
    for j in range(4):
        low, high = sums[2 * j], sums[2 * j + 1]
        at = index + j * step
        if add:
            low, high = low + vload(array, at), high + vload(array, at + LANES)
        vstore(array, at, low)
        vstore(array, at + LANES, high)


@njit(**KERNEL_JIT)
def _forward(x, w_ih, w_t, bias, out, act, cs, hs, batch, marks, inputs, steps, hidden, keep):
    """All 2 * marks LSTMs over all steps; every array flat (1-D, C order).

    x (B, M * I, T) inputs, B a multiple of GENE_BLOCK; w_ih (G, I, 4H) = W_ih
    transposed; bias (G, 4H) = b_ih + b_hh; w_t (G, H, 4H) = W_hh transposed; LSTM g reads
    the I channels of group m = g % M (from m * I on), forward in time for g < M, backward
    after. Writes out (M, T, B, 2H). With keep, cs and hs are (G, T + 1, B, H), slot s + 1
    the state after processing step s and slot 0 zero, and act (G, T, B, 4H) gets
    sigmoid(i), sigmoid(f), tanh(g), sigmoid(o) of every step; without keep, cs and hs are
    (2, B, H), used in turn, and act is not touched.
    """
    width = 4 * hidden
    state = batch * hidden
    for g in range(2 * marks):
        m = g % marks
        direction = hidden if g >= marks else 0  # its half of the output; H: backward in time
        base = g * (steps + 1) * state if keep else 0
        cs[base : base + state] = 0
        hs[base : base + state] = 0
        for s in range(steps):
            t = steps - 1 - s if direction else s
            prev = base + (s if keep else s % 2) * state
            cur = base + (s + 1 if keep else (s + 1) % 2) * state
            for b in range(0, batch, 2):
                in0 = ((b * marks + m) * inputs) * steps + t  # channel m * I of gene b
                in1 = in0 + marks * inputs * steps  # and of gene b + 1
                for u in range(0, hidden, LANES):
                    pre0 = pre1 = _load4(bias, g * width + u, hidden)
                    for i in range(inputs):
                        scale = _load4(w_ih, (g * inputs + i) * width + u, hidden)
                        pre0 = _fma4(vsplat(x[in0 + i * steps]), scale, pre0)
                        pre1 = _fma4(vsplat(x[in1 + i * steps]), scale, pre1)
                    for k in range(hidden):
                        rows = _load4(w_t, (g * hidden + k) * width + u, hidden)
                        pre0 = _fma4(vsplat(hs[prev + b * hidden + k]), rows, pre0)
                        pre1 = _fma4(vsplat(hs[prev + (b + 1) * hidden + k]), rows, pre1)
                    for r in range(2):
                        row = (b + r) * hidden + u
                        o_row = ((m * steps + t) * batch + b + r) * 2 * hidden + direction + u
                        a_row = ((g * steps + s) * batch + b + r) * width + u
                        pre = pre0 if r == 0 else pre1
                        _cell(pre, cs, hs, out, act, prev + row, cur + row, cur + row, o_row,
                              a_row, keep, hidden)  # fmt: skip


@njit(**KERNEL_JIT)
def _backward(
    x, w_ih, w_hh, grad_out, act, cs, hs, dx, dw_ih, dw_hh, dbias, batch, marks, inputs, steps,
    hidden, need_dx,
):  # fmt: skip
    """Gradients of the weights (dw_ih (G, I, 4H) and dbias (G, 4H) as _forward takes
    them, dw_hh (G, 4H, H) as nn.LSTM stores W_hh) and, with need_dx, of the input (dx (B,
    M * I, T)), from grad_out (M, T, B, 2H) and what _forward kept; arrays flat as there.
    The outputs are overwritten."""
    width = 4 * hidden
    state = batch * hidden
    dgates = np.empty(batch * width, dtype=np.float32)  # one step's gate gradients
    dh_rec = np.empty(state, dtype=np.float32)  # dL/dh_prev through the recurrence
    dc_rec = np.empty(state, dtype=np.float32)  # dL/dc_prev through the cell
    # The weight gradients sum over every step and gene. Summed in blocks (16 genes, then
    # 10 steps, then the blocks) their rounding error stays at nn.LSTM's; one running
    # sum over all 1600 terms would be several times larger.
    part_hh = np.zeros(width * hidden, dtype=np.float32)
    part_ih = np.zeros(inputs * width, dtype=np.float32)
    part_b = np.zeros(width, dtype=np.float32)
    one = vsplat(1.0)
    zero = vsplat(0.0)
    dx[:] = 0
    dw_ih[:] = 0
    dbias[:] = 0
    dw_hh[:] = 0
    for g in range(2 * marks):
        m = g % marks
        direction = hidden if g >= marks else 0
        w0 = g * width * hidden
        base = g * (steps + 1) * state
        dh_rec[:] = 0
        dc_rec[:] = 0
        for s in range(steps - 1, -1, -1):
            t = steps - 1 - s if direction else s
            prev = base + s * state
            cur = prev + state
            # Gate gradients per gene, LANES units at a time.
            for b in range(batch):
                if s > 0:  # the previous step's activations and cells, 512 + 128 bytes per gene
                    ahead = ((g * steps + s - 1) * batch + b) * width
                    for line in range(0, width, 16):
                        prefetch(act, ahead + line)
                    prefetch(cs, prev - state + b * hidden)
                    prefetch(cs, prev - state + b * hidden + 16)
                for u in range(0, hidden, LANES):
                    row = b * hidden + u
                    i, f, gg, o = _load4(act, ((g * steps + s) * batch + b) * width + u, hidden)
                    tc = _tanh(vload(cs, cur + row))
                    o_row = ((m * steps + t) * batch + b) * 2 * hidden + direction + u
                    dh = vload(grad_out, o_row) + vload(dh_rec, row)
                    dc = vfma(dh * o, one - tc * tc, vload(dc_rec, row))
                    vstore(dc_rec, row, dc * f)
                    d_i = dc * gg * i * (one - i)
                    d_f = dc * vload(cs, prev + row) * f * (one - f)
                    d_g = dc * i * (one - gg * gg)
                    d_o = dh * tc * o * (one - o)
                    _store4(dgates, b * width + u, hidden, (d_i, d_f, d_g, d_o))
                if need_dx:  # dx = dgates @ W_ih, per input channel
                    at = ((b * marks + m) * inputs) * steps + t
                    for i in range(inputs):
                        dot = zero
                        for r in range(0, width, LANES):
                            w_in = vload(w_ih, (g * inputs + i) * width + r)
                            dot = vfma(vload(dgates, b * width + r), w_in, dot)
                        dx[at + i * steps] += vsum(dot)
            # dbias += the gate gradients summed over genes; dw_ih += the same times x.
            for r in range(0, width, 2 * LANES):
                sb0, sb1 = zero, zero
                for b in range(batch):
                    sb0 = sb0 + vload(dgates, b * width + r)
                    sb1 = sb1 + vload(dgates, b * width + r + LANES)
                vstore(part_b, r, vload(part_b, r) + sb0)
                vstore(part_b, r + LANES, vload(part_b, r + LANES) + sb1)
            for i in range(inputs):
                for r in range(0, width, 2 * LANES):
                    sw0, sw1 = zero, zero
                    for b in range(batch):
                        xv = vsplat(x[((b * marks + m) * inputs + i) * steps + t])
                        sw0 = vfma(xv, vload(dgates, b * width + r), sw0)
                        sw1 = vfma(xv, vload(dgates, b * width + r + LANES), sw1)
                    at = i * width + r
                    vstore(part_ih, at, vload(part_ih, at) + sw0)
                    vstore(part_ih, at + LANES, vload(part_ih, at + LANES) + sw1)
            # dh_prev = dgates @ W_hh, per block of four genes x 2 LANES units, over the 4H
            # gates: the four genes' gradients times two vectors of W_hh's row.
            if s > 0:
                for b in range(0, batch, GENE_BLOCK):
                    for kc in range(0, hidden, 2 * LANES):
                        sums = _products(dgates, b * width, width, 1, w_hh, w0 + kc, hidden, width)
                        _put(dh_rec, b * hidden + kc, hidden, sums, False)
            # dW_hh += dgates^T @ h_prev, per block of four gate rows x 2 LANES units, over
            # genes: the four rows' gradients times two vectors of the gene's h_prev.
            for r in range(0, width, 4):
                for kc in range(0, hidden, 2 * LANES):
                    sums = _products(dgates, r, 1, width, hs, prev + kc, hidden, batch)
                    _put(part_hh, r * hidden + kc, hidden, sums, True)
            if (steps - s) % 10 == 0 or s == 0:  # a block of steps is complete
                for j in range(width * hidden):
                    dw_hh[w0 + j] += part_hh[j]
                    part_hh[j] = 0
                for j in range(inputs * width):
                    dw_ih[g * inputs * width + j] += part_ih[j]
                    part_ih[j] = 0
                for j in range(width):
                    dbias[g * width + j] += part_b[j]
                    part_b[j] = 0


# --- autograd -----------------------------------------------------------------------------

_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def lstm_parameters(lstms: list[nn.LSTM]) -> list[torch.Tensor]:
    """The modules' parameters in the kernel's order: the forward directions of all
    modules, then their backward ones; per direction weight_ih, weight_hh, bias_ih,
    bias_hh."""
    return [
        getattr(lstm, f"{name}_l0{d}")
        for d in ("", "_reverse")
        for lstm in lstms
        for name in _NAMES
    ]


def stacked_weights(parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w_ih (G, I, 4H) = W_ih transposed, w_hh (G, 4H, H), bias (G, 4H) = b_ih + b_hh) as
    the kernel takes them, from `lstm_parameters` (copies, outside autograd: the Function's
    backward hands each parameter its own gradient)."""
    values = [p.detach().numpy() for p in parameters]
    w_ih = np.stack([w.T for w in values[0::4]])
    w_hh = np.stack(values[1::4])
    bias = np.stack(values[2::4]) + np.stack(values[3::4])
    return w_ih, w_hh, bias


class LSTMFunction(torch.autograd.Function):
    """(B, M * I, T) inputs and the BiLSTMs' `lstm_parameters` -> (M, T, B, 2H) hidden
    states; with `keep`, what the backward pass needs is kept."""

    @staticmethod
    def forward(ctx, x, keep, *parameters):
        batch, channels, steps = x.shape
        w_ih, w_hh, bias = stacked_weights(parameters)
        groups, width, hidden = w_hh.shape
        marks, inputs = groups // 2, w_ih.shape[1]
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise ValueError(f"the numba LSTM kernel takes float32 on the CPU, got {x.dtype}")
        if hidden % 32 or groups % 2 or channels != marks * inputs:
            raise ValueError(
                "the numba LSTM kernel takes BiLSTMs of 32k units, each reading its own inputs"
            )
        padded = -(-batch // GENE_BLOCK) * GENE_BLOCK
        x_pad = x.detach()
        if padded != batch:
            x_pad = torch.cat([x_pad, x_pad.new_zeros(padded - batch, channels, steps)])
        x_np = flat(x_pad)
        out = torch.empty(marks, steps, padded, 2 * hidden)
        slots = groups * (steps + 1) if keep else 2
        act = np.empty(groups * steps * padded * width if keep else 1, dtype=np.float32)
        cs = np.empty(slots * padded * hidden, dtype=np.float32)
        hs = np.empty(slots * padded * hidden, dtype=np.float32)
        w_t = np.ascontiguousarray(w_hh.transpose(0, 2, 1)).reshape(-1)
        _forward(
            x_np, w_ih.reshape(-1), w_t, bias.reshape(-1), out.view(-1).numpy(), act, cs, hs,
            padded, marks, inputs, steps, hidden, keep,
        )  # fmt: skip
        if keep:
            ctx.saved = (x_np, act, cs, hs, batch, padded, w_ih, w_hh)
        return out if padded == batch else out[:, :, :batch].contiguous()

    @staticmethod
    def backward(ctx, grad_out):
        x_np, act, cs, hs, batch, padded, w_ih, w_hh = ctx.saved
        groups, width, hidden = w_hh.shape
        marks, inputs, steps = groups // 2, w_ih.shape[1], grad_out.shape[1]
        grad = grad_out.to(torch.float32).contiguous()
        if padded != batch:
            grad = torch.cat([grad, grad.new_zeros(marks, steps, padded - batch, 2 * hidden)], 2)
        dx = np.empty(x_np.size, dtype=np.float32)
        dw_ih = np.empty((groups, inputs, width), dtype=np.float32)
        dw_hh = np.empty((groups, width, hidden), dtype=np.float32)
        dbias = np.empty((groups, width), dtype=np.float32)
        need_dx = ctx.needs_input_grad[0]
        _backward(
            x_np, w_ih.reshape(-1), w_hh.reshape(-1), flat(grad), act, cs, hs,
            dx, dw_ih.reshape(-1), dw_hh.reshape(-1), dbias.reshape(-1),
            padded, marks, inputs, steps, hidden, need_dx,
        )  # fmt: skip
        grad_x = (
            torch.from_numpy(dx).view(padded, marks * inputs, steps)[:batch] if need_dx else None
        )
        grads = []
        for g in range(groups):  # each parameter its own tensor (optimizers update in place)
            grads += [
                torch.from_numpy(np.ascontiguousarray(dw_ih[g].T)),
                torch.from_numpy(dw_hh[g].copy()),
                torch.from_numpy(dbias[g].copy()),
                torch.from_numpy(dbias[g].copy()),
            ]
        return (grad_x, None, *grads)


@njit(**JIT)
def _scale_by_bits(x, bits, out):
    """out = x * 2 where bit i of `bits` (bit i % 8 of byte i // 8) is set, x * 0 where not."""
    factors = np.array([0.0, 2.0], dtype=np.float32)
    n = x.size
    for j in range(n // 8):
        byte = bits[j]
        for k in range(8):
            out[8 * j + k] = x[8 * j + k] * factors[(byte >> k) & 1]
    for i in range(n // 8 * 8, n):
        out[i] = x[i] * factors[(bits[i >> 3] >> (i & 7)) & 1]


class BitDropout(torch.autograd.Function):
    """x times 2 or 0 by the bits of `bits` (uint8, one bit per value), both ways."""

    @staticmethod
    def forward(ctx, x, bits):
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        _scale_by_bits(flat(x), bits.numpy(), out.view(-1).numpy())
        ctx.bits = bits
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_in = torch.empty_like(grad, memory_format=torch.contiguous_format)
        _scale_by_bits(flat(grad.to(torch.float32)), ctx.bits.numpy(), grad_in.view(-1).numpy())
        return grad_in, None


def bit_dropout(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Dropout (p = 0.5) of x by the bits of `bits` in one pass each way (model.half_dropout)."""
    return BitDropout.apply(x, bits)


def lstm_outputs(x: torch.Tensor, lstms: list[nn.LSTM]) -> torch.Tensor:
    """BiLSTMs (nn.LSTM(I, H, bidirectional=True)), each over its own I channels of x
    (B, len(lstms) * I, T): their outputs (len(lstms), T, B, 2H), as the modules would
    give them one by one. AttentiveChrome's bin level has one per mark (I = 1); the flat
    LSTM baselines one over all marks."""
    parameters = lstm_parameters(lstms)
    # Whether a backward pass can follow (inside forward() grad mode is always off, and
    # needs_input_grad does not say whether it was on).
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *parameters))
    return LSTMFunction.apply(x, keep, *parameters)
