"""Sanity check of the temporal benchmark: single frames are at chance, motion is learnable.

Builds (or reuses) the default benchmark, decodes clips through the real loader (tiny preset,
no flip: a flip would swap the direction classes), then trains on the training split and
reports video-level test accuracy (4 centre views averaged) of

* a linear probe on one frame (expected: chance, 10% for 10 classes),
* a small 3D CNN on the dense 8-frame clip (expected: well above chance),
* the same CNN on the sparse stream alone (frames 0 and 4 of the clip, alpha = 4), which should
  fail the ``shake_*`` pair that only a dense stream resolves.

    python benchmarks/sanity_temporal_benchmark.py [--out DIR] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from nni_autotsnet.data import make_benchmark, make_dataset

CLIPS_PER_TRAIN_VIDEO = 6


def load_split(root: Path, split: str, clips: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``clips`` clips (train: random, test: 4 uniform centre views) per video."""
    kwargs = dict(preset="tiny", labels_file=str(root / "labels.txt"), hflip=False, autoaugment=False)
    if split == "train":
        ds = make_dataset(str(root / "train.csv"), split="train", **kwargs)
        items = [ds[i] for _ in range(clips) for i in range(len(ds))]
        return torch.stack([c for c, _ in items]), torch.tensor([l for _, l in items])
    ds = make_dataset(str(root / f"{split}.csv"), split="test", views="4-Center", **kwargs)
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([v for v, _, _ in items]), torch.tensor([l for _, l, _ in items])  # [N, V, C, T, H, W]


class Small3D(nn.Module):
    """Three 3x3x3 conv blocks (spatial stride 2), global average pool, linear classifier."""

    def __init__(self, num_classes: int, width: int = 24):
        super().__init__()
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv3d(c_in, c_out, 3, stride=(1, 2, 2), padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3, 4)))


class FrameProbe(nn.Module):
    """Linear classifier on one frame, downsampled to 16x16 (a single-frame linear probe)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.head = nn.Linear(3 * 16 * 16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frame = x[:, :, x.shape[2] // 2]  # the middle frame
        return self.head(nn.functional.adaptive_avg_pool2d(frame, 16).flatten(1))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, frames: Sequence[int] | None, lr: float) -> nn.Module:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * ((len(x) + 31) // 32))
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(32):
            clip = x[idx] if frames is None else x[idx][:, :, list(frames)]
            loss = nn.functional.cross_entropy(model(clip), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


@torch.no_grad()
def video_accuracy(model: nn.Module, views: torch.Tensor, y: torch.Tensor, frames: Sequence[int] | None, num_classes: int) -> tuple[float, list[float]]:
    model.eval()
    n, v = views.shape[:2]
    clips = views.flatten(0, 1)
    clips = clips if frames is None else clips[:, :, list(frames)]
    probs = model(clips).softmax(-1).reshape(n, v, -1).mean(1)
    correct = probs.argmax(-1) == y
    per_class = [float(correct[y == k].float().mean()) for k in range(num_classes)]
    return float(correct.float().mean()), per_class


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/nni_autotsnet_benchmark")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    root = Path(args.out)
    if not (root / "benchmark.json").exists():
        summary = make_benchmark(root, seed=args.seed)
        print(f"built the default benchmark in {summary['build_seconds']:.1f} s")
    classes = (root / "labels.txt").read_text().split()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    x, y = load_split(root, "train", CLIPS_PER_TRAIN_VIDEO)
    tx, ty = load_split(root, "test", 1)
    print(f"decoded {len(x)} training clips and {tx.shape[0]}x{tx.shape[1]} test views in {time.perf_counter() - start:.1f} s")
    runs = {
        "single-frame linear probe": (FrameProbe(len(classes)), None, 1e-2),
        "small 3D CNN, dense (8 frames)": (Small3D(len(classes)), None, 3e-3),
        "small 3D CNN, sparse (frames 0 and 4)": (Small3D(len(classes)), (0, 4), 3e-3),
    }
    results = {"chance": 1 / len(classes), "classes": classes}
    for name, (model, frames, lr) in runs.items():
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        train(model, x, y, args.epochs, frames, lr)
        acc, per_class = video_accuracy(model, tx, ty, frames, len(classes))
        results[name] = {"test_accuracy": acc, "per_class": dict(zip(classes, per_class)), "train_seconds": time.perf_counter() - t0}
        cells = " ".join(f"{c}={a:.2f}" for c, a in zip(classes, per_class))
        print(f"{name}: test video accuracy {acc:.3f} (chance {1 / len(classes):.3f}); {cells}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
