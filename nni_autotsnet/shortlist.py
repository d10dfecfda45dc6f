"""A search's ranked shortlist (issue 19 part 3): candidates drawn from alpha, scored on the supernet, the best trained.

A supernet finds the top tenth of a space reliably but not its single best architecture (Zhang et
al., "How does supernet help in NAS"), and NNI's users ask for a ranking, not only the most likely
architecture (microsoft/nni#4795). At the end of a search:

* :func:`rank_search` draws ``search.rank_candidates`` distinct architectures from alpha (inside the
  cost window when there is one; ``search.rank_scope``: the last part's labels, or every part's from
  its own alpha; ``search.rank_temperature`` flattens alpha), scores each the last part's supernet
  holds (inherited weights, batch norm recalibrated, validation split) and writes the search
  directory's ``ranking.csv``, best first;
* :func:`run_shortlist` trains the top ``search.shortlist`` rows from scratch (the train recipe at
  ``search.shortlist_epochs`` with ``search.shortlist_train``), fills their ``scratch_acc``
  (validation accuracy, the selection criterion), trains the best ``search.shortlist_full`` of them
  again with the full recipe (``full_acc``) and returns the winner, which becomes the search's
  ``arch.json``. Short trainings from scratch ranked the search-quality study's 16 architectures at
  tau 0.48 where no supernet passed 0.27 (docs/results/search-quality.md), hence the two fidelities.

``ranking.csv`` is a ranking table (:mod:`nni_autotsnet.ranking`: ``arch``, ``gflops``,
``inherited_acc``, ``scratch_acc``) with the columns ``rank``, ``params``, ``probability``
(P(arch | alpha)), ``latency_ms`` (predicted, with a latency table), ``full_acc`` and ``arch_json``
(the full architecture), so ``python -m nni_autotsnet.report`` reads it and ``export --rank R``
exports row R. GFLOPs are multiply-adds per view.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from nni_autotsnet.config import ExperimentConfig, with_train
from nni_autotsnet.errors import UserError
from nni_autotsnet.ranking import RANKING_FILE, inherited_accuracy, read_ranking_table, write_ranking_table
from nni_autotsnet.rundir import ALPHA_FILE, CHECKPOINT_FILE, RESULT_FILE
from nni_autotsnet.search_space import CostModel, load_preset, make_layout
from nni_autotsnet.search_space.arch import arch_digest
from nni_autotsnet.supernet import Part

__all__ = ["SHORTLIST_DIR", "FULL_DIR", "draw_candidates", "whole_space_alpha", "rank_search", "read_shortlist", "run_shortlist", "ranked_arch"]

SHORTLIST_DIR = "shortlist"  # <search>/shortlist/<digest>/: the shortlist's training runs
FULL_DIR = "full"  # <search>/shortlist/full/<digest>/: its best ones trained with the full recipe (shortlist_full)
# the columns of a search's ranking.csv (and latency_ms with a latency table): the header of an empty one
RANKED_COLUMNS = ("arch", "gflops", "inherited_acc", "scratch_acc", "rank", "params", "probability", "arch_json")


def draw_candidates(alpha: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any], n: int, seed: int = 0,
                    accept: Callable[[Mapping[str, Any]], bool] | None = None,
                    max_draws: int | None = None, temperature: float = 1.0) -> list[tuple[dict[str, Any], float]]:
    """Up to ``n`` distinct architectures drawn from alpha.json's per-label ``probs``, with P(arch | alpha).

    Each label is drawn independently (PARSEC's distribution) from ``probs ** (1 / temperature)``,
    renormalised: a temperature above 1 spreads the draws over an alpha that has concentrated on a few
    near-identical architectures; the probability returned is always the untempered P(arch | alpha).
    ``fixed`` (the labels earlier parts pinned) completes every architecture; ``accept`` (e.g. "inside
    the window") filters; at most ``max_draws`` draws (default ``50 n``) so that a concentrated alpha
    ends the loop.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    labels = list(alpha)
    probs = [np.asarray(alpha[label]["probs"], dtype=float) for label in labels]
    probs = [p / p.sum() for p in probs]
    drawing = [p ** (1.0 / temperature) for p in probs]
    drawing = [d / d.sum() for d in drawing]
    found: dict[str, tuple[dict[str, Any], float]] = {}
    for _ in range(max_draws or 50 * n):
        if len(found) == n:
            break
        picks = [int(rng.choice(len(d), p=d)) for d in drawing]
        arch = {**fixed, **{label: alpha[label]["values"][i] for label, i in zip(labels, picks)}}
        key = arch_digest(arch)
        if key in found or (accept is not None and not accept(arch)):
            continue
        found[key] = (arch, float(math.prod(p[i] for p, i in zip(probs, picks))))
    return list(found.values())


def whole_space_alpha(parts: Sequence[Part]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every searched label's distribution, from the alpha of the part that searched it, and the labels none did.

    A progressive search's later parts pin the labels earlier parts chose, so the last part's alpha
    covers only its own labels; drawing over the whole space takes each label from its own part.
    """
    alpha: dict[str, Any] = {}
    for part in parts:
        if part.alpha is None or "alpha" not in part.alpha:
            raise UserError(f"{part.path / ALPHA_FILE}: missing; the ranking draws its candidates from alpha")
        alpha.update(part.alpha["alpha"])
    fixed = {label: value for label, value in parts[-1].fixed.items() if label not in alpha}
    return alpha, fixed


def rank_search(config: ExperimentConfig, part: Part, search_dir: Path, train_ds, val_ds,
                latency_fn: Callable[[Mapping[str, Any]], float] | None = None,
                earlier: Sequence[Part] = ()) -> pd.DataFrame:
    """Write ``search_dir/ranking.csv`` for the last ``part`` (see the module doc) and return it.

    ``earlier``: the search's other parts, in order, which ``search.rank_scope: all`` draws their labels from.
    """
    s = config.search
    if part.alpha is None or "alpha" not in part.alpha:
        raise UserError(f"{part.path / ALPHA_FILE}: missing; the ranking draws its candidates from alpha")
    layout = make_layout(load_preset(part.preset), part.parts)
    cost = CostModel(layout, part.num_classes or train_ds.num_classes)
    window = s.flops_window

    def accept(arch: Mapping[str, Any]) -> bool:
        if s.cost == "latency" and s.latency_window is not None and latency_fn is not None:
            return s.latency_window[0] <= latency_fn(arch) <= s.latency_window[1]
        return window is None or window[0] <= cost.flops(arch) / 1e9 <= window[1]

    alpha, fixed = (whole_space_alpha([*earlier, part]) if s.rank_scope == "all"
                    else (part.alpha["alpha"], part.fixed))
    drawn = draw_candidates(alpha, fixed, s.rank_candidates, seed=s.seed, accept=accept,
                            temperature=s.rank_temperature)
    if not drawn:  # alpha holds (almost) no mass inside the window, e.g. a search without the cost term (beta 0)
        return write_ranking_table([], search_dir / RANKING_FILE, columns=RANKED_COLUMNS)
    archs = [arch for arch, _ in drawn]
    # the last supernet holds the architectures that keep the earlier parts' choices (all of them with scope last)
    held = [i for i, arch in enumerate(archs) if all(arch.get(k) == v for k, v in part.fixed.items())]
    scored = inherited_accuracy(part.path, [archs[i] for i in held], train_ds, val_ds,
                                calibration_batches=s.rank_calibration_batches, batch_size=config.data.batch_size,
                                num_workers=config.data.num_workers, seed=s.seed) if held else []
    accuracy = [float("nan")] * len(archs)
    for i, acc in zip(held, scored):
        accuracy[i] = acc
    rows = []
    for (arch, prob), acc in zip(drawn, accuracy):
        row = {"arch": arch_digest(arch), "gflops": cost.flops(arch) / 1e9, "inherited_acc": acc,
               "scratch_acc": float("nan"), "params": cost.params(arch), "probability": prob,
               "arch_json": json.dumps(arch, sort_keys=True)}
        if latency_fn is not None:
            row["latency_ms"] = latency_fn(arch)
        rows.append(row)
    order = ["probability"] if s.rank_scope == "all" else ["inherited_acc", "probability"]
    frame = pd.DataFrame(rows).sort_values(order, ascending=False, kind="stable")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return write_ranking_table(frame.to_dict("records"), search_dir / RANKING_FILE)


def read_shortlist(search_dir: Path) -> pd.DataFrame:
    """A search directory's ``ranking.csv`` with its ``rank`` and ``arch_json`` columns (errors name the file)."""
    path = Path(search_dir) / RANKING_FILE
    if not path.is_file():
        raise UserError(f"{path}: missing; the search writes it when search.rank_candidates > 0")
    frame = read_ranking_table(path)
    for column in ("rank", "arch_json"):
        if column not in frame.columns:
            raise UserError(f"{path}: no column {column!r}: not a search's ranking (a comparison's ranking table?)")
    return frame


def ranked_arch(search_dir: Path, rank: int) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The architecture of row ``rank`` (1-based) of a search's ``ranking.csv``, and the row."""
    frame = read_shortlist(search_dir)
    rows = frame[frame["rank"] == rank]
    if rows.empty:
        raise UserError(f"{Path(search_dir) / RANKING_FILE}: no rank {rank} (ranks 1 to {int(frame['rank'].max())})")
    row = rows.iloc[0]
    return json.loads(row["arch_json"]), row


def _shortlist_config(config: ExperimentConfig) -> ExperimentConfig:
    """The train recipe at ``search.shortlist_epochs`` (the warm-up kept shorter) with ``search.shortlist_train``."""
    s = config.search
    if s.shortlist_epochs is None and not s.shortlist_train:
        return config
    updates: dict[str, Any] = {}
    if s.shortlist_epochs is not None:
        warmup = min(config.train.scaled_warmup_epochs, max(0, s.shortlist_epochs - 1))
        updates.update(epochs=s.shortlist_epochs, warmup_epochs=warmup, epoch_scale=1.0)
    return with_train(config, {**updates, **(s.shortlist_train or {})})


def _train_rows(config: ExperimentConfig, part: Part, rows: pd.DataFrame, folder: Path, label: str
                ) -> tuple[dict[str, dict], float]:
    """Train each row's architecture in ``folder/<digest>/`` (a finished run is read, a killed one resumed)."""
    from nni_autotsnet.training import train

    results, seconds = {}, 0.0
    for _, row in rows.iterrows():
        run = folder / row["arch"]
        if (run / RESULT_FILE).is_file():
            result = json.loads((run / RESULT_FILE).read_text())
        else:
            result = train(config, json.loads(row["arch_json"]), part.preset, part.parts, run,
                           label=f"{label}-rank{int(row['rank'])}", resume=(run / CHECKPOINT_FILE).is_file())
        results[row["arch"]] = result
        seconds += float(result["seconds"])
    return results, seconds


def _best(frame: pd.DataFrame, results: Mapping[str, dict], column: str) -> pd.DataFrame:
    """The rows of ``results`` best first by ``column`` (ties: the best epoch's accuracy, then the supernet's rank)."""
    order = frame[frame["arch"].isin(results)].assign(best=[results[a]["best_val_acc"] for a in frame["arch"]
                                                            if a in results])
    return order.sort_values([column, "best", "rank"], ascending=[False, False, True], kind="stable")


def run_shortlist(config: ExperimentConfig, part: Part, search_dir: Path) -> tuple[pd.Series, pd.DataFrame, float]:
    """Train the top ``search.shortlist`` rows from scratch; return the winner's row, the updated table, the seconds.

    Each is a training run in ``search_dir/shortlist/<digest>/`` (``search.shortlist_epochs`` and
    ``search.shortlist_train``); their last-epoch validation accuracies go into ``ranking.csv``'s
    ``scratch_acc``. With ``search.shortlist_full: m`` the best m of them are trained again with the
    full train recipe in ``search_dir/shortlist/full/<digest>/`` (``full_acc``) and the winner is the
    best of those; otherwise the best of the short runs (ties: the best epoch's, then the rank).
    """
    s = config.search
    frame = read_shortlist(search_dir)
    results, seconds = _train_rows(_shortlist_config(config), part, frame.head(s.shortlist),
                                   search_dir / SHORTLIST_DIR, "shortlist")
    frame["scratch_acc"] = [results[a]["val_acc"] if a in results else float("nan") for a in frame["arch"]]
    order = _best(frame, results, "scratch_acc")
    if s.shortlist_full:
        full, full_seconds = _train_rows(config, part, order.head(s.shortlist_full),
                                         search_dir / SHORTLIST_DIR / FULL_DIR, "full")
        seconds += full_seconds
        frame["full_acc"] = [full[a]["val_acc"] if a in full else float("nan") for a in frame["arch"]]
        order = _best(frame, full, "full_acc")
    write_ranking_table(frame.to_dict("records"), search_dir / RANKING_FILE)
    return order.iloc[0], frame, seconds
