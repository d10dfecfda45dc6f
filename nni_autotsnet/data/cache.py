"""Decoded-frame cache: every video of a list decoded once into one memory-mapped ``uint8`` file.

On a small data set (a benchmark, a few thousand short clips) decoding costs more CPU than a small
model's training step, epoch after epoch. The cache decodes each video once, shrinks its frames
to the short side the transforms need at most (so the pictures a model sees are the same up to one
extra resize), and serves :meth:`FrameCache.frames_at` with the decoder's semantics: the frame on
screen at each time, clamped at the ends. A dataset given ``cache=FOLDER`` uses it transparently.

Layout: ``FOLDER/<key>/frames.u8`` (all frames, ``[H, W, 3]`` each, concatenated) and
``FOLDER/<key>/index.npz`` (per video: offset, shape, timestamps, stream info, or the reason it
failed to decode). ``<key>`` hashes the format version, the short side and, per listed video, its
resolved path, size and modification time: editing the list, touching a video or changing the
preset's sizes makes a new cache; the old one is left for the user to delete.

Not for Kinetics-scale data: 240k videos at 10 s would need terabytes. Written here because no
library at hand caches PyAV-decoded frames behind a time-indexed API (torchvision's
``VideoClips`` precomputes clip indices, not frames, and is deprecated).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from .annotations import VideoList
from .decoding import DecodedFrames, VideoInfo, VideoReader
from .errors import VideoDecodeError

__all__ = ["CACHE_VERSION", "FrameCache", "cache_key", "ensure_cache"]

CACHE_VERSION = 2  # 2: frames turned upright by their display matrix
_EPS = 1e-4  # as the decoder: two times closer than this are the same instant


def cache_key(paths: Sequence[str], short_side: int) -> str:
    """Hex digest naming the cache of ``paths`` at ``short_side``: changes when a video or the size does."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{int(short_side)}".encode())
    for path in paths:
        try:
            stat = os.stat(path)
            stamp = f"{stat.st_size}|{stat.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"\n{os.path.abspath(path)}|{stamp}".encode())
    return digest.hexdigest()[:16]


def _decode_one(job: tuple[str, int]) -> tuple[np.ndarray | None, np.ndarray | None, dict | None, float, str]:
    """Decode and shrink one video in a worker; failures come back as a reason, never raised."""
    path, short_side = job
    try:
        import torch
        from torchvision.transforms.v2 import functional as TF

        torch.set_num_threads(1)
        with VideoReader(path) as reader:
            info, eps = reader.info, reader.tolerance
            decoded = reader.all_frames()
        frames = decoded.frames
        height, width = frames.shape[1:3]
        if min(height, width) > short_side:  # shrink only; a smaller video stays as it is
            scale = short_side / min(height, width)
            size = [max(short_side, round(height * scale)), max(short_side, round(width * scale))]
            video = torch.from_numpy(frames).permute(0, 3, 1, 2)
            frames = TF.resize(video, size, antialias=True).permute(0, 2, 3, 1).contiguous().numpy()
        return frames, decoded.pts, asdict(info), eps, ""
    except VideoDecodeError as err:
        return None, None, None, 0.0, err.reason


