"""Search and training runs found on disk, and the tables made of them (the report's data, no plots).

``python -m nni_autotsnet.report`` (the command), its figures (:mod:`nni_autotsnet.report_plots`)
and the main job's Table 1 all read runs and tables from here; how a run is recognised is in the
report command's docstring.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

from nni_autotsnet.errors import UserError
from nni_autotsnet.rundir import (ARCH_FILE, CONFIG_FILE, METRICS_FILE, RESULT_FILE, part_dirs, read_alpha_history,
                                  result_kind)
from nni_autotsnet.search_space.arch import arch_digest

__all__ = ["ReportError", "SearchRun", "TrainRun", "RankingTable", "find_runs", "find_all", "train_frame",
           "comparison_table", "ranking_line", "parse_window", "to_markdown",
           "table1", "table1_row", "health_cell", "GFLOPS_LABEL", "HEALTH_LABEL", "MAX_DEPTH"]

GFLOPS_LABEL = "GFLOPs per view (multiply-adds)"
HEALTH_LABEL = "search health"
MAX_DEPTH = 5  # experiment/environments/local-env/trials/<id> is 4 levels below an NNI experiment folder
LABEL_RANK = {"searched": 0, "x3d": 1, "random": 3}  # table order; any other label: 2


class ReportError(UserError):
    """A path is not a directory or holds no run; the message names the path."""


@dataclass
class SearchRun:
    """One search directory: its result, config, per-epoch metrics and alpha history per part."""
    path: Path
    result: dict
    config: dict
    metrics: pd.DataFrame
    alpha: list[tuple[str, list[dict]]] = field(default_factory=list)  # (part, one record an epoch), in order
    name: str = ""

    @property
    def beta(self) -> float:
        return float(self.result.get("beta", (self.config.get("search") or {}).get("beta", 0.0)) or 0.0)

    @property
    def window(self) -> tuple[float, float] | None:
        window = self.result.get("flops_window") or (self.config.get("search") or {}).get("flops_window")
        return (float(window[0]), float(window[1])) if window else None


@dataclass
class TrainRun:
    """One training run directory: its result, evaluations by protocol, architecture identity, config if any."""
    path: Path
    result: dict
    evals: dict[str, dict]
    arch_key: str
    arch_name: str
    config: dict = field(default_factory=dict)


@dataclass
class RankingTable:
    """One ranking table (:data:`nni_autotsnet.ranking.RANKING_FILE`): inherited against from-scratch accuracy."""
    path: Path
    frame: pd.DataFrame
    name: str = ""


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        _warn(f"{path}: unreadable ({err}); skipped")
        return None
    return data if isinstance(data, dict) else None


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        _warn(f"{path}: unreadable ({err}); its curves are left out")
        return pd.DataFrame()


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, yaml.YAMLError) as err:
        _warn(f"{path}: unreadable ({err}); its window is unknown")
        return {}
    return data if isinstance(data, dict) else {}


def _alpha_history(path: Path) -> list[tuple[str, list[dict]]]:
    """``part{i}_{name}/alpha_history.jsonl`` in part order; a re-run part's later line for an epoch wins."""
    parts = []
    for _, name, part_dir in part_dirs(path):
        if epochs := read_alpha_history(part_dir, _warn):
            parts.append((name, epochs))
    return parts


def _arch_identity(path: Path, result: dict) -> tuple[str, str]:
    """(grouping key, short name) of a training run's architecture: the arch file's content, else its GFLOPs.

    The name is the arch file's stem, or for a run's own ``arch.json`` the digest the random search
    names its run folders by (the first 10 hex digits of the SHA-1 of the sorted arch JSON).
    """
    arch_file = result.get("arch_file")
    candidates = ([Path(arch_file)] if Path(arch_file).is_absolute() else [path / arch_file, Path(arch_file)]) \
        if arch_file else []
    stem = Path(arch_file).stem if arch_file else ""
    for candidate in [*candidates, path / ARCH_FILE]:
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
                arch = data.get("arch", data) if isinstance(data, dict) else data
                text = json.dumps(arch, sort_keys=True)
            except (OSError, TypeError, ValueError):
                continue
            digest = arch_digest(arch)
            return "arch:" + text, stem if stem and stem != "arch" else digest
    gflops = result.get("gflops")
    key = f"gflops:{float(gflops):.6g}" if gflops is not None else f"run:{path}"
    return key, stem or str(result.get("label", path.name))


