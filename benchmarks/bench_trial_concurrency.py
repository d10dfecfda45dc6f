"""Should the main job run its two trials one after another (2 torch threads) or side by side (1 each)?

    python benchmarks/bench_trial_concurrency.py [--config experiments/demo.yaml] [--scale 0.25]
        [--betas 0,0.3] [--out runs/bench-trial-concurrency]

The main job (``experiments/parsec.yml``) runs one ``python -m nni_autotsnet.search`` per beta.
This runs the same searches, at ``--scale`` of the config's epochs per part, both ways on this
machine in one go: sequentially with ``trainer.threads=2`` (``trialConcurrency: 1``), and side
by side with ``trainer.threads=1`` each (``trialConcurrency: 2``). It prints the wall time of each
way, their ratio, and whether the searched architectures agree between the ways (the thread count
may change floating-point sums, so they need not). Tiny 3D convolutions use two threads poorly, which
is what side by side would buy. The benchmark is built first if missing; its time is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nni_autotsnet.config import load_config
from nni_autotsnet.rundir import ARCH_FILE

REPO = Path(__file__).resolve().parents[1]


def _epochs(config_path: str, scale: float) -> str:
    """The config's ``search.epochs`` per part times ``scale`` (at least one), as an override value."""
    parts = load_config(config_path).search.parts
    return "{" + ", ".join(f"{p.name}: {max(1, round(p.epochs * scale))}" for p in parts) + "}"


def _search(config: str, beta: str, threads: int, epochs: str, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with (out.parent / f"{out.name}.log").open("w") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen([sys.executable, "-m", "nni_autotsnet.search", "--config", config, "--out", str(out),
                                 f"search.beta={beta}", f"trainer.threads={threads}", f"search.epochs={epochs}"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a search failed (exit {p.returncode}); see the .log files beside its --out")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "experiments" / "demo.yaml"))
    parser.add_argument("--scale", type=float, default=0.25, help="share of the config's epochs per part")
    parser.add_argument("--betas", default="0,0.3", help="one search per beta (the main job's two trials)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-trial-concurrency")
    args = parser.parse_args(argv)
    betas = [b.strip() for b in args.betas.split(",") if b.strip()]
    epochs = _epochs(args.config, args.scale)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    # build the benchmark and its frame cache once, outside the clock (a 1-epoch search of the first part)
    _wait([_search(args.config, betas[0], 2, "{sparse: 1, fusion: 1, all: 1}", args.out / "warm-up")])
    seconds, archs = {}, {}
    for way, threads, side_by_side in (("one after another, 2 threads", 2, False), ("side by side, 1 thread each", 1, True)):
        start = time.perf_counter()
        outs = [args.out / f"t{threads}-beta{b}" for b in betas]
        if side_by_side:
            _wait([_search(args.config, b, threads, epochs, o) for b, o in zip(betas, outs)])
        else:
            for b, o in zip(betas, outs):
                _wait([_search(args.config, b, threads, epochs, o)])
        seconds[way] = time.perf_counter() - start
        archs[way] = [json.loads((o / ARCH_FILE).read_text())["arch"] for o in outs]
    (first, a), (second, b) = seconds.items()
    print(f"{platform.machine()}, {os.cpu_count()} cores; {len(betas)} searches (beta {', '.join(betas)}) of "
          f"{Path(args.config).name} at epochs {epochs}")
    print("| way | wall (s) |\n|---|---|")
    for way, s in seconds.items():
        print(f"| {way} | {s:.0f} |")
    print(f"side by side / one after another: {b / a:.2f} (below 1: side by side is faster)")
    print("searched architectures the same both ways:", archs[first] == archs[second])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
