"""How well each supernet training mode ranks the ground truth's architectures (issue 19 part 2), one table.

    python benchmarks/supernet_ranking.py --config experiments/random_tiny32.yaml --truth runs/ground-truth \\
        --out runs/supernet-ranking [--modes parsec,uniform,sandwich,...] [--epochs 20] [--lane K/N] \\
        [--score-on val --score-on test ...] [--calibration-batches 10] [--seed 0] [key=value ...]

Each mode trains one whole-space supernet (``search.parts=[all]``, ``--seed``, default 0; the same epochs and K,
so the same wall budget up to the distillation term) with the search config, then every
architecture of ``benchmarks/ground_truth.py``'s ``archs.csv`` gets its accuracy on the inherited
weights (batch norm recalibrated, validation split: :func:`nni_autotsnet.ranking.inherited_accuracy`).
Against the ground truth's seed means: Kendall's tau with its bootstrap 95% interval, the tau as a
share of the seed-vs-seed ceiling, and precision@3. The modes (:data:`MODES`):

* ``parsec``: the supplement's PARSEC (alpha learns after a 25% warm-up, the config's beta);
* ``parsec-frozen``: PARSEC's importance-weighted steps with alpha frozen all along;
* ``uniform``: K uniform paths, equal weights (SPOS);
* ``uniform-window``: the same, paths drawn inside the FLOPs window;
* ``sandwich``: the largest, the smallest and K - 2 uniform paths (BigNAS);
* ``sandwich-distill``: the same, the other paths distilled from the largest one's soft predictions.

``--score-on`` says which clips the inherited accuracy is measured on (:data:`SCORES`; repeat it
to measure several on the same supernets, one row each): the validation split as the search sees
it (``val``, the config's ``data.val_views``), the same videos with 4 centre views (``val4``), or
the benchmark's 500 test videos with the config's test views (``test``: not a signal a search may
use, but it says whether more clips would rank better).

Output, in ``--out``: ``<mode>/supernet/`` (a search directory), ``<mode>/ranking[-<score>][-cal<N>].csv``
(``-cal<N>``: ``--calibration-batches`` other than 10)
and ``modes.csv`` / ``modes.md``. Resumable: a finished supernet or table is skipped, a killed supernet
continues from its ``last.ckpt``; ``--lane K/N`` trains every N-th supernet from the K-th, and the
table is written by any run that finds every supernet done and the ground truth complete.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from nni_autotsnet.benchmarking import EPOCH_CLOCK_FILE, EpochClock, search_seconds, truth_arch_file

from nni_autotsnet.config import load_config  # noqa: E402
from nni_autotsnet.results import to_markdown  # noqa: E402
from nni_autotsnet.rundir import RANKING_FILE, RESULT_FILE  # noqa: E402

__all__ = ["MODES", "SCORES", "main"]

MODES = {
    "parsec": [],
    "parsec-frozen": ["search.warmup=1"],
    "uniform": ["search.supernet=uniform", "search.warmup=1"],
    "uniform-window": ["search.supernet=uniform", "search.in_window=true", "search.warmup=1"],
    "sandwich": ["search.supernet=sandwich", "search.warmup=1"],
    "sandwich-distill": ["search.supernet=sandwich", "search.distill=1.0", "search.warmup=1"],
}


def _supernet(config_path: str, overrides: list[str], out: Path) -> None:
    from nni_autotsnet.search import run_search

    run_search(load_config(config_path, overrides), out, resume=True, callbacks=[EpochClock(out / EPOCH_CLOCK_FILE)])


SCORES = {"val": "the validation split, the config's views", "val4": "the validation split, 4 centre views",
          "test": "the test split, the config's test views"}


def _ranking_file(mode_dir: Path, score: str, calibration_batches: int) -> Path:
    """``ranking.csv`` for the search's own signal; other clips or calibrations get their own file."""
    tag = ("" if score == "val" else f"-{score}") + ("" if calibration_batches == 10 else f"-cal{calibration_batches}")
    return mode_dir / (f"ranking{tag}.csv" if tag else RANKING_FILE)


