"""What a run directory holds: its file names, the search's ``part{i}_{name}/`` folders, and their formats.

One home for each on-disk name, so the commands that write a folder (search, train) and those
that read it back (export, ranking, report, random search, the NNI trial table) cannot drift
apart; ``tests/test_one_home.py`` checks that no other module spells a name. Here too are the
readers and writers of the small files several modules share: ``config.yaml``
(:func:`write_config`, :func:`read_config`), ``alpha.json`` (:func:`write_alpha`,
:func:`read_alpha`), ``alpha_history.jsonl`` (:func:`append_alpha_history`,
:func:`read_alpha_history`), ``part.json`` (:func:`write_part_info`, :func:`read_part_info`) and
``result.json`` (:func:`write_result`). ``arch.json``'s format is
``search_space/arch.py``'s (``save_arch``, ``load_arch``, ``read_arch``); the exported ``model.pt``
has its own home beside its reader, ``models/exported.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from nni_autotsnet.atomic import write_text

__all__ = ["ARCH_FILE", "ALPHA_FILE", "ALPHA_HISTORY_FILE", "CHECKPOINT_FILE", "CONFIG_FILE", "LOCK_FILE",
           "METRICS_FILE", "MODEL_FILE", "PART_FILE", "RANDOM_FILE", "RANKING_FILE", "RESULT_FILE", "SUPERNET_FILE",
           "ONNX_FILE", "ONNX_CHECK_FILE", "PREDICTIONS_CSV", "PREDICTIONS_JSON", "PART_DIR",
           "checkpoint_stem", "part_dir", "part_dirs", "SEARCH_RESULT_KEYS", "TRAIN_RESULT_KEYS", "write_result",
           "result_kind", "write_config", "read_config", "write_alpha", "read_alpha", "append_alpha_history",
           "read_alpha_history", "write_part_info", "read_part_info"]

ARCH_FILE = "arch.json"          # save_arch format; in a part folder it is written last and marks the part done
ALPHA_FILE = "alpha.json"        # Parsec.export_alpha: alpha, the most likely and top architectures
ALPHA_HISTORY_FILE = "alpha_history.jsonl"  # a search part's P(value) of every label, one line an epoch
CHECKPOINT_FILE = "last.ckpt"    # Lightning checkpoint of a training run or a search part, rewritten every epoch
CONFIG_FILE = "config.yaml"      # the config as run
METRICS_FILE = "metrics.csv"     # one row per epoch
MODEL_FILE = "model.pt"          # models.exported format (load_exported rebuilds it without NNI)
PART_FILE = "part.json"          # how to rebuild a search part's space: preset, parts, fixed, num_classes, index
RANDOM_FILE = "random.csv"       # random_search's table: a row per architecture, run folders relative to it
RANKING_FILE = "ranking.csv"     # nni_autotsnet.ranking's table: a search's candidates, or a comparison's
RESULT_FILE = "result.json"      # the run's summary: SEARCH_RESULT_KEYS or TRAIN_RESULT_KEYS
SUPERNET_FILE = "supernet.pt"    # a search part's weight-sharing supernet state dict
ONNX_FILE = "model.onnx"         # export --onnx: the model for ONNX Runtime, how to feed it in its metadata
ONNX_CHECK_FILE = "onnx_check.json"  # export --onnx: ONNX Runtime against PyTorch on random and decoded clips
PREDICTIONS_CSV = "predictions.csv"    # predict --out: one row per video and rank (top-k with probabilities)
PREDICTIONS_JSON = "predictions.json"  # predict --out: the same, with the settings and the videos not predicted
LOCK_FILE = ".command.lock"      # held while a command writes the folder (nni_autotsnet.locking)

PART_DIR = re.compile(r"^part(\d+)_(sparse|fusion|all)$")

# result.json of a search directory (python -m nni_autotsnet.search)
SEARCH_RESULT_KEYS = ("accuracy", "gflops", "params", "in_window", "beta", "flops_window", "expected_gflops",
                      "entropy", "health", "healthy", "preset", "parts", "seconds", "supernet_choice", "shortlist")
# result.json of a training run directory (python -m nni_autotsnet.train; random search's runs)
TRAIN_RESULT_KEYS = ("label", "preset", "parts", "arch_file", "gflops", "params", "val_acc", "best_val_acc",
                     "epochs", "seed", "seconds")


def checkpoint_stem() -> str:
    """``last``: the ``filename`` Lightning's ``ModelCheckpoint`` is given to write :data:`CHECKPOINT_FILE`."""
    return CHECKPOINT_FILE.rsplit(".", 1)[0]


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


