"""One device check of the GPU path at S scale (issue 13); on CPU at small size for CI.

Usage::

    python benchmarks/device_check.py --device cuda            # the one command to run on a GPU (<= 8 min)
    python benchmarks/device_check.py --device cpu --small     # tiny preset, batch 2, K = 3 (a test runs it)

It prints one markdown report and writes it, with the raw figures as JSON, into ``--out-dir``
(default ``runs/device_check/``):

1. PARSEC's step at K = 13 (small: 3) against K single-architecture steps of the *same*
   architectures (goal: ratio <= 1.1) and its peak memory against the largest single step's
   (goal <= 1.25), NNI's DARTS and RandomOneShot beside it: ``bench_parsec.py``'s measurement,
   on the S preset at batch 8 (small: tiny, batch 2);
2. one architecture's training step in fp32, bf16-mixed and channels_last_3d: time and memory;
3. training throughput (clips/s) and inference latency (batch 1, and the 30 views of
   10-LeftCenterRight) of the space's X3D-S point, pytorchvideo's ``create_x3d`` X3D-S (when
   pytorchvideo is installed) and a random architecture in the S FLOPs window;
4. the loader's clips/s per worker at the preset's crop, on videos the check writes itself, and
   the workers one device needs;
5. what a full search (supplement Table 2: 800 / 400 / 200 epochs, Kinetics-400's 240k training
   videos, K = 13) and one training run (300 epochs) cost, projected from the measured steps,
   on 1, 8 and 32 devices.

Peak memory: ``torch.cuda.max_memory_allocated`` above the allocation before the step on CUDA;
on CPU the process's peak RSS above the RSS before it (``VmHWM``, reset through
``/proc/self/clear_refs``), as in ``bench_parsec.py``. Every GFLOPs figure is multiply-adds per view.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_parsec  # noqa: E402  (its PARSEC / single / DARTS / RandomOneShot measurement is reused)

KINETICS_TRAIN_VIDEOS = 240_000
TABLE2_EPOCHS = {"sparse": 800, "fusion": 400, "all": 200}
TRAIN_EPOCHS = 300
DEVICE_COUNTS = (1, 8, 32)
WINDOWS = {"tiny": (0.0065, 0.0085), "S": (2.4, 2.5), "M": (5.6, 5.9), "L": (21.5, 22.5)}  # experiments/*.yaml
X3D_KW = {"S": dict(input_clip_length=13, input_crop_size=160, depth_factor=2.2),
          "M": dict(input_clip_length=16, input_crop_size=224, depth_factor=2.2),
          "L": dict(input_clip_length=16, input_crop_size=312, depth_factor=5.0)}


# ------------------------------------------------------------------------------------------------
# Timing and memory of one call
# ------------------------------------------------------------------------------------------------
class Meter:
    """Seconds and peak bytes of a callable, after warm-up calls (CUDA synchronised, CPU by RSS)."""

    def __init__(self, device: torch.device):
        self.device = device

    def _base(self) -> int:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return bench_parsec._rss_kib("VmRSS") * 1024

    def _peak(self, base: int) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - base
        return bench_parsec._rss_kib("VmHWM") * 1024 - base

    def __call__(self, fn, steps: int, warmup: int) -> dict:
        for _ in range(warmup):
            fn()
        seconds, peaks = [], []
        for _ in range(steps):
            base = self._base()
            start = time.perf_counter()
            fn()
            peaks.append(self._peak(base))
            seconds.append(time.perf_counter() - start)
        return {"seconds": statistics.median(seconds), "peak_mib": max(peaks) / 2 ** 20}


def _autocast(precision: str, device: torch.device):
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _train_step_fn(model, batch: int, input_shape, classes: int, device, precision: str, channels_last: bool):
    from nni_autotsnet.speed import to_channels_last_3d

    model = model.to(device).train()
    if channels_last:
        to_channels_last_3d(model)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    x = torch.randn(batch, *input_shape, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        with _autocast(precision, device):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def _infer_fn(model, batch: int, input_shape, device, precision: str):
    model = model.to(device).eval()
    x = torch.randn(batch, *input_shape, device=device)

    def infer():
        with torch.no_grad(), _autocast(precision, device):
            model(x)

    return infer


# ------------------------------------------------------------------------------------------------
# The models
# ------------------------------------------------------------------------------------------------
def _models(preset: str, classes: int, seed: int = 0):
    """``{name: (builder, input_shape, gflops or None)}``: the X3D point, pytorchvideo's X3D, a random in-window arch."""
    from nni_autotsnet.models import build_model
    from nni_autotsnet.search_space import CostModel, TwoStreamSpace, load_preset, make_layout, x3d_like_arch

    models: dict = {}
    x3d = x3d_like_arch(preset)
    sparse = make_layout(load_preset(preset), "sparse")
    shape = TwoStreamSpace.from_preset(preset, parts="sparse").input_shape
    models["space X3D point (sparse)"] = (lambda: build_model(preset, x3d, parts="sparse", num_classes=classes),
                                          shape, CostModel(sparse, classes).flops(x3d) / 1e9)
    notes = []
    if preset in X3D_KW:
        try:
            from pytorchvideo.models.x3d import create_x3d
        except ImportError:
            notes.append("pytorchvideo is not installed: its create_x3d column is skipped "
                         "(`pip install --no-deps pytorchvideo==0.1.5`).")
        else:
            models["pytorchvideo create_x3d"] = (lambda: create_x3d(model_num_class=classes, **X3D_KW[preset]),
                                                 shape, None)
    else:
        notes.append(f"pytorchvideo's X3D has no {preset!r} size: its column is for S, M and L.")
    layout = make_layout(load_preset(preset), "all")
    cost = CostModel(layout, classes)
    lo, hi = WINDOWS.get(preset, (0.0, math.inf))
    rng = np.random.default_rng(seed)
    variables = layout.variables()
    best, best_gap = None, math.inf
    for _ in range(3000):
        arch = {label: v.options[rng.integers(len(v.options))] for label, v in variables.items()}
        g = cost.flops(arch) / 1e9
        gap = max(lo - g, 0.0, g - hi)
        if gap < best_gap:
            best, best_gap = (arch, g), gap
        if gap == 0:
            break
    arch, g = best
    all_shape = TwoStreamSpace.from_preset(preset, parts="all").input_shape
    models["random in-window arch (all)"] = (lambda: build_model(preset, arch, parts="all", num_classes=classes),
                                             all_shape, g)
    if best_gap > 0:
        notes.append(f"no random architecture of 3000 fell in the window [{lo}, {hi}] GFLOPs; the closest is used.")
    return models, notes, (lo, hi)


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------
def section_precision_only(argv: list[str]) -> int:
    """``--precision-only``: section 2 alone at a given preset and batch (a quick look on CPU at S size)."""
    parser = argparse.ArgumentParser(prog="python benchmarks/device_check.py --precision-only")
    parser.add_argument("--preset", default="S")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)  # a mistyped flag stops here instead of being ignored
    args.warmup, args.classes = 1, 400
    torch.set_num_threads(1)
    rows = section_precision(args, torch.device(args.device))
    for name, r in rows.items():
        print(f"{args.preset} batch {args.batch} {name}: {r['seconds']:.3f} s ({r['time_vs_fp32']:.2f}x), "
              f"peak {r['peak_mib']:.0f} MiB ({r['memory_vs_fp32']:.2f}x)", flush=True)
    return 0