def _truth(truth: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    table = pd.read_csv(truth / "archs.csv", dtype={"arch": str})
    table = table[table["arch"] != "x3d"].reset_index(drop=True)  # a single-stream point, not a draw of the space
    figures = dict(pd.read_csv(truth / "figures.csv").itertuples(index=False))
    return table, figures


def _rank(config_path: str, overrides: list[str], mode_dir: Path, truth: Path, calibration_batches: int,
          score: str = "val") -> None:
    import torch

    from nni_autotsnet.evaluate import test_dataset, test_protocol
    from nni_autotsnet.ranking import inherited_accuracy, write_ranking_table
    from nni_autotsnet.runtime import build_datasets
    from nni_autotsnet.search_space import load_arch

    config = load_config(config_path, [*overrides, *(["data.val_views=4"] if score == "val4" else [])])
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    table, _ = _truth(truth)
    archs = [load_arch(truth_arch_file(truth, name))[0] for name in table["arch"]]
    train_ds, val_ds = build_datasets(config)
    if score == "test":
        val_ds = test_dataset(config, None, test_protocol(config))
    inherited = inherited_accuracy(mode_dir / "supernet", archs, train_ds, val_ds,
                                   calibration_batches=calibration_batches, batch_size=config.data.batch_size,
                                   num_workers=config.data.num_workers)
    rows = [{"arch": name, "gflops": g, "inherited_acc": acc, "scratch_acc": mean / 100}
            for name, g, acc, mean in zip(table["arch"], table["gflops"], inherited, table["mean"])]
    write_ranking_table(rows, _ranking_file(mode_dir, score, calibration_batches))


def summary(out: Path, modes: Sequence[str], truth: Path, scores: Sequence[str] = ("val",),
            calibration_batches: int = 10) -> pd.DataFrame:
    """One row per mode: tau against the seed means with its interval, its share of the ceiling, precision@3."""
    from nni_autotsnet.ranking import precision_at_k, read_ranking_table, tau_interval

    truth_table, figures = _truth(truth)
    ceiling = figures.get("seed_tau", float("nan"))
    perfect = figures.get("perfect_tau", float("nan"))  # the noise ceiling against the seed means

    def share(value: float, of: float) -> float:
        return value / of if of > 0 else float("nan")  # NaN (a ceiling not measured) is not > 0

    rows = []
    for mode, score in ((m, s) for m in modes for s in scores):
        table = read_ranking_table(_ranking_file(out / mode, score, calibration_batches))
        tau = tau_interval(table["inherited_acc"], table["scratch_acc"])
        rows.append({"mode": mode, "keys": " ".join(MODES[mode]) or "(the config's)", "scored on": SCORES[score],
                     "supernet minutes": search_seconds(out / mode / "supernet") / 60,
                     "tau": tau.value, "tau 95% low": tau.low, "tau 95% high": tau.high,
                     "tau / seed tau": share(tau.value, ceiling), "tau / noise ceiling": share(tau.value, perfect),
                     "precision@3": precision_at_k(list(table["inherited_acc"]), list(table["scratch_acc"]), min(3, len(table))),
                     "inherited acc range (%)": f"{100 * table['inherited_acc'].min():.1f}-"
                                                 f"{100 * table['inherited_acc'].max():.1f}"})
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "modes.csv", index=False)
    lines = [f"# Supernet modes: Kendall tau against {figures.get('seeds', float('nan')):.0f}-seed means of "
             f"{len(truth_table)} architectures", "",
             f"Seed-vs-seed tau (one seed against another): {ceiling:.2f} [{figures.get('seed_tau_low', float('nan')):.2f}, "
             f"{figures.get('seed_tau_high', float('nan')):.2f}]; noise ceiling (the true means against these seed "
             f"means): tau {perfect:.2f}, precision@3 {figures.get('perfect_precision_at_3', float('nan')):.2f}. "
             "Intervals: bootstrap over the architectures, 95%.",
             "", to_markdown(frame.round(3)), ""]
    (out / "modes.md").write_text("\n".join(lines))
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/supernet_ranking.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the search config (its data, K, recipe and window)")
    parser.add_argument("--truth", type=Path, required=True, help="benchmarks/ground_truth.py's --out")
    parser.add_argument("--out", type=Path, default=Path("runs/supernet-ranking"))
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--epochs", type=int, default=20, help="supernet epochs, the same for every mode")
    parser.add_argument("--calibration-batches", type=int, default=10, help="batch-norm recalibration batches")
    parser.add_argument("--score-on", action="append", choices=sorted(SCORES), default=None,
                        help="the clips the inherited accuracy is measured on (repeatable; default: val)")
    parser.add_argument("--seed", type=int, default=0, help="search.seed of every supernet (another seed: another run of a mode)")
    parser.add_argument("--lane", default="0/1", help="K/N: this process trains every N-th supernet from the K-th")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)} (known: {', '.join(MODES)})")
    lane, lanes = (int(v) for v in args.lane.split("/"))
    base = [*args.overrides, "search.parts=[all]", f"search.epochs={{all: {args.epochs}}}", f"search.seed={args.seed}"]
    for i, mode in enumerate(modes):
        supernet = args.out / mode / "supernet"
        if i % lanes == lane and not (supernet / RESULT_FILE).is_file():
            print(f"[supernet ranking] training the {mode} supernet ({args.epochs} epochs)", flush=True)
            _supernet(args.config, [*base, *MODES[mode]], supernet)
    trained = all((args.out / m / "supernet" / RESULT_FILE).is_file() for m in modes)
    if not (trained and (args.truth / "archs.csv").is_file()):
        print("supernets or ground truth not complete yet; no table")
        return 0
    scores = list(dict.fromkeys(args.score_on or ["val"]))
    for mode, score in ((m, s) for m in modes for s in scores):
        if not _ranking_file(args.out / mode, score, args.calibration_batches).is_file():
            print(f"[supernet ranking] inherited accuracy on the {mode} supernet, {SCORES[score]}", flush=True)
            _rank(args.config, [*base, *MODES[mode]], args.out / mode, args.truth, args.calibration_batches, score)
    print(to_markdown(summary(args.out, modes, args.truth, scores, args.calibration_batches).round(3)))
    print(json.dumps({"table": str(args.out / "modes.md")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
