"""The comparison that says whether the search is worth running (issue 11; supplement Fig. 2), one resumable command.

    python benchmarks/compare_tiny.py --config experiments/random_tiny.yaml [--search-seeds 0,1,2]
        [--train-seeds 0,1,2] [--random 16] [--out runs/compare-tiny] [key.sub=value ...]

Everything runs with the config's data, FLOPs window, training recipe and test views:

* **PARSEC**: one progressive search per search seed (``search.seed``); each searched
  architecture trained from scratch once per train seed (``train.seed``) and evaluated on the
  test split;
* **random search**: NNI's Random strategy, ``--random`` distinct architectures in the window,
  each trained once (first train seed) and evaluated on the test split; the one with the best
  validation accuracy retrained with the other train seeds;
* **X3D-like**: the in-space X3D-like baseline at the window, once per train seed;
* **ranking**: one PARSEC search over ``search.parts=[all]`` (seed 0, as many epochs as the
  progressive search's parts together), and the accuracy each random architecture gets on its
  inherited weights (:func:`nni_autotsnet.ranking.inherited_accuracy`, on the validation split)
  against its from-scratch test accuracy: ``ranking/ranking.csv`` and Kendall's tau.

Then the comparison table and the report (Fig. 2 analog, ranking scatter). Output, in ``--out``::

    searches/seed{S}/                  the progressive searches (+ search_epochs.json: each epoch's wall time)
    random/                            the random search (random.csv, runs/<digest>/)
    ranking/supernet/, ranking/ranking.csv   the whole-space supernet and the ranking table
    train/{searched-s{S},random,x3d}-seed{T}/ training runs (random-seed{T}: the selected one, other seeds)
    compare.md, compare.csv            the table: test top-1 mean ± std, Welch's p, rank, compute
    compare_figures.csv                figure,value: tau, spreads, compute, the goal
    report/                            python -m nni_autotsnet.report on all of it

Resumable: a unit of work (a search, a training run, an evaluation, the ranking table) whose
result file exists is skipped, a search or training run that was killed goes on from its
``last.ckpt``, and the random search, run again, proposes the same architectures (seeded) and
skips or resumes each one's training. The table and the report are rewritten every time.
GFLOPs are multiply-adds per view.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from nni_autotsnet.benchmarking import EPOCH_CLOCK_FILE, EpochClock, Unit, search_seconds, seed_list
from nni_autotsnet.config import ExperimentConfig, load_config
from nni_autotsnet.results import to_markdown
from nni_autotsnet.rundir import ARCH_FILE, CHECKPOINT_FILE, CONFIG_FILE, RANDOM_FILE, RANKING_FILE, RESULT_FILE

GFLOPS = "GFLOPs per view (multiply-adds)"
GROUPS = ("parsec", "random", "x3d", "ranking")  # units of a group depend only on units of the same group
TABLE_COLUMNS = ["model", "architecture", GFLOPS, "params (M)", "n", "seeds", "test top-1 mean (%)",
                 "test top-1 std (%)", "test top-1 (%)", "Welch p vs selected random", "rank among random",
                 "compute (min)"]


def _eval_protocol(config: ExperimentConfig) -> str:
    """The test protocol evaluate uses for this config (its folder is ``eval_<protocol>``)."""
    from nni_autotsnet.data import get_preset
    from nni_autotsnet.evaluate import canonical_views

    return canonical_views(config.train.eval_views or get_preset(config.data.preset).views)[2]


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------
class Comparison:
    """The comparison's units in order, and the paths they write (see the module doc)."""

    def __init__(self, config_path: str, overrides: Sequence[str], out: Path, search_seeds: Sequence[int],
                 train_seeds: Sequence[int], num_random: int, calibration_batches: int):
        self.config_path, self.overrides, self.out = config_path, list(overrides), out
        self.search_seeds, self.train_seeds, self.num_random = list(search_seeds), list(train_seeds), num_random
        self.calibration_batches = calibration_batches
        self.base = load_config(config_path, self.overrides)
        self.protocol = _eval_protocol(self.base)
        self.random_out = (out / "random").resolve()
        self.random_overrides = [*self.overrides, f"random.output={self.random_out}", f"random.num_archs={num_random}",
                                 f"train.seed={self.train_seeds[0]}"]
        total_epochs = sum(part.epochs for part in self.base.search.parts)
        self.ranking_overrides = [*self.overrides, "search.parts=[all]", f"search.epochs={{all: {total_epochs}}}",
                                  "search.seed=0"]

    # paths -------------------------------------------------------------------------------------
    def search_dir(self, seed: int) -> Path:
        return self.out / "searches" / f"seed{seed}"

    def train_dir(self, label: str, seed: int) -> Path:
        return self.out / "train" / f"{label}-seed{seed}"

    def eval_file(self, run: Path) -> Path:
        return run / f"eval_{self.protocol}" / "metrics.json"

    @property
    def ranking_dir(self) -> Path:
        return self.out / "ranking"

    def random_runs(self) -> list[Path]:
        """The random search's run folders, in random.csv's order."""
        table = pd.read_csv(self.random_out / RANDOM_FILE)
        return [self.random_out / run for run in table["run"]]  # relative to the table (an absolute one stays)

    def selected_random(self) -> Path:
        """The random architecture with the best validation accuracy (last epoch; ties: best epoch, then name)."""
        table = pd.read_csv(self.random_out / RANDOM_FILE).sort_values("run")
        table = table.sort_values(["val_acc", "best_val_acc"], ascending=False, kind="stable")
        return self.random_out / table.iloc[0]["run"]

    def random_done(self) -> bool:
        csv = self.random_out / RANDOM_FILE
        return csv.is_file() and len(pd.read_csv(csv)) >= self.num_random

    # actions -----------------------------------------------------------------------------------
    def _search(self, overrides: list[str], out: Path) -> None:
        from nni_autotsnet.search import run_search

        run_search(load_config(self.config_path, overrides), out, resume=True,
                   callbacks=[EpochClock(out / EPOCH_CLOCK_FILE)])

    def _train(self, arch: dict, preset: str | None, parts: str | None, run: Path, seed: int, label: str) -> None:
        from nni_autotsnet.training import train

        config = load_config(self.config_path, [*self.overrides, f"train.seed={seed}"])
        train(config, arch, preset, parts, run, label=label, resume=(run / CHECKPOINT_FILE).is_file())

    def _evaluate(self, run: Path) -> None:
        from nni_autotsnet.evaluate import evaluate

        evaluate(run, views=self.protocol)

    def _random_search(self) -> None:
        from nni_autotsnet.random_search import run_random_search

        run_random_search(load_config(self.config_path, self.random_overrides), self.config_path,
                          self.random_overrides)

    def _ranking_table(self) -> None:
        import torch

        from nni_autotsnet.ranking import inherited_accuracy, write_ranking_table
        from nni_autotsnet.runtime import build_datasets
        from nni_autotsnet.search_space import load_arch

        config = self.base
        if config.trainer.threads:
            torch.set_num_threads(config.trainer.threads)
        runs = self.random_runs()
        archs = [load_arch(run / ARCH_FILE)[0] for run in runs]
        train_ds, val_ds = build_datasets(config)
        supernet = self.ranking_dir / "supernet"
        inherited = inherited_accuracy(supernet, archs, train_ds, val_ds, calibration_batches=self.calibration_batches,
                                       batch_size=config.data.batch_size, num_workers=config.data.num_workers)
        rows = [{"arch": run.name, "gflops": _read(run / RESULT_FILE)["gflops"], "inherited_acc": acc,
                 "scratch_acc": _read(self.eval_file(run))["top1"],
                 "scratch_run": os.path.relpath(run.resolve(), self.ranking_dir.resolve()),
                 "supernet": os.path.relpath((supernet / "part1_all").resolve(), self.ranking_dir.resolve())}
                for run, acc in zip(runs, inherited)]  # paths relative to the table's folder
        write_ranking_table(rows, self.ranking_dir / RANKING_FILE)

    def units(self) -> list[Unit]:
        """Every unit in the order it runs; later ones read what earlier ones wrote."""
        from nni_autotsnet.search_space import load_arch, x3d_like_arch

        units: list[Unit] = []

        def add_train_and_eval(what: str, run: Path, arch_of: Callable[[], tuple], seed: int, label: str,
                               group: str) -> None:
            units.append(Unit(f"train {what}", lambda: (run / RESULT_FILE).is_file(),
                              lambda: self._train(*arch_of(), run, seed, label), group))
            units.append(Unit(f"evaluate {what} on the test split ({self.protocol})",
                              lambda: self.eval_file(run).is_file(), lambda: self._evaluate(run), group))

        for s in self.search_seeds:
            out = self.search_dir(s)
            units.append(Unit(f"PARSEC search, seed {s}", lambda out=out: (out / RESULT_FILE).is_file(),
                              lambda s=s, out=out: self._search([*self.overrides, f"search.seed={s}"], out),
                              "parsec"))
        for s in self.search_seeds:
            for t in self.train_seeds:
                add_train_and_eval(f"searched architecture of search seed {s}, train seed {t}",
                                   self.train_dir(f"searched-s{s}", t),
                                   lambda s=s: load_arch(self.search_dir(s) / ARCH_FILE), t, "searched", "parsec")
        units.append(Unit(f"random search: {self.num_random} architectures in the window (NNI Random), "
                          f"train seed {self.train_seeds[0]}", self.random_done, self._random_search, "random"))
        for i in range(self.num_random):
            units.append(Unit(f"evaluate random architecture {i + 1}/{self.num_random} on the test split",
                              lambda i=i: self.eval_file(self.random_runs()[i]).is_file(),
                              lambda i=i: self._evaluate(self.random_runs()[i]), "random"))
        for t in self.train_seeds[1:]:
            add_train_and_eval(f"the random architecture selected by validation accuracy, train seed {t}",
                               self.train_dir("random", t), lambda: load_arch(self.selected_random() / ARCH_FILE),
                               t, "random", "random")
        x3d = x3d_like_arch(self.base.preset, self.base.search.flops_window)
        for t in self.train_seeds:
            add_train_and_eval(f"X3D-like baseline, train seed {t}", self.train_dir("x3d", t),
                               lambda: (x3d, self.base.preset, "sparse"), t, "x3d", "x3d")
        supernet = self.ranking_dir / "supernet"
        units.append(Unit("ranking supernet: one PARSEC search over parts=all, seed 0",
                          lambda: (supernet / RESULT_FILE).is_file(),
                          lambda: self._search(self.ranking_overrides, supernet), "ranking"))
        units.append(Unit("ranking table: inherited accuracy of every random architecture",
                          lambda: (self.ranking_dir / RANKING_FILE).is_file(), self._ranking_table, "ranking",
                          waits_for=lambda: self.random_done() and all(self.eval_file(r).is_file()
                                                                       for r in self.random_runs())))
        return units

    # the table ---------------------------------------------------------------------------------
    def _run_row(self, run: Path) -> dict:
        result = _read(run / RESULT_FILE)
        return {"top1": 100 * _read(self.eval_file(run))["top1"], "gflops": result["gflops"],
                "params": result["params"] / 1e6, "seed": result["seed"], "seconds": result["seconds"]}

    def table(self) -> tuple[pd.DataFrame, dict[str, float], str]:
        """The comparison table, the figures (name -> value) and the markdown page."""
        from scipy.stats import ttest_ind

        from nni_autotsnet.ranking import kendall_tau, read_ranking_table

        random = {run.name: self._run_row(run) for run in self.random_runs()}
        random_acc = [r["top1"] for r in random.values()]
        selected = self.selected_random()
        selected_runs = [self._run_row(selected)] + [self._run_row(self.train_dir("random", t))
                                                     for t in self.train_seeds[1:]]
        selected_acc = [r["top1"] for r in selected_runs]

        def welch(acc: Sequence[float]) -> float:
            if len(acc) < 2 or len(selected_acc) < 2:
                return float("nan")
            with warnings.catch_warnings():  # identical values (no spread) give NaN, with a warning
                warnings.simplefilter("ignore", RuntimeWarning)
                return float(ttest_ind(acc, selected_acc, equal_var=False).pvalue)

        def rank(mean: float) -> int:
            return 1 + sum(a > mean for a in random_acc)

        def row(model: str, arch: str, runs: list[dict], p: float | None, rank_: int | None,
                compute: float | None) -> dict:
            acc = pd.Series([r["top1"] for r in runs], dtype=float)
            std = float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")
            return {"model": model, "architecture": arch, GFLOPS: float(pd.Series([r["gflops"] for r in runs]).mean()),
                    "params (M)": float(pd.Series([r["params"] for r in runs]).mean()), "n": len(acc),
                    "seeds": " ".join(str(r["seed"]) for r in runs), "test top-1 mean (%)": float(acc.mean()),
                    "test top-1 std (%)": std,
                    "test top-1 (%)": f"{acc.mean():.2f}" + ("" if math.isnan(std) else f" ± {std:.2f}"),
                    "Welch p vs selected random": p, "rank among random": rank_, "compute (min)": compute}

        parsec_min = sum(search_seconds(self.search_dir(s)) for s in self.search_seeds) / 60
        random_min = sum(r["seconds"] for r in random.values()) / 60
        rows, searched_all, searched_means = [], [], []
        for s in self.search_seeds:
            runs = [self._run_row(self.train_dir(f"searched-s{s}", t)) for t in self.train_seeds]
            acc = [r["top1"] for r in runs]
            searched_all += runs
            searched_means.append(sum(acc) / len(acc))
            rows.append(row(f"PARSEC searched, search seed {s}", _digest(self.search_dir(s) / ARCH_FILE), runs,
                            welch(acc), rank(sum(acc) / len(acc)), search_seconds(self.search_dir(s)) / 60))
        all_acc = [r["top1"] for r in searched_all]
        rows.append(row(f"PARSEC searched, all {len(self.search_seeds)} searches", "-", searched_all, welch(all_acc),
                        None, parsec_min))
        rows.append(row("random, selected by validation accuracy", selected.name, selected_runs, None,
                        rank(sum(selected_acc) / len(selected_acc)), random_min))
        x3d_runs = [self._run_row(self.train_dir("x3d", t)) for t in self.train_seeds]
        x3d_acc = [r["top1"] for r in x3d_runs]
        rows.append(row("X3D-like (in the space)", "x3d", x3d_runs, welch(x3d_acc), rank(sum(x3d_acc) / len(x3d_acc)),
                        None))
        best = max(random, key=lambda name: random[name]["top1"])
        rows.append(row("random, best by test accuracy (an oracle, for scale)", best, [random[best]], None, 1, None))
        rows.append(row(f"random, all {len(random)} architectures (one seed each; std across architectures)", "-",
                        list(random.values()), None, None, random_min))
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)

        ranking = read_ranking_table(self.ranking_dir / RANKING_FILE)
        ranked = kendall_tau(list(ranking["inherited_acc"]), list(ranking["scratch_acc"]))
        tau, tau_p = ranked
        span = max(random_acc) - min(random_acc)
        std = lambda acc: float(pd.Series(acc, dtype=float).std(ddof=1)) if len(acc) > 1 else float("nan")  # noqa: E731
        searched_mean, selected_mean = sum(all_acc) / len(all_acc), sum(selected_acc) / len(selected_acc)
        figures = {
            "searched_mean_pct": searched_mean, "selected_random_mean_pct": selected_mean,
            "searched_minus_selected_random_points": searched_mean - selected_mean,
            "welch_p_all_runs": welch(all_acc), "welch_p_search_seed_means": welch(searched_means),
            "parsec_search_min": parsec_min, "random_search_min": random_min,
            "compute_ratio_parsec_over_random": parsec_min / random_min if random_min else float("nan"),
            "goal_met": float(searched_mean >= selected_mean and random_min > 0 and parsec_min <= random_min / 2),
            "random_span_points": span, "x3d_seed_std_points": std(x3d_acc),
            "selected_random_seed_std_points": std(selected_acc),
            "x3d_std_over_span": std(x3d_acc) / span if span else float("nan"),
            "selected_random_std_over_span": std(selected_acc) / span if span else float("nan"),
            "kendall_tau": tau, "kendall_tau_p": tau_p, "ranking_archs": float(len(ranking)),
        }
        return table, figures, self._markdown(table, figures, ranked)

    def _markdown(self, table: pd.DataFrame, f: dict[str, float], tau: Any) -> str:
        window = self.base.search.flops_window
        n_random, n_seeds = self.num_random, len(self.train_seeds)
        lines = [
            "# PARSEC against NNI's random search (issue 11)", "",
            f"Preset `{self.base.preset}`, FLOPs window {list(window) if window else '-'} {GFLOPS}; every model "
            f"trained from scratch with the same recipe and evaluated on the test split ({self.protocol}). "
            f"PARSEC searches with seeds {', '.join(map(str, self.search_seeds))}, each searched architecture "
            f"trained with train seeds {', '.join(map(str, self.train_seeds))}; {n_random} random architectures "
            f"trained once (seed {self.train_seeds[0]}), the one selected by validation accuracy retrained with the "
            f"other train seeds; X3D-like with every train seed. "
            "Welch's p: two-sided, unequal variances, against the selected random architecture's seeds. Rank: 1 + "
            f"the number of the {n_random} random architectures whose test accuracy is higher than the row's mean. "
            "Compute: wall minutes of the searches' epochs (training and validation, every part) and of the "
            f"{n_random} random trainings' epochs, on the same machine and threads "
            f"(trainer.threads of the runs: {self._threads_used()}).", "",
            to_markdown(table), "",
            "## Figures", "",
            f"- searched mean {f['searched_mean_pct']:.2f}% against the selected random "
            f"{f['selected_random_mean_pct']:.2f}% ({f['searched_minus_selected_random_points']:+.2f} points); "
            f"Welch's p {f['welch_p_all_runs']:.3g} over "
            f"all runs, {f['welch_p_search_seed_means']:.3g} with one mean per search seed",
            f"- compute: PARSEC's searches {f['parsec_search_min']:.1f} min, the random search's trainings "
            f"{f['random_search_min']:.1f} min (ratio {f['compute_ratio_parsec_over_random']:.2f}; goal <= 0.5)",
            f"- goal (searched mean >= selected random mean at <= 1/2 of random search's compute): "
            f"{'met' if f['goal_met'] else 'not met'}",
            f"- architecture matters: the {n_random} random architectures span {f['random_span_points']:.2f} points "
            f"of test accuracy (max - min); seed-to-seed std of one architecture: X3D-like "
            f"{f['x3d_seed_std_points']:.2f} points ({f['x3d_std_over_span']:.2f} of the span), selected random "
            f"{f['selected_random_seed_std_points']:.2f} points ({f['selected_random_std_over_span']:.2f} of the span)"
            "; goal: span >= 15 points, std <= 1/3 of it",
            f"- supernet ranking: Kendall tau {tau} between the "
            f"{int(f['ranking_archs'])} random architectures' accuracy on the whole-space supernet's inherited "
            "weights (validation split, batch norm recalibrated) and their from-scratch test accuracy "
            "(`ranking/ranking.csv`; goal >= 0.5)", "",
            "![accuracy against GFLOPs per view](report/fig2_accuracy_vs_gflops.png)", "",
            "Report (Fig. 2 analog, Table 1 analog, alpha per search, ranking scatter): `report/report.md`.", ""]
        return "\n".join(lines)

    def _threads_used(self) -> str:
        """The torch threads the training runs were given (their config.yaml; lanes may override the config's)."""
        import yaml

        runs = [*self.random_runs(), *(self.out / "train").glob("*")]
        found = {str((yaml.safe_load((run / CONFIG_FILE).read_text()) or {}).get("trainer", {}).get("threads"))
                 for run in runs if (run / CONFIG_FILE).is_file()}
        return ", ".join(sorted(found)) or str(self.base.trainer.threads)

    # running -----------------------------------------------------------------------------------
    def run(self, only: Sequence[str] = ()) -> dict[str, float] | None:
        """Run (or skip) every unit with progress lines, then write the table and the report.

        ``only``: run the units of these groups (:data:`GROUPS`) and stop; the table needs them all.
        The ranking table reads the random search's runs: its group waits for them.
        """
        from nni_autotsnet.report import main as report_main

        start = time.perf_counter()
        units = [u for u in self.units() if not only or u.group in only]
        for k, unit in enumerate(units, 1):
            elapsed = (time.perf_counter() - start) / 60
            if unit.done():
                print(f"[compare {k}/{len(units)}] {unit.what}: done before, skipped ({elapsed:.1f} min elapsed)",
                      flush=True)
                continue
            print(f"[compare {k}/{len(units)}] {unit.what} ({elapsed:.1f} min elapsed)", flush=True)
            if unit.waits_for is not None and not unit.waits_for():
                print("[compare] waiting for another process's units (--only)", flush=True)
                while not unit.waits_for():
                    time.sleep(30)
            unit.run()
        if only:
            print(f"[compare] groups {', '.join(only)} done in {(time.perf_counter() - start) / 60:.1f} min; "
                  "run again without --only for the table", flush=True)
            return None
        table, figures, markdown = self.table()
        self.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(self.out / "compare.csv", index=False)
        pd.DataFrame({"figure": list(figures), "value": list(figures.values())}).to_csv(
            self.out / "compare_figures.csv", index=False)
        (self.out / "compare.md").write_text(markdown)
        report_main([str(self.out), "--out", str(self.out / "report"), "--protocol", self.protocol])
        print(markdown, flush=True)
        print(f"[compare] done in {(time.perf_counter() - start) / 60:.1f} min: {self.out / 'compare.md'}", flush=True)
        return figures


