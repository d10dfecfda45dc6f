"""Training one fixed architecture from scratch with the supplement's recipe (section 3.2), scaled by the config.

The recipe: He initialisation (done by the network), dropout 0.5 before the classifier (the
network), SGD with momentum and weight decay at ``train.lr`` (0.4 at total batch 256) scaled (``effective_lr``),
a linear warm-up over ``train.warmup_epochs`` and then a half-period cosine to 0 at
``train.epochs`` (both times ``train.epoch_scale``: ``scaled_*`` of the config), per optimiser step; cross-entropy on single training clips; validation
accuracy per video with its views' softmax averaged. :func:`train` runs it with Lightning into a
run directory::

    RUN/config.yaml      the config as run, paths absolute (evaluate reads it back)
    RUN/arch.json        the architecture (save_arch format: preset, parts, arch)
    RUN/last.ckpt        Lightning checkpoint after every epoch (weights, optimiser, loops, metric rows)
    RUN/model.pt         final weights, the export format (load_exported rebuilds it without NNI)
    RUN/metrics.csv      one row per epoch: epoch (1-based), train_loss, train_acc, val_loss, val_acc, lr
    RUN/logs/csv/version_N/, RUN/logs/tensorboard/   Lightning's CSV (one version per invocation) and TensorBoard logs
    RUN/result.json      label, preset, parts, arch_file, gflops, params, val_acc, best_val_acc, epochs, seed, seconds

Resuming (``resume=True``) restores ``last.ckpt``; the epoch's data order, augmentation and
dropout are seeded from ``(seed, epoch, rank)`` and the learning rate is a function of the global
step, so a resumed run ends with the weights of an uninterrupted one, and a run resumed with more
epochs follows the longer schedule from where it stopped.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nni_autotsnet.config import ExperimentConfig, portable_raw
from nni_autotsnet.data.callbacks import video_validation
from nni_autotsnet.errors import UserError, load_weights_file
from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.atomic import AtomicCheckpointIO, write_text
from nni_autotsnet.locking import folder_lock
from nni_autotsnet.rundir import (ARCH_FILE, CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE, TRAIN_RESULT_KEYS, checkpoint_stem,
                                  write_config, write_result)
from nni_autotsnet.runtime import EpochSeededLoader, build_datasets, in_nni_trial, is_rank_zero
from nni_autotsnet.search_space import CostModel, check_arch, infer_parts, load_preset, make_layout, read_arch, save_arch

__all__ = ["TrainError", "TrainingModule", "EpochRecorder", "METRIC_COLUMNS", "lr_factor", "portable_config", "train"]

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")


class TrainError(UserError):
    """A user error before training: a run directory that does not fit the request; the message names the file."""


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up (Goyal et al.): ``(step + 1) / warmup_steps`` for the first ``warmup_steps``
    steps, so the last warm-up step runs at the full rate; then a half-period cosine,
    ``0.5 (1 + cos(pi (step - warmup_steps) / (total_steps - warmup_steps)))``, which is 0 at
    ``total_steps`` (and stays 0 beyond it).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / decay)))


class TrainingModule(pl.LightningModule):
    """The plain model of one architecture (:func:`~nni_autotsnet.models.build_model`) and the recipe.

    Logs ``train_loss`` and ``train_acc`` (epoch means over clips), ``val_loss`` (NLL of the
    view-averaged probabilities) and ``val_acc`` (video-level top-1), and ``lr`` every step. The
    hyperparameters are plain data, so ``last.ckpt`` loads with ``torch.load(weights_only=True)``
    and says how to rebuild the model (``preset``, ``arch``, ``parts``, ``num_classes``) and, as ``model.pt``
    does, what its outputs mean and how to feed it (``classes``, ``data_preset``, ``views``; not used here).
    """

    def __init__(self, preset: str, arch: Mapping[str, Any], parts: str, num_classes: int, lr: float, epochs: int,
                 warmup_epochs: int = 0, weight_decay: float = 5e-5, momentum: float = 0.9, seed: int = 0,
                 optimizer: str = "sgd", label_smoothing: float = 0.0, dropout: float = 0.5,
                 classes: Sequence[str] | None = None, data_preset: str | None = None, views: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(preset, dict(arch), parts=parts, num_classes=num_classes)
        self.model.dropout.p = dropout
        self.last_lr = float("nan")  # the rate of the latest optimiser step
        self._steps = (1, 0)  # (total, warm-up) optimiser steps; set when training starts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The rate is set before every step from the global step (on_train_batch_start): no scheduler
        # state to restore, so a resumed run with more epochs follows the new schedule.
        if self.hparams.optimizer == "adamw":
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=self.hparams.momentum,
                               weight_decay=self.hparams.weight_decay)

    def on_train_start(self) -> None:
        total = int(self.trainer.estimated_stepping_batches)  # max_epochs x steps per epoch, DDP included
        per_epoch = max(1, total // max(1, self.trainer.max_epochs))
        self._steps = (per_epoch * self.hparams.epochs, per_epoch * self.hparams.warmup_epochs)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.last_lr = self.hparams.lr * lr_factor(self.global_step, *self._steps)
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.last_lr

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        clips, labels = batch[0], batch[1]
        logits = self.model(clips)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)
        n = labels.shape[0]
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("train_acc", (logits.argmax(-1) == labels).float().mean(), on_step=False, on_epoch=True,
                 batch_size=n, sync_dist=True)
        self.log("lr", self.last_lr, on_step=True, on_epoch=False, batch_size=n)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, acc = video_validation(self.model, batch[0], batch[1])
        self.log("val_loss", loss, batch_size=len(batch[1]), sync_dist=True)
        self.log("val_acc", acc, prog_bar=True, batch_size=len(batch[1]), sync_dist=True)


class EpochRecorder(pl.Callback):
    """One row of :data:`METRIC_COLUMNS` per epoch, ``metrics.csv`` rewritten each time; a printed line.

    The rows (and the seconds spent) travel in ``last.ckpt`` as this callback's state, so a
    resumed run keeps the rows of the epochs before the interruption.
    """

    def __init__(self, out: Path, label: str, epochs: int, echo: bool):
        self.out, self.label, self.epochs, self.echo = Path(out), label, epochs, echo
        self.rows: list[dict[str, float]] = []
        self.seconds = 0.0
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics  # validation ran before this hook (Lightning 2)
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1}
        for key in METRIC_COLUMNS[1:-1]:
            row[key] = float(metrics[key]) if key in metrics else float("nan")
        row["lr"] = float(getattr(pl_module, "last_lr", float("nan")))
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        elapsed = time.perf_counter() - self._start
        self.seconds += elapsed
        if not trainer.is_global_zero:
            return
        lines = [",".join(METRIC_COLUMNS)] + [",".join(repr(r[k]) if k != "epoch" else str(int(r[k]))
                                                        for k in METRIC_COLUMNS) for r in self.rows]
        write_text("\n".join(lines) + "\n", self.out / METRICS_FILE)
        if self.echo:
            cells = " ".join(f"{k}={row[k]:.4g}" for k in METRIC_COLUMNS[1:])
            print(f"[{self.label}] epoch {int(row['epoch'])}/{self.epochs}: {cells} ({elapsed:.1f} s)", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]
        self.seconds = float(state_dict.get("seconds", 0.0))


def portable_config(config: ExperimentConfig) -> dict:
    """``config.raw`` with every path absolute, so a copy in the run directory loads the same config.

    Which keys are paths is said in :data:`nni_autotsnet.config.KEYS` (:func:`~nni_autotsnet.config.portable_raw`).
    """
    return portable_raw(config)


def _check_run_dir(out: Path, arch: dict, resume: bool) -> None:
    ckpt = out / CHECKPOINT_FILE
    if resume and not ckpt.is_file():
        raise TrainError(f"{ckpt}: no checkpoint to resume from (train once without --resume)")
    if not resume and ckpt.exists():
        raise TrainError(f"{ckpt}: this run directory already holds a run; pass --resume to continue it "
                         "or choose another --out")
    if resume and (out / ARCH_FILE).is_file():
        if read_arch(out / ARCH_FILE).arch != arch:
            raise TrainError(f"{out / ARCH_FILE}: the run being resumed trained another architecture")
    if resume:  # the checkpoint itself, before anything in the run directory is rewritten
        data = load_weights_file(ckpt, "last.ckpt written by nni_autotsnet.train")
        try:
            stored = data["hyper_parameters"]["arch"]
        except (KeyError, TypeError):  # a torch file of something else
            raise TrainError(f"{ckpt}: not a last.ckpt written by nni_autotsnet.train (no key "
                             "'hyper_parameters.arch')") from None
        if dict(stored) != arch:
            raise TrainError(f"{ckpt}: the run being resumed trained another architecture")


def train(config: ExperimentConfig, arch: Mapping[str, Any], preset: str | None, parts: str | None,
          out: str | Path, label: str | None = None, resume: bool = False, *,
          callbacks: Sequence[pl.Callback] = ()) -> dict[str, Any]:
    """Train ``arch`` from scratch into the run directory ``out`` (see the module doc) and return ``result.json``.

    Parameters
    ----------
    config
        The experiment config: ``data`` (lists or the benchmark), ``train`` (the scaled recipe)
        and ``trainer`` (devices, precision, threads).
    arch, preset, parts
        The architecture (``{label: value}``), its preset (``None``: the config's) and search
        part (``None``: inferred from the labels); checked against the space (``ArchError``).
    out
        Run directory. It must not hold ``last.ckpt`` unless ``resume`` is true.
    label
        Name in ``result.json`` and the printed lines (default: the folder's name).
    resume
        Continue from ``out/last.ckpt`` (``TrainError`` if missing).
    callbacks
        Extra Lightning callbacks, e.g. a caller's per-epoch report to NNI. ``train`` itself makes
        no NNI call, so it runs the same inside an NNI trial (no progress bar there).

    Returns
    -------
    dict
        ``result.json``: label, preset, parts, arch_file, gflops (multiply-adds per view, closed
        form), params, val_acc (last epoch), best_val_acc, epochs, seed, seconds.

    Raises
    ------
    nni_autotsnet.locking.FolderBusyError
        When another command is writing ``out`` (:func:`~nni_autotsnet.locking.folder_lock`).
    """
    with folder_lock(out, "run directory", enabled=is_rank_zero()):
        return _train(config, arch, preset, parts, Path(out), label, resume, callbacks)


def _train(config: ExperimentConfig, arch: Mapping[str, Any], preset: str | None, parts: str | None, out: Path,
           label: str | None, resume: bool, callbacks: Sequence[pl.Callback]) -> dict[str, Any]:
    from nni_autotsnet.speed import loader_options

    label = label or out.resolve().name
    preset = str(preset or config.preset)
    layout = make_layout(load_preset(preset), parts or infer_parts(arch))
    arch = check_arch(layout, arch, source=f"architecture for preset {preset!r}")
    _check_run_dir(out, arch, resume)
    tr, data, t = config.trainer, config.data, config.train
    if tr.threads:
        torch.set_num_threads(tr.threads)
    train_ds, val_ds = _datasets(config)
    if is_rank_zero():
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, portable_config(config))
        save_arch(arch, out / ARCH_FILE, preset=preset, parts=layout.parts)

    pl.seed_everything(t.seed, workers=True, verbose=False)  # initialisation
    module = TrainingModule(preset, arch, layout.parts, train_ds.num_classes, lr=t.effective_lr, epochs=t.scaled_epochs,
                            warmup_epochs=t.scaled_warmup_epochs, weight_decay=t.weight_decay, momentum=t.momentum,
                            seed=t.seed, optimizer=t.optimizer, label_smoothing=t.label_smoothing, dropout=t.dropout,
                            classes=list(train_ds.classes) if train_ds.classes else None, data_preset=data.preset,
                            views=None if t.eval_views is None else str(t.eval_views))
    progress_bar = sys.stdout.isatty() and not in_nni_trial()
    recorder = EpochRecorder(out, label, t.scaled_epochs, echo=not progress_bar)
    trainer = _trainer(config, out, progress_bar, recorder, callbacks)
    # Workers are re-made every epoch (not persistent), so their seeds follow the per-epoch seeding;
    # the validation loader draws nothing at random and keeps its workers. Pinned memory on CUDA.
    train_loader = EpochSeededLoader(train_ds, batch_size=data.batch_size, shuffle=True, drop_last=True,
                                      num_workers=data.num_workers, seed=t.seed, trainer=trainer,
                                      **loader_options(tr.accelerator, data.num_workers))
    val_loader = DataLoader(val_ds, batch_size=data.batch_size, num_workers=data.num_workers,
                            **loader_options(tr.accelerator, data.num_workers, persistent=True))
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(out / CHECKPOINT_FILE) if resume else None,
                weights_only=True if resume else None)

    cost = CostModel(layout, train_ds.num_classes)
    rows = recorder.rows
    accs = [r["val_acc"] for r in rows if not math.isnan(r["val_acc"])]
    result = {
        "label": label, "preset": preset, "parts": layout.parts, "arch_file": ARCH_FILE,  # relative to the run folder, so a moved run still names it
        "gflops": cost.flops(arch) / 1e9, "params": cost.params(arch),
        "val_acc": rows[-1]["val_acc"] if rows else None, "best_val_acc": max(accs) if accs else None,
        "epochs": len(rows), "seed": t.seed, "seconds": recorder.seconds,
    }
    if trainer.is_global_zero:
        save_exported(out / MODEL_FILE, preset=preset, parts=layout.parts, num_classes=train_ds.num_classes,
                      arch=arch, state_dict=module.model.state_dict(), inherited_weights=False,
                      classes=train_ds.classes, data_preset=data.preset,
                      views=None if t.eval_views is None else str(t.eval_views))
        write_result(out, result, TRAIN_RESULT_KEYS)
    return result


def _datasets(config: ExperimentConfig):
    """The training and validation sets; a training set smaller than one total batch is a ``TrainError``."""
    tr = config.trainer
    train_ds, val_ds = build_datasets(config)
    total_batch = config.data.batch_size * tr.devices * tr.num_nodes
    if len(train_ds) < total_batch:
        raise TrainError(f"{config.path or '<config>'}: key 'data.batch_size': {len(train_ds)} training videos are "
                         f"fewer than one total batch ({total_batch} clips)")
    return train_ds, val_ds


def _trainer(config: ExperimentConfig, out: Path, progress_bar: bool, recorder: pl.Callback,
             callbacks: Sequence[pl.Callback]) -> pl.Trainer:
    """Lightning's ``Trainer`` of a run: ``last.ckpt`` every epoch (atomic), CSV and TensorBoard logs."""
    from pytorch_lightning.callbacks import EMAWeightAveraging, ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from nni_autotsnet.data import SkippedVideosCallback
    from nni_autotsnet.speed import ChannelsLast3d, DataWaitMonitor

    tr, t = config.trainer, config.train
    # The moving average is Lightning's callback over torch's AveragedModel (batch-norm buffers averaged too):
    # it swaps the averaged weights in for validation, stores both in last.ckpt (resume restores both) and leaves
    # the average in the module when training ends, so model.pt holds it.
    averaging = [EMAWeightAveraging(decay=t.ema_decay)] if t.ema_decay else []
    return pl.Trainer(
        max_epochs=t.scaled_epochs, gradient_clip_val=t.gradient_clip_val, accelerator=tr.accelerator, devices=tr.devices,
        num_nodes=tr.num_nodes,
        precision=tr.precision, default_root_dir=str(out), num_sanity_val_steps=0, enable_model_summary=False,
        log_every_n_steps=tr.log_every_n_steps, enable_progress_bar=progress_bar,
        logger=[CSVLogger(str(out / "logs"), name="csv"),
                TensorBoardLogger(str(out / "logs"), name="tensorboard", version="", default_hp_metric=False)],
        callbacks=[recorder, SkippedVideosCallback(), DataWaitMonitor(echo=is_rank_zero()),
                   *([ChannelsLast3d()] if tr.channels_last else []), *averaging, *callbacks,
                   # top-1 with no monitor: the latest epoch, kept as RUN/last.ckpt (replaced every epoch)
                   ModelCheckpoint(dirpath=str(out), filename=checkpoint_stem(), save_top_k=1, enable_version_counter=False)],
        plugins=[AtomicCheckpointIO()],
    )