def _build(paths: Sequence[str], short_side: int, out: Path, workers: int, label: str) -> None:
    """Decode ``paths`` into ``out`` (a fresh folder); prints progress about every 10%."""
    n = len(paths)
    offsets = np.zeros(n, dtype=np.int64)
    shapes = np.zeros((n, 3), dtype=np.int64)
    pts_start = np.zeros(n + 1, dtype=np.int64)
    eps = np.zeros(n, dtype=np.float64)
    all_pts, infos, reasons = [], [], []
    start, step, written = time.perf_counter(), max(1, n // 10), 0
    jobs = [(p, short_side) for p in paths]
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        results = pool.map(_decode_one, jobs, chunksize=4) if pool else map(_decode_one, jobs)
        with open(out / "frames.u8", "wb") as sink:
            for i, (frames, pts, info, tol, reason) in enumerate(results):
                offsets[i] = written
                if frames is not None:
                    sink.write(frames.tobytes())
                    written += frames.size
                    shapes[i] = frames.shape[:3]
                    all_pts.append(pts)
                pts_start[i + 1] = pts_start[i] + (len(pts) if pts is not None else 0)
                eps[i] = tol
                reasons.append(reason)
                infos.append(info)
                if (i + 1) % step == 0 or i + 1 == n:
                    rate = (i + 1) / max(1e-9, time.perf_counter() - start)
                    print(f"{label}: decoded {i + 1}/{n} videos ({rate:.1f}/s, {written / 2**20:.0f} MiB)",
                          file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    np.savez(out / "index.npz", offsets=offsets, shapes=shapes, pts_start=pts_start, eps=eps,
             pts=np.concatenate(all_pts) if all_pts else np.zeros(0),
             meta=np.array(json.dumps({"version": CACHE_VERSION, "short_side": short_side, "paths": list(paths),
                                       "infos": infos, "reasons": reasons})))


class FrameCache:
    """A built cache, opened read-only; the frame file is memory-mapped on first use in each process."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        with np.load(self.folder / "index.npz") as index:
            self._offsets, self._shapes = index["offsets"], index["shapes"]
            self._pts_start, self._pts, self._eps = index["pts_start"], index["pts"], index["eps"]
            meta = json.loads(str(index["meta"]))
        self.short_side = int(meta["short_side"])
        self.paths: list[str] = meta["paths"]
        self._infos = [VideoInfo(**info) if info else None for info in meta["infos"]]
        self._reasons: list[str] = meta["reasons"]
        self._frames: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_frames"] = None  # each DataLoader worker maps the file itself
        return state

    def _check(self, index: int) -> None:
        if self._reasons[index]:
            raise VideoDecodeError(self.paths[index], self._reasons[index])

    def info(self, index: int) -> VideoInfo:
        """The video's stream info as the decoder read it (raises the stored decode error)."""
        self._check(index)
        return self._infos[index]

    def frames_at(self, index: int, times: Sequence[float] | np.ndarray) -> DecodedFrames:
        """The frames on screen at ``times`` (s), as :meth:`.VideoReader.frames_at` returns them."""
        self._check(index)
        if self._frames is None:
            self._frames = np.memmap(self.folder / "frames.u8", dtype=np.uint8, mode="r")
        pts = self._pts[self._pts_start[index]:self._pts_start[index + 1]]
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        # last frame with pts <= t (within the tolerance); before the first frame: the first
        picks = np.clip(np.searchsorted(pts, times + max(_EPS, self._eps[index]), side="right") - 1, 0, len(pts) - 1)
        t, h, w = (int(v) for v in self._shapes[index])
        video = self._frames[self._offsets[index]:self._offsets[index] + t * h * w * 3].reshape(t, h, w, 3)
        return DecodedFrames(frames=np.ascontiguousarray(video[picks]), pts=pts[picks], times=times)


def ensure_cache(videos: VideoList, folder: str | os.PathLike, short_side: int, workers: int | None = None) -> FrameCache:
    """Open the cache of ``videos`` at ``short_side`` under ``folder``, building it first if missing.

    One process builds at a time (a file lock, for concurrent NNI trials or DDP ranks); the build
    goes into a temporary folder renamed into place when complete, so a killed build leaves no
    half cache behind.
    """
    paths = [record.path for record in videos.records]
    folder = Path(folder)
    target = folder / cache_key(paths, short_side)
    if (target / "index.npz").is_file():
        return FrameCache(target)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "index.npz").is_file():
            tmp = folder / f"{target.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                _build(paths, short_side, tmp, workers or min(4, os.cpu_count() or 1),
                       f"frame cache {videos.source} -> {target}")
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return FrameCache(target)
