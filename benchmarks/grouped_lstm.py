"""Many small single-input LSTMs advanced together, with a hand-written backward pass.

A layout tried for AttentiveChrome's bin level (ten independent LSTMs: five marks, two
directions, one count per bin) and timed by train_benchmark.py as `grouped-manual`. All
ten step together: per bin one batched matmul and a handful of element-wise ops on
(groups, batch, 4*hidden) tensors, with no autograd graph inside the loop; the backward
pass is written out by hand in the same shape, and the weight gradients are summed over
all bins in one batched matmul at the end. The arithmetic is nn.LSTM's (gate order
i, f, g, o; h0 = c0 = 0); the benchmark checks outputs and gradients against it.

It was slower than ten calls into oneDNN's LSTM on one CPU thread, so the model does not
use it: each of its element-wise ops on a few thousand numbers costs about as much as
oneDNN's whole step.
"""

from __future__ import annotations

import torch


class GroupedLSTMFunction(torch.autograd.Function):
    """Outputs h_t of G independent LSTMs with one input each: (T, G, B) -> (T, G, B, H).

    x: (T, G, B) one input per step, group and sequence; w_ih: (G, 4H) input weights;
    w_hh_t: (G, H, 4H) recurrent weights, transposed; bias: (G, 4H), b_ih + b_hh.
    """

    @staticmethod
    def forward(ctx, x, w_ih, w_hh_t, bias):
        steps, groups, batch = x.shape
        hidden = w_hh_t.shape[1]
        keep = any(ctx.needs_input_grad)  # store every step's activations for backward
        # The input's share of every gate for every step at once: x * w_ih + bias.
        gates = torch.addcmul(bias[None, :, None, :], x[..., None], w_ih[None, :, None, :])
        h_all = x.new_zeros(steps + 1, groups, batch, hidden)  # h_all[0] is h0
        n_kept = steps if keep else 1
        act = x.new_empty(n_kept, groups, batch, 4 * hidden)  # sigmoid(i, f, o), tanh(g)
        c_all = x.new_zeros(n_kept + 1, groups, batch, hidden)  # c_all[0] is c0
        tanh_c = x.new_empty(n_kept, groups, batch, hidden)
        g_slice = slice(2 * hidden, 3 * hidden)
        for t in range(steps):
            # Without backward, one slot of activations is reused and c alternates in two.
            if keep:
                k, c_prev, c = t, c_all[t], c_all[t + 1]
            else:
                k, c_prev, c = 0, c_all[t % 2], c_all[1 - t % 2]
            pre = gates[t].baddbmm_(h_all[t], w_hh_t)
            a = act[k]
            torch.sigmoid(pre, out=a)  # also over g's columns; overwritten next
            torch.tanh(pre[..., g_slice], out=a[..., g_slice])
            i, f, g, o = a.split(hidden, dim=-1)
            torch.mul(f, c_prev, out=c)
            c.addcmul_(i, g)
            torch.tanh(c, out=tanh_c[k])
            torch.mul(o, tanh_c[k], out=h_all[t + 1])
        if keep:
            ctx.save_for_backward(x, w_ih, w_hh_t, h_all, act, c_all, tanh_c)
        return h_all[1:]

    @staticmethod
    def backward(ctx, grad_h):
        x, w_ih, w_hh_t, h_all, act, c_all, tanh_c = ctx.saved_tensors
        steps, groups, batch, hidden = grad_h.shape
        grad_h = grad_h.contiguous()
        i, f, g, o = act.split(hidden, dim=-1)
        # Every factor that does not depend on the incoming gradient, for all steps at once.
        d_tanh_c = 1 - tanh_c * tanh_c
        c_gain = o * d_tanh_c  # dc/dh through h = o * tanh(c)
        ifg_gain = torch.stack(
            [g * i * (1 - i), c_all[:-1] * f * (1 - f), i * (1 - g * g)], dim=-2
        )  # (T, G, B, 3, H): dc -> pre-activation of i, f, g
        o_gain = tanh_c * o * (1 - o)  # dh -> pre-activation of o
        w_hh = w_hh_t.transpose(1, 2)  # (G, 4H, H)
        grad_gates = x.new_empty(steps, groups, batch, 4, hidden)
        gates_ifg, gates_o = grad_gates[..., :3, :], grad_gates[..., 3, :]
        dc = x.new_zeros(groups, batch, hidden)
        for t in range(steps - 1, -1, -1):
            if t == steps - 1:
                dh = grad_h[t]
            else:
                dh = torch.baddbmm(grad_h[t], grad_gates[t + 1].view(groups, batch, -1), w_hh)
                dc = dc.mul_(f[t + 1])
            dc = dc.addcmul_(dh, c_gain[t])
            torch.mul(dc[..., None, :], ifg_gain[t], out=gates_ifg[t])
            torch.mul(dh, o_gain[t], out=gates_o[t])
        grad_gates = grad_gates.view(steps, groups, batch, 4 * hidden)
        grad_x = grad_w_ih = grad_w_hh_t = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.einsum("tgbk,gk->tgb", grad_gates, w_ih)
        if ctx.needs_input_grad[1]:
            grad_w_ih = torch.einsum("tgb,tgbk->gk", x, grad_gates)
        if ctx.needs_input_grad[2]:
            h_prev = h_all[:-1].permute(1, 3, 0, 2).reshape(groups, hidden, steps * batch)
            per_group = grad_gates.transpose(0, 1).reshape(groups, steps * batch, 4 * hidden)
            grad_w_hh_t = torch.bmm(h_prev, per_group)
        if ctx.needs_input_grad[3]:
            grad_bias = grad_gates.sum(dim=(0, 2))
        return grad_x, grad_w_ih, grad_w_hh_t, grad_bias


def grouped_lstm(x, w_ih, w_hh_t, bias):
    return GroupedLSTMFunction.apply(x, w_ih, w_hh_t, bias)
