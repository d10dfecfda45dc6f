"""Video list files in the Kinetics and SlowFast conventions, and class-name files.

Two list formats are read (the format is chosen per file by its suffix):

* ``*.csv``: ``path,label`` rows, an optional ``path,label`` header, standard CSV quoting;
* anything else: SlowFast's ``path label`` lines (split on the last run of white space, so
  paths may contain spaces).

A label is a class name or a 0-based class index. Class names come from a labels file (one name
a line, or a JSON list / ``{name: index}`` object) or are collected from the training list.
Relative paths are resolved against ``root`` (default: the list file's folder). Files are UTF-8,
with or without a byte-order mark (Excel writes one), with Unix or Windows line endings.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import AnnotationError

__all__ = [
    "VideoRecord",
    "VideoList",
    "read_labels_file",
    "collect_class_names",
    "resolve_classes",
    "read_video_list",
    "write_video_list",
]

_HEADER_FIRST = {"path", "video", "file", "filename"}


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video: its resolved path, its class index and where it was listed."""

    path: str
    label: int
    line: int


@dataclass(frozen=True)
class VideoList:
    """The records of a list file and the class names they index (``None`` for bare indices)."""

    records: tuple[VideoRecord, ...]
    classes: tuple[str, ...] | None
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes: the class list's length, else one more than the largest index."""
        if self.classes is not None:
            return len(self.classes)
        return 1 + max((r.label for r in self.records), default=-1)


def _read_text(path: Path, what: str) -> str:
    """The text of a list or labels file; a UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped."""
    try:
        return path.read_text(encoding="utf-8-sig")  # newlines: \n, \r\n (Windows) and \r alike
    except FileNotFoundError:
        raise AnnotationError(path, None, f"{what} not found") from None
    except IsADirectoryError:
        raise AnnotationError(path, None, f"is a folder; expected a {what}"
                              + (" (path,label CSV or 'path label' lines)" if what == "list file" else "")) from None
    except UnicodeDecodeError as err:
        raise AnnotationError(path, None, f"not UTF-8 text ({err.reason})") from None


def _raw_rows(list_file: Path) -> list[tuple[int, str, str]]:
    """Return ``(line number, path, label)`` for each data line, raising on malformed lines."""
    text = _read_text(list_file, "list file")
    rows: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    if list_file.suffix.lower() == ".csv":
        for lineno, fields in zip(range(1, len(lines) + 1), csv.reader(lines)):
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in fields]
            if len(fields) != 2 or not fields[0] or not fields[1]:
                raise AnnotationError(
                    list_file, lineno, f"expected 'path,label', got {len(fields)} field(s): {lines[lineno - 1]!r}"
                )
            if not rows and fields[0].lower() in _HEADER_FIRST and fields[1].lower() == "label":
                continue  # the optional header
            rows.append((lineno, fields[0], fields[1]))
    else:
        for lineno, line in enumerate(lines, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = stripped.rsplit(None, 1)
            if len(fields) != 2:
                raise AnnotationError(list_file, lineno, f"expected 'path label', got {stripped!r}")
            rows.append((lineno, fields[0], fields[1]))
    return rows


def read_labels_file(labels_file: str | Path) -> tuple[str, ...]:
    """Read class names: one per line, or a JSON list, or a JSON ``{name: index}`` object.

    Raises
    ------
    AnnotationError
        On duplicate names, or JSON indices that are not ``0..N-1``.
    """
    labels_file = Path(labels_file)
    text = _read_text(labels_file, "labels file")
    if labels_file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise AnnotationError(labels_file, err.lineno, f"invalid JSON: {err.msg}") from None
        if isinstance(data, dict):
            if sorted(data.values()) != list(range(len(data))):
                raise AnnotationError(labels_file, None, "class indices must be exactly 0..N-1")
            names = [name for name, _ in sorted(data.items(), key=lambda kv: kv[1])]
        elif isinstance(data, list) and all(isinstance(n, str) for n in data):
            names = list(data)
        else:
            raise AnnotationError(labels_file, None, "expected a JSON list of names or a {name: index} object")
        lines = list(range(1, len(names) + 1))
    else:
        pairs = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1)]
        pairs = [(i, n) for i, n in pairs if n and not n.startswith("#")]
        lines, names = [i for i, _ in pairs], [n for _, n in pairs]
    seen: dict[str, int] = {}
    for lineno, name in zip(lines, names):
        if name in seen:
            raise AnnotationError(labels_file, lineno, f"duplicate class name {name!r} (first on line {seen[name]})")
        seen[name] = lineno
    if not names:
        raise AnnotationError(labels_file, None, "no class names")
    return tuple(names)


