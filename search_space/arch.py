"""Architecture dicts: the JSON-able ``{label: value}`` samples NNI produces, checked against a layout.

``arch.json`` (a run's, a search's, an export's) is written by :func:`save_arch` and read back by
:func:`load_arch` (the raw format) or :func:`read_arch` (checked against its preset's space): the one
reader the commands share.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from nni_autotsnet.atomic import write_text
from nni_autotsnet.errors import UserError

from .layout import PARTS, Layout, make_layout
from .presets import load_preset

__all__ = ["ArchError", "ArchFile", "arch_digest", "check_arch", "infer_parts", "load_arch", "read_arch", "save_arch"]


def arch_digest(arch: Mapping[str, Any]) -> str:
    """A short stable name for an architecture ``{label: value}`` (a random-search run's folder, a report's label)."""
    return hashlib.sha1(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:10]

class ArchError(UserError):
    """An arch dict is not of the space: a missing or unknown label, or a value outside its choices."""


def infer_parts(arch: Mapping[str, Any]) -> str:
    """The search part an arch dict belongs to, from the labels it carries."""
    if any(label.startswith("attention/") for label in arch):
        return "all"
    if any(label.startswith(("fusion/", "dense/")) for label in arch):
        return "fusion"
    return "sparse"


def check_arch(layout: Layout, arch: Mapping[str, Any], source: str = "arch") -> dict[str, Any]:
    """Return ``arch`` as a plain dict if it is a point of ``layout``, else raise :class:`ArchError`."""
    if not isinstance(arch, Mapping):
        raise ArchError(f"{source}: an architecture must be a dict of {{label: value}}, got {type(arch).__name__}")
    variables = layout.variables()
    for label, value in arch.items():
        if label not in variables:
            raise ArchError(f"{source}: unknown label {label!r} for preset {layout.preset.name!r} "
                            f"(parts={layout.parts!r}); is it an architecture of another preset or part?")
        options = variables[label].options
        if value not in options or isinstance(value, bool):
            raise ArchError(f"{source}: label {label!r} has value {value!r}, not one of {list(options)}")
    missing = [label for label in variables if label not in arch]
    if missing:
        raise ArchError(f"{source}: missing label {missing[0]!r} (and {len(missing) - 1} more) for preset "
                        f"{layout.preset.name!r} with parts={layout.parts!r}")
    return {label: arch[label] for label in variables}


def save_arch(arch: Mapping[str, Any], path: str | Path, preset: str, parts: str) -> None:
    """Write an arch dict as JSON with the preset and part it belongs to, atomically (a search part's
    ``arch.json`` marks the part done, so it must never exist half written)."""
    assert parts in PARTS
    write_text(json.dumps({"preset": preset, "parts": parts, "arch": dict(arch)}, indent=1), path)


def load_arch(path: str | Path) -> tuple[dict[str, Any], str | None, str | None]:
    """Read an arch JSON written by :func:`save_arch` (or a bare ``{label: value}`` dict)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is not JSON
    except OSError as err:  # missing, a folder, unreadable: the C library's words, without the path again
        raise ArchError(f"{path}: cannot read an architecture JSON: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchError(f"{path}: cannot read an architecture JSON: {err}") from None
    if isinstance(data, dict) and "arch" in data:
        return data["arch"], data.get("preset"), data.get("parts")
    return data, None, None


class ArchFile(NamedTuple):
    """An arch JSON read and checked by :func:`read_arch`."""

    arch: dict[str, Any]    #: ``{label: value}``, every label of the space, in the layout's order
    preset: str             #: the preset it was checked against (the caller's, else the file's)
    parts: str              #: the search part (the file's, else inferred from the labels)
    recorded: str | None    #: the preset the file records (``None``: a bare ``{label: value}`` dict)
    path: Path              #: the file read
    raw: dict[str, Any]     #: the same labels and values in the file's order (a resumed search goes on with it)


def read_arch(path: str | Path, preset: str | None = None,
              agree: Callable[[Path, str, str | None], None] | None = None) -> ArchFile:
    """Read an arch JSON and check it against its preset's space.

    Parameters
    ----------
    path
        A :func:`save_arch` file or a bare ``{label: value}`` dict.
    preset
        The preset to check against; ``None``: the one the file records.
    agree
        Called as ``agree(path, recorded_preset, recorded_parts)`` before the check when the file records
        a preset; it raises where they do not fit the caller's.

    Raises
    ------
    ArchError
        Naming the file: unreadable, not an object, no preset to check against, an unknown part, or
        not a point of the preset's space.
    """
    path = Path(path)
    arch, recorded, parts = load_arch(path)
    if not isinstance(arch, dict):
        raise ArchError(f"{path}: an architecture must be a JSON object of {{label: value}}")
    if recorded is not None and agree is not None:
        agree(path, recorded, parts)
    preset = preset or recorded
    if preset is None:
        raise ArchError(f"{path}: no 'preset' key; pass --preset")
    parts = parts or infer_parts(arch)
    if parts not in PARTS:
        raise ArchError(f"{path}: key 'parts' is {parts!r}, not one of {PARTS}")
    try:
        checked = check_arch(make_layout(load_preset(preset), parts), arch, source=str(path))
    except ArchError as err:
        if recorded is None:  # a bare dict: say what it was checked against
            raise ArchError(f"{err} (the file records no preset; checked against {preset!r})") from None
        raise
    return ArchFile(checked, str(preset), parts, recorded, path, arch)
