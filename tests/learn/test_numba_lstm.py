"""The numba LSTM kernel (train.lstm_kernel: numba) computes what the nn.LSTM calls do.

Every test compares against the reference, the model's five nn.LSTM calls with the same
weights: outputs, and the gradients of the input and of every weight and bias. Both are
float32 and sum in different orders, so neither is exact: the kernel passes when its
error against the same computation in float64 is at most twice nn.LSTM's own float32
error (plus 1e-6 of the largest value, for values nn.LSTM happens to get almost exact).
Both errors are about 1e-6 of the largest value for the outputs and up to 2e-5 for the
input-weight gradients, which sum up to 1600 products of either sign.
"""

from __future__ import annotations

import pytest
import torch

from attentivechrome.learn.model import AttentiveChrome, HierarchicalLSTM
from attentivechrome.learn.numba_lstm import bin_lstms, stacked_weights
from helpers import assert_as_exact_as_reference

torch.set_num_threads(1)


def counts(batch: int, marks: int = 5, bins: int = 100, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((batch, marks, bins), 1.5), generator=generator)


def outputs_and_gradients(model: HierarchicalLSTM, x: torch.Tensor, kernel: str):
    """encode_bins(x) and the gradients of the input and of every bin-level parameter."""
    model.lstm_kernel = kernel
    inputs = x.clone().requires_grad_()
    out = model.encode_bins(inputs)
    weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)  # all count
    grads = torch.autograd.grad((out * weight).sum(), [inputs, *model.bin_encoders.parameters()])
    return [out, *grads]


def assert_as_exact_as_nn_lstm(model: HierarchicalLSTM, x: torch.Tensor) -> None:
    exact = HierarchicalLSTM(model.n_marks, model.n_bins, model.bin_hidden).double()
    exact.load_state_dict(model.state_dict(), strict=False)
    truth = outputs_and_gradients(exact, x.double(), "torch")
    reference = outputs_and_gradients(model, x, "torch")
    kernel = outputs_and_gradients(model, x, "numba")
    assert len(kernel) == 2 + 8 * model.n_marks  # output, input, 8 tensors per BiLSTM
    assert_as_exact_as_reference(truth, reference, kernel)


@pytest.mark.parametrize("batch", [1, 7, 16])
def test_outputs_and_all_gradients_equal_nn_lstm(batch):
    """Odd batches too: the kernel pads one gene, which must add nothing."""
    torch.manual_seed(0)
    assert_as_exact_as_nn_lstm(AttentiveChrome(), counts(batch, seed=batch))


def test_other_sizes_marks_bins_and_units():
    torch.manual_seed(1)
    assert_as_exact_as_nn_lstm(
        HierarchicalLSTM(n_marks=3, n_bins=17, bin_hidden=64), counts(4, 3, 17)
    )


def test_scoring_without_autograd_gives_the_training_forward():
    """Without autograd the kernel keeps no per-step state; the numbers are the same."""
    torch.manual_seed(0)
    model = AttentiveChrome(lstm_kernel="numba")
    x = counts(9)
    with torch.no_grad():
        scored = model.encode_bins(x)
    trained = model.encode_bins(x)
    assert trained.requires_grad and torch.equal(scored, trained.detach())


def test_model_outputs_and_gradients_equal_the_torch_kernel():
    torch.manual_seed(0)
    reference = AttentiveChrome()
    kernel = AttentiveChrome(lstm_kernel="numba")
    kernel.load_state_dict(reference.state_dict())  # the same parameters, the same names
    x = counts(6)
    a, b = reference(x), kernel(x)
    for name in ("logits", "bin_attention", "mark_attention"):
        assert torch.allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)
    a.logits.sum().backward()
    b.logits.sum().backward()
    for p, q in zip(reference.parameters(), kernel.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5 * p.grad.abs().max().item())


def test_input_gradient_for_saliency():
    """Saliency differentiates the probability back to the counts."""
    torch.manual_seed(0)
    reference = AttentiveChrome().eval()
    kernel = AttentiveChrome(lstm_kernel="numba").eval()
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
    w_ih, w_hh, bias = stacked_weights(lstms)
    assert w_ih.shape == (10, 128) and w_hh.shape == (10, 128, 32) and bias.shape == (10, 128)
    assert torch.equal(w_hh[2], lstms[2].weight_hh_l0)
    assert torch.equal(w_hh[7], lstms[2].weight_hh_l0_reverse)
    assert torch.equal(bias[5], lstms[0].bias_ih_l0_reverse + lstms[0].bias_hh_l0_reverse)


def test_unsupported_input_is_refused():
    torch.manual_seed(0)
    lstms = list(HierarchicalLSTM(n_marks=2, bin_hidden=16).bin_encoders)
    with pytest.raises(ValueError, match="32k units"):
        bin_lstms(counts(2, marks=2), lstms)
    with pytest.raises(ValueError, match="float32"):
        bin_lstms(counts(2).double(), list(AttentiveChrome().bin_encoders))
