"""What a run directory holds: its file names, the search's ``part{i}_{name}/`` folders, ``result.json``.

One home for each on-disk name, so the commands that write a folder (search, train) and those
that read it back (export, ranking, report, random search, the NNI trial table) cannot drift
apart. The exported ``model.pt`` has its own home beside its reader, ``models/exported.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from nni_autotsnet.atomic import write_text

__all__ = ["ARCH_FILE", "ALPHA_FILE", "ALPHA_HISTORY_FILE", "CONFIG_FILE", "METRICS_FILE", "MODEL_FILE", "PART_FILE",
           "RESULT_FILE", "SUPERNET_FILE",
           "ONNX_FILE", "ONNX_CHECK_FILE", "PREDICTIONS_CSV", "PREDICTIONS_JSON", "PART_DIR", "part_dir", "part_dirs", "SEARCH_RESULT_KEYS", "TRAIN_RESULT_KEYS",
           "write_result", "result_kind"]

ARCH_FILE = "arch.json"          # save_arch format; in a part folder it is written last and marks the part done
ALPHA_FILE = "alpha.json"        # Parsec.export_alpha: alpha, the most likely and top architectures
ALPHA_HISTORY_FILE = "alpha_history.jsonl"  # a search part's P(value) of every label, one line an epoch
CONFIG_FILE = "config.yaml"      # the config as run
METRICS_FILE = "metrics.csv"     # one row per epoch
MODEL_FILE = "model.pt"          # models.exported format (load_exported rebuilds it without NNI)
PART_FILE = "part.json"          # how to rebuild a search part's space: preset, parts, fixed, num_classes, index
RESULT_FILE = "result.json"      # the run's summary: SEARCH_RESULT_KEYS or TRAIN_RESULT_KEYS
SUPERNET_FILE = "supernet.pt"    # a search part's weight-sharing supernet state dict
ONNX_FILE = "model.onnx"         # export --onnx: the model for ONNX Runtime, how to feed it in its metadata
ONNX_CHECK_FILE = "onnx_check.json"  # export --onnx: ONNX Runtime against PyTorch on random and decoded clips
PREDICTIONS_CSV = "predictions.csv"    # predict --out: one row per video and rank (top-k with probabilities)
PREDICTIONS_JSON = "predictions.json"  # predict --out: the same, with the settings and the videos not predicted

PART_DIR = re.compile(r"^part(\d+)_(sparse|fusion|all)$")

# result.json of a search directory (python -m nni_autotsnet.search)
SEARCH_RESULT_KEYS = ("accuracy", "gflops", "params", "in_window", "beta", "flops_window", "expected_gflops",
                      "entropy", "health", "healthy", "preset", "parts", "seconds", "supernet_choice", "shortlist")
# result.json of a training run directory (python -m nni_autotsnet.train; random search's runs)
TRAIN_RESULT_KEYS = ("label", "preset", "parts", "arch_file", "gflops", "params", "val_acc", "best_val_acc",
                     "epochs", "seed", "seconds")


def part_dir(search_dir: str | Path, index: int, name: str) -> Path:
    """The folder of a search's ``index``-th part (from 1), searching part ``name`` (sparse, fusion, all)."""
    return Path(search_dir) / f"part{index}_{name}"


def part_dirs(search_dir: str | Path) -> list[tuple[int, str, Path]]:
    """``(index, name, folder)`` of every part folder in a search directory, in part order."""
    root = Path(search_dir)
    found = [(int(m.group(1)), m.group(2), p) for p in root.iterdir()
             if p.is_dir() and (m := PART_DIR.match(p.name))] if root.is_dir() else []
    return sorted(found, key=lambda item: item[0])


def write_result(folder: str | Path, result: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """Write ``folder/result.json`` atomically; every key of ``keys`` must be there (a writer cannot forget one)."""
    missing = [key for key in keys if key not in result]
    if missing:
        raise KeyError(f"result.json without {missing}: the writer and rundir's key list disagree")
    write_text(json.dumps(dict(result), indent=1, default=float), Path(folder) / RESULT_FILE)


def result_kind(result: Mapping[str, Any], folder: str | Path) -> str | None:
    """``"train"``, ``"search"`` or ``None``: which command wrote this ``result.json`` (read from ``folder``)."""
    if "label" in result:
        return "train"
    if "gflops" in result and "beta" in result and (Path(folder) / CONFIG_FILE).is_file():
        return "search"
    return None
