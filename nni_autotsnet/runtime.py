"""What the commands share at run time: where they run (NNI trial, DDP rank), the data sets, per-epoch seeding.

The search, training, evaluation and random-search commands all need these; they live here so no
command imports another (the import-graph test in ``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from nni_autotsnet.config import ExperimentConfig
from nni_autotsnet.ranks import is_rank_zero  # importable from here, as before

__all__ = ["in_nni_trial", "is_rank_zero", "say", "ensure_benchmark", "build_datasets", "dataset_classes", "folder_format_options", "seed_epoch",
           "EpochSeededLoader"]


def in_nni_trial() -> bool:
    """True inside a trial that ``nnictl`` launched (the local, remote or Kubernetes training service)."""
    return os.environ.get("NNI_PLATFORM") not in (None, "", "unittest", "standalone")


def say(text: str) -> None:
    """Print ``text`` (flushed) in the process that writes files only."""
    if is_rank_zero():
        print(text, flush=True)


def ensure_benchmark(folder: Path, seed: int, splits: dict | None = None) -> Path:
    """Build the bundled temporal benchmark in ``folder`` unless it is there (one builder at a time).

    ``splits`` (videos a class per split) applies to a new build; an existing benchmark is used as it is.
    """
    import fcntl

    from nni_autotsnet.data import make_benchmark

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent NNI trials wait for the first one's build
        if not (folder / "benchmark.json").exists():
            print(f"building the temporal benchmark in {folder} ...", flush=True)
            summary = make_benchmark(folder, seed=seed, splits=splits)
            print(f"built {len(summary['videos'])} videos in {summary['build_seconds']:.1f} s", flush=True)
    return folder


def build_datasets(config: ExperimentConfig):
    """The training dataset (random clips) and the validation dataset (``val_views`` views a video)."""
    from nni_autotsnet.data import make_dataset

    data = config.data
    if data.annotations is not None:  # a folder format: every split from the data set's folder
        common = folder_format_options(config)
        return (make_dataset(data.annotations, split="train", hflip=data.hflip, autoaugment=data.autoaugment, **common),
                make_dataset(data.annotations, split="val", views=data.val_views, **common))
    if data.train is None:
        root = ensure_benchmark(data.benchmark, data.benchmark_seed, data.benchmark_splits)
        train, val, labels = root / "train.csv", root / "val.csv", root / "labels.txt"
    else:
        train, val, labels = data.train, data.val, data.labels_file
    common = dict(root=data.root, preset=data.preset, labels_file=str(labels) if labels else None,
                  classes_from=None if labels else str(train), cache=str(data.cache) if data.cache else None)
    train_ds = make_dataset(train, split="train", hflip=data.hflip, autoaugment=data.autoaugment, **common)
    val_ds = make_dataset(val, split="val", views=data.val_views, **common)
    return train_ds, val_ds


def folder_format_options(config: ExperimentConfig) -> dict[str, Any]:
    """``make_dataset`` keywords of a data set in a folder format (ssv2, ucf101, hmdb51, folders), less the split."""
    data = config.data
    return dict(root=str(data.root) if data.root else None, preset=data.preset, data_format=data.format,
                cache=str(data.cache) if data.cache else None,
                split_options=dict(split_number=data.split_number, val_fraction=data.val_fraction,
                                   test_fraction=data.test_fraction, seed=data.split_seed))


def dataset_classes(config: ExperimentConfig):
    """The class names of a config's training data in label order, without reading a video; ``None`` if unnamed.

    The bundled benchmark's ``labels.txt`` (``None`` when it is not built), else the config's
    ``labels_file`` or the names in its training list (``None`` for bare indices), as
    :func:`build_datasets` resolves them. A folder format (``data.annotations``) gives ``None`` here:
    its names come from its folder when its datasets are built (a trained run records them).
    """
    from nni_autotsnet.data import read_labels_file, resolve_classes

    data = config.data
    if data.annotations is not None:
        return None
    if data.train is None:
        labels = Path(data.benchmark) / "labels.txt"
        return read_labels_file(labels) if labels.is_file() else None
    return resolve_classes(data.train, data.labels_file)


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """Seed torch, numpy and ``random`` from ``(seed, epoch, rank)``: an epoch's draws do not depend on earlier ones."""
    state = np.random.SeedSequence([seed, epoch, rank]).generate_state(2)
    torch.manual_seed(int(state[0]) | (int(state[1] & 0x7FFFFFFF) << 32))
    random.seed(int(state[1]))
    np.random.seed(int(state[0]))


class EpochSeededLoader(DataLoader):
    """A training DataLoader that calls :func:`seed_epoch` whenever Lightning makes an epoch's iterator.

    Lightning makes the first epoch's iterator of a ``fit`` before ``on_train_epoch_start`` (later
    ones after it), so seeding there would differ between a resumed and an uninterrupted run;
    seeding here puts the shuffle, the workers' seeds, the augmentation and dropout of every epoch
    on the same footing. ``trainer`` gives the epoch and rank at that moment.
    """

    def __init__(self, *args: Any, seed: int = 0, trainer: pl.Trainer | None = None, first_epoch: int | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.seed, self.trainer = seed, trainer
        # Counting mode: epochs are numbered from ``first_epoch`` by this loader's own iterations, for
        # fits whose first iterator is made before Lightning restores its loop state (NNI's one-shot
        # evaluator does this on a resumed fit).
        self.next_epoch = first_epoch

    def __iter__(self):
        rank = self.trainer.global_rank if self.trainer is not None else 0
        if self.next_epoch is not None:
            seed_epoch(self.seed, self.next_epoch, rank)
            self.next_epoch += 1
        elif self.trainer is not None:
            # epochs finished so far (what Lightning gives the samplers): current_epoch lags it when a fit resumes
            epoch = self.trainer.fit_loop.epoch_progress.current.processed
            seed_epoch(self.seed, epoch, rank)
        return super().__iter__()
