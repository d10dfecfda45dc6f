"""Do short from-scratch trainings rank the architectures? (issue 19: what would change the search)

    python benchmarks/fidelity.py --truth docs/results/ground-truth --compare docs/results/compare-search \\
        --short 10=runs/fidelity-e10 --short 20=runs/fidelity-e20 --out docs/results/fidelity

No supernet ranks this space's in-window architectures (``supernet-modes/``), while the
validation accuracy of a full training selects well. Between the two sits the multi-fidelity
signal that Hyperband-style searches spend (Li and Talwalkar 2019): a few epochs from scratch per
candidate. Each ``--short EPOCHS=DIR`` is a ``benchmarks/ground_truth.py`` output of the same
architectures trained for that many epochs (one seed is enough), for example::

    python benchmarks/ground_truth.py --config experiments/random_tiny32.yaml --out runs/fidelity-e20 \\
        --train-seeds 0 --lane 0/2 train.epochs=20 train.warmup_epochs=2 \\
        train.gradient_clip_val=1.0 trainer.threads=1

(no ``train.ema_decay``: its horizon is longer than such a run.)

For each fidelity (and the truth's own full trainings, seed 0) this writes one row of
``fidelity.md`` / ``fidelity.csv``: Kendall's tau of its validation accuracy against the truth's
3-seed test means, and against the mean of the seeds other than 0 (independent of a seed-0
training's luck), each with a bootstrap 95% interval over the architectures; precision@3; the
minutes of one training; and the *short-then-full* random search: train all N candidates short,
keep the best by validation, train it once in full. Its expected test accuracy (over random
orders of the candidates, :func:`nni_autotsnet.anytime.anytime_curve`) is put against the plain
random curve at the same compute (``--compare``'s ``random_search_min``, 16 full trainings).
With ``--full-top M`` (repeatable) it also writes ``shortlist_full.md`` / ``.csv``: the same search
keeping the best M short runs and training each in full (the truth's seed-0 training), then picking
by their full validation: what ``search.shortlist_full: M`` does, simulated on random candidates.
GFLOPs play no part here; test accuracy is top-1 over the truth's test views.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from nni_autotsnet.anytime import anytime_curve, curve_at
from nni_autotsnet.ranking import precision_at_k, tau_interval
from nni_autotsnet.results import to_markdown

__all__ = ["fidelity_rows", "full_top_rows", "main"]


def _read(folder: Path) -> pd.DataFrame:
    path = folder / "archs.csv"
    if not path.is_file():
        raise SystemExit(f"fidelity: {path} not found (run benchmarks/ground_truth.py into {folder} first)")
    table = pd.read_csv(path, dtype={"arch": str})
    return table[table["arch"] != "x3d"].set_index("arch")  # the random search's draws only


def _short_run(truth: pd.DataFrame, label: str, short: pd.DataFrame) -> tuple[list[float], float]:
    """A short ``archs.csv``'s validation accuracies in the truth's order and its mean minutes a training."""
    missing = sorted(set(truth.index) - set(short.index))
    if missing:
        raise SystemExit(f"fidelity: the {label}-epoch trainings lack {len(missing)} architectures: {missing[:3]}")
    if "train_minutes" not in short.columns:
        raise SystemExit(f"fidelity: the {label}-epoch archs.csv has no train_minutes (rerun ground_truth.py --summary)")
    return [float(v) for v in short.loc[truth.index, "val_s0"]], float(short["train_minutes"].mean())


def _random_search(truth: pd.DataFrame, random_minutes: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Plain random search's anytime curve over the truth's full trainings (seed 0 selects)."""
    return anytime_curve(truth["val_s0"], truth["mean"], [random_minutes / len(truth)] * len(truth))


def _against_random(plain: tuple[pd.DataFrame, np.ndarray], spent: float, mean: float, random_minutes: float) -> dict:
    """A search that spent ``spent`` minutes for a pick testing ``mean``, against plain random search at that compute."""
    curve, picks = plain
    n = curve_at(curve, spent)
    return {"compute (min)": spent, "compute / random search": spent / random_minutes,
            "random curve at that compute": float(curve["mean"].iloc[n - 1]),
            "share of random orders at least as good": float((picks[:, n - 1] >= mean).mean())}


