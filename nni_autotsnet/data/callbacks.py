"""End-of-epoch reporting of skipped videos (Lightning) and video-level averaging of views."""

from __future__ import annotations

import logging
from typing import Iterable

import pytorch_lightning as pl
import torch

from .dataset import VideoDatasetBase
from .views import average_views  # its home is .views (no Lightning); importable here as before

__all__ = ["SkippedVideosCallback", "find_video_datasets", "average_views", "video_validation",
           "VideoLevelAccumulator"]

_log = logging.getLogger(__name__)


def find_video_datasets(loaders) -> list[VideoDatasetBase]:
    """Video datasets behind a DataLoader, a list / dict of them or a Lightning ``CombinedLoader``."""
    if loaders is None:
        return []
    if isinstance(loaders, VideoDatasetBase):
        return [loaders]
    if hasattr(loaders, "dataset"):
        return find_video_datasets(loaders.dataset)
    if hasattr(loaders, "flattened"):  # lightning CombinedLoader
        return find_video_datasets(loaders.flattened)
    if hasattr(loaders, "datasets"):  # torch ConcatDataset
        return find_video_datasets(list(loaders.datasets))
    if isinstance(loaders, dict):
        loaders = list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return [d for item in loaders for d in find_video_datasets(item)]
    return []


class SkippedVideosCallback(pl.Callback):
    """Log how many videos were skipped in each training and validation epoch, then reset.

    Logs ``data/skipped_train`` and ``data/skipped_val`` through the LightningModule and warns
    with the files and reasons; with ``fail=True`` a skip fails the run at the epoch's end.
    """

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.last_reports: dict[str, list[str]] = {}

    def _report(self, stage: str, loaders, pl_module: pl.LightningModule) -> None:
        datasets = find_video_datasets(loaders)
        count = sum(d.skipped_count() for d in datasets)
        reports = [d.skip_report(reset=True) for d in datasets]
        self.last_reports[stage] = reports
        pl_module.log(f"data/skipped_{stage}", float(count), on_epoch=True, sync_dist=True)
        if count:
            message = f"{count} video(s) skipped in the {stage} epoch: " + " | ".join(reports)
            if self.fail:
                raise RuntimeError(message)
            _log.warning(message)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report("train", trainer.train_dataloader, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._report("val", trainer.val_dataloaders, pl_module)


def video_validation(model: torch.nn.Module, views: torch.Tensor, labels: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(NLL of the view-averaged probabilities, video-level top-1) of a validation batch.

    ``views`` is ``[B, V, C, T, H, W]`` (``V`` views per video) or plain clips ``[B, C, T, H, W]``;
    the search's and the training's Lightning modules both validate this way.
    """
    if views.dim() == 5:  # plain clips: one view each
        views = views.unsqueeze(1)
    probs = average_views(model(views.flatten(0, 1)).float(), views.shape[1])
    loss = torch.nn.functional.nll_loss(probs.clamp_min(1e-12).log(), labels)
    return loss, (probs.argmax(-1) == labels).float().mean()


class VideoLevelAccumulator:
    """Collect per-view scores by video index and give video-level predictions and accuracy.

    A video seen twice (a bad video was replaced by a neighbour) is averaged once per view set,
    which leaves its prediction unchanged.
    """

    def __init__(self):
        self._sums: dict[int, torch.Tensor] = {}
        self._counts: dict[int, int] = {}
        self._labels: dict[int, int] = {}

    def update(self, scores: torch.Tensor, labels: Iterable[int], indices: Iterable[int]) -> None:
        """Add ``[B, K]`` video scores (e.g. :func:`average_views`) for videos ``indices``."""
        for row, label, index in zip(scores.detach().float().cpu(), labels, indices):
            index, label = int(index), int(label)
            self._sums[index] = self._sums.get(index, 0) + row
            self._counts[index] = self._counts.get(index, 0) + 1
            self._labels[index] = label

    def predictions(self) -> dict[int, torch.Tensor]:
        """Mean score per video index."""
        return {i: s / self._counts[i] for i, s in self._sums.items()}

    def accuracy(self) -> float:
        """Top-1 video-level accuracy over the videos seen."""
        preds = self.predictions()
        if not preds:
            return float("nan")
        return sum(int(p.argmax()) == self._labels[i] for i, p in preds.items()) / len(preds)
