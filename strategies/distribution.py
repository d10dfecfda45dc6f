"""The architecture distribution P(A | alpha) that PARSEC learns.

One independent categorical per mutable of a model space, discovered generically from
``ModelSpace.simplify()``, so the same code serves this project's two-stream space and NNI's
hub spaces.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from nni.mutable import Categorical, CategoricalMultiple, Mutable, Sample

__all__ = ['ArchDistribution', 'jsonable']


def jsonable(value: Any) -> Any:
    """Turn a choice value into something ``json.dumps`` accepts (tuples become lists)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _as_categorical(label: str, mutable: Mutable) -> tuple[list[Any], bool, list[float] | None]:
    """Values, "wrap in a list", and prior weights of one mutable; reject what PARSEC cannot model."""
    if isinstance(mutable, CategoricalMultiple):
        if mutable.n_chosen != 1:
            raise TypeError(f'Mutable {label!r}: PARSEC models one categorical per mutable, so a '
                            f'CategoricalMultiple needs n_chosen=1, got n_chosen={mutable.n_chosen}.')
        return list(mutable.values), True, getattr(mutable, 'weights', None)
    if isinstance(mutable, Categorical):
        return list(mutable.values), False, getattr(mutable, 'weights', None)
    raise TypeError(f'Mutable {label!r} of type {type(mutable).__name__} is not supported by PARSEC: '
                    'only Categorical (LayerChoice, nni.choice, Repeat depth) and '
                    'CategoricalMultiple with n_chosen=1 (InputChoice) are.')


