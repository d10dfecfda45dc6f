"""Feeding an accelerator: memory layout, the loader's options, and a warning when the step waits on data.

* :func:`to_channels_last_3d` and :class:`ChannelsLast3d` put every 5-D weight in the
  ``channels_last_3d`` layout (``trainer.channels_last``); a convolution whose weight is in that
  layout gives its output in it too, so the clips need no conversion of their own. Off by
  default: it was not measured faster (docs/gpu.md).
* :func:`loader_options` is what the loaders of ``search``, ``train`` and ``evaluate`` add on an
  accelerator: pinned host memory (Lightning then copies batches with ``non_blocking=True``)
  and, for loaders that need no per-epoch seeding, persistent workers.
* :class:`DataWaitMonitor` measures, per epoch, the share of the training step's time spent
  waiting for the next batch and prints a warning (once per fit) the first time it is above a
  threshold (more ``data.num_workers``, or ``data.cache``, is then the remedy).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

__all__ = ["to_channels_last_3d", "ChannelsLast3d", "loader_options", "DataWaitMonitor"]


def to_channels_last_3d(module: nn.Module) -> nn.Module:
    """Put ``module``'s 5-D parameters and buffers in ``channels_last_3d``, in place; return it.

    Unlike ``module.to(memory_format=...)`` it leaves tensors of other ranks alone (a 4-D
    tensor has no 3-D channels-last layout).
    """
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.dim() == 5:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last_3d)
    return module


def _pl_callback_base():
    from pytorch_lightning import Callback

    return Callback


class ChannelsLast3d(_pl_callback_base()):
    """Lightning callback: the module's 5-D weights in ``channels_last_3d`` before fitting starts."""

    def setup(self, trainer: Any, pl_module: nn.Module, stage: str) -> None:
        to_channels_last_3d(pl_module)


def loader_options(accelerator: str, num_workers: int, *, persistent: bool = False) -> dict[str, Any]:
    """Extra ``DataLoader`` arguments for ``trainer.accelerator``: pinned memory on CUDA, persistent workers.

    ``persistent`` asks for workers that live across epochs (with ``num_workers > 0``). The
    training loaders do not ask: :class:`~nni_autotsnet.runtime.EpochSeededLoader` seeds every
    epoch in the main process and relies on fresh workers taking their seeds from it, which is
    what makes a resumed run end with the uninterrupted one's weights.
    """
    on_cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    options: dict[str, Any] = {"pin_memory": on_cuda}
    if persistent and num_workers > 0:
        options["persistent_workers"] = True
    return options


class DataWaitMonitor(_pl_callback_base()):
    """Warn when the training step waits on the loader for more than ``threshold`` of its time.

    The wait of a batch is the time from the end of the previous batch (``on_train_batch_end``)
    to the start of this one (``on_train_batch_start``): fetching it from the loader and moving
    it to the device. The compute is the time from start to end. The first batch of an epoch
    (workers starting) is left out. On CUDA the step's end is where the host is released, which
    PARSEC's step (it reads every loss) and a logged loss make a synchronisation point.
    """

    def __init__(self, threshold: float = 0.2, min_batches: int = 3, echo: bool = True):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        self.threshold, self.min_batches, self.echo = threshold, min_batches, echo
        self.history: list[dict[str, float]] = []  # one row per epoch: epoch, wait_s, step_s, share, batches
        self._warned = False
        self._reset()

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._warned = False

    def _reset(self) -> None:
        self._wait = self._compute = 0.0
        self._batches = 0
        self._last_end: float | None = None
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._reset()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._last_end is not None:
            self._wait += now - self._last_end
        self._start = now

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._start is not None and self._last_end is not None:  # not the epoch's first batch
            self._compute += now - self._start
            self._batches += 1
        self._last_end = now

    def share(self) -> float:
        """The latest epoch's share of step time spent waiting on data (nan before two batches)."""
        total = self._wait + self._compute
        return self._wait / total if total > 0 and self._batches else float("nan")

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._batches:
            return
        share = self.share()
        row = {"epoch": float(trainer.current_epoch), "wait_s": self._wait / self._batches,
               "step_s": self._compute / self._batches, "share": share, "batches": float(self._batches)}
        self.history.append(row)
        if (self.echo and not self._warned and trainer.is_global_zero and self._batches >= self.min_batches
                and share > self.threshold):
            self._warned = True  # once per fit: the epochs' shares stay in ``history``
            workers = getattr(getattr(trainer, "train_dataloader", None), "num_workers", None)
            print(f"WARNING: the training step waited on data for {100 * share:.0f}% of its time in epoch "
                  f"{trainer.current_epoch + 1} ({row['wait_s'] * 1e3:.1f} ms waiting vs {row['step_s'] * 1e3:.1f} ms "
                  f"computing per batch, {self._batches} batches; data.num_workers={workers}): raise "
                  "data.num_workers or use data.cache (threshold "
                  f"{100 * self.threshold:.0f}%)", flush=True)
