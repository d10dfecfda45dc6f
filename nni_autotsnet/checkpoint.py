"""Checkpoints and test protocols that ``evaluate``, ``predict`` and ``export`` share (no NNI imported).

A checkpoint is a training run directory (its newer of ``model.pt`` and ``last.ckpt``), a
``last.ckpt`` of ``python -m nni_autotsnet.train`` or a ``model.pt`` (:mod:`.models.exported`);
:func:`load_checkpoint` rebuilds its model with the plain builder and returns what it records:
the architecture, the class names of the data it was trained on (``None`` for a list of bare
indices, or a file written before names were recorded), and how to feed it (:func:`input_spec`:
the data preset and the test views of the run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from nni_autotsnet.errors import UserError, load_weights_file
from nni_autotsnet.rundir import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE

__all__ = ["EvalError", "InputSpec", "canonical_views", "resolve_checkpoint", "load_checkpoint", "input_spec"]

_SHORT = re.compile(r"^(\d+)(?:-(center|c|lcr|leftcenterright))?$", re.IGNORECASE)
_INFO = ("preset", "parts", "num_classes", "arch")
_OPTIONAL = ("classes", "data_preset", "views")  # recorded since issue 20; None in older files


class EvalError(UserError):
    """A user error: a missing checkpoint, list or config, or a bad protocol; the message names it."""


def canonical_views(text: str | int) -> tuple[int, int, str]:
    """``(clips, crops, protocol)`` of ``--views``: ``"10-lcr"`` -> ``(10, 3, "10-LeftCenterRight")``."""
    from nni_autotsnet.data import parse_views

    match = _SHORT.match(str(text).strip())
    if match:
        crops = 3 if (match.group(2) or "c").lower() in ("lcr", "leftcenterright") else 1
        text = f"{int(match.group(1))}-{'LeftCenterRight' if crops == 3 else 'Center'}"
    try:
        clips, crops = parse_views(str(text))
    except ValueError as err:
        raise EvalError(f"--views: {err} (or 10-center, 10-lcr, 1)") from None
    return clips, crops, f"{clips}-{'LeftCenterRight' if crops == 3 else 'Center'}"


def resolve_checkpoint(path: str | Path) -> Path:
    """The weights file of ``path``: itself, or a run directory's newer of ``model.pt`` and ``last.ckpt``."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / MODEL_FILE, path / CHECKPOINT_FILE) if p.is_file()]
        if not found:
            raise EvalError(f"{path}: no model.pt or last.ckpt in this directory (is it a training run?)")
        return max(found, key=lambda p: p.stat().st_mtime_ns)
    if not path.is_file():
        raise EvalError(f"{path}: no such checkpoint (give a run directory, its last.ckpt or a model.pt)")
    return path


def load_checkpoint(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a ``last.ckpt`` or ``model.pt`` (both read with ``weights_only=True``), in eval mode.

    Returns the model and ``info``: ``preset``, ``parts``, ``num_classes``, ``arch``, and ``classes``,
    ``data_preset``, ``views`` (each ``None`` where the file does not record it).
    """
    from nni_autotsnet.models import build_model
    from nni_autotsnet.models.exported import read_exported

    # truncated, not a torch file, a pickle with code: CheckpointError naming the file, nothing unpickled
    data = load_weights_file(path, "checkpoint written by nni_autotsnet.train or nni_autotsnet.export")
    if isinstance(data, dict) and "format" in data:
        try:
            data = read_exported(path)
        except ValueError as err:
            raise EvalError(str(err)) from None
        record, state = data, data["state_dict"]
    elif isinstance(data, dict) and "state_dict" in data and "arch" in data.get("hyper_parameters", {}):
        record = data["hyper_parameters"]
        state = {k[len("model."):]: v for k, v in data["state_dict"].items() if k.startswith("model.")}
    else:
        raise EvalError(f"{path}: neither a model.pt (key 'format') nor a last.ckpt of nni_autotsnet.train "
                        "(key 'hyper_parameters.arch')")
    info = {**{k: record[k] for k in _INFO}, **{k: record.get(k) for k in _OPTIONAL}}
    if info["classes"] is not None:
        info["classes"] = tuple(info["classes"])
    try:
        model = build_model(info["preset"], info["arch"], parts=info["parts"], num_classes=info["num_classes"])
    except ValueError as err:  # ArchError, PresetError: they name the arch or preset, not this file
        raise EvalError(f"{path}: the architecture it stores is not of its preset's space: {err}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise EvalError(f"{path}: the weights do not fit the architecture it stores: {err}") from None
    return model.eval(), info


@dataclass(frozen=True)
class InputSpec:
    """How to feed a model: the data preset (frames, stride, test size, mean, std) and the views."""

    data_preset: Any  # nni_autotsnet.data.DataPreset
    num_clips: int
    num_crops: int
    protocol: str

    @property
    def num_views(self) -> int:
        """Views per video."""
        return self.num_clips * self.num_crops


def input_spec(info: dict[str, Any], checkpoint: Path, views: str | None = None) -> InputSpec:
    """The data preset and views of a checkpoint: what it records, else its run's ``config.yaml``, else defaults.

    The defaults are the data preset named like the space preset (``tiny``, ``S``, ``M``, ``L``)
    and its protocol. ``views`` (``--views``) overrides the protocol.
    """
    from nni_autotsnet.data import DATA_PRESETS, get_preset
    from nni_autotsnet.search_space import load_preset

    data_preset, run_views = info.get("data_preset"), info.get("views")
    config = Path(checkpoint).parent / CONFIG_FILE
    if data_preset is None and config.is_file():
        from nni_autotsnet.config import load_config

        cfg = load_config(config)
        data_preset, run_views = cfg.data.preset, run_views or cfg.train.eval_views
    if data_preset is None:
        data_preset = load_preset(info["preset"]).name
        if data_preset not in DATA_PRESETS:
            raise EvalError(f"{checkpoint}: records no data preset and space preset {data_preset!r} has no "
                            f"data preset of its name; retrain or re-export it with this version")
    preset = get_preset(data_preset)
    clips, crops, protocol = canonical_views(views or run_views or preset.views)
    return InputSpec(preset, clips, crops, protocol)
