"""Checked reading of YAML mappings: every error names the file and the dotted key (presets, experiment configs)."""

from __future__ import annotations

from typing import Any

__all__ = ["YamlReader"]


class YamlReader:
    """Reads keys out of one YAML mapping, naming the file and the dotted key in every error."""

    def __init__(self, data: Any, where: str, path: str, error: type[Exception] = ValueError):
        self.error = error
        if not isinstance(data, dict):
            raise error(f"{path}: '{where or '<top>'}' must be a mapping, got {type(data).__name__}")
        self.data, self.where, self.path, self.used = data, where, path, set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, message: str) -> Exception:
        return self.error(f"{self.path}: key '{self.key(name)}': {message}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., check=None, why: str = "") -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "missing")
            return default
        value = self.data[name]
        if value is None and default is None:
            return None  # an explicit null for an optional key
        if kind is bool:  # true or false only; for any other kind a bool is refused (True is no int here)
            if not isinstance(value, bool):
                raise self.fail(name, f"expected true or false, got {value!r}")
        else:
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise self.fail(name, f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
        if check is not None and not check(value):
            raise self.fail(name, f"bad value {value!r} ({why})")
        return value

    def values(self, name: str, kind: type, check=None, why: str = "") -> tuple:
        items = self.get(name, list, check=lambda v: len(v) > 0, why="must be a non-empty list")
        out = []
        for i, v in enumerate(items):
            if kind is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, kind) or isinstance(v, bool) or (check is not None and not check(v)):
                raise self.fail(name, f"bad element {i}: {v!r} ({why or 'expected ' + kind.__name__})")
            out.append(v)
        if len(set(out)) != len(out):
            raise self.fail(name, f"duplicate values in {items!r}")
        return tuple(out)

    def sub(self, name: str) -> "YamlReader":
        self.used.add(name)
        if name not in self.data:
            raise self.fail(name, "missing")
        return YamlReader(self.data[name], self.key(name), self.path, self.error)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(sorted(self.used))})")
