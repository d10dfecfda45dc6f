"""What each speed change of the benchmark's recipe buys: one training epoch, measured side by side.

    python benchmarks/bench_cache.py --benchmark runs/benchmark [--cache runs/frame-cache] [--videos 240]

Runs one epoch (the first ``--videos`` training videos, batch 16, one process, ``--threads``
torch threads) of the in-space X3D-like model for three settings, each from the same seed:
decoding every clip at 64 px (preset tiny, the old recipe), decoding at 32 px (tiny32), and
reading the decoded-frame cache at 32 px; prints clips/s and the ratios. The cache is built
first if missing (its build time is printed separately: it is paid once).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from nni_autotsnet.data import make_dataset
from nni_autotsnet.models import build_model
from nni_autotsnet.search_space import x3d_like_arch


def epoch(preset: str, bench: Path, videos: int, cache: str | None, batch: int) -> float:
    """Seconds for one training epoch over the first ``videos`` training videos."""
    data = make_dataset(bench / "train.csv", split="train", preset=preset, labels_file=str(bench / "labels.txt"),
                        hflip=False, autoaugment=False, cache=cache)
    loader = DataLoader(Subset(data, range(min(videos, len(data)))), batch_size=batch, shuffle=True)
    torch.manual_seed(0)
    model = build_model(preset, x3d_like_arch(preset), parts="sparse", num_classes=data.num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for clips, labels in loader:
        loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="runs/benchmark", help="benchmark folder (make-benchmark)")
    parser.add_argument("--cache", default="runs/frame-cache", help="frame cache folder")
    parser.add_argument("--videos", type=int, default=240)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bench = Path(args.benchmark)
    start = time.perf_counter()
    make_dataset(bench / "train.csv", split="train", preset="tiny32", labels_file=str(bench / "labels.txt"),
                 cache=args.cache)
    print(f"frame cache ready in {time.perf_counter() - start:.1f} s (built once; 0 if it existed)")
    print(f"{platform.machine()}, {torch.get_num_threads()} torch threads, batch {args.batch}, "
          f"{args.videos} videos, X3D-like model, decoding in the training process")
    rows = {"tiny (64 px), decoding": epoch("tiny", bench, args.videos, None, args.batch),
            "tiny32 (32 px), decoding": epoch("tiny32", bench, args.videos, None, args.batch),
            "tiny32 (32 px), frame cache": epoch("tiny32", bench, args.videos, args.cache, args.batch)}
    base = next(iter(rows.values()))
    print("| setting | epoch (s) | clips/s | speed-up over the first |\n|---|---|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.1f} | {args.videos / seconds:.1f} | {base / seconds:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