def _classify(path: Path) -> SearchRun | TrainRun | None:
    """The run stored in ``path`` itself, or ``None``."""
    if not (path / RESULT_FILE).is_file():
        return None
    result = _read_json(path / RESULT_FILE)
    if result is None:
        return None
    kind = result_kind(result, path)
    if kind == "train":
        evals = {}
        for folder in sorted(path.glob("eval_*")):
            data = _read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else None
            if data is not None:
                evals[folder.name[len("eval_"):]] = data
        key, name = _arch_identity(path, result)
        return TrainRun(path, result, evals, key, name, _read_yaml(path / CONFIG_FILE))
    if kind == "search":
        return SearchRun(path, result, _read_yaml(path / CONFIG_FILE), _read_csv(path / METRICS_FILE),
                         _alpha_history(path))
    return None


def _ranking(path: Path) -> RankingTable | None:
    """The ranking table in ``path`` (a CSV file), or ``None`` with a warning when it does not read."""
    from nni_autotsnet.ranking import RankingError, read_ranking_table

    try:
        return RankingTable(path, read_ranking_table(path))
    except RankingError as err:
        _warn(f"{err}; skipped")
        return None


def _walk(root: Path, depth: int, found: list) -> None:
    from nni_autotsnet.ranking import RANKING_FILE

    if (root / RANKING_FILE).is_file() and (table := _ranking(root / RANKING_FILE)) is not None:
        found.append(table)
    run = _classify(root)
    if run is not None:
        found.append(run)
        return
    if depth >= MAX_DEPTH:
        return
    try:
        children = sorted(e.path for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return
    for child in children:
        _walk(Path(child), depth + 1, found)


def _unique_names(runs: list[SearchRun] | list[RankingTable]) -> None:
    """File-safe names: the folders' own names, or their last few path parts where two would clash."""
    for depth in range(1, 9):
        names = ["".join(c if c.isalnum() or c in "-." else "_" for c in "_".join(_name_parts(r)[-depth:]))
                 for r in runs]
        if len(set(names)) == len(names):
            break
    else:
        names = [f"{name}-{i}" for i, name in enumerate(names)]
    for run, name in zip(runs, names):
        run.name = name


def _name_parts(run: SearchRun | RankingTable) -> tuple[str, ...]:
    """The path parts a run is named by: a search's folder, a ranking table's folder (its file name is fixed)."""
    from nni_autotsnet.ranking import RANKING_FILE

    path = run.path.resolve()
    if isinstance(run, RankingTable):
        return path.parent.parts if path.name == RANKING_FILE else (*path.parent.parts, path.stem)
    return path.parts


def find_all(paths: Sequence[str | os.PathLike]) -> tuple[list[SearchRun], list[TrainRun], list[RankingTable]]:
    """Search runs, training runs and ranking tables in or below ``paths`` (each path must hold at least one).

    A path may also be a ranking table itself (a ``.csv`` file).
    """
    found: list = []
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        here: list = []
        if root.is_file() and root.suffix == ".csv":
            table = _ranking(root)
            if table is None:
                raise ReportError(f"{root}: not a ranking table (see the warning above)")
            here.append(table)
        elif not root.is_dir():
            raise ReportError(f"{root}: {'not a directory' if root.exists() else 'no such directory'}")
        else:
            _walk(root, 0, here)
        if not here:
            raise ReportError(f"{root}: no search directory (config.yaml + result.json), training run "
                              f"(result.json with a 'label') or ranking table (ranking.csv) in it or up to "
                              f"{MAX_DEPTH} levels below")
        for run in here:
            if run.path.resolve() not in seen:
                seen.add(run.path.resolve())
                found.append(run)
    searches = [r for r in found if isinstance(r, SearchRun)]
    rankings = [r for r in found if isinstance(r, RankingTable)]
    _unique_names(searches)
    _unique_names(rankings)
    return searches, [r for r in found if isinstance(r, TrainRun)], rankings


def find_runs(paths: Sequence[str | os.PathLike]) -> tuple[list[SearchRun], list[TrainRun]]:
    """Search and training runs in or below ``paths`` (:func:`find_all` without the ranking tables)."""
    searches, trains, _ = find_all(paths)
    return searches, trains


def ranking_line(table: RankingTable) -> str:
    """One line on how well a supernet ranks: Kendall's tau and its p-value over the table's architectures."""
    from nni_autotsnet.ranking import ranking_tau

    n = int((table.frame["inherited_acc"].notna() & table.frame["scratch_acc"].notna()).sum())
    return (f"Kendall tau {ranking_tau(table.frame)} between inherited (supernet) and from-scratch accuracy "
            f"over {n} architectures: {table.path}")


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------
def _pct(value: Any) -> float | None:
    """Accuracy in percent: a fraction (at most 1) times 100, a value above 1 as it is."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else 100.0 * value if value <= 1.0 else value


def _protocol(runs: list[TrainRun], requested: str | None) -> str | None:
    """The evaluation protocol to plot: ``requested``, else the one most runs were evaluated with."""
    if requested:
        return requested
    counts = Counter(p for r in runs for p, m in r.evals.items() if _pct(m.get("top1")) is not None)
    return counts.most_common(1)[0][0] if counts else None


def train_frame(runs: list[TrainRun], protocol: str | None = None) -> pd.DataFrame:
    """One row per training run: label, architecture, GFLOPs per view, accuracy (%) and where it comes from.

    The accuracy is the top-1 of ``eval_<protocol>/metrics.json`` (the protocol most runs have when
    ``protocol`` is ``None``), else the last epoch's ``val_acc``, so every run gets a point.
    """
    protocol = _protocol(runs, protocol)
    rows = []
    for run in runs:
        ev = run.evals.get(protocol) if protocol else None
        if ev is not None and _pct(ev.get("top1")) is not None:
            acc, source = _pct(ev["top1"]), f"top-1, {ev.get('protocol') or protocol}"
        else:
            acc, source = _pct(run.result.get("val_acc")), "val_acc (last epoch)"
        gflops = run.result.get("gflops")
        rows.append({"label": str(run.result["label"]), "arch_key": run.arch_key, "architecture": run.arch_name,
                     "gflops": None if gflops is None else float(gflops),
                     "params_m": (run.result.get("params") or 0) / 1e6, "seed": run.result.get("seed"),
                     "accuracy": acc, "source": source, "path": str(run.path)})
    return pd.DataFrame(rows, columns=["label", "arch_key", "architecture", "gflops", "params_m", "seed",
                                       "accuracy", "source", "path"])


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's numbers: one row per (label, architecture), mean ± std over seeds, and best of random.

    The std is the sample standard deviation (ddof 1) over the seeds of one architecture; ``n`` is
    their number. The last row, ``best of random``, repeats the random architecture with the
    highest mean accuracy (over its seeds, when it has several).
    """
    rows = []
    frame = frame[frame["accuracy"].notna()]
    for (label, _), group in frame.groupby(["label", "arch_key"], sort=False):
        acc = group["accuracy"].astype(float)
        std = float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")
        rows.append({"label": label, "architecture": group["architecture"].iloc[0],
                     GFLOPS_LABEL: float(group["gflops"].mean()), "params (M)": float(group["params_m"].mean()),
                     "n": len(acc), "seeds": " ".join(str(s) for s in group["seed"]),
                     "top-1 mean (%)": float(acc.mean()), "top-1 std (%)": std,
                     "top-1 (%)": f"{acc.mean():.2f}" + ("" if math.isnan(std) else f" ± {std:.2f}"),
                     "accuracy from": "; ".join(sorted(set(group["source"])))})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["rank"] = [LABEL_RANK.get(label, 2) for label in table["label"]]
    table = table.sort_values(["rank", "label", "top-1 mean (%)"], ascending=[True, True, False], kind="stable")
    table = table.drop(columns="rank").reset_index(drop=True)
    for label in table["label"].unique():  # two architectures of one label with one name: number them
        mask = table["label"] == label
        clash = table.loc[mask, "architecture"].duplicated(keep=False)
        if clash.any():
            table.loc[mask, "architecture"] = [f"{n} #{i + 1}" if c else n
                                               for i, (n, c) in enumerate(zip(table.loc[mask, "architecture"], clash))]
    random = table[table["label"] == "random"]
    if not random.empty:
        best = random.loc[random["top-1 mean (%)"].idxmax()].to_dict()
        best["label"] = "best of random"
        table = pd.concat([table, pd.DataFrame([best])], ignore_index=True)
    return table


def health_cell(result: dict) -> str:
    """A search's health for a table, from its result.json: ``ok``, ``WARNING: <part>: <problems>``, or ``-``.

    The search writes each part's verdict at its last epoch (``strategies/health.py``: ``chance``,
    ``flat_weights``, ``alpha_still``, ``nonfinite``); ``-`` means none was recorded (a search run
    before the check existed).
    """
    health = result.get("health")
    flags = {str(part): str(flag) for part, flag in health.items() if flag} if isinstance(health, dict) else {}
    if not flags:
        return "-"
    bad = [f"{part}: {flag.replace(',', ', ')}" for part, flag in flags.items() if flag != "ok"]
    return "WARNING: " + "; ".join(bad) if bad else "ok"


def table1_row(name: str, result: dict, beta: float, window: Sequence[float] | None, path: Any) -> dict:
    """One search's row of the Table 1 analog from its ``result.json`` (the report's and the main job's table)."""
    window = window if beta and window else None  # no constraint at beta 0: the window is ``-``
    return {"search": name, "beta": beta,
            "T_min, " + GFLOPS_LABEL: window[0] if window else None,
            "T_max, " + GFLOPS_LABEL: window[1] if window else None,
            "searched, " + GFLOPS_LABEL: float(result["gflops"]) if result.get("gflops") is not None else None,
            "in window": result.get("in_window"),
            "val acc, most likely arch on the supernet (%)": _pct(result.get("accuracy")),
            HEALTH_LABEL: health_cell(result),
            "expected under alpha, " + GFLOPS_LABEL: result.get("expected_gflops"),
            "params (M)": (result.get("params") or 0) / 1e6, "preset": result.get("preset"), "path": str(path)}


def table1(searches: list[SearchRun]) -> pd.DataFrame:
    """Supplement Table 1's analog, sorted by beta: the window is ``-`` where beta is 0 (no constraint)."""
    table = pd.DataFrame([table1_row(run.name, run.result, run.beta, run.window, run.path) for run in searches])
    return table.sort_values(["beta", "search"], kind="stable", ignore_index=True) if searches else table


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def parse_window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ReportError(f"--window {text!r}: expected two numbers lo,hi (GFLOPs per view)") from None
    if not 0 <= lo <= hi:
        raise ReportError(f"--window {text!r}: expected 0 <= lo <= hi")
    return lo, hi


def to_markdown(df: pd.DataFrame, drop: Sequence[str] = ("path",)) -> str:
    """A GitHub markdown table, 4 significant figures, ``-`` for missing, ``yes``/``no`` for booleans."""
    df = df.drop(columns=[c for c in drop if c in df.columns])

    def cell(v: Any) -> str:
        if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            return "-"
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.astype(object).itertuples(index=False)]
    return "\n".join(lines)
