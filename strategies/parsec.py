"""``Parsec``: PARSEC as an NNI 3.0 one-shot strategy, with the Auto-TSNet cost term on FLOPs or latency."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterator, Mapping

from torch import nn

from nni.mutable import Sample
from nni.nas.evaluator.pytorch.lightning import LightningModule
from nni.nas.nn.pytorch import ModelSpace
from nni.nas.oneshot.pytorch.strategy import OneShotStrategy, no_default_hook
from nni.nas.oneshot.pytorch.supermodule.operation import NATIVE_MIXED_OPERATIONS
from nni.nas.oneshot.pytorch.supermodule.sampling import (
    MixedOpPathSamplingPolicy, PathSamplingCell, PathSamplingInput, PathSamplingLayer, PathSamplingRepeat,
)
from nni.nas.space import ExecutableModelSpace

from nni_autotsnet.rundir import write_alpha

from .cost import WindowCost
from .distribution import ArchDistribution, jsonable
from .flops import ArchFlops, ArchMetric
from .health import SearchHealth
from .lightning import ParsecLightningModule
from .paths import check_mode

__all__ = ['Parsec']

_logger = logging.getLogger(__name__)


class Parsec(OneShotStrategy):
    """Probabilistic architecture search (PARSEC) with a FLOPs window, on any NNI model space.

    PARSEC (`Casale, Gordon and Fusi, 2019 <https://arxiv.org/abs/1902.05116>`__), as used by
    Auto-TSNet (`Gong et al., ICCV 2021 <https://arxiv.org/abs/2108.12957>`__, supplement
    section 1), learns a distribution P(A|alpha) over architectures: one independent
    categorical per mutable of the space. Each step samples K architectures, runs each on the
    batch in the weight-sharing supernet (NNI's path sampling, as in RandomOneShot and ENAS)
    and weights them by their batch likelihood, ``w_k = softmax_k(l_k)``:

    * weights get ``sum_k w_k grad l_k``, accumulated online so only one architecture's graph
      is ever alive (a running log-sum-exp rescales the gradient buffers);
    * alpha gets ``sum_k w_k grad log P(A_k|alpha)`` minus the gradient of
      ``beta * log C(alpha)``, ``C(alpha) = E[cost(A)]``,
      ``cost(A) = max(0, F(A)/T_max - 1) + max(0, 1 - F(A)/T_min)`` with ``F(A)`` in GFLOPs per view
      (:class:`~.cost.FlopsWindowCost`), or, with a :class:`~.cost.LatencyWindowCost` in ms, the same
      form on ``F_lat(A) = latency_fn(A)`` (e.g. the sum of a device's latency table,
      :class:`nni_autotsnet.latency.LatencyModel`).

    The weights are trained with the evaluator's own optimiser by default, as NNI's other one-shot
    strategies (DARTS, ENAS, RandomOneShot) do, so the evaluator's ``learning_rate`` means what it
    means there: NNI's ``Classification`` sets 1e-3 for Adam, a rate at which SGD would barely move
    the weights, leaving every sample's likelihood the same and alpha following noise. The
    supplement's recipe (SGD, momentum 0.9, weight decay 5e-5, half-period cosine, a learning rate
    for SGD) is ``weight_optimizer='sgd', weight_lr=...``; this project's search command passes it.
    Alpha uses Adam (weight decay 0) and stays frozen for the first 25% of the epochs. Export gives
    the most likely architecture or the top N by probability, and :meth:`export_alpha` the full alpha.

    Every epoch a health check (:func:`~nni_autotsnet.strategies.health.check_health`) reads the
    logged figures and, when the supernet has not learned (the most likely architecture's
    validation accuracy not above chance, flat importance weights or a still alpha after the
    warm-up, a non-finite loss), logs a warning saying so and what to try; its verdict is the
    ``health`` entry of :attr:`history` (``'ok'`` or the problems) and goes to NNI with the
    intermediate results.

    The supported mutation primitives are those of path sampling:

    * :class:`nni.nas.nn.pytorch.LayerChoice` and :class:`~nni.nas.nn.pytorch.Repeat` (depth);
    * :class:`nni.nas.nn.pytorch.InputChoice` with ``n_chosen=1``;
    * :class:`nni.nas.nn.pytorch.ParametrizedModule` with choices in its arguments, for NNI's
      native mixed operations and for those a space registers through ``extra_oneshot_hooks``
      (this project's ``MixedConv3d`` / ``MixedBatchNorm3d``);
    * :class:`nni.nas.nn.pytorch.Cell` (as in RandomOneShot).

    Parameters
    ----------
    num_samples
        K, architectures sampled per step (supplement: 13).
    cost
        The cost term: its window, ``beta`` (the weight of ``log C(alpha)``) and the figure it bounds,
        :class:`~.cost.FlopsWindowCost` (GFLOPs per view) or :class:`~.cost.LatencyWindowCost` (ms of a
        ``latency_fn``; FLOPs are still logged). ``None``: no cost term (beta 0, no window).
    warmup
        Fraction of the epochs (of the steps when ``max_epochs`` is unset) with alpha frozen; ``1``
        trains a supernet only (alpha stays at its start).
    supernet
        How the weights are trained while alpha is frozen (:mod:`.paths`): ``'parsec'`` (K paths from
        alpha, importance-weighted: the supplement's), ``'uniform'`` (K uniform paths, equal weights:
        SPOS) or ``'sandwich'`` (the largest, the smallest and K - 2 uniform paths: BigNAS). After the
        warm-up every mode runs PARSEC's steps.
    distill
        With ``'sandwich'``: weight in [0, 1] of the in-place distillation term (the other paths learn
        the largest path's soft predictions; 1 is BigNAS's, labels for the largest path only).
    in_window
        Draw the uniform paths among the architectures inside the cost window (GreedyNAS / TuNAS focus).
    arch_lr, arch_betas
        Adam for alpha (supplement Table 2: 0.015 for the sparse stream and the fusion, 0.010 for attention).
    weight_optimizer
        ``'evaluator'`` (default: the evaluator's own optimiser and learning rate) or ``'sgd'``
        (the supplement's: SGD with ``weight_lr``, ``momentum``, ``weight_decay`` and, if
        ``cosine``, per-step half-period cosine decay to zero).
    weight_lr
        SGD learning rate, with ``weight_optimizer='sgd'`` only; ``None`` takes the evaluator's
        ``learning_rate`` (which NNI's evaluators set for Adam: pass one for SGD).
    momentum, weight_decay, cosine
        SGD's, with ``weight_optimizer='sgd'``.
    gradient_clip_val
        Clip the weight gradients' norm (the Trainer's option does not apply to manual optimisation).
    flops_fn
        ``sample -> FLOPs`` (not GFLOPs). ``None``: ``space.flops`` if the space has it, else NNI's
        ``FlopsProfiler`` on ``dummy_input`` (or ``space.input_shape``).
    dummy_input
        One input batch for NNI's profiler.
    seed
        Seeds the sampling of architectures; ``None`` draws one on rank 0 and broadcasts it.
    metric_samples
        Architectures drawn each epoch to estimate the expected GFLOPs and ``C(alpha)``.
    val_metric
        The evaluator's validation metric reported for the most likely architecture.
    num_classes
        Classes of the task, for the health check's chance level; ``None`` reads the width of the
        supernet's output during validation.
    mutation_hooks
        Extra NNI mutation hooks (see :class:`~nni.nas.oneshot.pytorch.strategy.OneShotStrategy`).

    Examples
    --------
    ::

        from nni.nas.experiment import NasExperiment
        from nni_autotsnet.strategies import Parsec

        space = TwoStreamSpace.from_preset('tiny', parts='sparse')
        from nni_autotsnet.strategies import FlopsWindowCost

        strategy = Parsec(num_samples=13, cost=FlopsWindowCost(1.37, 1.43, beta=0.2))
        # the supplement's recipe instead of the evaluator's optimiser:
        # Parsec(..., weight_optimizer='sgd', weight_lr=0.4 * total_batch / 256)
        experiment = NasExperiment(space, evaluator, strategy)
        experiment.run()
        best, = experiment.export_top_models(formatter='dict')     # most likely architecture
        top5 = experiment.export_top_models(top_k=5, formatter='dict')
        strategy.export_alpha('alpha.json')
        strategy.history                                           # per-epoch metrics
        strategy.health.ok                                         # False: alpha followed noise
    """

    def __init__(self, num_samples: int = 13, cost: WindowCost | None = None, warmup: float = 0.25, *,
                 arch_lr: float = 0.015, arch_betas: tuple[float, float] = (0.9, 0.999),
                 weight_optimizer: str = 'evaluator', weight_lr: float | None = None,
                 momentum: float = 0.9, weight_decay: float = 5e-5, cosine: bool = True,
                 gradient_clip_val: float | None = None,
                 flops_fn: Callable[[Mapping[str, Any]], float] | None = None, dummy_input: Any = None,
                 seed: int | None = None, metric_samples: int = 256, val_metric: str = 'val_acc',
                 num_classes: int | None = None,
                 supernet: str = 'parsec', distill: float = 0.0, in_window: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        check_mode(supernet, distill, num_samples)
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f'num_samples must be a positive int, got {num_samples!r}.')
        if cost is not None and not isinstance(cost, WindowCost):
            raise TypeError(f'cost must be a WindowCost (FlopsWindowCost, LatencyWindowCost) or None, got '
                            f'{type(cost).__name__}.')
        if not 0.0 <= warmup <= 1.0:
            raise ValueError(f'warmup is a fraction of the epochs in [0, 1] (1: alpha never moves), got {warmup}.')
        if in_window and cost is None:
            raise ValueError('in_window draws the supernet\'s paths inside the window: give a cost '
                             '(FlopsWindowCost or LatencyWindowCost).')
        if arch_lr <= 0:
            raise ValueError(f'arch_lr must be > 0, got {arch_lr}.')
        if metric_samples < 1:
            raise ValueError(f'metric_samples must be >= 1, got {metric_samples}.')
        if weight_optimizer not in ('sgd', 'evaluator'):
            raise ValueError(f"weight_optimizer must be 'sgd' or 'evaluator', got {weight_optimizer!r}.")
        if weight_lr is not None and weight_optimizer != 'sgd':
            raise ValueError(f"weight_lr={weight_lr} is SGD's learning rate: pass weight_optimizer='sgd' with it "
                             "(the default, 'evaluator', trains with the evaluator's optimiser and learning_rate).")
        if weight_lr is not None and weight_lr < 0:
            raise ValueError(f'weight_lr must be >= 0, got {weight_lr}.')
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError(f'num_classes must be an int >= 2 or None, got {num_classes!r}.')
        self.cost = cost  # a WindowCost checked its window itself
        # the figure a cost of its own bounds (F_lat(A)); None: the FLOPs
        self.cost_metric: ArchMetric | None = None if cost is None or cost.figure is None else ArchMetric(
            cost.figure, source=getattr(cost.figure, 'source', 'latency_fn'), key=cost.key)
        self.num_samples = num_samples
        self.beta = cost.beta if cost is not None else 0.0
        self.warmup = warmup
        self.flops_fn = flops_fn
        self.dummy_input = dummy_input
        self.flops: ArchFlops | None = None
        self._search_space: dict[str, Any] | None = None
        self._module: ParsecLightningModule | None = None
        self._module_kwargs = dict(
            num_samples=num_samples, warmup=warmup, arch_lr=arch_lr, arch_betas=arch_betas,
            weight_optimizer=weight_optimizer, weight_lr=weight_lr, momentum=momentum,
            weight_decay=weight_decay, cosine=cosine, gradient_clip_val=gradient_clip_val, seed=seed,
            metric_samples=metric_samples, val_metric=val_metric, num_classes=num_classes,
            supernet=supernet, distill=distill, in_window=in_window,
        )

    # ----------------------------------------------------------------------------------------
    # OneShotStrategy template methods
    # ----------------------------------------------------------------------------------------
    def default_mutation_hooks(self) -> list:
        return [PathSamplingLayer.mutate, PathSamplingInput.mutate, PathSamplingRepeat.mutate,
                PathSamplingCell.mutate, *[op.mutate for op in NATIVE_MIXED_OPERATIONS], no_default_hook]

    def run_hook(self, hook: Callable, name: str, module: nn.Module, memo: dict[str, Any]) -> Any:
        return hook(module, name, memo, {'mixed_op_sampling': MixedOpPathSamplingPolicy})

    def mutate_model(self, model: ModelSpace) -> ModelSpace:
        """Read the space's mutables and FLOPs from the raw space, then turn it into a supernet in place."""
        if not isinstance(model, ModelSpace):
            raise TypeError(f'Parsec searches an NNI ModelSpace, got {type(model).__name__}.')
        space = model.simplify()
        ArchDistribution(space)  # fail early, naming any mutable PARSEC cannot model
        self._search_space = dict(space)
        self.flops = self._build_flops(model)
        return super().mutate_model(model)

    def _build_flops(self, model: ModelSpace) -> ArchFlops | None:
        if self.flops_fn is not None:
            return ArchFlops(self.flops_fn, source='flops_fn')
        try:
            return ArchFlops.from_space(model, self.dummy_input)
        except Exception as err:  # the profiler raises many kinds of errors on unusual modules
            if self.cost is not None and self.beta > 0 and self.cost_metric is None:
                raise RuntimeError(f'beta={self.beta} needs the FLOPs of {type(model).__name__}, but they could '
                                   f'not be obtained ({err}); pass flops_fn or dummy_input.') from err
            _logger.warning('PARSEC will not log FLOPs: %s', err)
            return None

    def configure_oneshot_module(self, training_module: LightningModule) -> ParsecLightningModule:
        self._module = ParsecLightningModule(training_module, search_space=self._search_space, cost=self.cost,
                                             flops=self.flops, cost_metric=self.cost_metric, **self._module_kwargs)
        return self._module

    # ----------------------------------------------------------------------------------------
    # Results
    # ----------------------------------------------------------------------------------------
    @property
    def parsec_module(self) -> ParsecLightningModule:
        """The search module (after :meth:`run`, or after :meth:`mutate_evaluator` when driven by hand)."""
        if self._module is None:
            raise RuntimeError('Parsec has no search module yet: run it, or call mutate_evaluator().')
        return self._module

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch metrics: ``epoch``, ``entropy``, ``ess``, ``ess_ratio``, ``loss``, ``expected_gflops``,
        ``ml_gflops``, ``cost``, ``ml_val_acc``, ``val_examples``..., and ``health`` (``'ok'`` or the problems);
        with a latency window also ``expected_latency_ms`` and ``ml_latency_ms``."""
        return self.parsec_module.history

    @property
    def health(self) -> SearchHealth | None:
        """The latest epoch's :class:`~nni_autotsnet.strategies.health.SearchHealth` (``None`` before one ends)."""
        return self.parsec_module.health

    def list_models(self, sort: bool = True, limit: int | None = 1) -> Iterator[ExecutableModelSpace]:
        """The ``limit`` most probable architectures, best first (what ``export_top_models`` returns).

        ``limit=None`` means 1: a distribution over a large space cannot be listed in full.
        """
        if not sort:
            _logger.warning('Parsec lists models by probability; sort=False is ignored.')
        module = self.parsec_module
        module.set_model(self.supernet)
        for sample, _ in module.export_top(limit or 1):
            yield self.model_space.freeze(sample)

    def export_alpha(self, path: str | os.PathLike | None = None, top_n: int = 5) -> dict[str, Any]:
        """Alpha with its choice labels, the most likely architecture and the top ``top_n``, as JSON.

        Written to ``path`` if given; always returned as a dict.
        """
        module = self.parsec_module
        def describe(sample: Sample, prob: float) -> dict[str, Any]:
            entry = {'sample': jsonable(sample), 'probability': prob}
            if self.flops is not None:
                entry['gflops'] = self.flops(sample)
            if self.cost_metric is not None:
                entry[self.cost_metric.key] = self.cost_metric(sample)
            return entry
        top = module.export_top(top_n)
        result = {
            'most_likely': describe(*top[0]),
            'top': [describe(s, p) for s, p in top],
            'alpha': module.dist.to_json_dict(),
            'entropy': float(module.dist.entropy().detach()),
            'beta': self.beta,
            'flops_window': list(self.cost.window) if self.cost is not None and self.cost_metric is None else None,
            'flops_source': self.flops.source if self.flops is not None else None,
        }
        if self.cost_metric is not None:
            result['latency_window'] = list(self.cost.window)
            result['latency_source'] = self.cost_metric.source
        if path is not None:
            write_alpha(path, result)  # the format's one home: nni_autotsnet.rundir
        return result
