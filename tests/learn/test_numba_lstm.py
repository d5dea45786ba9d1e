"""The numba LSTM kernel (train.kernel: numba) computes what the nn.LSTM calls do.

Every test compares against the reference, nn.LSTM modules with the same weights:
AttentiveChrome's five per-mark BiLSTMs (one input each) and the flat baselines' one
BiLSTM over the five marks. Compared are the outputs, and the gradients of the input and
of every weight and bias. Both are float32 and sum in different orders, so neither is
exact: the kernel passes when its error against the same computation in float64 is at
most twice nn.LSTM's own float32 error (plus 1e-6 of the largest value, for values
nn.LSTM happens to get almost exact). Both errors are about 1e-6 of the largest value for
the outputs and up to 2e-5 for the input-weight gradients, which sum up to 1600 products
of either sign.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from attentivechrome.learn.model import AttentiveChrome, FlatLSTM, FlatLSTMAttention
from attentivechrome.learn.numba_lstm import (
    LANES,
    lstm_outputs,
    lstm_parameters,
    stacked_weights,
)
from helpers import assert_as_exact_as_reference

torch.set_num_threads(1)


def counts(batch: int, marks: int = 5, bins: int = 100, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((batch, marks, bins), 1.5), generator=generator)


def lstms_of(marks: int, inputs: int, hidden: int) -> list[nn.LSTM]:
    """`marks` BiLSTMs of `inputs` inputs each, weights as the models draw them."""
    lstms = [nn.LSTM(inputs, hidden, bidirectional=True) for _ in range(marks)]
    for lstm in lstms:
        for parameter in lstm.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)
    return lstms


def nn_lstm_outputs(x: torch.Tensor, lstms: list[nn.LSTM]) -> torch.Tensor:
    """The reference: each module over its own channels of x (B, C, T), outputs stacked."""
    inputs = lstms[0].input_size
    return torch.stack(
        [
            lstm(x[:, g * inputs : (g + 1) * inputs].permute(2, 0, 1))[0]
            for g, lstm in enumerate(lstms)
        ]
    )


def outputs_and_gradients(lstms: list[nn.LSTM], x: torch.Tensor, kernel: str):
    """The BiLSTMs' outputs and the gradients of the input and of every parameter."""
    inputs = x.clone().requires_grad_()
    out = (lstm_outputs if kernel == "numba" else nn_lstm_outputs)(inputs, lstms)
    weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)  # all count
    parameters = [p for lstm in lstms for p in lstm.parameters()]
    return [out, *torch.autograd.grad((out * weight).sum(), [inputs, *parameters])]


def assert_as_exact_as_nn_lstm(lstms: list[nn.LSTM], x: torch.Tensor) -> None:
    exact = [copy.deepcopy(lstm).double() for lstm in lstms]
    truth = outputs_and_gradients(exact, x.double(), "torch")
    reference = outputs_and_gradients(lstms, x, "torch")
    kernel = outputs_and_gradients(lstms, x, "numba")
    assert len(kernel) == 2 + 8 * len(lstms)  # output, input, 8 tensors per BiLSTM
    assert_as_exact_as_reference(truth, reference, kernel)


@pytest.mark.parametrize("batch", [1, 7, 16])
def test_per_mark_outputs_and_all_gradients_equal_nn_lstm(batch):
    """AttentiveChrome's bin level; odd batches too: the kernel pads one gene, which must
    add nothing."""
    torch.manual_seed(0)
    assert_as_exact_as_nn_lstm(list(AttentiveChrome().bin_encoders), counts(batch, seed=batch))


@pytest.mark.parametrize("batch", [1, 16])
def test_flat_outputs_and_all_gradients_equal_nn_lstm(batch):
    """The LSTM baselines' BiLSTM, the five marks its inputs per bin."""
    torch.manual_seed(0)
    assert_as_exact_as_nn_lstm([FlatLSTM().encoder], counts(batch, seed=batch))


@pytest.mark.parametrize(("marks", "inputs"), [(3, 1), (1, 3), (2, 2)])
def test_other_sizes_inputs_bins_and_units(marks, inputs):
    torch.manual_seed(1)
    assert_as_exact_as_nn_lstm(lstms_of(marks, inputs, 64), counts(5, marks * inputs, 17))


