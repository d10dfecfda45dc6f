"""Does the recipe generalise? A motion data set the project has never seen, through its own commands.

    python benchmarks/generalise.py --out runs/generalise [--train-per-class 40 --val-per-class 10
        --test-per-class 30 --epochs E --seed 0 --threads 1] [--arch x3d --arch SEARCH/arch.json]
        [--seeds 0,1] [--family motion|fast] [key.sub=value ...]

Issue 11: the recipe must also learn a motion data set it was not tuned on, given as users give
Kinetics. This script draws one (its own generator, nothing from :mod:`nni_autotsnet.data.synthetic`),
writes it as a Kinetics download would be on disk, then runs the project's commands on it unchanged:

* eight classes that differ in motion: a textured square, a disc or a cluster of dots moving
  left / right / up / down, growing / shrinking, blinking fast (3 Hz) / slowly (0.8 Hz); random
  textured background and colours, random start position, phase and size; 160x120 or 128x96,
  24 / 25 / 30 fps, 2 s; H.264 mp4 through the project's :func:`~nni_autotsnet.data.write_video`;
* the official Kinetics annotation CSVs, ``annotations/{train,validate,test}.csv``
  (``label,youtube_id,time_start,time_end,split``; labels with spaces, as Kinetics'), the clips at
  ``<split>/<label>/{youtube_id}_{start:06d}_{end:06d}.mp4``, and ``labels.txt``;
* ``python -m nni_autotsnet.train`` of each ``--arch`` (default: the in-space X3D-like architecture,
  ``tiny32``, window [0.0018, 0.0024]; or any ``arch.json``, e.g. a search's) with every ``--seeds``
  train seed, ``experiments/tiny32.yaml``, data overrides and the recipe overrides given after the
  options (``key.sub=value``, the same for every architecture), then
  ``python -m nni_autotsnet.evaluate --list test.csv``; prints test top-1 per architecture and seed
  against chance (1/8), and each architecture's mean.

Several classes (blinking at 3 against 0.8 Hz, growing against shrinking) are told apart by when
things happen, which a two-stream network sees in its dense stream and a sparse-only X3D-like one
sees in few frames; but four sparse frames separate most of them. ``--family fast`` draws a set that
only a dense stream can separate (issue 19): five classes, a sprite that holds steady, shakes
sideways, shakes up and down, flickers between two colours or pulses in size, each fast change a
square wave of period ``2 * stride`` source frames (``stride``: the data preset's, 4 for ``tiny32``)
at a random phase, over a slow drift of random direction and speed shared by every class. Frames
``stride`` apart (the dense stream) see every change; frames ``2 * stride`` apart (a sparse stream
with alpha 2) see the sprite in the same state each time, so one class looks like another to it. The data set is built once per ``--out`` (same seed, same bytes) and reused; a
finished training run is reused too (delete its ``OUT/run-*`` folder to train again; the folder names
the recipe overrides by a hash), so two processes with different ``--arch`` can share one ``--out``
once the data set is built. The figures of a call go to ``OUT/figures[-fast<stride>][-r<hash>].json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from nni_autotsnet.benchmarking import seed_list
from nni_autotsnet.data import write_video
from nni_autotsnet.rundir import ARCH_FILE, RESULT_FILE

__all__ = ["CLASSES", "FAST_CLASSES", "FAMILIES", "SPLITS", "render", "render_fast", "build_dataset", "main"]

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("move left", "move right", "move up", "move down", "grow", "shrink", "blink fast", "blink slow")
FAST_CLASSES = ("steady", "shake sideways", "shake up and down", "flicker", "pulse")
FAMILIES = {"motion": CLASSES, "fast": FAST_CLASSES}
SPLITS = {"train": "train.csv", "val": "validate.csv", "test": "test.csv"}  # split column value -> Kinetics' file
_ID_CHARS = string.ascii_letters + string.digits + "-_"
_SECONDS = 2.0


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    """A ``[H, W, 3]`` float background: random colours on a coarse grid, bilinearly upsampled."""
    grid = rng.uniform(0, 255, (cells[0] + 1, cells[1] + 1, 3))
    ys, xs = np.linspace(0, cells[0], height), np.linspace(0, cells[1], width)
    y0, x0 = np.minimum(ys.astype(int), cells[0] - 1), np.minimum(xs.astype(int), cells[1] - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _sprite_mask(kind: str, size: int, turn: float) -> tuple[np.ndarray, np.ndarray]:
    """A ``size x size`` shape: its mask and a two-colour pattern index (checker, rings or dots)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    centre = size / 2
    if kind == "square":
        mask = np.ones((size, size), bool)
        cell = max(2, size // 4)
        pattern = ((yy // cell + xx // cell) % 2).astype(int)
    elif kind == "disc":
        radius = np.hypot(yy - centre, xx - centre)
        mask = radius <= centre
        pattern = ((radius // max(2, size // 6)) % 2).astype(int)
    else:  # three dots in a triangle, turned at random
        mask = np.zeros((size, size), bool)
        for k in range(3):
            angle = turn + 2 * np.pi * k / 3
            cy, cx = centre + 0.28 * size * np.sin(angle), centre + 0.28 * size * np.cos(angle)
            mask |= np.hypot(yy - cy, xx - cx) <= 0.2 * size
        pattern = np.zeros((size, size), int)
    return mask, pattern


def render(label: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One video of class ``label``: ``uint8 [T, H, W, 3]`` frames and its frame rate."""
    height, width = ((96, 128), (120, 160))[rng.integers(2)]
    fps = int(rng.choice((24, 25, 30)))
    frames = int(round(_SECONDS * fps))
    background = _smooth_noise(rng, height, width, (int(rng.integers(2, 6)), int(rng.integers(2, 7))))
    colours = rng.uniform(0, 255, (2, 3))
    colours[:, rng.integers(3)] = np.where(background.mean() > 127, 20, 235)  # keep it visible on the background
    kind, turn = ("square", "disc", "dots")[rng.integers(3)], rng.uniform(0, 2 * np.pi)
    t = np.arange(frames) / fps
    base = int(rng.uniform(0.24, 0.34) * height)
    sizes = np.full(frames, base)
    visible = np.ones(frames, bool)
    if label in ("grow", "shrink"):
        small, large = rng.uniform(0.12, 0.18) * height, rng.uniform(0.5, 0.6) * height
        grow = small + (large - small) * t / t[-1]
        sizes = np.round(grow if label == "grow" else grow[::-1]).astype(int)
    if label.startswith("blink"):
        period = 1 / 3 if label == "blink fast" else 1.25
        visible = ((t / period + rng.uniform()) % 1.0) < 0.5
    largest = int(sizes.max())
    # Centre path: uniform start where the whole move fits; still classes stay where they start.
    cy = np.full(frames, rng.uniform(largest / 2, height - largest / 2))
    cx = np.full(frames, rng.uniform(largest / 2, width - largest / 2))
    if label.startswith("move"):
        horizontal = label in ("move left", "move right")
        span = (width if horizontal else height) - largest
        travel = rng.uniform(0.55, 0.8) * span
        start = rng.uniform(largest / 2, largest / 2 + span - travel)
        path = start + travel * t / t[-1]
        if label in ("move left", "move up"):
            path = path[::-1]
        if horizontal:
            cx = path
        else:
            cy = path
    video = np.empty((frames, height, width, 3), np.uint8)
    canvas = background.astype(np.uint8)
    sprites = {size: _sprite_mask(kind, size, turn) for size in set(sizes.tolist())}
    for i in range(frames):
        video[i] = canvas
        if not visible[i]:
            continue
        size = int(sizes[i])
        mask, pattern = sprites[size]
        top, left = int(round(cy[i] - size / 2)), int(round(cx[i] - size / 2))
        top, left = min(max(top, 0), height - size), min(max(left, 0), width - size)
        region = video[i, top:top + size, left:left + size]
        region[mask] = colours[pattern[mask]].astype(np.uint8)
    return video, fps


def render_fast(label: str, rng: np.random.Generator, stride: int = 4) -> tuple[np.ndarray, int]:
    """One video of the ``fast`` family: ``uint8 [T, H, W, 3]`` frames and its frame rate.

    The sprite alternates between two states, A in source frames ``n`` with
    ``((n + phase) // stride) % 2 == 0`` and B in the others: frames ``stride`` apart alternate,
    frames ``2 * stride`` apart agree. Every class draws both states alike (two palettes, two sizes
    in a random order, a place and a jump) and differs only in what B changes (nothing, the place
    sideways or up and down, the palette, the size), so a state seen alone has the same distribution
    in every class.
    """
    height, width = ((96, 128), (120, 160))[rng.integers(2)]
    fps = int(rng.choice((24, 25, 30)))
    frames = int(round(_SECONDS * fps))
    background = _smooth_noise(rng, height, width, (int(rng.integers(2, 6)), int(rng.integers(2, 7))))
    palettes = rng.uniform(0, 255, (2, 2, 3))  # state, pattern colour, RGB
    palettes[:, :, rng.integers(3)] = np.where(background.mean() > 127, 20, 235)  # visible on the background
    kind, turn = ("square", "disc", "dots")[rng.integers(3)], rng.uniform(0, 2 * np.pi)
    small = rng.uniform(0.22, 0.3) * height
    sizes2 = np.round(np.array([small, 1.45 * small] if rng.integers(2) else [1.45 * small, small])).astype(int)
    jump = rng.uniform(0.09, 0.13) * height * (1 if rng.integers(2) else -1)
    state = ((np.arange(frames) + int(rng.integers(2 * stride))) // stride) % 2  # 0: A, 1: B
    changed = state == 1
    sizes = np.where(changed & (label == "pulse"), sizes2[1], sizes2[0])
    dy = np.where(changed & (label == "shake up and down"), jump, 0.0)
    dx = np.where(changed & (label == "shake sideways"), jump, 0.0)
    largest, margin = int(sizes2.max()), abs(jump)
    # the shared slow drift: up to a quarter of the frame's height a second, any direction, kept in the frame
    angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25) * height
    t = np.arange(frames) / fps - _SECONDS / 2
    lo_y, hi_y = largest / 2 + margin, height - largest / 2 - margin
    lo_x, hi_x = largest / 2 + margin, width - largest / 2 - margin
    cy = np.clip(rng.uniform(lo_y, hi_y) + speed * np.sin(angle) * t, lo_y, hi_y) + dy
    cx = np.clip(rng.uniform(lo_x, hi_x) + speed * np.cos(angle) * t, lo_x, hi_x) + dx
    palette_of = np.where(changed & (label == "flicker"), 1, 0)
    video = np.empty((frames, height, width, 3), np.uint8)
    canvas = background.astype(np.uint8)
    sprites = {int(size): _sprite_mask(kind, int(size), turn) for size in sizes2}
    for i in range(frames):
        video[i] = canvas
        size = int(sizes[i])
        mask, pattern = sprites[size]
        top, left = int(round(cy[i] - size / 2)), int(round(cx[i] - size / 2))
        top, left = min(max(top, 0), height - size), min(max(left, 0), width - size)
        region = video[i, top:top + size, left:left + size]
        region[mask] = palettes[palette_of[i]][pattern[mask]].astype(np.uint8)
    return video, fps


def _clip_name(rng: np.random.Generator, taken: set[str]) -> tuple[str, int, int]:
    """A fresh Kinetics-like ``(youtube_id, time_start, time_end)``."""
    while True:
        youtube_id = "".join(rng.choice(list(_ID_CHARS), 11))
        if youtube_id not in taken:
            taken.add(youtube_id)
            start = int(rng.integers(0, 300))
            return youtube_id, start, start + 10


def build_dataset(root: str | Path, per_class: dict[str, int], seed: int = 0, log=print, family: str = "motion",
                  stride: int = 4) -> dict[str, Path]:
    """Write the data set under ``root``: videos, one Kinetics CSV per split, ``labels.txt``.

    ``per_class`` maps a split (``train``, ``val``, ``test``) to videos a class; ``family`` is a key
    of :data:`FAMILIES`; ``stride`` sets the ``fast`` family's period. Returns
    ``{split: annotation CSV}``. Same seed, same bytes.
    """
    classes = FAMILIES[family]
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(f"{name}\n" for name in classes))
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    lists = {}
    for split, count in per_class.items():
        rows = []
        for label in classes:
            for _ in range(count):
                youtube_id, start, end = _clip_name(rng, taken)
                path = root / split / label / f"{youtube_id}_{start:06d}_{end:06d}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                video_rng = np.random.default_rng(rng.integers(2**63))
                frames, fps = render(label, video_rng) if family == "motion" else render_fast(label, video_rng, stride)
                write_video(path, frames, fps=fps)
                rows.append([label, youtube_id, start, end, split])
        rng.shuffle(rows)
        lists[split] = root / "annotations" / SPLITS[split]
        with lists[split].open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writerows(rows)
        log(f"[generalise] {split}: {len(rows)} videos")
    return lists


def _run(cmd: list[str], threads: int) -> float:
    """Run one of the project's commands, niced, with ``threads`` threads; its wall seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    print("[generalise] $", " ".join(cmd[2:]), flush=True)
    start = time.perf_counter()
    subprocess.run(["nice", "-n", "19", *cmd], check=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "runs" / "generalise"), help="folder of the data set and the run")
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--val-per-class", type=int, default=10)
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs (default: the config's)")
    parser.add_argument("--config", default=str(REPO / "experiments" / "tiny32.yaml"))
    parser.add_argument("--seed", type=int, default=0, help="data set seed")
    parser.add_argument("--family", choices=sorted(FAMILIES), default="motion",
                        help="classes: 'motion' (moves, size changes, blinking) or 'fast' (only a dense stream "
                             "separates them; period 2 x the config's data stride)")
    parser.add_argument("--threads", type=int, default=1, help="trainer.threads and OMP threads")
    parser.add_argument("--arch", action="append", default=None,
                        help="'x3d' (the in-space X3D-like point) or an arch.json; repeat for several (default: x3d)")
    parser.add_argument("--seeds", type=seed_list, default=[0], help="train seeds, comma-separated (default: 0)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value",
                        help="recipe overrides for every training (e.g. train.ema_decay=0.995)")
    return parser


def _arch_file(spec: str, out: Path) -> tuple[str, Path]:
    """``(label, arch JSON)`` of one ``--arch``: ``x3d`` is written under ``out``; a path is checked as an arch file."""
    from nni_autotsnet.search_space import load_arch, save_arch, x3d_like_arch
    from nni_autotsnet.search_space.arch import arch_digest

    if spec == "x3d":
        path = out / "x3d_like_tiny32.json"
        save_arch(x3d_like_arch("tiny32", (0.0018, 0.0024)), path, "tiny32", "sparse")
        return "x3d", path
    path = Path(spec).resolve()
    if path.is_dir():
        path = path / ARCH_FILE
    return arch_digest(load_arch(path)[0]), path  # load_arch names the file when it is not an architecture


def main(argv: Sequence[str] | None = None) -> dict:
    """Build (or reuse) the data set; train and evaluate each architecture with each seed; print and return the figures."""
    from nni_autotsnet.config import load_config
    from nni_autotsnet.data.transforms import DATA_PRESETS

    args = _parser().parse_args(argv)
    out = Path(args.out).resolve()
    classes = FAMILIES[args.family]
    stride = DATA_PRESETS[load_config(args.config).data.preset].stride
    family = "" if args.family == "motion" else f"{args.family}{stride}-"
    data = out / f"data-{family}seed{args.seed}-{args.train_per_class}-{args.val_per_class}-{args.test_per_class}"
    per_class = {"train": args.train_per_class, "val": args.val_per_class, "test": args.test_per_class}
    timings = {}
    start = time.perf_counter()
    if not (data / "done").is_file():
        build_dataset(data, per_class, args.seed, family=args.family, stride=stride)
        (data / "done").write_text("")
    timings["data_s"] = time.perf_counter() - start
    lists = {split: data / "annotations" / SPLITS[split] for split in SPLITS}
    archs = [_arch_file(spec, out) for spec in (args.arch or ["x3d"])]
    py = [sys.executable, "-m"]
    overrides = [f"data.train={lists['train']}", f"data.val={lists['val']}", f"data.root={data}",
                 f"data.labels_file={data / 'labels.txt'}", f"data.cache={out / 'frame-cache'}",
                 f"trainer.threads={args.threads}"] + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    overrides += list(args.overrides)
    # a finished run is reused, so its folder names the recipe: other overrides, other runs
    recipe = "-r" + hashlib.sha1(" ".join(args.overrides).encode()).hexdigest()[:8] if args.overrides else ""
    rows = []
    for label, arch in archs:
        for seed in args.seeds:
            run = out / f"run-{data.name}-{label}-s{seed}-e{args.epochs or 'cfg'}{recipe}"
            row = {"arch": label, "arch_file": arch.name if label == "x3d" else str(arch), "seed": seed}
            if not (run / RESULT_FILE).is_file():
                row["train_s"] = _run(py + ["nni_autotsnet.train", "--arch", str(arch), "--config", args.config,
                                            "--out", str(run), *overrides, f"train.seed={seed}"], args.threads)
            row["evaluate_s"] = _run(py + ["nni_autotsnet.evaluate", "--checkpoint", str(run), "--list",
                                           str(lists["test"]), "--out", str(run / "eval_test")], args.threads)
            metrics = json.loads((run / "eval_test" / "metrics.json").read_text())
            result = json.loads((run / RESULT_FILE).read_text())
            row.update(test_top1=metrics["top1"], gflops=result.get("gflops"), num_videos=metrics["num_videos"],
                       views=metrics.get("views"), skipped=metrics.get("skipped"), per_class=metrics.get("per_class"))
            rows.append(row)
            print(f"[generalise] {label}, seed {seed}: test top-1 {100 * metrics['top1']:.1f}% over "
                  f"{metrics['num_videos']} videos (chance {100 / len(classes):.1f}%)", flush=True)
    means = {}
    for label, _ in archs:
        accs = [r["test_top1"] for r in rows if r["arch"] == label]
        means[label] = sum(accs) / len(accs)
        print(f"[generalise] {label}: mean test top-1 {100 * means[label]:.1f}% over seeds {args.seeds} "
              f"({' / '.join(f'{100 * a:.1f}' for a in accs)})")
    figures = {"family": args.family, "classes": list(classes), "stride": stride, "chance": 1 / len(classes),
               "mean_test_top1": means, "runs": rows, "overrides": list(args.overrides),
               **{k: round(v, 1) for k, v in timings.items()}, "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    (out / f"figures{'-' + family.rstrip('-') if family else ''}{recipe}.json").write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
