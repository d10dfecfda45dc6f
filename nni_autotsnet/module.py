"""``VideoClassifier``: the Lightning module that trains a video network on clips and validates per video.

NNI's ``Classification`` evaluator expects ``(x, y)`` batches and reports to NNI by itself; video
validation batches carry several views per video (``[B, V, C, T, H, W]``) and the search command
reports to NNI once per epoch on its own, so this module does neither.
"""

from __future__ import annotations

from typing import Any

import nni
import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch import LightningModule

from nni_autotsnet.data.callbacks import video_validation

__all__ = ["VideoClassifier"]


@nni.trace
class VideoClassifier(LightningModule):
    """Cross-entropy on training clips; validation accuracy of each video's views averaged.

    Logs ``train_loss``, ``train_acc``, ``val_loss`` (NLL of the view-averaged probabilities)
    and ``val_acc`` (video-level top-1). ``configure_optimizers`` gives SGD (momentum 0.9) or, with
    ``optimizer='adamw'``, AdamW at ``learning_rate``; PARSEC uses it with ``weight_optimizer='evaluator'``.
    """

    def __init__(self, learning_rate: float = 0.1, weight_decay: float = 5e-5, momentum: float = 0.9,
                 optimizer: str = "sgd"):
        super().__init__()
        self.save_hyperparameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        clips, labels = batch[0], batch[1]
        logits = self.model(clips)
        loss = F.cross_entropy(logits, labels)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", (logits.argmax(-1) == labels).float().mean())
        return loss

    def validation_step(self, batch: Any, batch_idx: int, *args: Any) -> None:
        loss, acc = video_validation(self.model, batch[0], batch[1])
        self.log("val_loss", loss, batch_size=len(batch[1]), sync_dist=True)
        self.log("val_acc", acc, prog_bar=True, batch_size=len(batch[1]), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.hparams.optimizer == "adamw":
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.learning_rate,
                                     weight_decay=self.hparams.weight_decay)
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate, momentum=self.hparams.momentum,
                               weight_decay=self.hparams.weight_decay)
