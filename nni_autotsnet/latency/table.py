"""The latency table: measured milliseconds per unit, with the device, threads, batch, torch and preset they hold for.

A table is JSON::

    {"format": "nni-autotsnet-latency/1",
     "meta": {"preset", "preset_digest", "num_classes", "device", "device_name", "threads", "batch",
              "torch", "dtype", "clock"},         clock: wall, or cpu (the thread's CPU time)
     "settings": {"repeats", "block_ms", "warmup"},      how it was measured (not checked)
     "call_ms": 0.004,                            timing one call of a module that does nothing
     "glue_ms": {"sparse": 0.01, "two_stream": 0.03},   end-to-end time the units do not cover (measured)
     "units": {"block/8/16/3/3/2.25/se/2/4/32": 0.21, ...},
     "seconds": 212.0}                            profiling time so far

Figures measured on one device, thread count, batch or torch build do not hold for another, so
:func:`check_meta` refuses a table whose ``meta`` differs from what a caller expects, naming the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from pathlib import Path
from typing import Any, Mapping

import torch

from nni_autotsnet.atomic import write_text
from nni_autotsnet.errors import UserError
from nni_autotsnet.search_space.presets import Preset

__all__ = ["TABLE_FORMAT", "LatencyTableError", "device_name", "make_meta", "preset_digest", "new_table",
           "load_table", "save_table", "check_meta"]

TABLE_FORMAT = "nni-autotsnet-latency/1"
META_FIELDS = ("preset", "preset_digest", "num_classes", "device", "device_name", "threads", "batch", "torch", "dtype",
               "clock")


class LatencyTableError(UserError):
    """A latency table is unreadable, incomplete, or measured for another device/threads/batch/torch/preset."""


def device_name(device: str) -> str:
    """The processor's or GPU's model name (``/proc/cpuinfo``'s ``model name`` on Linux)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def preset_digest(preset: Preset) -> str:
    """A short hash of every field of the preset: a YAML preset edited since profiling no longer matches."""
    text = json.dumps(dataclasses.asdict(preset), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def make_meta(preset: Preset, device: str, threads: int, batch: int, num_classes: int | None = None,
              clock: str = "wall") -> dict[str, Any]:
    """What a table's figures hold for, on this machine."""
    return {"preset": preset.name, "preset_digest": preset_digest(preset),
            "num_classes": int(num_classes or preset.num_classes), "device": device.split(":")[0],
            "device_name": device_name(device), "threads": int(threads), "batch": int(batch),
            "torch": torch.__version__, "dtype": "float32", "clock": clock}


def new_table(meta: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    return {"format": TABLE_FORMAT, "meta": dict(meta), "settings": dict(settings), "call_ms": None,
            "glue_ms": {}, "units": {}, "seconds": 0.0}


def load_table(path: str | Path) -> dict[str, Any]:
    """Read a table; ``LatencyTableError`` (naming the file) if it is not one."""
    try:
        table = json.loads(Path(path).read_text())
    except OSError as err:
        raise LatencyTableError(f"{path}: cannot read the latency table: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise LatencyTableError(f"{path}: not a latency table (invalid JSON: {err})") from None
    if not isinstance(table, dict) or table.get("format") != TABLE_FORMAT:
        raise LatencyTableError(f"{path}: not a latency table (format is not {TABLE_FORMAT!r}); "
                                "write one with python -m nni_autotsnet.latency profile")
    missing = [f for f in META_FIELDS if f not in table.get("meta", {})]
    if missing:
        raise LatencyTableError(f"{path}: field 'meta.{missing[0]}' missing")
    return table


def save_table(table: Mapping[str, Any], path: str | Path) -> None:
    """Write atomically, so a profile killed while saving leaves the previous table whole."""
    write_text(json.dumps(table, indent=1), path)


def check_meta(table: Mapping[str, Any], expected: Mapping[str, Any], path: str | Path = "latency table",
               why: str = "") -> None:
    """Raise ``LatencyTableError`` naming the first field of ``expected`` the table's ``meta`` differs in."""
    meta = table["meta"]
    for field, want in expected.items():
        if meta.get(field) != want:
            raise LatencyTableError(
                f"{path}: field 'meta.{field}' is {meta.get(field)!r}, but {why or 'this run'} needs {want!r}: "
                "its figures hold only for what they were measured on; profile again for this one")
