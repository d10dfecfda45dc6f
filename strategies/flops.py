"""F(A): the FLOPs of an architecture in GFLOPs per view, for any NNI model space (and other per-architecture figures).

The project's space knows its exact FLOPs in closed form (``space.flops(arch)``); any other
space is profiled once with NNI's ``FlopsProfiler`` (built on a throwaway copy of the raw space,
before it becomes a supernet) and the symbolic expression is evaluated per architecture.
Either way results are memoised, as the same architectures recur during a search.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

__all__ = ['ArchMetric', 'ArchFlops']

_logger = logging.getLogger(__name__)


def _key(sample: Mapping[str, Any]) -> tuple:
    return tuple((label, tuple(v) if isinstance(v, list) else v) for label, v in sorted(sample.items()))


class ArchMetric:
    """Memoised ``sample -> fn(sample) * scale``: a per-architecture figure PARSEC's cost window bounds.

    Parameters
    ----------
    fn
        ``sample -> figure``.
    source
        Where the figures come from, for logs and the README (``'space.flops'``, ``'latency table'``...).
    key
        The figure's name in PARSEC's metrics (``expected_<key>``, ``ml_<key>``) and alpha.json.
    scale
        Multiplies ``fn``'s figure (``1e-9``: multiply-adds to GFLOPs).
    """

    def __init__(self, fn: Callable[[Mapping[str, Any]], float], source: str = 'custom', key: str = 'value',
                 scale: float = 1.0):
        self.fn = fn
        self.source = source
        self.key = key
        self.scale = scale
        self._cache: dict[tuple, float] = {}

    def __call__(self, sample: Mapping[str, Any]) -> float:
        key = _key(sample)
        if key not in self._cache:
            self._cache[key] = float(self.fn(sample)) * self.scale
        return self._cache[key]

    def many(self, samples: Sequence[Mapping[str, Any]]) -> list[float]:
        """The figures of several samples."""
        return [self(s) for s in samples]


class ArchFlops(ArchMetric):
    """Memoised ``sample -> GFLOPs per view``.

    Parameters
    ----------
    flops_fn
        ``sample -> FLOPs`` (multiply-adds, a plain number, *not* GFLOPs).
    source
        Where the figures come from, for logs and the README (``'space.flops'``, ``'FlopsProfiler'``...).
    """

    def __init__(self, flops_fn: Callable[[Mapping[str, Any]], float], source: str = 'custom'):
        super().__init__(flops_fn, source, key='gflops', scale=1e-9)

    @property
    def flops_fn(self) -> Callable[[Mapping[str, Any]], float]:
        return self.fn

    def __call__(self, sample: Mapping[str, Any]) -> float:
        key = _key(sample)
        if key not in self._cache:
            self._cache[key] = float(self.fn(sample)) / 1e9  # divided, as before: the same floats to the last bit
        return self._cache[key]

    @classmethod
    def from_space(cls, space: nn.Module, dummy_input: Any = None) -> 'ArchFlops':
        """Build from the raw (not yet mutated) model space.

        Uses ``space.flops(sample)`` when the space defines it (exact, microseconds). Otherwise
        NNI's ``FlopsProfiler`` on a deep copy in eval mode (a failed profile leaves hooks on the
        modules it touched, and batch-norm needs eval mode with a batch of one), counting only
        convolutions and linear layers, the project's convention. ``dummy_input`` is one input
        batch, or ``None`` to use ``torch.randn(1, *space.input_shape)``.

        Raises
        ------
        ValueError
            If neither ``space.flops`` nor an input to profile with is available.
        RuntimeError
            If NNI's profiler cannot trace the space (its message says which module failed).
        """
        flops = getattr(space, 'flops', None)
        if callable(flops):
            return cls(flops, source=f'{type(space).__name__}.flops')
        if dummy_input is None:
            shape = getattr(space, 'input_shape', None)
            if shape is None:
                raise ValueError(f'{type(space).__name__} has no flops() and no input_shape; pass dummy_input '
                                 '(one input batch) or flops_fn to profile it.')
            dummy_input = torch.randn(1, *shape)
        from nni.nas.profiler.pytorch.flops import FlopsProfiler
        throwaway = copy.deepcopy(space).eval()
        profiler = FlopsProfiler(throwaway, dummy_input, count_bias=False, count_normalization=False,
                                 count_activation=False)
        return cls(profiler.profile, source='nni FlopsProfiler')
