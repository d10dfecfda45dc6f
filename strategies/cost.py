"""PARSEC's cost term ``beta * log C(alpha)`` (supplement eq. 2-3, NOTES erratum), for FLOPs or latency.

``cost(A) = max(0, F(A)/T_max - 1) + max(0, 1 - F(A)/T_min)``: zero inside the window
``[T_min, T_max]`` (GFLOPs per view; or milliseconds, with F_lat(A) for F(A)), growing linearly outside it.
``C(alpha) = E[cost(A)]`` is estimated from the K architectures sampled for the data term, and its gradient
``grad log C = grad C / C`` with the score function and a leave-one-out baseline.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch

__all__ = ['WindowCost', 'FlopsWindowCost', 'LatencyWindowCost', 'CostEstimate']


class CostEstimate(NamedTuple):
    """What one step of the cost term produced."""

    costs: torch.Tensor         #: ``cost(A_k)`` of each sample, shape ``[K]``
    value: float                #: the estimate of ``C(alpha)``, the mean of ``costs``
    coefficients: torch.Tensor  #: ``beta * (cost_k - baseline_k) / (K * C)``, multiplies ``log P(A_k|alpha)``


class WindowCost:
    """The cost of an architecture's figure (GFLOPs, milliseconds...) against a target window, and its alpha gradient.

    Parameters
    ----------
    t_min, t_max
        The window, ``0 < t_min <= t_max``, in ``unit``.
    beta
        Weight of ``log C(alpha)`` in the objective; ``0`` switches the term off.
    name, unit
        What the window is called and measured in, for error messages (``'latency_window'``, ``'ms'``).
    figure, key
        ``sample -> figure`` in ``unit`` that the window bounds, and the name it is logged under
        (``'latency_ms'``); ``None``: the strategy's GFLOPs per view (:class:`FlopsWindowCost`).

    The window is checked here, once: a strategy given a cost trusts it.

    Examples
    --------
    >>> cost = FlopsWindowCost(1.37, 1.43, beta=0.2)          # or LatencyWindowCost(40, 50, 0.2, latency_fn)
    >>> est = cost.estimate([1.2, 1.4, 2.0])
    >>> surrogate = (est.coefficients * dist.log_prob(indices)).sum()   # its grad is beta * grad log C
    >>> Parsec(num_samples=13, cost=cost)                     # the strategy's cost term
    """

    def __init__(self, t_min: float, t_max: float, beta: float, name: str = 'window', unit: str = '',
                 figure: Callable[[Mapping[str, Any]], float] | None = None, key: str | None = None):
        if figure is not None and not key:
            raise ValueError(f'{name}: a cost on a figure of its own needs the key it is logged under.')
        if not (t_min > 0 and t_max > 0):
            raise ValueError(f'{name} must hold two positive {unit} figures, got ({t_min}, {t_max}).')
        if t_min > t_max:
            raise ValueError(f'{name} must be (t_min, t_max) with t_min <= t_max, got ({t_min}, {t_max}).')
        if beta < 0:
            raise ValueError(f'beta must be >= 0, got {beta}.')
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.beta = float(beta)
        self.name, self.unit = name, unit
        self.figure, self.key = figure, key

    @property
    def window(self) -> tuple[float, float]:
        """``(t_min, t_max)``."""
        return self.t_min, self.t_max

    #: Relative excess below which an architecture counts as inside the window. ``log C`` is
    #: scale-free, so without it a rounding error (0.1 * 24 = 2.4000000000000004 > 2.4) would
    #: pull on alpha as hard as a real violation.
    tolerance = 1e-9

    def cost(self, gflops: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """``cost(A)`` for each figure (GFLOPs, or the window's unit); zero inside the window."""
        f = torch.as_tensor(gflops, dtype=torch.float64)
        above = f / self.t_max - 1
        below = 1 - f / self.t_min
        return torch.where(above > self.tolerance, above, 0.0) + torch.where(below > self.tolerance, below, 0.0)

    def estimate(self, gflops: torch.Tensor | Sequence[float]) -> CostEstimate:
        """Monte Carlo ``C(alpha)`` from the samples' figures and the score-function coefficients.

        ``grad C = E[(cost - b) grad log P(A|alpha)]`` with ``b`` the mean cost of the *other*
        samples (unbiased, and it removes most of the variance); dividing by the estimate of
        ``C`` gives ``grad log C``. When every sample is inside the window the estimate of ``C``
        is zero: ``log C`` is then flat (no pull), so the coefficients are zero instead of
        ``0 / 0``.
        """
        costs = self.cost(gflops)
        k = costs.numel()
        value = float(costs.mean()) if k else 0.0
        if k == 0 or value <= 0.0 or self.beta == 0.0:
            return CostEstimate(costs, value, torch.zeros_like(costs))
        if k > 1:
            baseline = (costs.sum() - costs) / (k - 1)
        else:
            baseline = torch.zeros_like(costs)
        coefficients = self.beta * (costs - baseline) / (k * value)
        return CostEstimate(costs, value, coefficients)


class FlopsWindowCost(WindowCost):
    """:class:`WindowCost` for a window in GFLOPs per view (``flops_window``)."""

    def __init__(self, t_min: float, t_max: float, beta: float):
        super().__init__(t_min, t_max, beta, name='flops_window', unit='GFLOPs')


class LatencyWindowCost(WindowCost):
    """:class:`WindowCost` for a window in milliseconds on ``latency_fn(sample)`` (``latency_window``), e.g. a
    :class:`nni_autotsnet.latency.LatencyModel`; logged as ``latency_ms``."""

    def __init__(self, t_min: float, t_max: float, beta: float, latency_fn: Callable[[Mapping[str, Any]], float]):
        if not callable(latency_fn):
            raise ValueError('latency_window needs latency_fn (sample -> milliseconds), e.g. a LatencyModel.')
        super().__init__(t_min, t_max, beta, name='latency_window', unit='ms', figure=latency_fn, key='latency_ms')