def fidelity_rows(truth: pd.DataFrame, shorts: dict[str, pd.DataFrame], random_minutes: float) -> pd.DataFrame:
    """One row per fidelity: the ranking figures and the short-then-full search against the random curve.

    ``truth``: the full ground truth's ``archs.csv`` (index ``arch``; ``mean``, ``top1_s*``, ``val_s0``);
    ``shorts``: label -> a short ``archs.csv`` of the same architectures (``val_s0``, ``train_minutes``);
    ``random_minutes``: the compute of the random search (its N full trainings).
    """
    full_minutes = random_minutes / len(truth)
    others = [c for c in truth.columns if c.startswith("top1_s") and c != "top1_s0"]
    means, held_out = truth["mean"].tolist(), truth[others].mean(axis=1).tolist()
    plain = _random_search(truth, random_minutes)
    rows = []
    for label, short in {"full": None, **shorts}.items():
        if short is None:
            val, minutes, extra = [float(v) for v in truth["val_s0"]], full_minutes, 0.0
        else:
            (val, minutes), extra = _short_run(truth, label, short), full_minutes
        tau, tau_held = tau_interval(val, means), tau_interval(val, held_out)
        curve, picks = anytime_curve(val, means, [minutes] * len(truth))
        spent = float(curve["minutes"].iloc[-1]) + extra  # all N short, then the pick once in full
        pick = float(picks[:, -1].mean())
        rows.append({"epochs": label, "minutes per training": minutes,
                     "tau vs 3-seed means": str(tau), "tau vs seeds 1-2": str(tau_held),
                     "precision@3": precision_at_k(val, means), "pick of all N: test mean": pick,
                     **_against_random(plain, spent, pick, random_minutes)})
    return pd.DataFrame(rows)


def _top_then_full(short_val: np.ndarray, full_val: np.ndarray, test: np.ndarray, m: int, orders: int = 2000,
                   seed: int = 0) -> np.ndarray:
    """Per random order of the candidates: the best ``m`` by short validation (ties: the one trained first), the
    best of those by full validation (ties: the better short run); the test accuracy of that pick."""
    rng = np.random.default_rng(seed)
    picks = np.empty(orders)
    for i in range(orders):
        order = rng.permutation(len(test))
        top = order[np.argsort(-short_val[order], kind="stable")[:m]]  # already in training order among ties
        picks[i] = test[top[np.argmax(full_val[top])]]
    return picks


def full_top_rows(truth: pd.DataFrame, shorts: dict[str, pd.DataFrame], random_minutes: float,
                  tops: Sequence[int]) -> pd.DataFrame:
    """One row per (fidelity, M): all N trained short, the best M again in full, the best of those by validation."""
    n_arch = len(truth)
    bad = [m for m in tops if not 1 <= m <= n_arch]
    if bad:
        raise SystemExit(f"fidelity: --full-top {bad[0]}: expected 1..{n_arch} (the number of architectures)")
    full_minutes = random_minutes / n_arch
    means, full_val = truth["mean"].to_numpy(float), truth["val_s0"].to_numpy(float)
    plain = _random_search(truth, random_minutes)
    rows = []
    for label, short in shorts.items():
        short_val, minutes = _short_run(truth, label, short)
        for m in tops:
            picks = _top_then_full(np.asarray(short_val), full_val, means, m)
            spent = n_arch * minutes + m * full_minutes
            rows.append({"epochs": label, "best M in full": m, "test mean": float(picks.mean()),
                         "share of orders picking the best": float((picks == means.max()).mean()),
                         **_against_random(plain, spent, float(picks.mean()), random_minutes)})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, required=True, help="benchmarks/ground_truth.py's full output")
    parser.add_argument("--compare", type=Path, required=True,
                        help="benchmarks/compare_search.py's output (its figures.csv's random_search_min)")
    parser.add_argument("--short", action="append", required=True, metavar="EPOCHS=DIR",
                        help="a ground_truth.py output of short trainings (repeatable)")
    parser.add_argument("--full-top", action="append", type=int, default=[], metavar="M",
                        help="also simulate training the best M short runs in full (repeatable)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    shorts = {}
    for item in args.short:
        label, sep, folder = item.partition("=")
        if not sep or not label.strip().isdigit():
            parser.error(f"--short {item!r}: expected EPOCHS=DIR, e.g. 20=runs/fidelity-e20")
        shorts[label.strip()] = _read(Path(folder))
    figures = pd.read_csv(args.compare / "figures.csv").set_index("figure")["value"]
    random_minutes = float(figures["random_search_min"])
    truth = _read(args.truth)
    table = fidelity_rows(truth, shorts, random_minutes)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "fidelity.csv", index=False)
    text = to_markdown(table.round(3))
    (args.out / "fidelity.md").write_text(
        "# Short trainings as a ranking (benchmarks/fidelity.py)\n\n" + text + "\n\nIntervals: bootstrap over the "
        f"architectures, 95%. Random search: {len(truth)} full trainings, {random_minutes:.1f} min.\n")
    print(text)
    if args.full_top:
        tops = full_top_rows(truth, shorts, random_minutes, args.full_top)
        tops.to_csv(args.out / "shortlist_full.csv", index=False)
        (args.out / "shortlist_full.md").write_text(
            "# Short trainings, then the best M in full (benchmarks/fidelity.py --full-top)\n\n" + to_markdown(tops)
            + f"\n\nOver 2,000 random orders of the {len(truth)} candidates (ties go to the one trained first); "
            f"test mean: the 3-seed test top-1 (%) of the pick. Random search: {random_minutes:.1f} min.\n")
        print(to_markdown(tops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
