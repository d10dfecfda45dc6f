"""What the comparison scripts of ``benchmarks/`` share: resumable units of work and the searches' compute.

``benchmarks/compare_tiny.py``, ``compare_search.py``, ``supernet_ranking.py`` and
``ground_truth.py`` run long, resumable plans of searches and trainings. Each plan is a list of
:class:`Unit` (skipped when its result file exists); a search's compute is the sum of its epochs'
wall times, kept by :class:`EpochClock` and read back by :func:`search_seconds`. They live here, in
the package, so the scripts import them by name instead of from a sibling file put on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl

from nni_autotsnet.rundir import RESULT_FILE

__all__ = ["seed_list", "Unit", "EpochClock", "EPOCH_CLOCK_FILE", "search_seconds", "TRUTH_ARCHS_DIR", "truth_arch_file",
           "truth_run_dir"]

EPOCH_CLOCK_FILE = "search_epochs.json"  # a benchmark search directory's {part folder: {epoch: seconds}}
TRUTH_ARCHS_DIR = "archs"  # benchmarks/ground_truth.py's --out: one save_arch JSON per architecture


def truth_arch_file(truth: str | Path, name: str) -> Path:
    """Architecture ``name``'s JSON in a ground truth folder (its summary files and this are the whole labels)."""
    return Path(truth) / TRUTH_ARCHS_DIR / f"{name}.json"


def truth_run_dir(truth: str | Path, name: str, seed: int) -> Path:
    """The training run of architecture ``name`` with train seed ``seed`` in a ground truth folder."""
    return Path(truth) / "runs" / name / f"seed{seed}"


@dataclass
class Unit:
    """One unit of work: skipped when ``done()``; ``run()`` does it (resuming what a killed run left)."""

    what: str
    done: Callable[[], bool]
    run: Callable[[], Any]
    group: str = ""  # one of a script's groups: --only runs a subset, so two processes can share the work
    waits_for: Callable[[], bool] | None = None  # what another group (another process) must finish first


class EpochClock(pl.Callback):
    """Each search epoch's wall time (training and validation), kept by part and epoch in a JSON file.

    A search's ``result.json`` times only the last invocation of the search command, so a resumed
    search would look cheaper than it was; this clock keeps every finished epoch once (an epoch
    redone after a kill replaces its record), which is what the random trainings' ``seconds``
    count too (``nni_autotsnet.training.EpochRecorder``).
    """

    def __init__(self, path: Path):
        self.path = path
        self.start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        record = json.loads(self.path.read_text()) if self.path.is_file() else {}
        record.setdefault(Path(trainer.default_root_dir).name, {})[str(trainer.current_epoch)] = \
            time.perf_counter() - self.start
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.path)


def search_seconds(search_dir: Path) -> float:
    """A search's compute: the sum of its epochs' wall times (:class:`EpochClock`), else its result.json seconds."""
    clock = search_dir / EPOCH_CLOCK_FILE
    if clock.is_file():
        return sum(sum(part.values()) for part in json.loads(clock.read_text()).values())
    return float(json.loads((search_dir / RESULT_FILE).read_text())["seconds"])


def seed_list(text: str) -> list[int]:
    """``--seeds 0,1,2`` for argparse: distinct integers separated by commas (an ``ArgumentTypeError`` otherwise)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: expected distinct integers separated by commas")
    return seeds
