"""The numba attention (train.kernel: numba) computes what model.ContextAttention does.

Every test compares against the reference, ContextAttention with the same context:
pooled states, weights, and the gradients of the states and of the context, at the bin
level's and the mark level's shapes. Both are float32 and sum in different orders: the
kernel passes when its error against the same computation in float64 is at most twice
PyTorch's own (plus 1e-6 of the largest value).
"""

from __future__ import annotations

import pytest
import torch

from attentivechrome.learn.model import ContextAttention
from attentivechrome.learn.numba_attention import attention
from helpers import assert_as_exact_as_reference

torch.set_num_threads(1)


def attention_and_gradients(module: ContextAttention, hidden: torch.Tensor, kernel: str, maps):
    """Pooled states, weights and the gradients of hidden and context; with `maps` the
    loss also takes the attention weights (otherwise they get no gradient at all)."""
    hidden = hidden.clone().requires_grad_()
    pooled, weights = module(hidden) if kernel == "torch" else attention(hidden, module.context)
    generator = torch.Generator().manual_seed(1)
    loss = (pooled * torch.randn(pooled.shape, generator=generator).to(pooled)).sum()
    if maps:
        loss = loss + (weights * torch.randn(weights.shape, generator=generator).to(weights)).sum()
    return [pooled, weights, *torch.autograd.grad(loss, [hidden, module.context])]


@pytest.mark.parametrize("maps", [False, True])
@pytest.mark.parametrize("shape", [(5, 100, 16, 64), (1, 5, 7, 32), (3, 17, 1, 8)])
def test_attention_equals_context_attention(shape, maps):
    """Bin level (marks, bins, genes, 2H) and mark level (1, marks, genes, 2h)."""
    torch.manual_seed(0)
    module = ContextAttention(shape[0], shape[-1])
    torch.nn.init.uniform_(module.context, -1, 1)
    hidden = torch.randn(shape)
    exact = ContextAttention(shape[0], shape[-1]).double()
    exact.load_state_dict(module.state_dict())
    truth = attention_and_gradients(exact, hidden.double(), "torch", maps)
    reference = attention_and_gradients(module, hidden, "torch", maps)
    kernel = attention_and_gradients(module, hidden, "numba", maps)
    assert_as_exact_as_reference(truth, reference, kernel)


def test_attention_weights_are_a_softmax_over_positions():
    torch.manual_seed(0)
    hidden = torch.randn(5, 100, 3, 64) * 30  # large scores: the softmax must not overflow
    pooled, weights = attention(hidden, torch.randn(5, 64))
    assert torch.isfinite(pooled).all() and (weights >= 0).all()
    assert torch.allclose(weights.sum(dim=1), torch.ones(5, 3))