def section_parsec(args) -> dict:
    ns = argparse.Namespace(device=args.device, batch=args.batch, steps=args.steps, warmup=args.warmup,
                            threads=args.threads, parts="all", preset=args.preset, ks=[args.k],
                            cost_term=False, in_process=args.small)
    return bench_parsec.benchmark(ns)


def section_precision(args, device) -> dict:
    from nni_autotsnet.models import build_model
    from nni_autotsnet.search_space import TwoStreamSpace, x3d_like_arch

    meter, rows = Meter(device), {}
    shape = TwoStreamSpace.from_preset(args.preset, parts="sparse").input_shape
    configs = [("fp32", "32-true", False), ("bf16-mixed", "bf16-mixed", False),
               ("channels_last_3d", "32-true", True), ("bf16-mixed + channels_last_3d", "bf16-mixed", True)]
    for name, precision, channels_last in configs:
        torch.manual_seed(0)
        model = build_model(args.preset, x3d_like_arch(args.preset), parts="sparse", num_classes=args.classes)
        fn = _train_step_fn(model, args.batch, shape, args.classes, device, precision, channels_last)
        rows[name] = meter(fn, args.steps, args.warmup)
        del model, fn
    base = rows["fp32"]
    for row in rows.values():
        row["time_vs_fp32"] = row["seconds"] / base["seconds"]
        # below 1 MiB the CPU's RSS does not resolve a step's peak (tiny preset): no ratio
        row["memory_vs_fp32"] = row["peak_mib"] / base["peak_mib"] if base["peak_mib"] >= 1 else float("nan")
    return rows


def section_models(args, device) -> dict:
    models, notes, window = _models(args.preset, args.classes)
    meter, rows = Meter(device), {}
    views = 30 if not args.small else 4  # 10-LeftCenterRight; small: 4 views
    for name, (builder, shape, gflops) in models.items():
        for precision in ("32-true", "bf16-mixed"):
            torch.manual_seed(0)
            model = builder()
            train = meter(_train_step_fn(model, args.batch, shape, args.classes, device, precision, False),
                          args.steps, args.warmup)
            one = meter(_infer_fn(model, 1, shape, device, precision), args.steps, args.warmup)
            many = meter(_infer_fn(model, views, shape, device, precision), args.steps, args.warmup)
            rows[f"{name} / {precision}"] = {
                "model": name, "precision": precision, "gflops": gflops, "input": list(shape),
                "train_clips_per_s": args.batch / train["seconds"], "train_peak_mib": train["peak_mib"],
                "latency_1_ms": one["seconds"] * 1e3, f"latency_{views}_views_ms": many["seconds"] * 1e3,
                "views": views}
            del model
    return {"rows": rows, "notes": notes, "window": list(window)}


