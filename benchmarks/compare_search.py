"""Does the search beat random search (issue 19 part 4)? One resumable command, on the ground truth's trainings.

    python benchmarks/compare_search.py --config experiments/random_tiny32.yaml --truth runs/ground-truth \\
        --out runs/compare-search [--search-seeds 0,1,2] [--train-seeds 0,1,2] [--lane K/N] [key.sub=value ...]

The random search is ``benchmarks/ground_truth.py --x3d``'s trainings (run it first, with the same
config and overrides): NNI's Random strategy's first 16 in-window architectures, each trained with
every train seed, and the X3D-like baseline. A random search would train each once and keep the
best by validation accuracy, so the selected random architecture is the one with the best
seed-0 validation accuracy, judged by its test accuracy over the seeds; random search's compute
is the 16 seed-0 trainings. Here, per search seed, the config's search (``search.seed``; its
shortlist trainings included) and its architecture trained from scratch with every train seed
(with ``search.shortlist_full``, the shortlist's full training of the winner is that of the train
seed it ran with, same keys and seed: it is copied, not trained again).

Output, in ``--out``: ``searches/seed{S}/``, ``train/searched-s{S}-seed{T}/`` (each with
``eval_<protocol>/``), ``compare.md`` / ``compare.csv`` (the table), ``figures.csv``, ``anytime.csv``
and ``anytime.png`` (the compute-matched random-search curve with the searched point),
``fig2_accuracy_vs_gflops.png`` (the supplement's Figure 2 analog) and ``shortlists.csv`` (each
search's ranking, its winner marked) and ``archs/<digest>.json`` (each searched architecture). Welch's p (unequal variances) compares the searched runs with
the selected random architecture's; at equal compute, ``p_random_curve`` is the share of random
orders whose selected architecture tests at least as well as the searched mean (a bootstrap
p-value). Resumable like the other comparison scripts; GFLOPs are multiply-adds per view.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from nni_autotsnet.benchmarking import EPOCH_CLOCK_FILE, EpochClock, search_seconds, seed_list, truth_run_dir

from nni_autotsnet.config import load_config  # noqa: E402
from nni_autotsnet.results import to_markdown  # noqa: E402
from nni_autotsnet.rundir import ARCH_FILE, CHECKPOINT_FILE, MODEL_FILE, RESULT_FILE  # noqa: E402

__all__ = ["main"]


class SearchComparison:
    """The searches, their trainings, and the table against the ground truth (see the module doc)."""

    def __init__(self, config_path: str, overrides: Sequence[str], out: Path, truth: Path,
                 search_seeds: Sequence[int], train_seeds: Sequence[int]):
        from nni_autotsnet.data import get_preset
        from nni_autotsnet.evaluate import canonical_views

        self.config_path, self.overrides, self.out, self.truth = config_path, list(overrides), out, truth
        self.search_seeds, self.train_seeds = list(search_seeds), list(train_seeds)
        self._truth: tuple[pd.DataFrame, pd.DataFrame, list[int]] | None = None
        c = load_config(config_path, self.overrides)
        self.protocol = canonical_views(c.train.eval_views or get_preset(c.data.preset).views)[2]

    def search_dir(self, s: int) -> Path:
        return self.out / "searches" / f"seed{s}"

    def train_dir(self, s: int, t: int) -> Path:
        return self.out / "train" / f"searched-s{s}-seed{t}"

    def eval_file(self, run: Path) -> Path:
        return run / f"eval_{self.protocol}" / "metrics.json"

    def units(self) -> list[tuple[str, Path, object, Path | None]]:
        """(what, the file that marks it done, the action, the file it needs first), in order."""
        units = [(f"search, seed {s}", self.search_dir(s) / RESULT_FILE, lambda s=s: self._search(s), None)
                 for s in self.search_seeds]
        units += [(f"searched architecture of search seed {s}, train seed {t}", self.eval_file(self.train_dir(s, t)),
                   lambda s=s, t=t: self._train(s, t), self.search_dir(s) / RESULT_FILE)
                  for s in self.search_seeds for t in self.train_seeds]
        return units

    def _search(self, s: int) -> None:
        from nni_autotsnet.search import run_search

        out = self.search_dir(s)
        run_search(load_config(self.config_path, [*self.overrides, f"search.seed={s}"]), out, resume=True,
                   callbacks=[EpochClock(out / EPOCH_CLOCK_FILE)])

    def _train(self, s: int, t: int) -> None:
        from nni_autotsnet.evaluate import evaluate
        from nni_autotsnet.search_space import load_arch
        from nni_autotsnet.training import train

        run = self.train_dir(s, t)
        if not (run / RESULT_FILE).is_file():
            config = load_config(self.config_path, [*self.overrides, f"train.seed={t}"])
            full = self._shortlist_full_run(s, config)
            if full is not None:  # the search trained this very run already (search.shortlist_full)
                shutil.copytree(full, run, dirs_exist_ok=True)
            else:
                arch, preset, parts = load_arch(self.search_dir(s) / ARCH_FILE)
                train(config, arch, preset, parts, run, label=f"searched-s{s}",
                      resume=(run / CHECKPOINT_FILE).is_file())
        evaluate(run / MODEL_FILE, views=self.protocol, out=self.eval_file(run).parent)

    def _shortlist_full_run(self, s: int, config) -> Path | None:
        """The winner's full-recipe training from the search's shortlist when it is this training (same
        preset, data, train and trainer keys, so the same seed): a folder to copy instead of training again."""
        from nni_autotsnet.shortlist import FULL_DIR, SHORTLIST_DIR

        full = self.search_dir(s) / SHORTLIST_DIR / FULL_DIR / self._digest(s)
        if not (full / RESULT_FILE).is_file() or not (full / MODEL_FILE).is_file():
            return None
        searched = load_config(self.config_path, [*self.overrides, f"search.seed={s}"])
        same = config.preset == searched.preset and all(config.raw[k] == searched.raw[k]
                                                        for k in ("data", "train", "trainer"))
        return full if same else None

    # the table ---------------------------------------------------------------------------------
    def search_minutes(self, s: int) -> float:
        """The search's epochs plus its shortlist's trainings."""
        result = json.loads((self.search_dir(s) / RESULT_FILE).read_text())
        shortlist = (result.get("shortlist") or {}).get("seconds", 0.0)
        return (search_seconds(self.search_dir(s)) + shortlist) / 60

    def random_minutes(self, random: pd.DataFrame, seed: int) -> tuple[list[float], str]:
        """Each random training's minutes, and where they come from.

        ``archs.csv``'s ``train_minutes``, else the ground truth's runs; a copy of the summary made
        before ``archs.csv`` carried the minutes has neither, and then each random training is costed
        at the mean wall time of this comparison's own trainings (the same recipe, threads and
        FLOPs window, measured on this machine in this run).
        """
        if "train_minutes" in random and random["train_minutes"].notna().all():
            return random["train_minutes"].tolist(), "ground truth (archs.csv)"
        runs = [truth_run_dir(self.truth, a, seed) / RESULT_FILE for a in random["arch"]]
        if all(r.is_file() for r in runs):
            return [json.loads(r.read_text())["seconds"] / 60 for r in runs], "ground truth (its runs)"
        own = [json.loads((self.train_dir(s, t) / RESULT_FILE).read_text())["seconds"] / 60
               for s in self.search_seeds for t in self.train_seeds]
        return [sum(own) / len(own)] * len(random), "this comparison's trainings (mean, one per random architecture)"

    def truth_tables(self) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
        """The ground truth's X3D-like row, its random architectures' rows and its train seeds (read once)."""
        if self._truth is None:
            truth = pd.read_csv(self.truth / "archs.csv", dtype={"arch": str})
            seeds = [int(c.split("_s")[1]) for c in truth.columns if c.startswith("top1_s")]
            self._truth = truth[truth["arch"] == "x3d"], truth[truth["arch"] != "x3d"].reset_index(drop=True), seeds
        return self._truth

    def searched_accuracies(self, s: int) -> list[float]:
        """Test top-1 (%) of search seed ``s``'s architecture, one per train seed."""
        return [100 * json.loads(self.eval_file(self.train_dir(s, t)).read_text())["top1"] for t in self.train_seeds]

    def table(self) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, str]:
        """The comparison table, its figures, the anytime curve and where a random training's minutes came from."""
        from scipy.stats import ttest_ind

        from nni_autotsnet.anytime import anytime_curve, curve_at

        x3d, random, seeds = self.truth_tables()
        minutes, minutes_source = self.random_minutes(random, seeds[0])
        selected = random.sort_values([f"val_s{seeds[0]}", "arch"], ascending=[False, True], kind="stable").iloc[0]
        selected_acc = [selected[f"top1_s{s}"] for s in seeds]

        def welch(acc: Sequence[float]) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return float(ttest_ind(acc, selected_acc, equal_var=False).pvalue)

        def rank(mean: float) -> int:
            return 1 + int((random["mean"] > mean).sum())

        def row(model, arch, acc, gflops, p, rank_, compute):
            acc = pd.Series(acc, dtype=float)
            std = float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")
            return {"model": model, "architecture": arch, "GFLOPs per view (multiply-adds)": gflops, "n": len(acc),
                    "test top-1 mean (%)": float(acc.mean()), "test top-1 std (%)": std,
                    "test top-1 (%)": f"{acc.mean():.1f} ± {std:.1f}" + (f" ({' / '.join(f'{a:.1f}' for a in acc)})"
                                                                        if len(acc) <= 3 else ""),
                    "Welch p vs selected random": p, "rank among random": rank_, "compute (min)": compute}

        rows, searched, search_min = [], [], []
        for s in self.search_seeds:
            acc = self.searched_accuracies(s)
            result = json.loads((self.search_dir(s) / RESULT_FILE).read_text())
            searched += acc
            search_min.append(self.search_minutes(s))
            rows.append(row(f"searched, search seed {s}", self._digest(s), acc, result["gflops"], welch(acc),
                            rank(sum(acc) / len(acc)), search_min[-1]))
        rows.append(row(f"searched, all {len(self.search_seeds)} searches", "-", searched, float("nan"),
                        welch(searched), None, sum(search_min)))
        rows.append(row("random, selected by validation accuracy", selected["arch"], selected_acc, selected["gflops"],
                        None, rank(selected["mean"]), sum(minutes)))
        if not x3d.empty:
            x = x3d.iloc[0]
            rows.append(row("X3D-like (in the space)", "x3d", [x[f"top1_s{s}"] for s in seeds], x["gflops"],
                            welch([x[f"top1_s{s}"] for s in seeds]), rank(x["mean"]), None))
        rows.append(row(f"random, all {len(random)} (seed means; std across architectures)", "-",
                        list(random["mean"]), float(random["gflops"].mean()), None, None, sum(minutes)))
        table = pd.DataFrame(rows)

        curve, picks = anytime_curve(random[f"val_s{seeds[0]}"], random["mean"], minutes)
        per_search = sum(search_min) / len(search_min)
        n = curve_at(curve, per_search)
        mean = sum(searched) / len(searched)
        figures = {"searched_mean_pct": mean, "selected_random_mean_pct": float(sum(selected_acc) / len(selected_acc)),
                   "welch_p_all_runs": welch(searched),
                   "search_min_each": per_search, "random_search_min": sum(minutes),
                   "compute_ratio": per_search / sum(minutes), "random_curve_n_at_search_compute": n,
                   "random_curve_mean_at_search_compute": float(curve["mean"].iloc[n - 1]),
                   "p_random_curve": float((picks[:, n - 1] >= mean).mean()),
                   "random_minutes_from_ground_truth": float(minutes_source.startswith("ground truth")),
                   "goal_met": float(mean >= sum(selected_acc) / len(selected_acc) and per_search <= sum(minutes) / 2
                                     and mean > curve["mean"].iloc[n - 1])}
        return table, figures, curve, minutes_source

    def shortlists(self) -> pd.DataFrame:
        """Every search's ``ranking.csv`` without its arch JSON, a ``search seed`` column first, the winner marked."""
        from nni_autotsnet.shortlist import read_shortlist

        frames = []
        for s in self.search_seeds:
            frame = read_shortlist(self.search_dir(s)).drop(columns="arch_json")
            frame.insert(0, "search seed", s)
            frame["searched"] = frame["arch"] == self._digest(s)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _digest(self, s: int) -> str:
        from nni_autotsnet.search_space import load_arch
        from nni_autotsnet.search_space.arch import arch_digest

        return arch_digest(load_arch(self.search_dir(s) / ARCH_FILE)[0])

    def write(self) -> str:
        table, figures, curve, source = self.table()
        self.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(self.out / "compare.csv", index=False)
        pd.DataFrame(list(figures.items()), columns=["figure", "value"]).to_csv(self.out / "figures.csv", index=False)
        curve.to_csv(self.out / "anytime.csv", index=False)
        shortlists = self.shortlists()
        shortlists.to_csv(self.out / "shortlists.csv", index=False)
        for s in self.search_seeds:  # the searched architectures, so that their trainings can be repeated elsewhere
            (self.out / "archs").mkdir(exist_ok=True)
            (self.out / "archs" / f"{self._digest(s)}.json").write_bytes((self.search_dir(s) / ARCH_FILE).read_bytes())
        self._plot(table, figures, curve)
        text = "\n".join([f"# Searched against random search ({self.protocol} test views)", "",
                          f"Compute of a random training: {source}.", "",
                          to_markdown(table), "",
                          to_markdown(pd.DataFrame(list(figures.items()), columns=["figure", "value"])), "",
                          "Each search's ranking (`ranking.csv`: the distinct in-window candidates drawn from its alpha; "
                          "scratch_acc: the shortlist training's validation accuracy; full_acc, where "
                          "search.shortlist_full is set: the full recipe's):", "",
                          to_markdown(shortlists), ""])
        (self.out / "compare.md").write_text(text)
        return text

    def _plot(self, table: pd.DataFrame, figures: dict[str, float], curve: pd.DataFrame) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        searched = table[table["model"].str.startswith("searched, all")].iloc[0]
        half = 1.96 * searched["test top-1 std (%)"] / math.sqrt(searched["n"])
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.fill_between(curve["minutes"], curve["low"], curve["high"], alpha=0.25, label="random search, 95% of orders")
        ax.plot(curve["minutes"], curve["mean"], label="random search, expected validation-selected best")
        ax.errorbar([figures["search_min_each"]], [searched["test top-1 mean (%)"]], yerr=[half], fmt="o", color="C3",
                    capsize=4, label="searched (mean, 95% interval)")
        ax.set_xlabel("compute (minutes of training and searching)")
        ax.set_ylabel("test top-1 (%)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(self.out / "anytime.png", dpi=120)
        plt.close(fig)
        self._plot_fig2(table)

    def _plot_fig2(self, table: pd.DataFrame) -> None:
        """The supplement's Figure 2 analog: every trained architecture's test accuracy against its GFLOPs per view."""
        from nni_autotsnet.report_plots import plot_fig2
        from nni_autotsnet.results import GFLOPS_LABEL

        x3d, random, seeds = self.truth_tables()
        seed_rows, arch_rows = [], []

        def add(label: str, arch: str, gflops: float, acc: Sequence[float]) -> None:
            seed_rows.extend({"label": label, "architecture": arch, "gflops": gflops, "accuracy": a,
                              "source": f"test ({self.protocol})"} for a in acc)
            arch_rows.append({"label": label, "architecture": arch, GFLOPS_LABEL: gflops, "n": len(acc),
                              "top-1 mean (%)": sum(acc) / len(acc),
                              "top-1 std (%)": float(pd.Series(acc).std(ddof=1)) if len(acc) > 1 else float("nan")})

        for _, r in random.iterrows():
            add("random", r["arch"], r["gflops"], [r[f"top1_s{s}"] for s in seeds])
        for _, r in x3d.iterrows():
            add("x3d", "x3d", r["gflops"], [r[f"top1_s{s}"] for s in seeds])
        for s in self.search_seeds:
            gflops = json.loads((self.search_dir(s) / RESULT_FILE).read_text())["gflops"]
            add("searched", self._digest(s), gflops, self.searched_accuracies(s))
        selected = table[table["model"].str.startswith("random, selected")].iloc[0]
        arch_rows.append({"label": "best of random", "architecture": selected["architecture"],
                          GFLOPS_LABEL: selected["GFLOPs per view (multiply-adds)"], "n": selected["n"],
                          "top-1 mean (%)": selected["test top-1 mean (%)"],
                          "top-1 std (%)": selected["test top-1 std (%)"]})
        window = tuple(load_config(self.config_path, self.overrides).search.flops_window or ()) or None
        plot_fig2(pd.DataFrame(seed_rows), pd.DataFrame(arch_rows), window, self.out / "fig2_accuracy_vs_gflops.png")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/compare_search.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--truth", type=Path, required=True, help="benchmarks/ground_truth.py --x3d's --out")
    parser.add_argument("--out", type=Path, default=Path("runs/compare-search"))
    parser.add_argument("--search-seeds", type=seed_list, default=[0, 1, 2])
    parser.add_argument("--train-seeds", type=seed_list, default=[0, 1, 2])
    parser.add_argument("--lane", default="0/1", help="K/N: this process runs every N-th unit from the K-th")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    lane, lanes = (int(v) for v in args.lane.split("/"))
    c = SearchComparison(args.config, args.overrides, args.out, args.truth, args.search_seeds, args.train_seeds)
    units = c.units()
    for i, (what, done, run, needs) in enumerate(units):
        if done.is_file() or i % lanes != lane:
            continue
        if needs is not None and not needs.is_file():
            print(f"[compare {i + 1}/{len(units)}] {what}: waits for {needs} (another lane); run again later")
            continue
        print(f"[compare {i + 1}/{len(units)}] {what}", flush=True)
        run()
    if all(done.is_file() for _, done, _, _ in units) and (args.truth / "archs.csv").is_file():
        print(c.write())
    else:
        print("units left (other lanes, or the ground truth); no table yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
