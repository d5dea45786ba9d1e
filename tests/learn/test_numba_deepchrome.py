"""DeepChrome's fused numba SGD step (train.kernel: numba) does what PyTorch's step does.

The reference is the model's own PyTorch step with the same dropout mask: forward with
the mask in place of nn.Dropout's draw, BCE with logits, backward, torch.optim.SGD. The
kernel's step, from the same weights, must change every weight and bias as the reference
does: the change's error against the same steps in float64 is at most twice the
reference's own (plus 1e-6 of the largest change), as for the LSTM kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attentivechrome.learn.model import DeepChrome
from attentivechrome.learn.numba_deepchrome import CHUNK, FusedDeepChrome, train_epoch
from helpers import assert_as_exact_as_reference

torch.set_num_threads(1)


def genes(n: int, marks: int = 5, bins: int = 100, seed: int = 0):
    """Counts with stretches of zeros (pooling windows with tied maxima), labels 0/1."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.poisson(torch.full((n, marks, bins), 1.5), generator=generator)
    X[0] = 0
    X[1, :, : bins // 2] = 0
    return X, (torch.arange(n) % 2).float()


def reference_steps(model: DeepChrome, X, y, order, keep, lr: float) -> list[float]:
    """PyTorch's SGD steps, one gene each, with the given dropout masks (True keeps)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    convolved, dropout = model.features[:4], model.features[4]
    losses = []
    for n, gene in enumerate(order):
        features = convolved(X[gene : gene + 1])
        mask = torch.from_numpy(keep[n]).to(features.dtype) / (1 - dropout.p)
        scores = model.mlp(features * mask)
        loss = nn.functional.binary_cross_entropy_with_logits(
            scores[:, 1] - scores[:, 0], y[gene : gene + 1]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def kernel_steps(model: DeepChrome, X, y, order, keep, lr: float) -> np.ndarray:
    fused = FusedDeepChrome(model)
    losses = fused.train(X.numpy(), y.numpy(), np.asarray(order), keep, lr)
    fused.write_to(model)
    return losses


def assert_steps_equal_pytorch(model: DeepChrome, X, y, order, lr: float) -> list:
    """Returns the float64 changes of the losses and then of every parameter."""
    keep = FusedDeepChrome(model).draw_masks(np.random.default_rng(3), len(order))
    start = {k: v.double() for k, v in model.state_dict().items()}
    exact = DeepChrome(model.n_marks, model.n_bins, model.n_filters).double()
    reference = DeepChrome(model.n_marks, model.n_bins, model.n_filters)
    for copy in (exact, reference):
        copy.load_state_dict(model.state_dict())
    true_losses = reference_steps(exact, X.double(), y.double(), order, keep, lr)
    ref_losses = reference_steps(reference, X, y, order, keep, lr)
    losses = kernel_steps(model, X, y, order, keep, lr)

    def changes(m):
        return [value.double() - start[key] for key, value in m.state_dict().items()]

    double = torch.float64
    truth = [torch.tensor(true_losses), *changes(exact)]
    assert_as_exact_as_reference(
        truth,
        [torch.tensor(ref_losses, dtype=double), *changes(reference)],
        [torch.from_numpy(losses), *changes(model)],
    )
    return truth


def trained_every_tensor(truth: list) -> bool:
    return all(change.abs().max() > 0 for change in truth[1:])


def test_one_step_changes_every_weight_as_pytorch_does():
    """A large rate, so that the change is the gradient itself, well above the rounding
    of the weights it is added to."""
    torch.manual_seed(0)
    X, y = genes(4)
    for gene in range(4):  # gene 0 has no reads: its step changes no conv weight
        truth = assert_steps_equal_pytorch(DeepChrome(), X, y, [gene], lr=0.5)
        assert trained_every_tensor(truth) == (gene > 0)


def test_steps_in_a_row_equal_pytorchs():
    """Each step starts from the weights the one before left, as SGD's do."""
    torch.manual_seed(1)
    X, y = genes(8, seed=1)
    truth = assert_steps_equal_pytorch(DeepChrome(), X, y, [3, 0, 5, 1, 7, 1], lr=1e-3)
    assert trained_every_tensor(truth)


@pytest.mark.parametrize(("marks", "bins", "filters"), [(3, 20, 13), (5, 37, 8)])
def test_other_sizes(marks, bins, filters):
    """Channels not a multiple of 8 (padded), other pooled lengths and mark counts."""
    torch.manual_seed(2)
    X, y = genes(3, marks, bins, seed=2)
    truth = assert_steps_equal_pytorch(DeepChrome(marks, bins, filters), X, y, [2, 0, 1], lr=0.5)
    assert trained_every_tensor(truth)


def test_weights_go_into_the_kernels_layout_and_back_unchanged():
    torch.manual_seed(0)
    model, other = DeepChrome(n_filters=13), DeepChrome(n_filters=13)
    FusedDeepChrome(model).write_to(other)
    for key, value in model.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key


def test_an_epoch_is_seeded_by_its_generator_and_walks_the_given_order():
    """The same generator state, the same epoch; masks are drawn CHUNK genes at a time."""
    X, y = genes(CHUNK + 3)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    results = []
    for seed in (4, 4, 5):
        torch.manual_seed(0)
        model = DeepChrome()
        loss = train_epoch(model, X, y, order, 1e-3, np.random.default_rng(seed))
        results.append((loss, model.state_dict()))
    (loss_a, a), (loss_b, b), (loss_c, c) = results
    assert loss_a == loss_b and all(torch.equal(a[k], b[k]) for k in a)
    assert loss_a != loss_c and not torch.equal(a["mlp.0.weight"], c["mlp.0.weight"])
    torch.manual_seed(0)
    model = DeepChrome()
    fused = FusedDeepChrome(model)
    generator = np.random.default_rng(4)
    keep = np.concatenate([fused.draw_masks(generator, n) for n in (CHUNK, 3)])
    losses = kernel_steps(model, X, y, order.numpy(), keep, 1e-3)
    assert losses.mean() == pytest.approx(loss_a, rel=1e-12)
    assert all(torch.equal(model.state_dict()[k], a[k]) for k in a)
