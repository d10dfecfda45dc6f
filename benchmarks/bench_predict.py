"""Predict speed on CPU: a batch of views against one view at a time, and ONNX Runtime against PyTorch eager.

For the tiny space's default network (an export) and the X3D-S point (the S space's sparse stream
at X3D-S), side by side in one run, on mp4 videos written here (the data preset's test size, 3 s):

* ``predict`` clips per second, model time only and end to end (decode + views + model), with
  ``--batch`` = all of a video's views against ``--batch 1`` (rounds interleaved);
* latency at batch 1: ONNX Runtime (CPU provider, as many threads as torch) against PyTorch eager,
  median of ``--runs`` calls each after warm-up, calls interleaved.

    python benchmarks/bench_predict.py [--threads 1] [--runs 30] [--out bench_predict.json]

Weights are random (speed does not depend on them). The machine is shared, so absolute figures move;
the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nni_autotsnet.checkpoint import input_spec, load_checkpoint
from nni_autotsnet.data import get_preset, write_video
from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.onnx_export import OnnxModel, export_onnx, onnx_metadata
from nni_autotsnet.prediction import Predictor
from nni_autotsnet.rundir import MODEL_FILE, ONNX_FILE
from nni_autotsnet.search_space import TwoStreamSpace, load_preset, make_layout
from nni_autotsnet.search_space.flops import fvcore_flops

# (name, space preset, parts, arch, data preset, views, videos)
MODELS = {
    "tiny": ("tiny", "all", lambda: make_layout(load_preset("tiny"), "all").defaults(), "tiny", "4-Center", 6),
    "X3D-S": ("S", "sparse", lambda: TwoStreamSpace.from_preset("S", parts="sparse").x3d_arch(), "S", "4-Center", 2),
}


def _videos(folder: Path, preset, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    side = preset.test_size + preset.test_size % 2
    paths = []
    for i in range(count):
        frames = rng.integers(0, 256, (75, side, side * 4 // 3 // 2 * 2, 3), dtype=np.uint8)
        write_video(folder / f"{i}.mp4", frames, fps=25)
        paths.append(folder / f"{i}.mp4")
    return paths


def _median_ms(fn, x, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench(name: str, folder: Path, runs: int, rounds: int) -> dict:
    preset, parts, arch_fn, data_preset, views, count = MODELS[name]
    arch = arch_fn()
    model = build_model(preset, arch, parts=parts, num_classes=load_preset(preset).num_classes)
    out = folder / name
    out.mkdir()
    save_exported(out / MODEL_FILE, preset=preset, parts=parts, num_classes=load_preset(preset).num_classes,
                  arch=arch, state_dict=model.state_dict(), inherited_weights=False, data_preset=data_preset,
                  views=views)
    model, info = load_checkpoint(out / MODEL_FILE)
    spec = input_spec(info, out / MODEL_FILE)
    shape = tuple(load_preset(preset).input_shape)
    export_onnx(model, out / ONNX_FILE, shape, onnx_metadata(info, spec))
    videos = _videos(out, get_preset(data_preset), count)
    predictors = {"batch of views": Predictor.load(out), "one view at a time": Predictor.load(out, batch=1)}
    wall = {k: 0.0 for k in predictors}
    for p in predictors.values():
        p(videos[0])  # warm-up
        p.model_seconds, p.clips = 0.0, 0
    for _ in range(rounds):
        for key, p in predictors.items():
            start = time.perf_counter()
            for v in videos:
                p(v)
            wall[key] += time.perf_counter() - start
    row = {"model": name, "GFLOPs per view (multiply-adds)": fvcore_flops(model, shape)[0] / 1e9,
           "views": spec.protocol, "videos": count * rounds}
    for key, p in predictors.items():
        row[f"model clips/s, {key}"] = p.clips / p.model_seconds
        row[f"end-to-end clips/s, {key}"] = p.clips / wall[key]
    row["ratio model clips/s, batch / one"] = row["model clips/s, batch of views"] / row["model clips/s, one view at a time"]
    row["ratio end-to-end, batch / one"] = (row["end-to-end clips/s, batch of views"]
                                           / row["end-to-end clips/s, one view at a time"])
    ort_model, x = OnnxModel(out / ONNX_FILE), torch.randn(1, *shape)
    with torch.no_grad():
        for _ in range(3):
            model(x), ort_model(x)
        eager, ort = [], []
        for _ in range(runs):  # interleaved, so both see the same load
            eager.append(_median_ms(model, x, 1))
            ort.append(_median_ms(ort_model, x, 1))
    row["eager ms (batch 1)"], row["ONNX Runtime ms (batch 1)"] = statistics.median(eager), statistics.median(ort)
    row["ratio eager / ONNX Runtime"] = row["eager ms (batch 1)"] / row["ONNX Runtime ms (batch 1)"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (1: the machine is shared)")
    parser.add_argument("--runs", type=int, default=30, help="batch-1 latency calls per backend (X3D-S: a fifth)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the videos per batch setting")
    parser.add_argument("--models", default="tiny,X3D-S")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.append(bench(name, Path(tmp), args.runs if name == "tiny" else max(3, args.runs // 5), args.rounds))
            print(json.dumps(rows[-1], indent=1), flush=True)
    meta = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "threads": args.threads,
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
    print(json.dumps(meta))
    for r in rows:
        print(f"{r['model']}: predict {r['model clips/s, batch of views']:.1f} vs {r['model clips/s, one view at a time']:.1f}"
              f" clips/s in the model (batch of views / one at a time {r['ratio model clips/s, batch / one']:.2f}x; "
              f"end to end {r['end-to-end clips/s, batch of views']:.1f} vs {r['end-to-end clips/s, one view at a time']:.1f},"
              f" {r['ratio end-to-end, batch / one']:.2f}x); batch 1: eager {r['eager ms (batch 1)']:.1f} ms, ONNX Runtime "
              f"{r['ONNX Runtime ms (batch 1)']:.1f} ms ({r['ratio eager / ONNX Runtime']:.2f}x)")
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
