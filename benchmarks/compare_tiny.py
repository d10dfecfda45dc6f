"""The comparison that says whether the search is worth running (supplement Fig. 2, tiny preset, CPU).

The PARSEC-searched architecture (a search directory's ``arch.json``, e.g. the main job's best
in-window trial), the best of N random architectures in the same FLOPs window (NNI's Random
strategy, each trained once; the best by validation accuracy), and the in-space X3D-like baseline
at the same budget: each trained from scratch with the same recipe for every seed and evaluated
on the test split with the same views; then the report.

    python benchmarks/compare_tiny.py --searched runs/demo/export/arch.json [--seeds 0,1,2] [--random 16]

Writes ``runs/compare-tiny/`` (one training run per model and seed, ``random/``, ``report/``).
GFLOPs are multiply-adds per view.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from nni_autotsnet.config import load_config
from nni_autotsnet.evaluate import evaluate
from nni_autotsnet.report import main as report_main
from nni_autotsnet.search_space import infer_parts, load_arch, x3d_like_arch
from nni_autotsnet.training import train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searched", required=True, help="arch.json of the searched model")
    parser.add_argument("--config", default="experiments/random_tiny.yaml")
    parser.add_argument("--out", default="runs/compare-tiny")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--random", type=int, default=16, help="random architectures (each trained once)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()

    random_out = out / "random"
    rand_overrides = [*args.overrides, f"random.output={random_out.resolve()}", f"random.num_archs={args.random}"]
    config = load_config(args.config, rand_overrides)
    if not (random_out / "random.csv").exists():
        from nni_autotsnet.random_search import run_random_search
        run_random_search(config, args.config, rand_overrides)
    table = pd.read_csv(random_out / "random.csv")
    best_random = Path(table.sort_values("val_acc", ascending=False).iloc[0]["run"])
    print(f"best of {len(table)} random architectures: {best_random} ({table['val_acc'].max():.3f} val acc)")

    searched, _, _ = load_arch(args.searched)
    models = {
        "searched": (searched, infer_parts(searched)),
        "random": (load_arch(best_random / "arch.json")[0], config.random.parts),
        "x3d": (x3d_like_arch(config.preset, config.search.flops_window), "sparse"),
    }
    for run in sorted((random_out / "runs").iterdir()):  # every random architecture on the same test views
        if not any(run.glob("eval_*/metrics.json")):
            evaluate(run)
    for label, (arch, parts) in models.items():
        for seed in seeds:
            run = out / f"{label}_seed{seed}"
            if label == "random" and seed == config.train.seed:
                continue  # the random search already trained the best one with this seed
            if not (run / "result.json").exists():
                seeded = load_config(args.config, [*args.overrides, f"train.seed={seed}"])
                train(seeded, arch, seeded.preset, parts, run, label=label)
            if not any(run.glob("eval_*/metrics.json")):
                evaluate(run)
    report_main([str(out), "--out", str(out / "report")])
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
