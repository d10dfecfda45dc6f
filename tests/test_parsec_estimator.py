"""PARSEC's gradients against brute force on a space small enough to enumerate."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nni_autotsnet.strategies import (
    ArchDistribution, FlopsWindowCost, OnlineImportanceWeighting, accumulate_importance_weighted,
    architecture_gradient,
)
from toys import ToySpace, enumerate_space, supernet_and_params, toy_flops

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    space, modules, params = supernet_and_params(ToySpace())
    dist = ArchDistribution(space.simplify())
    with torch.no_grad():
        dist.logits.copy_(torch.tensor([0.3, -0.2, 0.5, -0.4]))
    x, y = torch.randn(6, 8), torch.randint(0, 3, (6,))

    def loss_of(arch):
        for m in modules:
            m.resample(memo=arch)
        return F.cross_entropy(space(x), y)

    def run_sample(arch):
        loss = loss_of(arch)
        return loss, float(-len(x) * loss.detach())

    return dist, params, loss_of, run_sample, len(x)


def _grads(params):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]


def _zero(params):
    for p in params:
        p.grad = None


def test_online_weight_gradient_equals_all_graphs_logsumexp(setup):
    """The online accumulation equals autograd of -(1/N) logsumexp_k l_k with all K graphs alive."""
    dist, params, loss_of, run_sample, n = setup
    samples, _ = dist.sample(7, torch.Generator().manual_seed(3))

    _zero(params)
    result = accumulate_importance_weighted(samples, run_sample, params)
    online = _grads(params)

    _zero(params)
    log_likelihoods = torch.stack([-n * loss_of(s) for s in samples])
    (-torch.logsumexp(log_likelihoods, 0) / n).backward()
    brute = _grads(params)

    for a, b in zip(online, brute):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result.weights, torch.softmax(log_likelihoods.detach().double(), 0))
    assert 1.0 <= result.ess <= 7.0


def test_alpha_gradient_equals_closed_form(setup):
    """``-sum_k w_k grad log P(A_k|alpha)``: one-hot minus softmax per label, by hand."""
    dist, _, _, _, _ = setup
    samples, indices = dist.sample(5, torch.Generator().manual_seed(1))
    weights = torch.softmax(torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64), 0)
    grad = architecture_gradient(dist, indices, weights)

    expected = torch.zeros(4, dtype=torch.float64)
    probs = [torch.softmax(dist.logits.detach()[0:2].double(), 0), torch.softmax(dist.logits.detach()[2:4].double(), 0)]
    for w, row in zip(weights, indices):
        for label, (offset, p) in enumerate(zip((0, 2), probs)):
            one_hot = torch.zeros(2, dtype=torch.float64)
            one_hot[row[label]] = 1
            expected[offset:offset + 2] -= w * (one_hot - p)
    torch.testing.assert_close(grad.double(), expected, rtol=1e-5, atol=1e-6)


def test_estimators_converge_to_the_enumerated_gradients(setup):
    """With many samples, PARSEC's weight and alpha gradients approach the exact gradients of
    ``log sum_A P(A|alpha) P(y|X,w,A)``, computed by enumerating the four architectures."""
    dist, params, loss_of, run_sample, n = setup
    archs = enumerate_space(ToySpace())

    # exact: sum over every architecture, autograd through both alpha and the weights
    _zero(params)
    rows = torch.stack([dist.to_indices(a) for a in archs])
    log_joint = dist.log_prob(rows) + torch.stack([-n * loss_of(a) for a in archs])
    objective = -torch.logsumexp(log_joint, 0)
    objective.backward()
    exact_alpha = dist.logits.grad.clone().double()
    exact_weights = [g / n for g in _grads(params)]   # PARSEC's weight gradient is per example
    dist.logits.grad = None

    _zero(params)
    samples, indices = dist.sample(3000, torch.Generator().manual_seed(0))
    result = accumulate_importance_weighted(samples, run_sample, params)
    alpha = architecture_gradient(dist, indices, result.weights).double()

    assert torch.linalg.norm(alpha - exact_alpha) < 0.05 * torch.linalg.norm(exact_alpha) + 1e-3
    est = torch.cat([g.flatten() for g in _grads(params)])
    ref = torch.cat([g.flatten() for g in exact_weights])
    assert torch.linalg.norm(est - ref) < 0.05 * torch.linalg.norm(ref)


def test_cost_gradient_converges_to_enumerated_grad_log_c():
    space = ToySpace()
    dist = ArchDistribution(space.simplify())
    with torch.no_grad():
        dist.logits.copy_(torch.tensor([0.4, -0.1, -0.3, 0.6]))
    cost = FlopsWindowCost(60e-9, 100e-9, beta=1.0)
    archs = enumerate_space(space)
    rows = torch.stack([dist.to_indices(a) for a in archs])
    costs = cost.cost([toy_flops(a) / 1e9 for a in archs])
    log_c = torch.log((dist.log_prob(rows).exp().double() * costs).sum())
    (exact,) = torch.autograd.grad(log_c, [dist.logits])

    samples, indices = dist.sample(20000, torch.Generator().manual_seed(0))
    estimate = cost.estimate([toy_flops(s) / 1e9 for s in samples])
    grad = architecture_gradient(dist, indices, torch.zeros(len(samples)), estimate.coefficients)
    assert torch.linalg.norm(grad.double() - exact.double()) < 0.05 * torch.linalg.norm(exact.double())


def test_online_weighting_is_stable_for_extreme_log_likelihoods():
    p = torch.nn.Parameter(torch.zeros(3))
    online = OnlineImportanceWeighting([p])
    for l, g in [(-5000.0, 1.0), (-1000.0, 2.0), (float('nan'), 50.0), (-1000.0 - math.log(3), 3.0)]:
        scale = online.push(l)
        if scale > 0:
            (p * g * scale).sum().backward()
    weights = online.finish()
    torch.testing.assert_close(weights[:2], torch.tensor([0.0, 0.75], dtype=torch.float64))
    assert weights[2] == 0.0
    torch.testing.assert_close(p.grad, torch.full((3,), 0.75 * 2 + 0.25 * 3))


def test_only_one_architecture_graph_is_alive_at_a_time(setup):
    """Peak bytes held by autograd over K = 6 samples equal those of a single sample."""
    dist, params, _, run_sample, _ = setup
    live = {'now': 0, 'peak': 0}

    class Held:
        def __init__(self, tensor):
            self.tensor, self.nbytes = tensor, tensor.numel() * tensor.element_size()
            live['now'] += self.nbytes
            live['peak'] = max(live['peak'], live['now'])

        def __del__(self):
            live['now'] -= self.nbytes

    def peak_of(samples):
        live.update(now=0, peak=0)
        _zero(params)
        with torch.autograd.graph.saved_tensors_hooks(Held, lambda held: held.tensor):
            accumulate_importance_weighted(samples, run_sample, params)
        return live['peak']

    arch = enumerate_space(ToySpace())[0]
    one = peak_of([arch])
    assert one > 0
    assert peak_of([arch] * 6) == one
