"""The FLOPs cost term on its own: it pulls the distribution into [T_min, T_max] and no further."""

from __future__ import annotations

import pytest
import torch
from nni.mutable import Categorical

from nni_autotsnet.strategies import ArchDistribution, FlopsWindowCost, Parsec, architecture_gradient

pytestmark = pytest.mark.usefixtures("single_thread")

VALUES = [1, 2, 3, 4]
LABELS = [f'block{i}' for i in range(6)]


def _gflops(sample):
    """0.1 GFLOPs per unit of every block: the space spans 0.6 to 2.4 GFLOPs."""
    return 0.1 * sum(sample[label] for label in LABELS)


def _distribution(bias: float) -> ArchDistribution:
    dist = ArchDistribution({label: Categorical(VALUES, label=label) for label in LABELS})
    with torch.no_grad():
        dist.logits.copy_(torch.tensor([bias * v for v in VALUES] * len(LABELS), dtype=torch.float32))
    return dist


def _expected_gflops(dist: ArchDistribution) -> float:
    probs = dist.padded_log_probs().exp().detach()
    return 0.1 * float((probs * torch.tensor(VALUES, dtype=torch.float32)).sum())


def _search_cost_only(dist, cost, steps=250, k=13):
    """Optimise alpha with the cost term alone (importance weights zero: no data term)."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(dist.parameters(), lr=0.05)
    for _ in range(steps):
        samples, indices = dist.sample(k, generator)
        estimate = cost.estimate([_gflops(s) for s in samples])
        optimizer.zero_grad()
        dist.logits.grad = architecture_gradient(dist, indices, torch.zeros(k), estimate.coefficients).float()
        optimizer.step()


def test_cost_is_zero_inside_the_window_and_linear_outside():
    cost = FlopsWindowCost(1.0, 2.0, beta=0.1)
    torch.testing.assert_close(cost.cost([0.5, 1.0, 1.5, 2.0, 3.0]),
                               torch.tensor([0.5, 0.0, 0.0, 0.0, 0.5], dtype=torch.float64))


@pytest.mark.parametrize('start_bias, window', [(1.5, (1.0, 1.2)), (-1.5, (1.8, 2.0))],
                         ids=['from-above', 'from-below'])
def test_cost_term_alone_drives_expected_flops_into_the_window(start_bias, window):
    dist = _distribution(start_bias)
    before = _expected_gflops(dist)
    assert not window[0] <= before <= window[1]
    _search_cost_only(dist, FlopsWindowCost(*window, beta=0.3))
    after = _expected_gflops(dist)
    assert window[0] <= after <= window[1], (before, after)
    # and most of the mass sits in the window, not only the mean
    samples, _ = dist.sample(500, torch.Generator().manual_seed(1))
    inside = sum(window[0] - 1e-9 <= _gflops(s) <= window[1] + 1e-9 for s in samples) / 500
    assert inside > 0.5


def test_cost_term_exerts_no_pull_inside_the_window():
    dist = _distribution(0.7)
    before = dist.logits.detach().clone()
    cost = FlopsWindowCost(0.6, 2.4, beta=0.3)  # every architecture of the space is inside
    samples, indices = dist.sample(13, torch.Generator().manual_seed(0))
    estimate = cost.estimate([_gflops(s) for s in samples])
    assert estimate.value == 0.0
    assert torch.count_nonzero(estimate.coefficients) == 0
    grad = architecture_gradient(dist, indices, torch.zeros(13), estimate.coefficients)
    assert torch.count_nonzero(grad) == 0
    _search_cost_only(dist, cost, steps=20)
    torch.testing.assert_close(dist.logits.detach(), before)


def test_beta_zero_switches_the_term_off():
    estimate = FlopsWindowCost(1.0, 1.2, beta=0.0).estimate([3.0, 0.1])
    assert estimate.value > 0 and torch.count_nonzero(estimate.coefficients) == 0


@pytest.mark.parametrize('window, match', [
    ((1.0, 2.0, -1.0), 'beta'),
    ((2.0, 1.0, 0.1), 't_min <= t_max'),
    ((0.0, 1.0, 0.1), 'positive'),
])
def test_the_cost_checks_its_window(window, match):
    with pytest.raises(ValueError, match=match):
        FlopsWindowCost(*window)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_samples=0), 'num_samples'),
    (dict(warmup=1.5), 'warmup'),
    (dict(weight_optimizer='adam'), 'weight_optimizer'),
    (dict(weight_lr=0.1), "weight_lr=0.1 is SGD's learning rate: pass weight_optimizer='sgd'"),
    (dict(weight_optimizer='sgd', weight_lr=-0.1), 'weight_lr must be >= 0'),
])
def test_parsec_names_the_bad_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Parsec(**kwargs)
