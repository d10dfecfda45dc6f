"""The search half of :class:`~nni_autotsnet.strategies.Parsec`: a one-shot Lightning module.

It wraps the evaluator's Lightning module (which owns the weight-sharing supernet) the way NNI's
ENAS and DARTS modules do, and replaces its training step by PARSEC's: K architectures sampled
from P(A|alpha), importance-weighted gradients for the weights (accumulated online, see
:mod:`.estimator`), the score-function gradient for alpha plus the FLOPs cost term.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any, Iterator, Mapping

import torch
from torch import nn

import nni
from nni.mutable import Mutable, Sample
from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule

from .cost import WindowCost
from .distribution import ArchDistribution
from .estimator import accumulate_importance_weighted, architecture_gradient
from .flops import ArchFlops, ArchMetric
from .health import SearchHealth, check_health, distinct_ess_ratio
from .paths import PathSampler, check_mode, distillation_loss, extreme_architectures, mix

__all__ = ['ParsecLightningModule']

_logger = logging.getLogger(__name__)

_WEIGHT_OPTIMIZERS = ('sgd', 'evaluator')


def _batch_size(batch: Any) -> int:
    """Examples in a batch: the leading size of its first tensor (PARSEC's likelihood is a sum over them)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    items = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else ()
    for item in items:
        try:
            return _batch_size(item)
        except TypeError:
            continue
    raise TypeError(f'Cannot find a tensor in the batch to count its examples: {type(batch).__name__}.')


class ParsecLightningModule(BaseOneShotLightningModule):
    """PARSEC's search loop on a path-sampling supernet (see :class:`~nni_autotsnet.strategies.Parsec`).

    The evaluator's training loss is read as the mean negative log-likelihood of the batch, so
    ``l_k = -batch_size * loss_k`` (summed over ranks, in float32 from the unscaled loss: under
    ``16-mixed`` the gradient scaler multiplies only what :meth:`manual_backward` back-propagates,
    so neither ``l_k`` nor ``w_k`` sees its scale, and ``weight_opt.step()`` unscales the
    accumulated sum once). The weights receive
    ``sum_k w_k grad loss_k``: the gradient of the per-example objective, so the evaluator's
    learning rate keeps its usual meaning. Alpha receives the per-batch gradient
    ``-sum_k w_k grad log P(A_k|alpha) + beta grad log C(alpha)``.

    Every epoch it checks the search's health (:mod:`.health`) and logs a warning when it fires.
    Parameters are those of :class:`~nni_autotsnet.strategies.Parsec`, plus ``search_space``
    (``{label: mutable}``; ``None`` reads it from the model at :meth:`set_model`), ``cost``
    (a :class:`WindowCost` or ``None``), ``flops`` (an :class:`ArchFlops` or ``None``) and
    ``cost_metric`` (the :class:`ArchMetric` the cost's window bounds, e.g. F_lat(A) in ms;
    ``None``: the FLOPs).
    """

    def __init__(self, training_module: nn.Module, *,
                 search_space: Mapping[str, Mutable] | None = None,
                 num_samples: int = 13,
                 cost: WindowCost | None = None,
                 flops: ArchFlops | None = None,
                 cost_metric: ArchMetric | None = None,
                 warmup: float = 0.25,
                 arch_lr: float = 0.015,
                 arch_betas: tuple[float, float] = (0.9, 0.999),
                 weight_optimizer: str = 'evaluator',
                 weight_lr: float | None = None,
                 momentum: float = 0.9,
                 weight_decay: float = 5e-5,
                 cosine: bool = True,
                 gradient_clip_val: float | None = None,
                 seed: int | None = None,
                 metric_samples: int = 256,
                 val_metric: str = 'val_acc',
                 num_classes: int | None = None,
                 supernet: str = 'parsec',
                 distill: float = 0.0,
                 in_window: bool = False):
        super().__init__(training_module)
        check_mode(supernet, distill, num_samples)
        if weight_optimizer not in _WEIGHT_OPTIMIZERS:
            raise ValueError(f'weight_optimizer must be one of {_WEIGHT_OPTIMIZERS}, got {weight_optimizer!r}.')
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError(f'num_classes must be an int >= 2 (None: the width of the outputs), got {num_classes!r}.')
        self.num_samples = num_samples
        self.cost = cost
        self.flops = flops
        self.cost_metric = cost_metric
        self.warmup = warmup
        self.arch_lr = arch_lr
        self.arch_betas = tuple(arch_betas)
        self.weight_optimizer = weight_optimizer
        self.weight_lr = weight_lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.cosine = cosine
        self.gradient_clip_val = gradient_clip_val
        self.seed = seed
        self.metric_samples = metric_samples
        self.val_metric = val_metric
        self.num_classes = num_classes
        self.supernet, self.distill, self.in_window = supernet, float(distill), bool(in_window)
        self._sampler: PathSampler | None = None

        self.distribution: ArchDistribution | None = ArchDistribution(search_space) if search_space else None
        self.history: list[dict[str, Any]] = []  # numbers, and the 'health' flag
        self._generator = torch.Generator()
        self._generator_ready = False
        self._supernet_cache: list[nn.Module] | None = None
        self._validation_sample: Sample | None = None
        self.last_samples: list[Sample] = []          #: the K architectures of the latest step
        self.last_weights: torch.Tensor | None = None  #: their importance weights
        self.last_losses: list[float] = []             #: a supernet-mode step's per-path losses (distillation mixed in)
        self.health: SearchHealth | None = None        #: the latest epoch's health verdict
        self._val_examples = 0
        self._seen_classes: int | None = None
        self._output_hook: Any = None
        self._reset_epoch_stats()

    # ----------------------------------------------------------------------------------------
    # Model and architecture plumbing
    # ----------------------------------------------------------------------------------------
    def set_model(self, model: nn.Module) -> None:
        super().set_model(model)
        self._supernet_cache = None
        space = model.simplify()
        if self.distribution is None:
            self.distribution = ArchDistribution(space)
        elif list(space) != self.distribution.labels:
            raise ValueError(f'The model set on PARSEC has labels {list(space)}, but alpha was built for '
                             f'{self.distribution.labels}.')

    @property
    def dist(self) -> ArchDistribution:
        """The architecture distribution (raises before a model space is known)."""
        if self.distribution is None:
            raise RuntimeError('PARSEC has no architecture distribution yet: call set_model() first.')
        return self.distribution

    def _supernet(self) -> list[nn.Module]:
        if self._supernet_cache is None:
            self._supernet_cache = list(self.supernet_modules())
        return self._supernet_cache

    def activate(self, sample: Sample) -> None:
        """Switch the weight-sharing supernet to one architecture (NNI's memo-driven ``resample``)."""
        for module in self._supernet():
            module.resample(memo=sample)

    def resample(self) -> Sample:
        """Draw one architecture from P(A|alpha) (not from the search's own generator) and activate it."""
        (sample,), _ = self.dist.sample(1)
        self.activate(sample)
        return sample

    def export(self) -> Sample:
        """The most likely architecture."""
        return self.dist.most_likely()

    def export_probs(self) -> dict[str, dict[Any, float]]:
        """``{label: {value: probability}}``."""
        return self.dist.probs_dict()

    def export_top(self, n: int) -> list[tuple[Sample, float]]:
        """The ``n`` most probable architectures and their probabilities."""
        return self.dist.top_k(n)

    # ----------------------------------------------------------------------------------------
    # Optimisers (supplement section 3.1)
    # ----------------------------------------------------------------------------------------
    def configure_architecture_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.dist.parameters(), lr=self.arch_lr, betas=self.arch_betas, weight_decay=0.0)

    def configure_optimizers(self) -> Any:
        if self.weight_optimizer == 'evaluator':
            return super().configure_optimizers()
        lr = self.weight_lr
        if lr is None:
            lr = getattr(self.training_module, 'hparams', {}).get('learning_rate')
            if lr is None:
                raise ValueError('weight_lr is None and the evaluator has no learning_rate hyper-parameter; '
                                 'pass weight_lr to Parsec.')
        sgd = torch.optim.SGD(self.training_module.parameters(), lr=lr, momentum=self.momentum,
                              weight_decay=self.weight_decay)
        arch = self.configure_architecture_optimizers()
        arch.is_arch_optimizer = True  # type: ignore[attr-defined]
        if not self.cosine:
            return [sgd, arch]
        total = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=total)  # half-period, to zero
        return [sgd, arch], [{'scheduler': cosine, 'interval': 'step'}]

    def _split_optimizers(self) -> tuple[Any, torch.optim.Optimizer]:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        weight = [o for o in optimizers if not getattr(o, 'is_arch_optimizer', False)]
        arch = [o for o in optimizers if getattr(o, 'is_arch_optimizer', False)]
        if len(weight) != 1 or len(arch) != 1:
            raise ValueError(f'PARSEC needs exactly one weight optimizer, found {len(weight)} '
                             '(with weight_optimizer="evaluator" the evaluator must configure one).')
        # alpha is stepped through the raw optimizer: global_step keeps counting batches
        return weight[0], arch[0].optimizer

    def alpha_frozen(self) -> bool:
        """True during the warm-up: the first ``warmup`` fraction of the epochs (or of the steps)."""
        if self.warmup <= 0:
            return False
        trainer = self.trainer
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            return trainer.current_epoch < int(self.warmup * trainer.max_epochs)
        return trainer.global_step < int(self.warmup * trainer.estimated_stepping_batches)

    # ----------------------------------------------------------------------------------------
    # Distributed plumbing: same K architectures and same alpha on every rank
    # ----------------------------------------------------------------------------------------
    def _world_size(self) -> int:
        return getattr(self.trainer, 'world_size', 1) or 1

    def _sum_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        if self._world_size() == 1:
            return value
        return self.trainer.strategy.reduce(value, reduce_op='sum')

    @contextlib.contextmanager
    def _reducer_off(self) -> Iterator[None]:
        """Keep DDP's reducer out of the K backward passes; :meth:`_average_grads` syncs once."""
        model = getattr(self.trainer.strategy, 'model', None)
        if not isinstance(model, nn.parallel.DistributedDataParallel):
            yield
            return
        previous = model.require_backward_grad_sync
        model.require_backward_grad_sync = False
        try:
            yield
        finally:
            model.require_backward_grad_sync = previous

    def _average_grads(self, params: list[torch.Tensor]) -> None:
        """One all-reduce of the accumulated weight gradients (same sparsity on every rank)."""
        world = self._world_size()
        if world == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch._utils._flatten_dense_tensors(grads)
        torch.distributed.all_reduce(flat)
        flat /= world
        for grad, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)

    def _ensure_generator(self) -> None:
        if self._generator_ready:
            return
        seed = self.seed
        if seed is None:
            seed = int(torch.randint(0, 2 ** 62, (1,)))
        seed = self.trainer.strategy.broadcast(seed)  # rank 0 decides
        self.seed = int(seed)
        self._generator.manual_seed(self.seed)
        self._generator_ready = True

    def on_fit_start(self) -> None:
        self._ensure_generator()
        return super().on_fit_start()

    def path_sampler(self) -> PathSampler:
        """The paths of a weight step with alpha frozen in the ``uniform`` / ``sandwich`` modes (:mod:`.paths`)."""
        if self._sampler is None:
            metric = self._bounded_metric()
            if metric is None and (self.supernet == 'sandwich' or self.in_window):
                raise ValueError(f"supernet={self.supernet!r}{' with in_window' if self.in_window else ''} needs "
                                 'the architectures\' FLOPs (or the latency the window bounds): pass flops_fn.')
            extremes = extreme_architectures(self.dist, metric) if self.supernet == 'sandwich' else None
            accept = None
            if self.in_window:
                if self.cost is None:
                    raise ValueError('in_window needs a window (flops_window or latency_window).')
                accept = lambda sample: float(self.cost.cost([metric(sample)])[0]) == 0.0  # noqa: E731
            self._sampler = PathSampler(self.dist, self.supernet, self.num_samples, extremes, accept)
        return self._sampler

    def _grad_scale(self) -> float:
        """The loss scale of a 16-mixed run's gradient scaler (1 without one: fp32, bf16-mixed)."""
        scaler = getattr(getattr(self.trainer, 'precision_plugin', None), 'scaler', None)
        if scaler is None or not scaler.is_enabled():
            return 1.0
        return float(scaler.get_scale())

    # ----------------------------------------------------------------------------------------
    # The PARSEC step
    # ----------------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self._ensure_generator()
        if self.supernet != 'parsec' and self.alpha_frozen():
            return self._supernet_step(batch, batch_idx)
        weight_opt, arch_opt = self._split_optimizers()
        weight_opt.zero_grad(set_to_none=True)
        params = [p for group in weight_opt.param_groups for p in group['params']]
        samples, indices = self.dist.sample(self.num_samples, self._generator)
        n = _batch_size(batch)

        def run_sample(sample: Sample) -> tuple[torch.Tensor, float]:
            self.activate(sample)
            output = self.training_module.training_step(batch, batch_idx)
            loss = output['loss'] if isinstance(output, dict) else output
            log_likelihood = self._sum_over_ranks(-n * loss.detach().float())
            return loss, float(log_likelihood)

        with self._reducer_off():
            result = accumulate_importance_weighted(samples, run_sample, params, backward=self.manual_backward)
        self._average_grads(params)
        self.last_samples, self.last_weights = samples, result.weights

        estimate = None
        metric = self._bounded_metric()
        if self.cost is not None and self.cost.beta > 0 and metric is not None:
            estimate = self.cost.estimate(metric.many(samples))
        frozen = self.alpha_frozen()
        if not frozen:
            # alpha lives outside the precision plugin: its gradient and Adam step stay in float32,
            # outside the autocast region Lightning runs training_step in, and never see a grad scaler
            with torch.autocast(self.dist.logits.device.type, enabled=False):
                grad = architecture_gradient(self.dist, indices, result.weights,
                                             None if estimate is None else estimate.coefficients)
            arch_opt.zero_grad(set_to_none=True)
            self.dist.logits.grad = grad.to(self.dist.logits.dtype)
            arch_opt.step()

        self._step_weights(weight_opt, batch_idx)

        stats = self._epoch_stats
        stats['steps'] += 1
        stats['ess'] += result.ess
        ratio = distinct_ess_ratio(indices, result.log_likelihoods)
        if not math.isnan(ratio):
            stats['ratio_steps'] += 1
            stats['ess_ratio'] += ratio
        # the global batch's mean loss, the same on every rank: l_k is summed over ranks' equal shards
        stats['loss'] += -float((result.weights * result.log_likelihoods).sum()) / (n * self._world_size())
        if estimate is not None:
            stats['cost_steps'] += 1
            stats['cost'] += estimate.value
        weighted_loss = float((result.weights * result.losses).sum())
        self.log('parsec/weighted_loss', weighted_loss, prog_bar=True, on_step=True, on_epoch=True)
        return torch.tensor(weighted_loss)

    def _step_weights(self, weight_opt: Any, batch_idx: int) -> None:
        """Clip (``gradient_clip_val``), step the weights and their learning-rate schedule."""
        if self.gradient_clip_val is not None:
            # Under 16-mixed the buffers still hold scale * sum_k w_k grad loss_k here (the plugin unscales
            # inside weight_opt.step()): clipping the norm at clip * scale is clipping the true norm at clip.
            self.clip_gradients(weight_opt, gradient_clip_val=self.gradient_clip_val * self._grad_scale(),
                                gradient_clip_algorithm='norm')
        weight_opt.step()
        self.advance_lr_schedulers(batch_idx)

    def _supernet_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """A weight step on the mode's paths with equal weights (alpha frozen); sandwich may distil from the largest."""
        weight_opt, _ = self._split_optimizers()
        weight_opt.zero_grad(set_to_none=True)
        params = [p for group in weight_opt.param_groups for p in group['params']]
        paths = self.path_sampler().paths(self._generator)
        outputs: list[torch.Tensor] = []  # the supernet's logits of the current path, for the distillation term
        hook = self.training_module.model.register_forward_hook(lambda module, args, out: outputs.append(out))
        losses, teacher = [], None
        try:
            with self._reducer_off():
                for i, sample in enumerate(paths):
                    self.activate(sample)
                    outputs.clear()
                    output = self.training_module.training_step(batch, batch_idx)
                    loss = output['loss'] if isinstance(output, dict) else output
                    if self.distill > 0 and outputs:
                        if i == 0:  # the largest path learns from the labels and teaches the others
                            teacher = outputs[-1].detach()
                        else:
                            loss = mix(loss, distillation_loss(outputs[-1], teacher), self.distill)
                    self.manual_backward(loss / len(paths))
                    losses.append(float(loss.detach()))
        finally:
            hook.remove()
        self._average_grads(params)
        self.last_samples, self.last_losses = paths, losses
        self.last_weights = torch.full((len(paths),), 1.0 / len(paths), dtype=torch.float64)
        self._step_weights(weight_opt, batch_idx)
        stats = self._epoch_stats
        stats['steps'] += 1
        stats['ess'] += float(len(paths))  # equal weights: the effective sample size is K
        mean_loss = sum(losses) / len(losses)
        stats['loss'] += mean_loss
        self.log('parsec/weighted_loss', mean_loss, prog_bar=True, on_step=True, on_epoch=True)
        return torch.tensor(mean_loss)

    # ----------------------------------------------------------------------------------------
    # Validation on the most likely architecture, per-epoch metrics
    # ----------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._validation_sample = self.dist.most_likely()
        self._val_examples = 0
        if self.num_classes is None and self._seen_classes is None and self._output_hook is None:
            self._output_hook = self.training_module.model.register_forward_hook(self._read_num_classes)

    def _read_num_classes(self, module: nn.Module, inputs: Any, output: Any) -> None:
        """Forward hook: the number of classes is the width of the supernet's output, for the chance level."""
        if isinstance(output, torch.Tensor) and output.dim() >= 2 and output.shape[-1] >= 2:
            self._seen_classes = int(output.shape[-1])
        self._remove_output_hook()

    def _remove_output_hook(self) -> None:
        if self._output_hook is not None:
            self._output_hook.remove()
            self._output_hook = None

    def validation_step(self, batch: Any, batch_idx: int, *args: Any) -> Any:
        if self._validation_sample is None:
            self._validation_sample = self.dist.most_likely()
        self.activate(self._validation_sample)
        self._val_examples += _batch_size(batch)
        return self.training_module.validation_step(batch, batch_idx, *args)

    def on_validation_epoch_end(self) -> None:
        self._remove_output_hook()
        if not self.trainer.sanity_checking:
            self._record_epoch()

    def on_train_epoch_end(self) -> None:
        self._record_epoch()  # no-op when validation already recorded this epoch
        return super().on_train_epoch_end()

    def _bounded_metric(self) -> ArchMetric | None:
        """The figure the cost's window bounds: ``cost_metric`` when given, else the FLOPs."""
        return self.cost_metric if self.cost_metric is not None else self.flops

    def _reset_epoch_stats(self) -> None:
        self._epoch_stats = {'steps': 0, 'ess': 0.0, 'cost_steps': 0, 'cost': 0.0, 'loss': 0.0,
                             'ratio_steps': 0, 'ess_ratio': 0.0}

    def epoch_metrics(self) -> dict[str, float]:
        """The figures logged every epoch (see docs/parsec.md for their meaning)."""
        stats = self._epoch_stats
        metrics: dict[str, float] = {
            'entropy': float(self.dist.entropy().detach()),
            'ess': stats['ess'] / stats['steps'] if stats['steps'] else float('nan'),
            'ess_ratio': stats['ess_ratio'] / stats['ratio_steps'] if stats['ratio_steps'] else float('nan'),
            'loss': stats['loss'] / stats['steps'] if stats['steps'] else float('nan'),
            'alpha_frozen': float(self.alpha_frozen()),
        }
        if self.flops is not None or self.cost_metric is not None:
            generator = torch.Generator().manual_seed((self.seed or 0) + 7919 * (self.current_epoch + 1))
            samples, _ = self.dist.sample(self.metric_samples, generator)
            most_likely = self.dist.most_likely()
            for figure in (self.flops, self.cost_metric):  # expected_gflops, ml_gflops; expected_latency_ms...
                if figure is not None:
                    values = figure.many(samples)
                    metrics[f'expected_{figure.key}'] = sum(values) / len(values)
                    metrics[f'ml_{figure.key}'] = figure(most_likely)
                    if self.cost is not None and figure is self._bounded_metric():
                        metrics['cost'] = float(self.cost.cost(values).mean())
        if stats['cost_steps']:
            metrics['cost_batch'] = stats['cost'] / stats['cost_steps']
        value = self.trainer.callback_metrics.get(self.val_metric)
        if value is not None:
            # the evaluator may log its validation metric per rank (NNI's Classification does): average
            # it over the ranks' equal shards so that every rank records the global figure
            value = torch.as_tensor(float(value), dtype=torch.float32, device=self.device)
            examples = torch.tensor(float(self._val_examples), dtype=torch.float64, device=self.device)
            if self._world_size() > 1:
                value = self.trainer.strategy.reduce(value, reduce_op='mean')
                examples = self.trainer.strategy.reduce(examples, reduce_op='sum')
            metrics['ml_' + self.val_metric] = float(value)
            if examples > 0:
                metrics['val_examples'] = float(examples)
        return metrics

    def check_health(self, metrics: dict[str, float]) -> SearchHealth:
        """The health verdict on one epoch's metrics (see :mod:`.health`)."""
        return check_health(metrics, max_entropy=self.dist.max_entropy(), num_classes=self.num_classes or
                            self._seen_classes, num_samples=self.num_samples)

    def _record_epoch(self) -> None:
        epoch = self.current_epoch
        if self.history and self.history[-1]['epoch'] == epoch:
            return
        metrics: dict[str, Any] = self.epoch_metrics()
        self.health = self.check_health(metrics)
        numbers = {k: v for k, v in metrics.items() if not math.isnan(v)}
        self.log_dict({f'parsec/{k}': v for k, v in {**numbers, 'healthy': float(self.health.ok)}.items()})
        metrics['health'] = self.health.flag
        self.history.append({'epoch': epoch, **metrics})
        self._reset_epoch_stats()
        if not self.trainer.is_global_zero:
            return
        if not self.health.ok:
            _logger.warning(self.health.warning(f'epoch {epoch + 1}'))
        ml_val = metrics.get('ml_' + self.val_metric)
        if ml_val is not None and nni.get_current_parameter() is not None:
            nni.report_intermediate_result({'default': ml_val, **numbers, 'healthy': float(self.health.ok),
                                            'health': self.health.flag})

    # ----------------------------------------------------------------------------------------
    # Checkpoint: alpha is a parameter; the rest of PARSEC's state rides along here
    # ----------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint['parsec'] = {
            'generator': self._generator.get_state(),
            'seed': self.seed,
            'history': list(self.history),
            'epoch_stats': dict(self._epoch_stats),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get('parsec')
        if state is None:
            _logger.warning('Checkpoint has no PARSEC state; the sampling generator starts afresh.')
            return
        self._generator.set_state(state['generator'])
        self.seed = state['seed']
        self._generator_ready = True
        self.history = list(state['history'])
        self._epoch_stats = dict(state['epoch_stats'])
