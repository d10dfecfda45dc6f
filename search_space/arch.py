"""Architecture dicts: the JSON-able ``{label: value}`` samples NNI produces, checked against a layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from nni_autotsnet.atomic import write_text
from nni_autotsnet.errors import UserError

from .layout import PARTS, Layout

__all__ = ["ArchError", "arch_digest", "check_arch", "infer_parts", "load_arch", "save_arch"]



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
