"""F_lat(A) against the measured latency of the built network, for random architectures, in one run.

Profiles the preset on this machine (or continues / reuses ``--table``), then for ``--archs``
random architectures of the whole space (parts=all; ``--parts`` for another) builds the plain
network, measures its end-to-end latency (inference, batch and threads of the table) and prints
predicted beside measured, the mean absolute percentage error, Kendall's tau (scipy) and the time of
one F_lat(A). Timings are noisy when other processes share the machine: say so with the figures.

    python benchmarks/bench_latency.py --preset tiny --threads 1 --table runs/latency/tiny-cpu1.json
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import timeit
from pathlib import Path

import torch
from scipy.stats import kendalltau

from nni_autotsnet.latency import load_latency_model, make_meta, model_ms, profile
from nni_autotsnet.models import build_model
from nni_autotsnet.search_space import load_preset, make_layout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--parts", default="all", choices=["sparse", "fusion", "all"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--archs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--passes", type=int, default=3, help="measurements of each network, median taken")
    p.add_argument("--table", type=Path, help="latency table (profiled here first if missing or unfinished)")
    p.add_argument("--csv", type=Path, help="write the per-architecture rows here")
    args = p.parse_args()

    preset = load_preset(args.preset)
    table_path = args.table or Path(f"runs/latency/{preset.name}-{args.device}{args.threads}-b{args.batch}.json")
    table_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = profile(preset, table_path, device=args.device, threads=args.threads, batch=args.batch)
    print(f"table {table_path}: {len(table['units'])} units, {table['seconds']:.0f} s of profiling in all "
          f"({time.perf_counter() - t0:.0f} s in this run); call {table['call_ms'] * 1e3:.1f} us, "
          f"glue {({k: round(v, 4) for k, v in table['glue_ms'].items()})} ms")
    meta = make_meta(preset, args.device, args.threads, args.batch, clock=table["meta"]["clock"])
    predictor = load_latency_model(table_path, preset, args.parts, expect={
        k: meta[k] for k in ("device", "device_name", "threads", "batch", "torch", "clock")})
    layout = make_layout(preset, args.parts)
    rng = random.Random(args.seed)
    archs = [{label: rng.choice(v.options) for label, v in layout.variables().items()} for _ in range(args.archs)]
    models = [build_model(preset, arch, parts=args.parts) for arch in archs]
    # round robin: every pass measures every network once, and each network's figure is its median over
    # the passes, so a change in the machine's load during the run shifts all networks alike
    passes: list[list[tuple[float, float]]] = [[] for _ in archs]
    for n in range(args.passes):
        for i, model in enumerate(models):
            passes[i].append((model_ms(model, preset.input_shape, args.device, args.threads, args.batch,
                                       clock=meta["clock"]),
                              model_ms(model, preset.input_shape, args.device, args.threads, args.batch,
                                       clock="wall")))
        print(f"pass {n + 1}/{args.passes} done", flush=True)
    rows, walls = [], []
    for i, arch in enumerate(archs):
        measured = statistics.median(m for m, _ in passes[i])
        wall = statistics.median(w for _, w in passes[i])
        predicted = predictor.latency(arch)
        rows.append((predicted, measured))
        walls.append(wall)
        print(f"arch {i:2d}: predicted {predicted:7.3f} ms  measured {measured:7.3f} ms  "
              f"({100 * (predicted - measured) / measured:+6.1f}%)  wall clock {wall:7.3f} ms", flush=True)
    errors = [abs(p - m) / m for p, m in rows]
    tau = kendalltau([p for p, _ in rows], [m for _, m in rows]).statistic
    us = min(timeit.repeat(lambda: [predictor.latency(a) for a in archs], number=10, repeat=5)) / 10 / len(archs) * 1e6
    print(f"\n{preset.name} parts={args.parts}, {meta['device']} ({meta['device_name']}), {args.threads} threads, "
          f"batch {args.batch}, torch {torch.__version__}, {meta['clock']} clock, {len(rows)} random architectures:")
    print(f"  MAE {100 * statistics.mean(errors):.1f}% (median {100 * statistics.median(errors):.1f}%, "
          f"max {100 * max(errors):.1f}%), Kendall tau {tau:.3f}; measured {min(m for _, m in rows):.2f}"
          f"-{max(m for _, m in rows):.2f} ms; F_lat(A) {us:.2f} us")
    if meta["clock"] != "wall":
        wall_err = [abs(p - w) / w for (p, _), w in zip(rows, walls)]
        print(f"  against wall-clock time on this (shared) machine: MAE {100 * statistics.mean(wall_err):.1f}%, "
              f"Kendall tau {kendalltau([p for p, _ in rows], walls).statistic:.3f}")
    if args.csv:
        import pandas as pd
        pd.DataFrame([{**a, "predicted_ms": p, "measured_ms": m, "wall_ms": w}
                      for a, (p, m), w in zip(archs, rows, walls)]).to_csv(
            args.csv, index=False)


if __name__ == "__main__":
    main()
