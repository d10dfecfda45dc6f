"""PARSEC's importance-weighted gradients, accumulated online in the memory of one architecture.

For K architectures sampled from P(A|alpha) and their batch log-likelihoods ``l_k``, PARSEC
needs ``sum_k w_k grad_w l_k`` with ``w_k = softmax_k(l_k)``. The weights are only known after
the K-th forward pass, but holding K graphs until then costs K times the memory. Instead the
gradients are accumulated with a *running log-sum-exp*: with ``m`` the largest ``l`` seen so
far and ``Z = sum_j exp(l_j - m)``, the ``.grad`` buffers always hold
``sum_j exp(l_j - m) grad loss_j``. Sample ``k`` is back-propagated at once with the scale
``exp(l_k - m)`` and its graph freed; if ``l_k`` is a new maximum the buffers are first
multiplied by ``exp(m_old - l_k)``; at the end they are divided by ``Z``. All exponents are
``<= 0``, so nothing overflows however peaked the weights are, and the extra work is a few
in-place multiplications of the gradient buffers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import torch

from .distribution import ArchDistribution

__all__ = ['OnlineImportanceWeighting', 'ImportanceResult', 'accumulate_importance_weighted',
           'architecture_gradient', 'effective_sample_size']


def effective_sample_size(weights: torch.Tensor) -> float:
    """Kish's effective sample size ``1 / sum w_k^2`` of normalised weights, in ``[1, K]``."""
    return float(1.0 / (weights.double() ** 2).sum())


class OnlineImportanceWeighting:
    """Running log-sum-exp over the samples of one step, applied to gradient buffers in place.

    Parameters
    ----------
    params
        The parameters whose ``.grad`` receives the weighted sum; their gradients must be
        zero (or ``None``) when the step starts.
    """

    def __init__(self, params: Iterable[torch.Tensor]):
        self.params = [p for p in params if p.requires_grad]
        self.log_likelihoods: list[float] = []
        self._max = -math.inf
        self._norm = 0.0  # sum_j exp(l_j - max)

    def _scale_grads(self, factor: float) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads and factor != 1.0:
            torch._foreach_mul_(grads, factor)

    def push(self, log_likelihood: float) -> float:
        """Register ``l_k``; return the factor to multiply sample k's loss by before backward.

        A factor of ``0`` means the sample carries no weight (a non-finite loss): skip its backward.
        """
        l = float(log_likelihood)
        if math.isnan(l):
            l = -math.inf
        self.log_likelihoods.append(l)
        if l == -math.inf:
            return 0.0
        if l > self._max:
            if self._norm > 0.0:
                factor = math.exp(self._max - l)
                self._scale_grads(factor)
                self._norm *= factor
            self._max = l
        scale = math.exp(l - self._max)
        self._norm += scale
        return scale

    def finish(self) -> torch.Tensor:
        """Normalise the buffers to ``sum_k w_k grad loss_k``; return the weights ``w`` (``[K]``)."""
        if self._norm <= 0.0:
            raise FloatingPointError('Every sampled architecture gave a non-finite loss; '
                                     'no importance weight can be formed.')
        self._scale_grads(1.0 / self._norm)
        return torch.softmax(torch.tensor(self.log_likelihoods, dtype=torch.float64), dim=0)


class ImportanceResult(NamedTuple):
    """What one importance-weighted step produced."""

    log_likelihoods: torch.Tensor  #: ``l_k``, shape ``[K]``
    weights: torch.Tensor          #: ``w_k = softmax(l)``, shape ``[K]``
    losses: torch.Tensor           #: each sample's (mean) training loss, shape ``[K]``

    @property
    def ess(self) -> float:
        """Effective sample size of the weights."""
        return effective_sample_size(self.weights)


def accumulate_importance_weighted(
    samples: Sequence[Any],
    run_sample: Callable[[Any], tuple[torch.Tensor, float]],
    params: Iterable[torch.Tensor],
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward,
) -> ImportanceResult:
    """Leave ``sum_k w_k grad loss_k`` in ``params``' ``.grad``, one sample in memory at a time.

    Parameters
    ----------
    samples
        The K architectures, in any form ``run_sample`` accepts.
    run_sample
        Activates one architecture and runs the batch: returns its differentiable mean loss and
        its batch log-likelihood ``l_k`` (a float, already summed over ranks under DDP).
    params
        The weights; their gradients must be zero or ``None`` on entry.
    backward
        How to back-propagate a loss (Lightning's ``manual_backward`` in the strategy).
    """
    online = OnlineImportanceWeighting(params)
    losses = []
    for sample in samples:
        loss, log_likelihood = run_sample(sample)
        losses.append(float(loss.detach()))
        scale = online.push(log_likelihood)
        if scale > 0.0:
            backward(loss * scale)
        del loss  # the graph of this sample dies here, before the next forward
    weights = online.finish()
    return ImportanceResult(torch.tensor(online.log_likelihoods, dtype=torch.float64), weights,
                            torch.tensor(losses, dtype=torch.float64))


def architecture_gradient(distribution: ArchDistribution, indices: torch.Tensor, weights: torch.Tensor,
                          cost_coefficients: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of PARSEC's objective in alpha: ``-sum_k w_k grad log P(A_k|alpha) + beta grad log C``.

    Both terms are score-function sums over the same samples, so they share one backward
    through the (tiny) distribution; the result has the shape of ``distribution.logits``.
    """
    coefficients = -weights.to(torch.float64)
    if cost_coefficients is not None:
        coefficients = coefficients + cost_coefficients.to(torch.float64)
    log_p = distribution.log_prob(indices)
    surrogate = (coefficients.to(log_p.device, log_p.dtype).detach() * log_p).sum()
    (grad,) = torch.autograd.grad(surrogate, [distribution.logits])
    return grad