def section_loader(args) -> dict:
    """clips/s of one worker at the preset's training crop on videos written here (PyAV decoding, no mock)."""
    from torch.utils.data import DataLoader

    from nni_autotsnet.data import get_preset, make_dataset, write_video

    data = get_preset(args.preset)
    frames = data.num_frames * data.stride + 8
    short = data.jitter[1]
    height, width = short + short % 2, (short * 4 // 3) + (short * 4 // 3) % 2
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(args.videos):
            t = np.arange(frames)[:, None, None]
            base = (np.sin((xx[None] + 7 * t * (1 + i % 3)) / 9.0) + np.cos(yy[None] / 13.0)) * 60 + 128
            video = np.repeat(base[..., None], 3, axis=-1) + rng.normal(0, 8, (frames, height, width, 3))
            path = Path(tmp) / f"v{i}.mp4"
            write_video(path, np.clip(video, 0, 255).astype(np.uint8), fps=30)
            rows.append(f"{path.name},c{i % 2}")
        (Path(tmp) / "train.csv").write_text("\n".join(rows) + "\n")
        dataset = make_dataset(str(Path(tmp) / "train.csv"), split="train", preset=args.preset)
        loader = DataLoader(dataset, batch_size=1, num_workers=1, shuffle=False)
        times, start = [], None
        for epoch in range(args.loader_epochs):
            for i, _ in enumerate(loader):
                now = time.perf_counter()
                if epoch == 0 and i == 0:  # the worker's start-up
                    start = now
                    continue
            times.append(time.perf_counter())
        clips = args.loader_epochs * len(dataset) - 1
        seconds = times[-1] - start
    return {"clips_per_s_per_worker": clips / seconds, "videos": args.videos, "video_size": [frames, height, width],
            "clip": [data.num_frames, data.stride, data.crop]}


def cost_table(report: dict, args) -> dict:
    """Device-hours and wall-clock hours of the full search and one training run, projected from the steps."""
    k = report["parsec"]["k"].get(args.k, {})
    if "parsec_step_s" not in k:
        return {"error": "no PARSEC step time was measured"}
    # seconds of PARSEC per training clip at K = 13: the step is about K single steps, so a step at a
    # smaller K is scaled by 13 / K
    parsec_clip_s = k["parsec_step_s"] / args.batch * (13 / args.k)
    x3d = report["models"]["rows"].get("space X3D point (sparse) / 32-true")
    train_clip_s = 1.0 / x3d["train_clips_per_s"]
    per_worker = report["loader"]["clips_per_s_per_worker"]
    search_clips = sum(TABLE2_EPOCHS.values()) * KINETICS_TRAIN_VIDEOS
    train_clips = TRAIN_EPOCHS * KINETICS_TRAIN_VIDEOS
    rows = []
    for what, clips, clip_s in (("full search (Table 2: 800 + 400 + 200 epochs, K = 13)", search_clips, parsec_clip_s),
                                ("one training run (300 epochs, X3D point)", train_clips, train_clip_s)):
        device_hours = clips * clip_s / 3600
        for n in DEVICE_COUNTS:
            rows.append({"what": what, "devices": n, "device_hours": device_hours, "wall_hours": device_hours / n,
                         "workers_per_device": max(1, math.ceil((1 / clip_s) / per_worker))})
    return {"rows": rows, "parsec_s_per_clip": parsec_clip_s, "train_s_per_clip": train_clip_s,
            "projected_from": f"{args.preset} preset, batch {args.batch}, K = {args.k}, {args.device}"}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def markdown(report: dict, args) -> str:
    unit = "GPU" if args.device == "cuda" else "CPU"
    out = [f"# Device check ({'small, ' if args.small else ''}{args.device})", "",
           f"Machine: {report['machine']}. Preset {args.preset}, batch {args.batch}, K = {args.k}, "
           f"{args.steps} measured steps after {args.warmup} warm-up. GFLOPs are multiply-adds per view.", "",
           "## PARSEC step against K single-architecture steps (same architectures)", "",
           bench_parsec.markdown(report["parsec"]), ""]
    k = report["parsec"]["k"].get(args.k, {})
    if "time_ratio" in k:
        out += [f"Goals: time ratio {k['time_ratio']:.2f}x (goal <= 1.1: {'met' if k['time_ratio'] <= 1.1 else 'NOT met'}), "
                f"peak ratio {k['peak_ratio']:.2f}x (goal <= 1.25: {'met' if k['peak_ratio'] <= 1.25 else 'NOT met'}).", ""]
    out += ["## Precision and memory layout: one training step of the X3D point", "",
            "| configuration | step (s) | vs fp32 | peak (MiB) | vs fp32 |", "|---|---|---|---|---|"]
    for name, r in report["precision"].items():
        memory = "-" if math.isnan(r["memory_vs_fp32"]) else f"{r['memory_vs_fp32']:.2f}x"
        out.append(f"| {name} | {r['seconds']:.4f} | {r['time_vs_fp32']:.2f}x | {r['peak_mib']:.1f} | {memory} |")
    models = report["models"]
    views = next(iter(models["rows"].values()))["views"]
    out += ["", "## Throughput and latency", "",
            f"| model | precision | GFLOPs (multiply-adds) per view | train clips/s (batch {args.batch}) | latency batch 1 (ms) | "
            f"latency {views} views (ms) |", "|---|---|---|---|---|---|"]
    for r in models["rows"].values():
        g = "-" if r["gflops"] is None else f"{r['gflops']:.4g}"
        out.append(f"| {r['model']} | {r['precision']} | {g} | {r['train_clips_per_s']:.2f} | "
                   f"{r['latency_1_ms']:.1f} | {r[f'latency_{views}_views_ms']:.1f} |")
    out += [f"\n{n}" for n in models["notes"]]
    loader = report["loader"]
    x3d = models["rows"]["space X3D point (sparse) / 32-true"]["train_clips_per_s"]
    out += ["", "## Loader", "",
            f"{loader['clips_per_s_per_worker']:.2f} clips/s per worker (clips of {loader['clip'][0]} frames, stride "
            f"{loader['clip'][1]}, crop {loader['clip'][2]}, from {loader['videos']} H.264 videos of "
            f"{'x'.join(map(str, loader['video_size']))} written by the check); the X3D point trains at {x3d:.2f} clips/s "
            f"in fp32, so one {unit} needs {max(1, math.ceil(x3d / loader['clips_per_s_per_worker']))} worker(s)."]
    cost = report["cost"]
    out += ["", f"## What a full search costs (projected from {cost.get('projected_from', '-')})", ""]
    if "error" in cost:
        out.append(cost["error"])
    else:
        out += [f"PARSEC: {cost['parsec_s_per_clip'] * 1e3:.2f} ms per training clip at K = 13; training: "
                f"{cost['train_s_per_clip'] * 1e3:.2f} ms per clip; Kinetics-400 {KINETICS_TRAIN_VIDEOS:,} videos. "
                "Perfect scaling across devices is assumed (DDP overhead not measured).", "",
                f"| run | {unit}s | {unit}-hours | wall-clock hours | loader workers per {unit} |", "|---|---|---|---|---|"]
        for r in cost["rows"]:
            out.append(f"| {r['what']} | {r['devices']} | {r['device_hours']:,.0f} | {r['wall_hours']:,.1f} | "
                       f"{r['workers_per_device']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    if "--precision-only" in (sys.argv[1:] if argv is None else argv):
        return section_precision_only([a for a in (sys.argv[1:] if argv is None else argv) if a != "--precision-only"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--small", action="store_true", help="tiny preset, batch 2, K = 3, few steps (CPU CI)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/device_check"))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = parser.parse_args(argv)
    if args.device == "cpu" and argv is None and any(os.environ.get(k) != v for k, v in bench_parsec.MALLOC_ENV.items()):
        # CPU peaks are RSS: glibc must hand large blocks back, which it only learns at start-up
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **bench_parsec.MALLOC_ENV})
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    small = dict(preset="tiny", batch=2, k=3, steps=2, warmup=1, videos=3, loader_epochs=2, classes=10)
    full = dict(preset="S", batch=8, k=13, steps=3, warmup=2, videos=6, loader_epochs=2, classes=400)
    for key, value in (small if args.small else full).items():
        setattr(args, key, value)
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    started = time.perf_counter()
    report: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    report["parsec"] = section_parsec(args)
    report["machine"] = report["parsec"]["machine"]
    report["precision"] = section_precision(args, device)
    report["models"] = section_models(args, device)
    report["loader"] = section_loader(args)
    report["cost"] = cost_table(report, args)
    report["seconds"] = time.perf_counter() - started
    text = markdown(report, args) + f"\n\n(The check ran {report['seconds']:.0f} s.)\n"
    print(text, flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    name = f"device_check_{args.device}{'_small' if args.small else ''}"
    (args.out_dir / f"{name}.md").write_text(text)
    (args.out_dir / f"{name}.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"written: {args.out_dir / name}.md, .json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
