"""Clip transforms with torchvision ``transforms.v2`` and the per-preset sizes (supplement Table 3).

Training: short-side scale jitter, random crop, horizontal flip, AutoAugment, normalisation.
Testing: short-side resize to the test size, then the view crops. Every random transform draws
its parameters once per clip and applies them to all frames: v2 treats a
:class:`torchvision.tv_tensors.Video` ``[T, C, H, W]`` as one sample, so a crop, a flip or an
AutoAugment op moves every frame the same way (tests check this).

Clips come in as decoded frames ``uint8 [T, H, W, 3]`` and leave as ``float32 [C, T, H, W]``,
the layout of 3D convolutions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = [
    "DataPreset",
    "DATA_PRESETS",
    "get_preset",
    "parse_views",
    "frames_to_video",
    "train_transform",
    "eval_transform",
    "spatial_crops",
]

KINETICS_MEAN = (0.45, 0.45, 0.45)  # SlowFast / X3D normalisation for Kinetics
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class DataPreset:
    """Sizes and sampling of one model size; S, M, L follow the supplement's Table 3 and X3D.

    ``jitter`` is the short-side range of training scale jitter, ``crop`` the training crop,
    ``test_size`` both the test short side and the test crop. ``views`` is the default test
    protocol (see :func:`parse_views`). ``hflip`` is on for Kinetics-like data; turn it off for
    direction-sensitive classes (the synthetic benchmark, Something-Something), where a flip
    turns "moving right" into "moving left".
    """

    name: str
    num_frames: int
    stride: int
    jitter: tuple[int, int]
    crop: int
    test_size: int
    views: str = "10-LeftCenterRight"
    hflip: bool = True
    autoaugment: bool = True
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD


DATA_PRESETS: dict[str, DataPreset] = {
    # CPU tests and the synthetic benchmark: 8 frames at 64 px, as the search space's tiny preset.
    "tiny": DataPreset("tiny", num_frames=8, stride=4, jitter=(64, 80), crop=64, test_size=64, views="4-Center"),
    # The bundled temporal benchmark on CPU: tiny at 32 px (the space preset of the same name). No flip (it
    # swaps the direction classes) and no AutoAugment (measured to slow learning here; docs/results/tiny32/recipe.md).
    "tiny32": DataPreset("tiny32", num_frames=8, stride=4, jitter=(32, 40), crop=32, test_size=32, views="4-Center",
                         hflip=False, autoaugment=False),
    # Clips of the space presets' T_dense consecutive frames (stride 1) with Table 3 sizes: the sparse stream
    # (every alpha = 4th frame) then sees X3D's frame counts, 13 (S) or 16 (M, L), at stride 4; X3D itself
    # samples 13 x 6 and 16 x 5, which 52 and 64 frames at an integer stride cannot both keep.
    "S": DataPreset("S", num_frames=52, stride=1, jitter=(182, 228), crop=160, test_size=182),
    "M": DataPreset("M", num_frames=64, stride=1, jitter=(256, 320), crop=224, test_size=256),
    "L": DataPreset("L", num_frames=64, stride=1, jitter=(356, 446), crop=312, test_size=356),
}


def get_preset(preset: str | DataPreset, **overrides) -> DataPreset:
    """Look a preset up by name (``tiny``, ``S``, ``M``, ``L``), applying non-``None`` overrides."""
    if not isinstance(preset, DataPreset):
        if preset not in DATA_PRESETS:
            raise KeyError(f"unknown data preset {preset!r}; expected one of {sorted(DATA_PRESETS)}")
        preset = DATA_PRESETS[preset]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(preset, **changes) if changes else preset


_VIEWS = re.compile(r"^(\d+)-(Center|LeftCenterRight)$")


def parse_views(views: str | int) -> tuple[int, int]:
    """``'10-Center'`` -> ``(10, 1)``, ``'10-LeftCenterRight'`` -> ``(10, 3)``, ``4`` -> ``(4, 1)``.

    Returns ``(temporal views, spatial crops)``; a video has their product of views.
    """
    if isinstance(views, int):
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}")
        return views, 1
    match = _VIEWS.match(views)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"views must look like '10-Center' or '10-LeftCenterRight', got {views!r}")
    return int(match.group(1)), 1 if match.group(2) == "Center" else 3


def frames_to_video(frames: np.ndarray | torch.Tensor) -> tv_tensors.Video:
    """Wrap decoded ``uint8 [T, H, W, 3]`` frames as a v2 ``Video`` ``[T, 3, H, W]`` (no copy)."""
    tensor = torch.as_tensor(frames)
    if tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ValueError(f"expected frames [T, H, W, 3], got shape {tuple(tensor.shape)}")
    return tv_tensors.Video(tensor.permute(0, 3, 1, 2))


def _finish(preset: DataPreset) -> list:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(preset.mean), list(preset.std))]


def train_transform(preset: DataPreset) -> v2.Compose:
    """Training transform on a ``Video`` ``[T, 3, H, W]``: jitter, crop, flip, AutoAugment, normalise.

    ``RandomShortestSize`` with every size in the jitter range is short-side scale jitter.
    """
    lo, hi = preset.jitter
    steps: list = [v2.RandomShortestSize(list(range(lo, hi + 1)), antialias=True), v2.RandomCrop(preset.crop)]
    if preset.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if preset.autoaugment:
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET))
    return v2.Compose(steps + _finish(preset))


def eval_transform(preset: DataPreset) -> v2.Compose:
    """Test transform on a ``Video``: short side to ``test_size`` and normalise (crops come after)."""
    return v2.Compose([v2.Resize(preset.test_size, antialias=True)] + _finish(preset))


def spatial_crops(video: torch.Tensor, size: int, num_crops: int) -> list[torch.Tensor]:
    """Square crops of ``size`` along the long side of ``[..., H, W]``: 1 centre, or 3 (start, centre, end).

    Written here because torchvision has only five- and ten-crop (corners plus centre); the
    10-LeftCenterRight protocol takes SlowFast's three crops along the long side (left, centre,
    right for landscape video; top, centre, bottom for portrait).
    """
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    height, width = video.shape[-2:]
    if min(height, width) < size:
        raise ValueError(f"cannot crop {size} px from a {height}x{width} clip")
    top, left = (height - size) // 2, (width - size) // 2
    if num_crops == 1:
        offsets = [(top, left)]
    elif width >= height:
        offsets = [(top, 0), (top, left), (top, width - size)]
    else:
        offsets = [(0, left), (top, left), (height - size, left)]
    return [video[..., y : y + size, x : x + size] for y, x in offsets]
