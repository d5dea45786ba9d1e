"""benchmarks/train_benchmark.py: the block-diagonal layout it times computes the same LSTMs."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from train_benchmark import block_diagonal_weights  # noqa: E402

from attentivechrome.learn.model import AttentiveChrome  # noqa: E402


def counts(batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.poisson(torch.full((batch, 5, 100), 1.5), generator=generator)


def test_block_diagonal_layout_matches_separate_lstms():
    """The one-call layout the benchmark times gives the same outputs and gradients."""
    torch.manual_seed(0)
    encoders = AttentiveChrome().bin_encoders
    x = counts(batch=4)
    separate = torch.cat([enc(x[:, m].t().unsqueeze(-1))[0] for m, enc in enumerate(encoders)], 0)
    wide = nn.LSTM(5, 5 * 32, bidirectional=True)
    encoders = list(encoders)
    params = {**block_diagonal_weights(encoders), **block_diagonal_weights(encoders, "_reverse")}
    out, _ = functional_call(wide, params, (x.permute(2, 0, 1),))
    # (bins, batch, direction, mark, unit) -> per mark, concatenated like `separate`
    joined = out.view(100, 4, 2, 5, 32).permute(3, 0, 1, 2, 4).reshape(5 * 100, 4, 64)
    assert torch.allclose(separate, joined, atol=1e-6)
    weight = torch.randn_like(joined)
    per_mark = [p for enc in encoders for p in enc.parameters()]
    grads_a = torch.autograd.grad((separate * weight).sum(), per_mark)
    grads_b = torch.autograd.grad((joined * weight).sum(), per_mark)
    for a, b in zip(grads_a, grads_b, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
