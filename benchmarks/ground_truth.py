"""The labels a supernet's ranking is judged against (issue 19 part 1): the random search's architectures, many seeds.

    python benchmarks/ground_truth.py --config experiments/random_tiny32.yaml --out runs/ground-truth \\
        [--archs 16] [--x3d] [--only DIGEST,...] [--train-seeds 0,1,2] [--lane K/N] [key.sub=value ...]

The architectures are the first ``--archs`` that ``python -m nni_autotsnet.random_search`` trains
with the same config (NNI's Random strategy, seeded, behind the FLOPs window:
:func:`nni_autotsnet.random_search.draw_architectures`), so these trainings are also the random
search of the comparison; ``--x3d`` adds the in-space X3D-like baseline, ``--only`` keeps the named
digests (a recipe probe). Each is trained from scratch once per train seed with the config's recipe
and evaluated on the test split with the config's test views. With ``train.ema_decay`` the run's
last raw weights (``last.ckpt``'s ``current_model_state``) are evaluated too, so one training
measures what the moving average changes.

Output, in ``--out``::

    runs/<digest>/seed<T>/                  a training run (python -m nni_autotsnet.train's) and eval_<protocol>/
    runs/<digest>/seed<T>/eval_raw_<protocol>/   with EMA: the raw weights of the same run
    archs.csv                               one row per architecture: GFLOPs, params, test top-1 per seed, mean, std,
                                            minutes per training (train_minutes, the mean over its seeds)
    archs/<digest>.json                     each architecture (``search_space.save_arch``'s format): the labels
                                            without the runs, so a copy of the summary files is complete
    figures.csv, ground_truth.md            the seed spread, the seed-vs-seed Kendall tau and its interval, and
                                            the noise ceiling: the tau and precision@3 that the true means reach
                                            against these seed means (nni_autotsnet.ranking.noise_ceiling)

Resumable: a finished training or evaluation is skipped, a killed training continues from its
``last.ckpt``. ``--lane K/N`` runs every N-th unit from the K-th (0-based), so N processes share
the work; the summary is written by any run that finds every unit done. GFLOPs are multiply-adds
per view.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from nni_autotsnet.benchmarking import TRUTH_ARCHS_DIR, seed_list, truth_arch_file, truth_run_dir
from nni_autotsnet.config import ExperimentConfig, load_config
from nni_autotsnet.results import to_markdown
from nni_autotsnet.rundir import CHECKPOINT_FILE, MODEL_FILE, RESULT_FILE

__all__ = ["GroundTruth", "main"]


class GroundTruth:
    """The architectures, their training runs and the summary (see the module doc)."""

    def __init__(self, config_path: str, overrides: Sequence[str], out: Path, num_archs: int, x3d: bool,
                 only: Sequence[str], train_seeds: Sequence[int]):
        from nni_autotsnet.evaluate import canonical_views
        from nni_autotsnet.data import get_preset
        from nni_autotsnet.random_search import draw_architectures
        from nni_autotsnet.search_space import x3d_like_arch
        from nni_autotsnet.search_space.arch import arch_digest

        self.config_path, self.overrides, self.out = config_path, list(overrides), out
        self.config = load_config(config_path, self.overrides)
        self.train_seeds = list(train_seeds)
        c = self.config
        self.protocol = canonical_views(c.train.eval_views or get_preset(c.data.preset).views)[2]
        archs: list[tuple[str, dict, str | None, str | None]] = []
        if x3d:
            arch = x3d_like_arch(c.preset, c.search.flops_window)
            archs.append(("x3d", arch, c.preset, "sparse"))
        archs += [(arch_digest(a), a, c.preset, c.random.parts) for a in draw_architectures(c, num_archs)]
        if only:
            unknown = set(only) - {name for name, *_ in archs}
            if unknown:
                raise SystemExit(f"--only: {', '.join(sorted(unknown))} not among the drawn architectures")
            archs = [a for a in archs if a[0] in only]
        self.archs = archs

    def run_dir(self, name: str, seed: int) -> Path:
        return truth_run_dir(self.out, name, seed)

    def eval_file(self, run: Path, raw: bool = False) -> Path:
        return run / f"eval_{'raw_' if raw else ''}{self.protocol}" / "metrics.json"

    def units(self) -> list[tuple[str, dict, str | None, str | None, int]]:
        return [(name, arch, preset, parts, seed) for seed in self.train_seeds for name, arch, preset, parts
                in self.archs]

    def done(self, run: Path) -> bool:
        ema = bool(self.config.train.ema_decay)
        return self.eval_file(run).is_file() and (not ema or self.eval_file(run, raw=True).is_file())

    def run_unit(self, name: str, arch: dict, preset: str | None, parts: str | None, seed: int) -> None:
        import torch

        from nni_autotsnet.evaluate import evaluate
        from nni_autotsnet.models.exported import read_exported, save_exported
        from nni_autotsnet.training import train

        run = self.run_dir(name, seed)
        if not (run / RESULT_FILE).is_file():
            config = load_config(self.config_path, [*self.overrides, f"train.seed={seed}"])
            train(config, arch, preset, parts, run, label=f"{name}-seed{seed}", resume=(run / CHECKPOINT_FILE).is_file())
        if not self.eval_file(run).is_file():
            evaluate(run / MODEL_FILE, views=self.protocol, out=self.eval_file(run).parent)
        if self.config.train.ema_decay and not self.eval_file(run, raw=True).is_file():
            ckpt = torch.load(run / CHECKPOINT_FILE, weights_only=True, map_location="cpu")
            info = read_exported(run / MODEL_FILE)
            raw = {k[len("model."):]: v for k, v in ckpt["current_model_state"].items() if k.startswith("model.")}
            save_exported(run / "model_raw.pt", preset=info["preset"], parts=info["parts"],
                          num_classes=info["num_classes"], arch=info["arch"], state_dict=raw, inherited_weights=False)
            evaluate(run / "model_raw.pt", views=self.protocol, out=self.eval_file(run, raw=True).parent)

    # the summary -------------------------------------------------------------------------------
    def table(self) -> tuple[pd.DataFrame, dict[str, float]]:
        rows, ema = [], bool(self.config.train.ema_decay)
        for name, *_ in self.archs:
            runs = [self.run_dir(name, s) for s in self.train_seeds if self.done(self.run_dir(name, s))]
            if not runs:  # a partial summary (--summary) lists what has finished
                continue
            result = json.loads((runs[0] / RESULT_FILE).read_text())
            row: dict[str, Any] = {"arch": name, "gflops": result["gflops"], "params_m": result["params"] / 1e6}
            for kind in (["", "raw_"] if ema else [""]):
                acc = [100 * json.loads(self.eval_file(r, raw=bool(kind)).read_text())["top1"] for r in runs]
                for r, a in zip(runs, acc):
                    row[f"{kind}top1_{r.name.replace('seed', 's')}"] = a
                row[f"{kind}mean"] = sum(acc) / len(acc)
                row[f"{kind}std"] = float(pd.Series(acc).std(ddof=1)) if len(acc) > 1 else float("nan")
            results = [json.loads((r / RESULT_FILE).read_text()) for r in runs]
            row["train_minutes"] = sum(r["seconds"] for r in results) / len(results) / 60  # the random search's cost
            for r, result in zip(runs, results):
                row[f"val_{r.name.replace('seed', 's')}"] = 100 * result["val_acc"]
            rows.append(row)
        table = pd.DataFrame(rows)
        table = table[[c for c in table.columns if not c.startswith(("top1_", "raw_", "val_"))] +
                      sorted(c for c in table.columns if c.startswith(("top1_", "raw_", "val_")))]
        return table, self.figures(table)

    def figures(self, table: pd.DataFrame) -> dict[str, float]:
        """The seed spread, the seed-vs-seed tau and the noise ceiling of an ``archs.csv`` table."""
        from nni_autotsnet.ranking import bootstrap_interval, noise_ceiling, seed_tau

        ema = any(c.startswith("raw_") for c in table.columns)
        seed_columns = [c for c in table.columns if c.startswith("top1_s")]
        figures: dict[str, float] = {"archs": len(table), "seeds": len(self.train_seeds),
                                     "archs_with_all_seeds": int(table[seed_columns].notna().all(axis=1).sum())}
        for kind in (["", "raw_"] if ema else [""]):
            figures[f"{kind}max_seed_std_points"] = float(table[f"{kind}std"].max())
            figures[f"{kind}mean_seed_std_points"] = float(table[f"{kind}std"].mean())
            figures[f"{kind}span_of_means_points"] = float(table[f"{kind}mean"].max() - table[f"{kind}mean"].min())
            # the rankings judged against these labels are of the space's draws: the X3D-like point is left out
            draws = table[table["arch"] != "x3d"]
            complete = draws.dropna(subset=[f"{kind}top1_s{s}" for s in self.train_seeds if f"{kind}top1_s{s}" in table])
            if len(self.train_seeds) > 1 and len(complete) > 2 and all(f"{kind}top1_s{s}" in table for s in self.train_seeds):
                columns = [complete[f"{kind}top1_s{s}"].tolist() for s in self.train_seeds]
                ceiling = bootstrap_interval(columns, seed_tau)  # resamples the architectures
                figures[f"{kind}seed_tau"], figures[f"{kind}seed_tau_low"], figures[f"{kind}seed_tau_high"] = ceiling
                perfect = noise_ceiling(*columns)  # the true means against these seed means
                figures[f"{kind}perfect_tau"] = perfect.tau
                figures[f"{kind}perfect_tau_p5"], figures[f"{kind}perfect_tau_p95"] = perfect.low, perfect.high
                figures[f"{kind}perfect_precision_at_3"] = perfect.precision_at_3
                figures[f"{kind}within_arch_std_points"] = perfect.within_std
                figures[f"{kind}between_arch_std_points"] = perfect.between_std
        return figures

    def write_archs(self) -> None:
        """Every architecture's JSON under ``archs/`` (what a reader of the summary needs to rebuild them)."""
        from nni_autotsnet.search_space import save_arch

        for name, arch, preset, parts in self.archs:
            truth_arch_file(self.out, name).parent.mkdir(parents=True, exist_ok=True)
            save_arch(arch, truth_arch_file(self.out, name), preset, parts)

    def write_summary(self, from_table: bool = False) -> None:
        """``archs.csv``, ``figures.csv``, ``ground_truth.md`` and ``archs/``; ``from_table``: the figures of
        the ``archs.csv`` already there (a copy of the summary without its runs)."""
        if from_table:
            table = pd.read_csv(self.out / "archs.csv", dtype={"arch": str})
            figures = self.figures(table)
        else:
            table, figures = self.table()
        self.out.mkdir(parents=True, exist_ok=True)
        self.write_archs()
        table.to_csv(self.out / "archs.csv", index=False)
        pd.DataFrame(list(figures.items()), columns=["figure", "value"]).to_csv(self.out / "figures.csv", index=False)
        lines = [f"# Ground truth: {len(table)} architectures x {len(self.train_seeds)} seeds", "",
                 f"Config: `{self.config_path}` {' '.join(self.overrides)}; test views {self.protocol}; "
                 "GFLOPs per view (multiply-adds); test top-1 in %.", "",
                 to_markdown(table.round({c: 2 for c in table.columns if c not in ("gflops", "params_m")})), "",
                 to_markdown(pd.DataFrame(list(figures.items()), columns=["figure", "value"]).round(3)), ""]
        (self.out / "ground_truth.md").write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/ground_truth.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="experiment YAML with a random: section and a window")
    parser.add_argument("--out", type=Path, default=Path("runs/ground-truth"), help="output folder")
    parser.add_argument("--archs", type=int, default=16, help="random-search architectures, in its order")
    parser.add_argument("--x3d", action="store_true", help="also the in-space X3D-like baseline ('x3d')")
    parser.add_argument("--only", default="", help="comma-separated digests (or x3d) to keep: a recipe probe")
    parser.add_argument("--train-seeds", type=seed_list, default=[0, 1, 2], help="e.g. 0,1,2")
    parser.add_argument("--lane", default="0/1", help="K/N: this process runs every N-th unit from the K-th")
    parser.add_argument("--summary", action="store_true", help="only write the summary of the finished units "
                        "(with no runs in --out: recompute the figures of its archs.csv)")
    parser.add_argument("--write-archs", action="store_true", help=f"only write {TRUTH_ARCHS_DIR}/<digest>.json")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (the recipe)")
    args = parser.parse_args(argv)
    lane, lanes = (int(v) for v in args.lane.split("/"))
    truth = GroundTruth(args.config, args.overrides, args.out, args.archs, args.x3d,
                        [s for s in args.only.split(",") if s], args.train_seeds)
    units = truth.units()
    if args.write_archs:
        truth.write_archs()
        print(f"{len(truth.archs)} architectures in {args.out / TRUTH_ARCHS_DIR}")
        return 0
    if args.summary:
        truth.write_summary(from_table=not any(truth.done(truth.run_dir(u[0], u[4])) for u in units)
                            and (args.out / "archs.csv").is_file())
        print((args.out / "ground_truth.md").read_text())
        return 0
    start = time.perf_counter()
    for i, unit in enumerate(units):
        run = truth.run_dir(unit[0], unit[4])
        if i % lanes != lane or truth.done(run):
            continue
        print(f"[ground truth {i + 1}/{len(units)}] {unit[0]} seed {unit[4]} "
              f"({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
        truth.run_unit(*unit)
    if all(truth.done(truth.run_dir(u[0], u[4])) for u in units):
        truth.write_summary()
        print((args.out / "ground_truth.md").read_text())
    else:
        left = sum(not truth.done(truth.run_dir(u[0], u[4])) for u in units)
        print(f"{left} of {len(units)} units left for the other lanes; no summary yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