# ------------------------------------------------------------------------------------------------
# config.yaml
# ------------------------------------------------------------------------------------------------
def write_config(folder: str | Path, raw: Mapping[str, Any]) -> None:
    """Write ``folder/config.yaml``: the config as run (``nni_autotsnet.config.portable_raw``: paths absolute)."""
    write_text(yaml.safe_dump(dict(raw), sort_keys=False), Path(folder) / CONFIG_FILE)


def read_config(folder: str | Path) -> dict:
    """The mapping in ``folder/config.yaml`` (``{}`` when the file is empty or not a mapping)."""
    data = yaml.safe_load((Path(folder) / CONFIG_FILE).read_text())
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------------------------
# part.json: how to rebuild a search part's space
# ------------------------------------------------------------------------------------------------
def write_part_info(folder: str | Path, preset: str, parts: str, fixed: Mapping[str, Any], num_classes: int | None,
                    index: int) -> None:
    """Write ``folder/part.json`` atomically: the preset, the part's name, its pinned labels, classes and index."""
    write_text(json.dumps({"preset": preset, "parts": parts, "fixed": dict(fixed), "num_classes": num_classes,
                           "index": index}, indent=1), Path(folder) / PART_FILE)


def read_part_info(folder: str | Path, error: Callable[[str], Exception] = ValueError) -> dict[str, Any]:
    """``folder/part.json`` as a mapping with at least ``preset`` and ``parts``; else ``error`` naming the file."""
    path = Path(folder) / PART_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise error(f"{path}: cannot read JSON: {err}") from None
    if not isinstance(info, dict) or not all(key in info for key in ("preset", "parts")):
        raise error(f"{path}: needs the keys 'preset' and 'parts'")
    return info


# ------------------------------------------------------------------------------------------------
# alpha.json: Parsec.export_alpha's record of a search part
# ------------------------------------------------------------------------------------------------
def write_alpha(path: str | Path, alpha: Mapping[str, Any]) -> None:
    """Write an ``alpha.json`` (``most_likely``, ``top``, ``alpha``, ...) atomically: a kill never leaves half one."""
    write_text(json.dumps(dict(alpha), indent=2), path)


def _alpha_ok(alpha: Any) -> bool:
    try:
        entries = alpha.get("alpha", {}).values()
        return (all(isinstance(t["sample"], dict) for t in alpha.get("top", []))
                and all(len(e["values"]) == len(e["logits"]) == len(e["probs"]) > 0 for e in entries))
    except (TypeError, KeyError, AttributeError):
        return False


def read_alpha(path: str | Path, error: Callable[[str], Exception] = ValueError) -> dict[str, Any]:
    """An ``alpha.json``, checked: ``top`` [{``sample``, ``probability``}] and ``alpha`` {label: {``values``,
    ``logits``, ``probs``}}; otherwise ``error(message naming the file)`` is raised."""
    path = Path(path)
    try:
        alpha = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise error(f"{path}: cannot read JSON: {err}") from None
    if not _alpha_ok(alpha):
        raise error(f"{path}: expected Parsec.export_alpha's 'top' [{{'sample', 'probability'}}] "
                    "and 'alpha' {label: {'values', 'logits', 'probs'}}")
    return alpha


# ------------------------------------------------------------------------------------------------
# alpha_history.jsonl: P(value) of every label, one line an epoch
# ------------------------------------------------------------------------------------------------
def append_alpha_history(folder: str | Path, part: str, epoch: int, probs: Mapping[str, Mapping[Any, float]]) -> None:
    """Append one epoch's ``{label: {value: P(value)}}`` to ``folder/alpha_history.jsonl``."""
    line = {"part": part, "epoch": epoch,
            "probs": {k: [[v, float(p)] for v, p in d.items()] for k, d in probs.items()}}
    with open(Path(folder) / ALPHA_HISTORY_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def read_alpha_history(folder: str | Path, warn: Callable[[str], None] = lambda message: None) -> list[dict]:
    """The epochs of ``folder/alpha_history.jsonl`` in order; a re-run epoch's later line wins, a bad line is
    skipped with ``warn(message)``. ``[]`` when the file is missing."""
    file = Path(folder) / ALPHA_HISTORY_FILE
    if not file.is_file():
        return []
    by_epoch: dict[int, dict] = {}
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            warn(f"{file}:{number}: not JSON; line skipped")
            continue
        if isinstance(record, dict) and isinstance(record.get("probs"), dict):
            by_epoch[int(record.get("epoch", len(by_epoch)))] = record
    return [by_epoch[e] for e in sorted(by_epoch)]