def collect_class_names(list_file: str | Path) -> tuple[str, ...]:
    """Collect the sorted class names used by a (training) list file.

    Raises
    ------
    AnnotationError
        If the list uses bare indices, which carry no names.
    """
    rows = _raw_rows(Path(list_file))
    bare = [(lineno, label) for lineno, _, label in rows if label.isdigit()]
    if bare:
        lineno, label = bare[0]
        raise AnnotationError(list_file, lineno, f"label {label!r} is an index; class names need a labels file")
    return tuple(sorted({label for _, _, label in rows}))


def resolve_classes(
    list_file: str | Path, labels_file: str | Path | None = None, classes_from: str | Path | None = None
) -> tuple[str, ...] | None:
    """Class names for a list: from ``labels_file``, else collected from ``classes_from``, else
    from the list itself; ``None`` when the list uses bare indices and nothing names them."""
    if labels_file is not None and classes_from is not None:
        raise ValueError("give labels_file or classes_from, not both")
    if labels_file is not None:
        return read_labels_file(labels_file)
    if classes_from is not None:
        return collect_class_names(classes_from)
    rows = _raw_rows(Path(list_file))
    return None if all(label.isdigit() for _, _, label in rows) else collect_class_names(list_file)


def read_video_list(
    list_file: str | Path,
    root: str | Path | None = None,
    classes: Sequence[str] | None = None,
) -> VideoList:
    """Read a list file into records with resolved paths and class indices.

    Parameters
    ----------
    list_file
        A ``.csv`` (``path,label``) or a SlowFast ``path label`` list.
    root
        Folder that relative paths are relative to; the list file's folder when ``None``.
    classes
        Class names that labels index or name. When ``None``, labels must all be indices.

    Raises
    ------
    AnnotationError
        On a malformed line, an unknown class name, an index out of range, a path listed twice, or
        an empty list.
    """
    list_file = Path(list_file)
    base = Path(root) if root is not None else list_file.parent
    index = {name: i for i, name in enumerate(classes)} if classes is not None else None
    records = []
    first_line: dict[str, int] = {}  # normalised resolved path -> line that listed it first
    for lineno, path, label in _raw_rows(list_file):
        if label.isdigit():
            label_id = int(label)
            if index is not None and label_id >= len(index):
                raise AnnotationError(list_file, lineno, f"class index {label_id} out of range (0..{len(index) - 1})")
        elif index is None:
            raise AnnotationError(list_file, lineno, f"class name {label!r} but no class list (give a labels file)")
        elif label not in index:
            raise AnnotationError(list_file, lineno, f"unknown class {label!r} (not among the {len(index)} classes)")
        else:
            label_id = index[label]
        resolved = Path(path) if Path(path).is_absolute() else base / path
        key = os.path.normpath(resolved)
        if key in first_line:
            # The same video twice would be sampled twice as often, or (other label) teach two classes.
            raise AnnotationError(list_file, lineno, f"duplicate path {path} (first on line {first_line[key]})")
        first_line[key] = lineno
        records.append(VideoRecord(str(resolved), label_id, lineno))
    if not records:
        raise AnnotationError(list_file, None, "no videos listed")
    return VideoList(tuple(records), tuple(classes) if classes is not None else None, str(list_file))


def write_video_list(list_file: str | Path, rows: Sequence[tuple[str, str | int]]) -> None:
    """Write ``path,label`` rows with a header (CSV) or ``path label`` lines (other suffixes)."""
    list_file = Path(list_file)
    with list_file.open("w", encoding="utf-8", newline="") as fh:
        if list_file.suffix.lower() == ".csv":
            writer = csv.writer(fh)
            writer.writerow(["path", "label"])
            writer.writerows(rows)
        else:
            fh.writelines(f"{path} {label}\n" for path, label in rows)
