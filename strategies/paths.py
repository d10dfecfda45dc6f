"""Which paths of the weight-sharing supernet a training step trains, while alpha is frozen (issue 19 part 2).

PARSEC trains the weights on K architectures drawn from P(A|alpha); once alpha concentrates, the
paths it disfavours are judged on weights they barely trained (a supernet that ranks poorly). The
modes here train the weights with alpha frozen (PARSEC's warm-up, or a whole supernet run) so that
every path the ranking later judges was trained:

* ``parsec``: K paths from alpha, importance-weighted (the supplement's PARSEC, unchanged);
* ``uniform``: K paths drawn uniformly, equal weights (single-path one-shot, SPOS, Guo et al. 2020;
  NNI's ``RandomOneShot`` at K = 1);
* ``sandwich``: the largest and the smallest path plus K - 2 uniform ones, equal weights
  (BigNAS's sandwich rule, Yu et al. 2020), optionally with in-place distillation: the other paths
  learn the largest path's soft predictions (:func:`distillation_loss`).

``in_window=True`` draws the uniform paths from the architectures whose cost lies in the search's
window (rejection sampling), as GreedyNAS and TuNAS focus the supernet on the feasible paths.
"Largest" and "smallest" are found on the space's own FLOPs, one label at a time, so the rule works
for any NNI space with a FLOPs function, not only this project's (where it means the widest
channels, the largest kernels and expansion, the costliest fusion and the attention on).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from nni.mutable import Sample

from .distribution import ArchDistribution

__all__ = ['SUPERNET_MODES', 'PathSampler', 'extreme_architectures', 'distillation_loss', 'check_mode', 'mix']

SUPERNET_MODES = ('parsec', 'uniform', 'sandwich')


def extreme_architectures(dist: ArchDistribution, cost: Callable[[Mapping[str, Any]], float],
                          sweeps: int = 2) -> tuple[Sample, Sample]:
    """The (smallest, largest) architectures by ``cost``: each label set to its cheapest / costliest value in turn.

    Coordinate descent from the first value of every label; ``sweeps`` passes settle labels whose
    cost depends on another's (a block's width and its kernel).
    """
    def extreme(sign: float) -> Sample:
        row = [0] * len(dist.labels)
        for _ in range(sweeps):
            for i, values in enumerate(dist.values):
                costs = []
                for j in range(len(values)):
                    row[i] = j
                    costs.append(sign * cost(dist.to_sample(row)))
                row[i] = max(range(len(values)), key=lambda j: (costs[j], -j))
        return dist.to_sample(row)

    return extreme(-1.0), extreme(1.0)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) of the softened class distributions, times T^2 (Hinton et al.); the teacher detached."""
    t = float(temperature)
    target = F.softmax(teacher.detach().float() / t, dim=-1)
    return F.kl_div(F.log_softmax(student.float() / t, dim=-1), target, reduction='batchmean') * t * t


class PathSampler:
    """The K paths of one weight step in a non-PARSEC mode (see the module doc).

    Parameters
    ----------
    dist
        The architecture distribution: its labels and values define the space (alpha is not used).
    mode
        ``'uniform'`` or ``'sandwich'``.
    num_paths
        K, paths per step (sandwich: at least 2, the largest and the smallest).
    extremes
        ``(smallest, largest)`` (:func:`extreme_architectures`); sandwich needs them.
    in_window
        ``sample -> bool``: the uniform paths are drawn among those it accepts; ``None``: all.
    max_tries
        Rejection-sampling draws per path before taking an out-of-window one (a window almost nothing hits).
    """

    def __init__(self, dist: ArchDistribution, mode: str, num_paths: int,
                 extremes: tuple[Sample, Sample] | None = None,
                 in_window: Callable[[Mapping[str, Any]], bool] | None = None, max_tries: int = 1000):
        if mode not in ('uniform', 'sandwich'):
            raise ValueError(f"PathSampler draws 'uniform' or 'sandwich' paths, got {mode!r}.")
        if mode == 'sandwich' and (num_paths < 2 or extremes is None):
            raise ValueError('the sandwich rule needs num_paths >= 2 and the (smallest, largest) architectures.')
        self.dist, self.mode, self.num_paths = dist, mode, num_paths
        self.extremes, self.in_window, self.max_tries = extremes, in_window, max_tries
        self.rejected = 0  #: uniform draws refused by the window so far (how hard the window is to hit)

    def uniform(self, generator: torch.Generator) -> Sample:
        """One architecture drawn uniformly (each label independently), within the window if one is set."""
        sample = {}
        for _ in range(self.max_tries):
            row = [int(torch.randint(len(values), (1,), generator=generator)) for values in self.dist.values]
            sample = self.dist.to_sample(row)
            if self.in_window is None or self.in_window(sample):
                return sample
            self.rejected += 1
        return sample

    def paths(self, generator: torch.Generator) -> list[Sample]:
        """This step's paths; with sandwich the largest comes first (the teacher), then the smallest."""
        if self.mode == 'sandwich':
            smallest, largest = self.extremes  # type: ignore[misc]
            return [largest, smallest, *(self.uniform(generator) for _ in range(self.num_paths - 2))]
        return [self.uniform(generator) for _ in range(self.num_paths)]


def check_mode(mode: str, distill: float, num_paths: int) -> None:
    """A ``ValueError`` naming what is wrong with a mode's arguments."""
    if mode not in SUPERNET_MODES:
        raise ValueError(f'supernet must be one of {SUPERNET_MODES}, got {mode!r}.')
    if not 0.0 <= distill <= 1.0:
        raise ValueError(f'distill is the weight of the distillation term in [0, 1], got {distill}.')
    if distill > 0 and mode != 'sandwich':
        raise ValueError(f"distill needs the sandwich rule's largest path as the teacher (supernet='sandwich'), "
                         f"got supernet={mode!r}.")
    if mode == 'sandwich' and num_paths < 2:
        raise ValueError(f'the sandwich rule trains the largest and the smallest path: num_samples >= 2, got '
                         f'{num_paths}.')


def mix(hard: torch.Tensor, soft: torch.Tensor | None, distill: float) -> torch.Tensor:
    """``(1 - distill) * hard + distill * soft`` (``hard`` alone without a teacher)."""
    return hard if soft is None or distill == 0 else (1.0 - distill) * hard + distill * soft

