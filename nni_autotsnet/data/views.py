"""Test views of one video: decode its uniform clips, cut each into crops, average the model's softmax.

The one home of the test protocol's views (supplement section 3.3): the test dataset
(:class:`~.dataset.VideoViewDataset`), ``evaluate`` and ``predict`` all cut a video into views
here, so a video gives the same tensor whichever command reads it. Imports neither NNI nor
Lightning, so ``python -m nni_autotsnet.predict`` runs where neither is installed.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .clip_sampling import ClipInfo, UniformClipSampler
from .decoding import VideoReader
from .errors import VideoDecodeError
from .transforms import DataPreset, eval_transform, frames_to_video, spatial_crops

__all__ = ["views_from_frames", "decode_views", "average_views"]


def views_from_frames(frames: np.ndarray, clips: list[ClipInfo], preset: DataPreset, num_crops: int) -> torch.Tensor:
    """``float [len(clips) * num_crops, C, T, H, W]`` views of decoded frames ``uint8 [sum T, H, W, 3]``.

    Each clip's ``preset.num_frames`` frames, in order, are resized to ``preset.test_size`` on the
    short side, normalised and cut into ``num_crops`` square crops (:func:`~.transforms.spatial_crops`).
    """
    video = eval_transform(preset)(frames_to_video(frames)).as_subclass(torch.Tensor)
    t = preset.num_frames
    views = []
    for k in range(len(clips)):
        clip = video[k * t : (k + 1) * t].permute(1, 0, 2, 3)  # [C, T, H, W]
        views.extend(spatial_crops(clip, preset.test_size, num_crops))
    return torch.stack(views)


def decode_views(path: str | os.PathLike, preset: DataPreset, num_clips: int, num_crops: int,
                 allow_short: bool = True) -> torch.Tensor:
    """Decode one video file into its ``num_clips * num_crops`` test views (see :func:`views_from_frames`).

    ``allow_short=False`` refuses a video with fewer frames than one clip spans (``predict``: a
    clip of repeated last frames is not the motion the model was trained on); the datasets clamp.

    Raises
    ------
    VideoDecodeError
        Naming the file: missing, empty, undecodable, truncated, or (``allow_short=False``) too short.
    """
    sampler = UniformClipSampler(preset.num_frames, preset.stride, num_clips)
    with VideoReader(path) as reader:
        info = reader.info
        if not allow_short and info.num_frames < sampler.span:
            raise VideoDecodeError(path, f"shorter than one clip: {info.num_frames} frames, a clip spans "
                                         f"{sampler.span} ({preset.num_frames} frames at stride {preset.stride})")
        clips = sampler(info)
        decoded = reader.frames_at(np.concatenate([c.times for c in clips]))
    return views_from_frames(decoded.frames, clips, preset, num_crops)


def average_views(logits: torch.Tensor, num_views: int) -> torch.Tensor:
    """``[B * V, K]`` logits of ``V`` consecutive views per video -> ``[B, K]`` mean softmax."""
    if logits.shape[0] % num_views:
        raise ValueError(f"{logits.shape[0]} rows are not a multiple of {num_views} views")
    return logits.softmax(-1).reshape(-1, num_views, logits.shape[-1]).mean(1)
