"""Build the temporal benchmark on disk: H.264 mp4 files, train/val/test CSVs and a labels file.

Each video depends only on ``(seed, index, class)``, so a build is deterministic whatever the
number of worker processes, and the same seed gives the same files and the same decoded frames.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .annotations import write_video_list
from .synthetic import CLASS_NAMES, render_video, sample_spec
from .writer import write_video

__all__ = ["SPLITS", "split_sizes", "make_benchmark"]

SPLITS = ("train", "val", "test")


# The bundled benchmark's videos per class: 50 test videos a class make a test split of 500 (one
# video is 0.2 points of accuracy), separate from the 20 a class that validation (the search's
# signal, model selection) sees; 60 a class train.
DEFAULT_SPLITS = {"train": 60, "val": 20, "test": 50}


def split_sizes(videos_per_class: int | None = None) -> dict[str, int]:
    """Videos per class in each split: :data:`DEFAULT_SPLITS` without an argument, else 20% validation
    and 20% test (at least one each) and the rest train."""
    if videos_per_class is None:
        return dict(DEFAULT_SPLITS)
    if videos_per_class < 3:
        raise ValueError(f"videos_per_class must be >= 3 (one per split), got {videos_per_class}")
    held_out = max(1, round(0.2 * videos_per_class))
    return {"train": videos_per_class - 2 * held_out, "val": held_out, "test": held_out}


def _build_one(job: tuple[str, int, int, int, tuple[float, float], int]) -> dict:
    out, label, index, seed, seconds, stride = job
    spec = sample_spec(label, seed, index, seconds, stride)
    name = CLASS_NAMES[label]
    relpath = f"videos/{name}/{name}_{index:05d}.mp4"
    path = Path(out) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, render_video(spec), fps=spec.fps)
    return dict(path=relpath, label=name, fps=str(spec.fps), width=spec.width, height=spec.height, frames=spec.num_frames)


def make_benchmark(
    out: str | os.PathLike,
    num_classes: int = 10,
    videos_per_class: int | None = None,
    seed: int = 0,
    seconds: tuple[float, float] = (2.0, 3.0),
    stride: int = 4,
    workers: int | None = None,
    splits: dict[str, int] | None = None,
) -> dict:
    """Write the benchmark to ``out`` and return its summary (also saved as ``benchmark.json``).

    Parameters
    ----------
    out
        Output folder; ``videos/<class>/*.mp4``, ``train.csv``, ``val.csv``, ``test.csv`` and
        ``labels.txt`` are written into it.
    num_classes
        The first ``num_classes`` of :data:`~.synthetic.CLASS_NAMES` (2 to 10; even keeps pairs).
    videos_per_class
        Videos per class over all splits, 60/20/20% (see :func:`split_sizes`); ``None``: ``splits``.
    splits
        Videos per class of each split, ``{"train": n, "val": n, "test": n}``; default
        :data:`DEFAULT_SPLITS` (60 / 20 / 50). Give this or ``videos_per_class``, not both.
    seed
        Seed of every random choice.
    seconds
        Range of video lengths.
    stride
        Source frames between the frames a model samples; sets the shake period (``2 * stride``).
    workers
        Processes that render and encode (default: the CPU count, at most 4).
    """
    sizes = _split_sizes(num_classes, videos_per_class, splits)
    videos_per_class = sum(sizes.values())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(out), label, label * videos_per_class + i, seed, tuple(seconds), stride)
        for label in range(num_classes)
        for i in range(videos_per_class)
    ]
    workers = workers or min(4, os.cpu_count() or 1)
    start = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_build_one, jobs, chunksize=8))
    else:
        rows = [_build_one(job) for job in jobs]
    elapsed = time.perf_counter() - start
    counts = _write_lists(out, rows, sizes, num_classes)
    summary = dict(seed=seed, num_classes=num_classes, videos_per_class=videos_per_class, seconds=list(seconds),
                   stride=stride, splits=counts, build_seconds=round(elapsed, 2), workers=workers, videos=rows)
    (out / "benchmark.json").write_text(json.dumps(summary, indent=1))
    return summary


def _split_sizes(num_classes: int, videos_per_class: int | None, splits: dict[str, int] | None) -> dict[str, int]:
    """Videos per class of each split, checked (a ``ValueError`` names the bad argument)."""
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be in 2..{len(CLASS_NAMES)}, got {num_classes}")
    if splits is not None and videos_per_class is not None:
        raise ValueError("give videos_per_class or splits, not both")
    sizes = dict(splits) if splits is not None else split_sizes(videos_per_class)
    if set(sizes) != set(SPLITS) or min(sizes.values()) < 1:
        raise ValueError(f"splits must give at least one video per class for each of {SPLITS}, got {sizes}")
    return sizes


def _write_lists(out: Path, rows: list[dict], sizes: dict[str, int], num_classes: int) -> dict[str, int]:
    """``train/val/test.csv`` (each class's first videos train, the next validate, the rest test), ``labels.txt``."""
    per_class = sum(sizes.values())
    lists: dict[str, list] = {s: [] for s in SPLITS}
    for k, row in enumerate(rows):
        i = k % per_class
        split = "train" if i < sizes["train"] else "val" if i < sizes["train"] + sizes["val"] else "test"
        lists[split].append((row["path"], row["label"]))
    for split, split_rows in lists.items():
        write_video_list(out / f"{split}.csv", split_rows)
    (out / "labels.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES[:num_classes]))
    return {s: len(r) for s, r in lists.items()}
