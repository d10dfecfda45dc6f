"""Helpers for tests and benchmarks: videos whose frames show their own index, and broken files.

An index-coded frame shows its frame number as black / white vertical bands (one bit a band),
which survives lossy compression, so a test can read back which frames the loader picked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["index_coded_frames", "read_frame_indices", "truncate_copy", "write_garbage", "write_empty", "small_benchmark", "synthetic_clips"]

_BITS = 10  # up to 1023 frames


def index_coded_frames(num_frames: int, height: int = 64, width: int = 80) -> np.ndarray:
    """``uint8 [num_frames, height, width, 3]`` frames showing their index in binary bands."""
    if num_frames > 2**_BITS:
        raise ValueError(f"at most {2**_BITS} index-coded frames")
    band = width // _BITS
    bits = (np.arange(num_frames)[:, None] >> np.arange(_BITS)[None, :]) & 1  # [T, bits]
    columns = np.zeros((num_frames, width), dtype=np.uint8)
    columns[:, : band * _BITS] = np.repeat(bits * 255, band, axis=1)
    return np.repeat(np.repeat(columns[:, None, :, None], height, axis=1), 3, axis=3)


def read_frame_indices(frames: np.ndarray) -> np.ndarray:
    """Read the indices back from decoded ``[N, H, W, 3]`` frames (band centres, rows averaged)."""
    frames = np.asarray(frames, dtype=np.float32)
    width = frames.shape[2]
    band = width // _BITS
    centres = np.arange(_BITS) * band + band // 2
    levels = frames[:, :, centres, :].mean(axis=(1, 3))  # [N, bits]
    return ((levels > 127.5).astype(np.int64) << np.arange(_BITS)).sum(axis=1)


def truncate_copy(src: str | os.PathLike, dst: str | os.PathLike, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of a file's bytes: a download cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def write_garbage(dst: str | os.PathLike, size: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a video's name."""
    Path(dst).write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(dst)


def write_empty(dst: str | os.PathLike) -> Path:
    """A zero-byte file."""
    Path(dst).write_bytes(b"")
    return Path(dst)


_BUILT: dict[str, Path] = {}


def small_benchmark(out: str | os.PathLike, videos_per_class: int = 3, seed: int = 0) -> Path:
    """Build a 10-class benchmark with ``videos_per_class`` videos once per process and folder.

    Test modules share it through a session fixture without a shared conftest.
    """
    from .benchmark import make_benchmark

    key = f"{os.fspath(out)}|{videos_per_class}|{seed}"
    if key not in _BUILT:
        make_benchmark(out, num_classes=10, videos_per_class=videos_per_class, seed=seed, workers=1)
        _BUILT[key] = Path(out)
    return _BUILT[key]


def synthetic_clips(input_shape, num_classes: int, n: int, seed: int = 0):
    """``(clips [n, *input_shape], labels)``: a learnable task without video, each class adding its own fixed
    random pattern to Gaussian noise (PARSEC tests and benchmarks on the tiny space)."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.randn(num_classes, *input_shape, generator=g)
    y = torch.randint(0, num_classes, (n,), generator=g)
    return torch.randn(n, *input_shape, generator=g) + 0.5 * templates[y], y