def test_scoring_without_autograd_gives_the_training_forward():
    """Without autograd the kernel keeps no per-step state; the numbers are the same."""
    torch.manual_seed(0)
    model = AttentiveChrome(kernel="numba")
    x = counts(9)
    with torch.no_grad():
        scored = model.encode_bins(x)
    trained = model.encode_bins(x)
    assert trained.requires_grad and torch.equal(scored, trained.detach())


@pytest.mark.parametrize("builder", [AttentiveChrome, FlatLSTM, FlatLSTMAttention])
def test_model_outputs_and_gradients_equal_the_torch_kernel(builder):
    """Without dropout (eval mode): the flat models draw their masks otherwise with the
    numba kernel (model.half_dropout)."""
    torch.manual_seed(0)
    reference = builder().eval()
    kernel = builder(kernel="numba").eval()
    kernel.load_state_dict(reference.state_dict())  # the same parameters, the same names
    x = counts(6)
    a, b = reference(x), kernel(x)
    for name in ("logits", "bin_attention", "mark_attention"):
        if getattr(a, name) is not None:
            assert torch.allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)
    a.logits.sum().backward()
    b.logits.sum().backward()
    for p, q in zip(reference.parameters(), kernel.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5 * p.grad.abs().max().item())


def test_input_gradient_for_saliency():
    """Saliency differentiates the probability back to the counts."""
    torch.manual_seed(0)
    reference = AttentiveChrome().eval()
    kernel = AttentiveChrome(kernel="numba").eval()
    kernel.load_state_dict(reference.state_dict())
    grads = []
    for model in (reference, kernel):
        x = counts(3).requires_grad_()
        (grad,) = torch.autograd.grad(torch.sigmoid(model(x).logits).sum(), x)
        grads.append(grad)
    assert torch.allclose(*grads, rtol=1e-4, atol=1e-5 * grads[0].abs().max().item())


def test_stacked_weights_order_forward_directions_first():
    torch.manual_seed(0)
    lstms = list(AttentiveChrome().bin_encoders)
    w_ih, w_hh, bias = (torch.from_numpy(w) for w in stacked_weights(lstm_parameters(lstms)))
    assert w_ih.shape == (10, 1, 128) and w_hh.shape == (10, 128, 32) and bias.shape == (10, 128)
    assert torch.equal(w_hh[2], lstms[2].weight_hh_l0)
    assert torch.equal(w_hh[7], lstms[2].weight_hh_l0_reverse)
    assert torch.equal(bias[5], lstms[0].bias_ih_l0_reverse + lstms[0].bias_hh_l0_reverse)
    assert torch.equal(w_ih[3, 0], lstms[3].weight_ih_l0[:, 0])


def test_unsupported_input_is_refused():
    with pytest.raises(ValueError, match="32k units"):
        lstm_outputs(counts(2, marks=2), lstms_of(2, 1, 16))
    with pytest.raises(ValueError, match="its own inputs"):
        lstm_outputs(counts(2, marks=4), lstms_of(1, 5, 32))
    with pytest.raises(ValueError, match="float32"):
        lstm_outputs(counts(2).double(), list(AttentiveChrome().bin_encoders))


@pytest.mark.slow
@pytest.mark.skipif("ATTENTIVECHROME_NUMBA_LANES" in os.environ, reason="already the other width")
def test_the_other_vector_width_passes_the_same_comparisons():
    """The kernel runs on 16-float vectors where the CPU has AVX-512 and on 8 elsewhere:
    this module's comparisons with nn.LSTM, run again at the width this CPU does not pick
    (ATTENTIVECHROME_NUMBA_LANES, which also keeps those kernels out of numba's cache)."""
    other = "8" if LANES == 16 else "16"
    env = {**os.environ, "ATTENTIVECHROME_NUMBA_LANES": other}
    probe = "from attentivechrome.learn.numba_lstm import LANES; print(LANES)"
    lanes = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert lanes.stdout.split() == [other], lanes.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "equal_nn_lstm or other_sizes or without_autograd", "-m", "not slow"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b9 passed", result.stdout), result.stdout
