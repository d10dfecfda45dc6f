"""Is a PARSEC search learning? A check over the figures it already logs every epoch.

PARSEC only learns alpha if the supernet's weights learn: the importance weights
``w_k = softmax_k(l_k)`` tell architectures apart only when their likelihoods differ. When the
weights barely move (a learning rate meant for another optimiser, too few steps), every sample
fits a batch equally well, the weights stay flat and alpha follows noise, yet the search still
ends with a "most likely" architecture. :func:`check_health` flags such a search from one row of
its per-epoch metrics, so that nobody mistakes a coin's pick for a searched architecture.

The problems it reports, by code:

* ``chance``: the validation accuracy of the most likely architecture (``ml_val_acc``) is not
  above chance. Chance is ``1 / num_classes``; an accuracy measured on ``n`` validation
  examples counts as above it only beyond ``z`` binomial standard errors,
  ``1/C + z * sqrt((1/C) (1 - 1/C) / n)`` (``z = 2``: a one-sided test at about 2%).
* ``flat_weights`` (after the alpha warm-up): the importance weights are flat, their ESS close to
  its maximum. Samples of one architecture are merged first (their mean log-likelihood), so a
  distribution that has settled on one architecture, whose K samples are alike, is not mistaken
  for a flat one: ``ess_ratio`` is the ESS over the distinct architectures of a step divided by
  their number (1 = flat), averaged over the epoch's steps with at least two of them.
* ``alpha_still`` (after the warm-up): alpha is not moving, its entropy close to the maximum, the
  entropy of the uniform distribution over every categorical.
* ``nonfinite``: the training loss (or alpha's entropy) is not finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

__all__ = ['SearchHealth', 'check_health', 'chance_threshold', 'distinct_ess_ratio', 'HEALTHY', 'CODES',
           'CHANCE_Z', 'FLAT_ESS', 'STILL_ENTROPY']

HEALTHY = 'ok'  #: the flag of a healthy epoch; otherwise the codes that fired, comma-separated
CODES = ('chance', 'flat_weights', 'alpha_still', 'nonfinite')
CHANCE_Z = 2.0        #: binomial standard errors above 1/num_classes that count as learned
FLAT_ESS = 0.85       #: ess_ratio at or above this: flat weights
STILL_ENTROPY = 0.99  #: entropy at or above this fraction of its maximum: alpha not moving


@dataclass(frozen=True)
class SearchHealth:
    """The verdict on one epoch: ``problems`` maps each code that fired to what was measured."""

    problems: tuple[tuple[str, str], ...] = ()
    alpha_frozen: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.problems)

    @property
    def flag(self) -> str:
        """``'ok'`` or the codes that fired, comma-separated (what metrics.csv and result.json hold)."""
        return ','.join(self.codes) if self.problems else HEALTHY

    def meaning(self) -> str:
        """One sentence on what the problems mean together."""
        codes = set(self.codes)
        if 'nonfinite' in codes:
            return 'the supernet diverged: its loss is not finite, so neither the weights nor alpha mean anything'
        if codes & {'chance', 'flat_weights'}:
            if self.alpha_frozen:
                return ('the supernet has not learned yet (alpha is still frozen); if this persists after the '
                        'warm-up, alpha will follow noise')
            return ('alpha is following noise: the supernet has not learned, so the architecture it favours is no '
                    'better than a random one')
        if 'alpha_still' in codes:
            return 'alpha has not moved from uniform: the search has not chosen anything yet'
        return 'the search is learning'

    def advice(self) -> str:
        """What to try, for the problems that fired."""
        codes = set(self.codes)
        tips = []
        if codes & {'chance', 'flat_weights', 'alpha_still'}:
            tips += ["a larger weight learning rate (the evaluator's learning_rate, or Parsec(weight_optimizer='sgd', "
                     "weight_lr=...))", 'a longer alpha warm-up (warmup=...)', 'more epochs']
        if codes == {'alpha_still'}:  # the supernet learns but alpha does not follow: alpha's own rate
            tips.append('a larger alpha learning rate (arch_lr=...)')
        if 'nonfinite' in codes:
            tips += ['a smaller weight learning rate', 'gradient_clip_val=...']
        return 'try ' + ', '.join(tips) if tips else ''

    @property
    def warming_up(self) -> bool:
        """True when the only problem is a supernet still at chance during the alpha warm-up (expected early on)."""
        return self.alpha_frozen and set(self.codes) <= {'chance'}

    def warning(self, where: str = '') -> str:
        """The multi-line warning printed when the check fires (empty when healthy).

        During the warm-up an accuracy at chance is expected at first: the text says so, without
        the word WARNING and without advice.
        """
        if self.ok:
            return ''
        where = f' ({where})' if where else ''
        if self.warming_up:
            return f'PARSEC search health{where}: {self.meaning()}.\n  - {self.problems[0][1]}'
        lines = [f'PARSEC search health WARNING{where}: {self.meaning()}.']
        lines += [f'  - {detail}' for _, detail in self.problems]
        lines.append(f'  {self.advice()}.')
        return '\n'.join(lines)


def chance_threshold(num_classes: int, val_size: int | None, z: float = CHANCE_Z) -> float:
    """The accuracy a classifier must exceed to count as better than chance (see the module docstring)."""
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}.')
    chance = 1.0 / num_classes
    if not val_size:
        return chance
    return chance + z * math.sqrt(chance * (1.0 - chance) / val_size)


def distinct_ess_ratio(indices: torch.Tensor, log_likelihoods: torch.Tensor) -> float:
    """ESS of the importance weights over the distinct architectures of one step, over their number.

    ``indices`` is ``[K, labels]`` (one row per sample), ``log_likelihoods`` is ``[K]``. Samples of
    one architecture are merged into their mean log-likelihood. 1 means flat weights; NaN when
    fewer than two distinct architectures (with finite likelihoods) were sampled.
    """
    rows, inverse = torch.unique(indices, dim=0, return_inverse=True)
    ll = log_likelihoods.detach().to(torch.float64).cpu()
    means = torch.zeros(len(rows), dtype=torch.float64).index_add_(0, inverse.cpu(), ll)
    means /= torch.bincount(inverse.cpu(), minlength=len(rows)).to(torch.float64)
    means = means[torch.isfinite(means)]
    if len(means) < 2:
        return float('nan')
    weights = torch.softmax(means, dim=0)
    return float(1.0 / (weights ** 2).sum()) / len(means)


def _number(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None or isinstance(value, str):
        return None
    return float(value)


def check_health(row: Mapping[str, Any], *, max_entropy: float | None = None, num_classes: int | None = None,
                 val_size: int | None = None, num_samples: int | None = None, z: float = CHANCE_Z,
                 flat_ess: float = FLAT_ESS, still_entropy: float = STILL_ENTROPY) -> SearchHealth:
    """Check one epoch's metric row (``strategy.history[i]``, a line of metrics.csv).

    Reads ``ml_val_acc``, ``ess_ratio`` (or ``ess / num_samples``), ``entropy``, ``loss`` and
    ``alpha_frozen``; a figure missing from the row skips the condition that needs it, and so does
    a missing ``num_classes`` (``chance``) or ``max_entropy`` (``alpha_still``). ``val_size``
    defaults to the row's ``val_examples``. See the module docstring for the conditions.
    """
    if not 0 < flat_ess <= 1:
        raise ValueError(f'flat_ess is a fraction in (0, 1], got {flat_ess}.')
    if not 0 < still_entropy <= 1:
        raise ValueError(f'still_entropy is a fraction in (0, 1], got {still_entropy}.')
    problems: list[tuple[str, str]] = []
    frozen = bool(_number(row, 'alpha_frozen'))

    acc = _number(row, 'ml_val_acc')
    if val_size is None and _number(row, 'val_examples'):
        val_size = int(_number(row, 'val_examples'))
    if acc is not None and num_classes and not math.isnan(acc):
        threshold = chance_threshold(num_classes, val_size, z)
        if acc <= threshold:
            margin = (f'plus {z:g} binomial standard errors over {val_size} examples = {threshold:.3f}'
                      if val_size else '(validation size unknown: no margin)')
            problems.append(('chance', f'validation accuracy of the most likely architecture {acc:.3f} is not above '
                                       f'chance: 1/{num_classes} = {1 / num_classes:.3f} {margin}'))

    if not frozen:
        ratio = _number(row, 'ess_ratio')
        if ratio is None and num_samples and num_samples > 1 and _number(row, 'ess') is not None:
            ratio = _number(row, 'ess') / num_samples
        if ratio is not None and not math.isnan(ratio) and ratio >= flat_ess:
            problems.append(('flat_weights', f'importance weights are flat: their ESS is {ratio:.0%} of its maximum '
                                             f'(flat from {flat_ess:.0%}): every sampled architecture fits the '
                                             'training batches about equally well'))
        entropy = _number(row, 'entropy')
        if entropy is not None and max_entropy and math.isfinite(entropy) and entropy >= still_entropy * max_entropy:
            problems.append(('alpha_still', f'alpha is not moving: its entropy {entropy:.4g} nats is '
                                            f'{entropy / max_entropy:.1%} of the maximum {max_entropy:.4g} (uniform)'))

    loss, entropy = _number(row, 'loss'), _number(row, 'entropy')
    if loss is not None and not math.isfinite(loss):
        problems.append(('nonfinite', f'the training loss is {loss}'))
    elif entropy is not None and not math.isfinite(entropy):
        problems.append(('nonfinite', f"alpha's entropy is {entropy}"))
    return SearchHealth(tuple(problems), frozen)

