"""Where clips are taken in time: one random clip for training, uniform views for testing.

A clip is ``num_frames`` times spaced ``stride`` frames apart at the video's own frame rate
(``stride / fps`` seconds). A sampler turns a video's :class:`~.decoding.VideoInfo` into
:class:`ClipInfo` records holding those times; the decoder then picks the frame on screen at
each time. Times past the end are clamped (the last frame repeats) or looped (wrap to the
start), times are never negative. Shape after pytorchvideo's ``clip_sampling.py``: a named
tuple, a small sampler base class and a factory.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import numpy as np

from .decoding import VideoInfo

__all__ = [
    "ClipInfo",
    "ClipSampler",
    "RandomClipSampler",
    "UniformClipSampler",
    "make_clip_sampler",
    "clip_times",
]

END_MODES = ("clamp", "loop")


class ClipInfo(NamedTuple):
    """One clip of a video: its index among the video's clips and the times of its frames (s)."""

    clip_index: int
    num_clips: int
    start_sec: float
    times: np.ndarray


def clip_times(start_frame: int, num_frames: int, stride: int, info: VideoInfo, end_mode: str = "clamp") -> np.ndarray:
    """Times of a clip starting at frame ``start_frame`` of the nominal frame grid.

    Times are ``(start_frame + i * stride) / fps``, exactly on the frames' timestamps for
    constant-rate video. With ``end_mode='loop'`` a time past the duration wraps around.
    """
    if end_mode not in END_MODES:
        raise ValueError(f"end_mode must be one of {END_MODES}, got {end_mode!r}")
    frames = start_frame + stride * np.arange(num_frames)
    if end_mode == "loop" and info.num_frames > 0:
        frames = frames % info.num_frames
    return frames / info.fps


def _last_start(info: VideoInfo, span: int) -> int:
    """The last start frame that keeps a clip of ``span`` frames inside the video (0 if none)."""
    return max(0, info.num_frames - span)


class ClipSampler(abc.ABC):
    """Base class: ``sampler(info, rng)`` returns the clips to decode from one video.

    Parameters
    ----------
    num_frames
        Frames per clip.
    stride
        Source frames between two sampled frames.
    end_mode
        ``'clamp'`` repeats the last frame past the end of a short video, ``'loop'`` wraps.
    """

    def __init__(self, num_frames: int, stride: int, end_mode: str = "clamp"):
        if num_frames < 1 or stride < 1:
            raise ValueError(f"num_frames and stride must be >= 1, got {num_frames} and {stride}")
        if end_mode not in END_MODES:
            raise ValueError(f"end_mode must be one of {END_MODES}, got {end_mode!r}")
        self.num_frames, self.stride, self.end_mode = num_frames, stride, end_mode

    @property
    def span(self) -> int:
        """Source frames a clip covers: the last sampled frame is ``span - stride`` after the first."""
        return (self.num_frames - 1) * self.stride + 1

    def _clip(self, start: int, index: int, count: int, info: VideoInfo) -> ClipInfo:
        times = clip_times(start, self.num_frames, self.stride, info, self.end_mode)
        return ClipInfo(index, count, start / info.fps, times)

    @abc.abstractmethod
    def __call__(self, info: VideoInfo, rng: np.random.Generator | None = None) -> list[ClipInfo]:
        """Return the clips to take from a video described by ``info``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RandomClipSampler(ClipSampler):
    """Training: one clip starting at a uniformly random frame that keeps it inside the video."""

    def __call__(self, info: VideoInfo, rng: np.random.Generator | None = None) -> list[ClipInfo]:
        rng = rng if rng is not None else np.random.default_rng()
        start = int(rng.integers(0, _last_start(info, self.span) + 1))
        return [self._clip(start, 0, 1, info)]


class UniformClipSampler(ClipSampler):
    """Testing: ``num_clips`` clips with starts evenly spread from the first to the last start.

    One clip is centred. Deterministic, so every evaluation sees the same views.
    """

    def __init__(self, num_frames: int, stride: int, num_clips: int, end_mode: str = "clamp"):
        super().__init__(num_frames, stride, end_mode)
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.num_clips = num_clips

    def __call__(self, info: VideoInfo, rng: np.random.Generator | None = None) -> list[ClipInfo]:
        last = _last_start(info, self.span)
        if self.num_clips == 1:
            starts = [last // 2]
        else:
            starts = np.rint(np.linspace(0, last, self.num_clips)).astype(int).tolist()
        return [self._clip(s, i, self.num_clips, info) for i, s in enumerate(starts)]


def make_clip_sampler(kind: str, num_frames: int, stride: int, num_clips: int = 1, end_mode: str = "clamp") -> ClipSampler:
    """Build a sampler by name: ``'random'`` (training) or ``'uniform'`` (testing views)."""
    if kind == "random":
        return RandomClipSampler(num_frames, stride, end_mode)
    if kind == "uniform":
        return UniformClipSampler(num_frames, stride, num_clips, end_mode)
    raise ValueError(f"unknown clip sampler {kind!r}; expected 'random' or 'uniform'")
