"""Decode throughput: the project's PyAV loader against a naive decode-all-then-slice and torchcodec.

A training clip is 16 frames with stride 4 (64 source frames) from a 10-second H.264 video. Each
method opens the file, decodes and returns RGB ``uint8`` frames of the clip, as a dataset's
``__getitem__`` does; every method gets the same videos and clip starts, in interleaved rounds,
single-threaded (DataLoader workers are the parallelism). Then the full training dataloader
(decode + transforms) with 2 workers on the tiny and S presets.

    python benchmarks/bench_decode.py                  # all figures (about 2-3 minutes on 2 cores)
    python benchmarks/bench_decode.py --no-dataloader  # decode only

torchcodec is measured when it imports (it needs FFmpeg's shared libraries on the system);
otherwise its row says why it was left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Sequence

import av
import numpy as np
import torch

from nni_autotsnet.data import VideoReader, make_dataset, write_video
from nni_autotsnet.data.annotations import write_video_list

NUM_FRAMES, STRIDE = 16, 4
SPAN = (NUM_FRAMES - 1) * STRIDE + 1


def make_videos(out: Path, count: int, seconds: float, fps: int, gop: int, size=(256, 340)) -> list[Path]:
    """10-second, Kinetics-sized H.264 videos of a moving smooth texture (costly enough to decode)."""
    out.mkdir(parents=True, exist_ok=True)
    height, width = size
    paths = []
    for v in range(count):
        path = out / f"video{v}_gop{gop}.mp4"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(v)
        texture = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
        texture = np.kron(texture, np.ones((8, 8, 1), np.uint8))[:height, : width * 2 // 2]
        big = np.concatenate([texture, texture[:, ::-1]], axis=1)
        n = int(seconds * fps)
        frames = np.stack([np.roll(big, 3 * i, axis=1)[:, :width] for i in range(n)])
        write_video(path, frames, fps=fps, keyframe_interval=gop, options={"x264-params": "mbtree=0:scenecut=0"})
    return paths


def clip_loader(path: Path, start: int) -> np.ndarray:
    with VideoReader(path) as reader:
        times = (start + STRIDE * np.arange(NUM_FRAMES)) / reader.info.fps
        return reader.frames_at(times).frames


def clip_naive(path: Path, start: int) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return np.stack(frames)[start : start + SPAN : STRIDE]


def clip_torchcodec(path: Path, start: int) -> np.ndarray:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(path), seek_mode="approximate", num_ffmpeg_threads=1, dimension_order="NHWC")
    return decoder.get_frames_at(indices=list(range(start, start + SPAN, STRIDE))).data.numpy()


def torchcodec_status() -> str | None:
    """``None`` when torchcodec decodes here, else why not."""
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure means "not here"
        return f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return None


def bench_decoders(paths: Sequence[Path], num_frames: int, rounds: int, methods: dict) -> dict[str, float]:
    """Clips per second of each method on the same (video, start) pairs, interleaved by round."""
    rng = np.random.default_rng(0)
    jobs = [(p, int(rng.integers(0, num_frames - SPAN + 1))) for _ in range(rounds) for p in paths]
    reference = {name: fn(*jobs[0]) for name, fn in methods.items()}  # warm-up and agreement
    first = next(iter(reference.values()))
    for name, frames in reference.items():
        assert frames.shape == first.shape, (name, frames.shape)
        assert np.abs(frames.astype(int) - first).mean() < 2.0, f"{name} decoded other frames"
    elapsed = dict.fromkeys(methods, 0.0)
    for job in jobs:
        for name, fn in methods.items():
            start = time.perf_counter()
            fn(*job)
            elapsed[name] += time.perf_counter() - start
    return {name: len(jobs) / seconds for name, seconds in elapsed.items()}


def bench_dataloader(paths: Sequence[Path], preset: str, workers: int, batches: int, batch_size: int = 8) -> float:
    """Training clips per second through make_dataset + DataLoader (decode, jitter, crop, AutoAugment)."""
    list_file = paths[0].parent / "bench_list.csv"
    write_video_list(list_file, [(p.name, 0) for p in paths])
    dataset = make_dataset(str(list_file), split="train", preset=preset)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=batch_size * (batches + 2))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, sampler=sampler)
    iterator = iter(loader)
    next(iterator), next(iterator)  # workers started and warm
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores visible, Python {platform.python_version()}, PyAV {av.__version__}, torch {torch.__version__}"


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/nni_autotsnet_bench_decode", help="folder for the generated videos")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--gops", type=int, nargs="+", default=[60, 250], help="keyframe intervals (frames); 250 is x264's default")
    parser.add_argument("--rounds", type=int, default=5, help="clips per video per method")
    parser.add_argument("--no-dataloader", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict = {"machine": machine(), "decode": {}, "dataloader": {}}
    print(results["machine"])
    methods = {"loader": clip_loader, "naive": clip_naive}
    status = torchcodec_status()
    if status is None:
        methods["torchcodec"] = clip_torchcodec
    else:
        results["torchcodec"] = f"not measured: {status}"
        print(f"torchcodec {results['torchcodec']}")
    num_frames = int(args.seconds * args.fps)
    for gop in args.gops:
        paths = make_videos(Path(args.out), args.videos, args.seconds, args.fps, gop)
        rates = bench_decoders(paths, num_frames, args.rounds, methods)
        results["decode"][f"gop{gop}"] = rates
        cells = ", ".join(f"{k} {v:.1f} clips/s" for k, v in rates.items())
        print(f"keyframe every {gop} frames: {cells}; loader / naive = {rates['loader'] / rates['naive']:.2f}x")
    if not args.no_dataloader:
        paths = make_videos(Path(args.out), args.videos, args.seconds, args.fps, args.gops[0])
        for preset in ("tiny", "S"):
            rate = bench_dataloader(paths, preset, args.workers, args.batches)
            results["dataloader"][preset] = rate
            print(f"dataloader, preset {preset}, {args.workers} workers: {rate:.1f} clips/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