class ArchDistribution(nn.Module):
    """Independent categoricals with logits ``alpha``, one per label of a search space.

    All logits live in one flat parameter (cheap to optimise, to all-reduce and to checkpoint);
    a padded ``[labels, max_values]`` view is built on the fly for vectorised sampling.

    Parameters
    ----------
    space
        ``{label: mutable}`` as returned by ``ModelSpace.simplify()``.

    Examples
    --------
    >>> dist = ArchDistribution(model_space.simplify())
    >>> samples, indices = dist.sample(13)
    >>> dist.log_prob(indices).shape
    torch.Size([13])
    """

    def __init__(self, space: Mapping[str, Mutable]):
        super().__init__()
        if not space:
            raise ValueError('space has no mutables: there is nothing for PARSEC to search.')
        self.labels: list[str] = [str(label) for label in space]  # plain str: NNI's label subclass does not unpickle
        self.values: list[list[Any]] = []
        self._wrap: list[bool] = []
        init: list[float] = []
        for label, mutable in space.items():
            values, wrap, prior = _as_categorical(str(label), mutable)
            self.values.append(values)
            self._wrap.append(wrap)
            if prior is None:
                init += [0.0] * len(values)
            else:  # start from the space's own prior, if it declares one
                init += [math.log(max(p, 1e-12)) for p in prior]
        self.logits = nn.Parameter(torch.tensor(init, dtype=torch.float32))

        sizes = [len(v) for v in self.values]
        width = max(sizes)
        index = torch.zeros(len(sizes), width, dtype=torch.long)
        mask = torch.zeros(len(sizes), width, dtype=torch.bool)
        offset = 0
        for row, size in enumerate(sizes):
            index[row, :size] = torch.arange(offset, offset + size)
            mask[row, :size] = True
            offset += size
        self.register_buffer('_index', index, persistent=False)
        self.register_buffer('_mask', mask, persistent=False)

    # ----------------------------------------------------------------------------------------
    # Distribution
    # ----------------------------------------------------------------------------------------
    def padded_log_probs(self) -> torch.Tensor:
        """``[labels, max_values]`` log-probabilities, ``-inf`` in the padding."""
        padded = self.logits[self._index].masked_fill(~self._mask, float('-inf'))
        return torch.log_softmax(padded, dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> tuple[list[Sample], torch.Tensor]:
        """Draw architectures; returns the NNI sample dicts and ``[num_samples, labels]`` indices.

        Sampling runs on the CPU with ``generator`` so that a seeded generator gives the same
        architectures on every rank and after a resume. It inverts each label's CDF at one
        uniform draw: two searches that share a seed but differ in alpha (say, in ``beta``) see
        common random numbers, so their samples differ only where their distributions do.
        """
        if num_samples < 1:
            raise ValueError(f'num_samples must be >= 1, got {num_samples}.')
        with torch.no_grad():
            cdf = self.padded_log_probs().double().exp().cpu().cumsum(dim=-1)
            uniforms = torch.rand(num_samples, len(self.labels), 1, generator=generator, dtype=torch.float64)
            indices = (cdf.unsqueeze(0) <= uniforms * cdf[:, -1:].unsqueeze(0)).sum(dim=-1)
            indices = torch.minimum(indices, torch.tensor([len(v) - 1 for v in self.values]))
        return [self.to_sample(row) for row in indices], indices

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """``log P(A | alpha)`` of each row of ``indices`` (differentiable in alpha)."""
        log_probs = self.padded_log_probs()
        indices = indices.to(log_probs.device)
        rows = torch.arange(len(self.labels), device=log_probs.device)
        return log_probs[rows, indices].sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        """Entropy of P(A | alpha) in nats: the sum of the per-label entropies."""
        log_probs = self.padded_log_probs()
        plogp = torch.where(self._mask, log_probs.exp() * log_probs, torch.zeros_like(log_probs))
        return -plogp.sum()

    def max_entropy(self) -> float:
        """The largest entropy P(A | alpha) can have, that of the uniform distribution: ``sum log(n_values)``."""
        return float(sum(math.log(len(v)) for v in self.values))

    # ----------------------------------------------------------------------------------------
    # Conversions between index rows and NNI samples
    # ----------------------------------------------------------------------------------------
    def to_sample(self, row: Iterable[int]) -> Sample:
        """``{label: value}`` of one index row, in the format NNI's ``freeze``/``resample`` expect."""
        sample = {}
        for label, values, wrap, index in zip(self.labels, self.values, self._wrap, row):
            value = values[int(index)]
            sample[label] = [value] if wrap else value
        return sample

    def to_indices(self, sample: Mapping[str, Any]) -> torch.Tensor:
        """Inverse of :meth:`to_sample` (raises ``KeyError`` naming a label that is missing)."""
        row = []
        for label, values, wrap in zip(self.labels, self.values, self._wrap):
            if label not in sample:
                raise KeyError(f'sample has no value for label {label!r}.')
            value = sample[label]
            if wrap and isinstance(value, list):
                value = value[0]
            row.append(values.index(value))
        return torch.tensor(row, dtype=torch.long)

    # ----------------------------------------------------------------------------------------
    # Export
    # ----------------------------------------------------------------------------------------
    def most_likely(self) -> Sample:
        """The mode of P(A | alpha): the most probable value of every label."""
        return self.to_sample(self.padded_log_probs().argmax(dim=-1).tolist())

    def top_k(self, k: int) -> list[tuple[Sample, float]]:
        """The ``k`` most probable architectures with their probabilities, best first.

        Exact: a best-first walk over the product of the per-label sorted lists (a heap of rank
        vectors), so it costs ``O(k * labels * log k)`` however large the space is.
        """
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}.')
        with torch.no_grad():
            log_probs = self.padded_log_probs().cpu()
        order = [torch.argsort(row[:len(v)], descending=True).tolist() for row, v in zip(log_probs, self.values)]
        sorted_lp = [[float(log_probs[i, j]) for j in o] for i, o in enumerate(order)]

        def score(ranks: tuple[int, ...]) -> float:
            return sum(lp[r] for lp, r in zip(sorted_lp, ranks))

        start = (0,) * len(order)
        heap = [(-score(start), start)]
        seen = {start}
        result = []
        while heap and len(result) < k:
            neg, ranks = heapq.heappop(heap)
            result.append((self.to_sample([o[r] for o, r in zip(order, ranks)]), math.exp(-neg)))
            for i, r in enumerate(ranks):
                if r + 1 < len(order[i]):
                    nxt = ranks[:i] + (r + 1,) + ranks[i + 1:]
                    if nxt not in seen:
                        seen.add(nxt)
                        heapq.heappush(heap, (-score(nxt), nxt))
        return result

    def probs_dict(self) -> dict[str, dict[Any, float]]:
        """``{label: {value: probability}}``, the format of NNI's ``export_probs``."""
        with torch.no_grad():
            probs = self.padded_log_probs().exp().cpu()
        return {label: {value if not isinstance(value, list) else tuple(value): float(p)
                        for value, p in zip(values, row)}
                for label, values, row in zip(self.labels, self.values, probs)}

    def to_json_dict(self) -> dict[str, Any]:
        """Alpha with its choice labels: ``{label: {"values", "logits", "probs"}}``, JSON-ready."""
        with torch.no_grad():
            log_probs = self.padded_log_probs().cpu()
            logits = self.logits.detach().cpu()
        out = {}
        for row, (label, values) in enumerate(zip(self.labels, self.values)):
            flat = self._index[row, :len(values)].cpu()
            out[label] = {
                'values': [jsonable(v) for v in values],
                'logits': [float(x) for x in logits[flat]],
                'probs': [float(x) for x in log_probs[row, :len(values)].exp()],
            }
        return out

    # ----------------------------------------------------------------------------------------
    # Checkpointing: refuse to load alpha of a different space
    # ----------------------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {'labels': list(self.labels), 'values': [[jsonable(v) for v in vs] for vs in self.values]}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        mine = self.get_extra_state()
        if state.get('labels') != mine['labels'] or state.get('values') != mine['values']:
            raise ValueError('Checkpointed PARSEC alpha belongs to a different search space: labels or values '
                             f'differ (checkpoint labels {state.get("labels")}, this space {mine["labels"]}).')