def _digest(arch_file: Path) -> str:
    from nni_autotsnet.search_space.arch import arch_digest, load_arch

    return arch_digest(load_arch(arch_file)[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="experiments/random_tiny.yaml",
                        help="experiment YAML with the search, training and random sections")
    parser.add_argument("--out", default="runs/compare-tiny", help="output folder (resumed when it exists)")
    parser.add_argument("--search-seeds", type=seed_list, default=[0, 1, 2], metavar="S,S,...")
    parser.add_argument("--train-seeds", type=seed_list, default=[0, 1, 2], metavar="T,T,...",
                        help="the first one also trains the random architectures")
    parser.add_argument("--random", type=int, default=16, help="random architectures (each trained once)")
    parser.add_argument("--calibration-batches", type=int, default=10,
                        help="training batches that recalibrate batch norm for the inherited accuracy")
    parser.add_argument("--only", type=lambda v: [g for g in v.split(",") if g], default=[], metavar="GROUP,...",
                        help=f"run only these groups of units ({', '.join(GROUPS)}), e.g. two processes at once "
                             "on separate cores; then once without --only for the table")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides for every run")
    args = parser.parse_args(argv)
    if unknown := [g for g in args.only if g not in GROUPS]:
        parser.error(f"--only: unknown group {unknown[0]!r} (groups: {', '.join(GROUPS)})")
    if args.random < 2:
        parser.error("--random must be >= 2 (a span and a rank need several architectures)")
    from nni_autotsnet.config import ConfigError

    try:
        comparison = Comparison(args.config, args.overrides, Path(args.out), args.search_seeds, args.train_seeds,
                                args.random, args.calibration_batches)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    comparison.run(args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
