"""Video list files in the Kinetics and SlowFast conventions, and class-name files.

Two list formats are read (the format is chosen per file by its suffix):

* ``*.csv``, standard CSV quoting, in one of three shapes, told apart by the first row:

  - headerless ``path,label`` rows (exactly two columns);
  - a header naming a path column and a label column, in any order, among any other columns
    (ignored). Names are matched without case; accepted, most specific first when several are
    present: path ``path, video_path, clip_path, file_name, filename, file, video, clip``;
    label ``label, label_name, class_name, class, category, action``;
  - the official Kinetics annotations, ``label,youtube_id,time_start,time_end,split`` (any
    order, ``is_cc`` and other columns ignored): each row names the clip file
    ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``, looked for under ``root`` in the
    layouts the common downloaders write (:data:`KINETICS_LAYOUTS`): ``NAME``,
    ``<label>/NAME``, ``<split>/<label>/NAME``, ``<split>/NAME``, with the label as written
    and with its spaces replaced by underscores. A clip in none of them keeps its path in the
    layout the list's other clips were found in (``NAME`` if none was), so the datasets skip it
    as a missing file like any other; one warning per list counts them and names the layouts.

* anything else: SlowFast's ``path label`` lines (split on the last run of white space, so
  paths may contain spaces).

A label is a class name or a 0-based class index. Class names come from a labels file (one name
a line, or a JSON list / ``{name: index}`` object) or are collected from the training list.
Relative paths are resolved against ``root`` (default: the list file's folder). Files are UTF-8,
with or without a byte-order mark (Excel writes one), with Unix or Windows line endings. Every
error names the file, the line and, for a CSV, the column.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import AnnotationError

__all__ = [
    "KINETICS_LAYOUTS",
    "VideoRecord",
    "VideoList",
    "read_labels_file",
    "collect_class_names",
    "resolve_classes",
    "read_video_list",
    "write_video_list",
]

# Header names of the path and label columns, most specific first (used when several are present).
_PATH_COLUMNS = ("path", "video_path", "clip_path", "file_name", "filename", "file", "video", "clip")
_LABEL_COLUMNS = ("label", "label_name", "class_name", "class", "category", "action")
# Columns of the official Kinetics annotation CSVs that name a clip (``split`` is optional here).
_KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")

#: Where a Kinetics clip is looked for under ``root``, in order (``<label_>``: spaces -> ``_``).
KINETICS_LAYOUTS = (
    "NAME",
    "<label>/NAME",
    "<label_>/NAME",
    "<split>/<label>/NAME",
    "<split>/<label_>/NAME",
    "<split>/NAME",
)


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


@dataclass(frozen=True)
class _Row:
    """A data line: the listed path (a Kinetics row: the clip's file name) and label, as written."""

    line: int
    path: str
    label: str
    kinetics: bool = False
    split: str = ""


@dataclass(frozen=True)
class _CsvShape:
    """Which columns of a CSV hold what; ``header_line`` is ``None`` for headerless two-column rows."""

    header_line: int | None
    names: tuple[str, ...]
    path: int  # column of the path (a Kinetics list: of youtube_id)
    label: int
    kinetics: tuple[int, int, int] | None = None  # youtube_id, time_start, time_end
    split: int | None = None


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


def _pick(names: list[str], accepted: Sequence[str]) -> int | None:
    """Index of the most specific accepted name among the header's names."""
    for name in accepted:
        if name in names:
            return names.index(name)
    return None


def _csv_shape(list_file: Path, lineno: int, fields: list[str]) -> _CsvShape:
    """Decide from the first row whether it is a header, and where the path and label are."""
    names = [f.lower() for f in fields]
    known = set(_PATH_COLUMNS) | set(_LABEL_COLUMNS) | set(_KINETICS_COLUMNS)
    if not known & set(names):
        if len(fields) == 2:
            return _CsvShape(None, ("path", "label"), 0, 1)  # headerless path,label
        raise AnnotationError(
            list_file, lineno, f"{len(fields)} columns ({', '.join(fields)}) but no header naming a path column "
            f"({', '.join(_PATH_COLUMNS)}) and a label column ({', '.join(_LABEL_COLUMNS)}); "
            "without a header, rows must be two columns 'path,label'"
        )
    twice = sorted({n for n in names if names.count(n) > 1 and n in known})
    if twice:
        raise AnnotationError(list_file, lineno, f"header names column {twice[0]!r} twice")
    path, label = _pick(names, _PATH_COLUMNS), _pick(names, _LABEL_COLUMNS)
    kinetics = None
    if path is None and all(c in names for c in _KINETICS_COLUMNS):
        kinetics = tuple(names.index(c) for c in _KINETICS_COLUMNS)
        path = kinetics[0]
    missing = [what for what, col in (("path", path), ("label", label)) if col is None]
    if missing:
        accepts = {
            "path": ", ".join(_PATH_COLUMNS) + " (or Kinetics' " + ",".join(_KINETICS_COLUMNS) + ")",
            "label": ", ".join(_LABEL_COLUMNS),
        }
        raise AnnotationError(
            list_file, lineno, f"header names no {' and no '.join(missing)} column: found {', '.join(fields)}; "
            + "; ".join(f"a {what} column is one of {accepts[what]}" for what in missing)
        )
    split = names.index("split") if kinetics is not None and "split" in names else None
    return _CsvShape(lineno, tuple(fields), path, label, kinetics, split)


def _csv_row(list_file: Path, lineno: int, fields: list[str], shape: _CsvShape, line: str) -> _Row:
    """One data row of a CSV, checked against its shape."""
    if shape.header_line is None:
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise AnnotationError(list_file, lineno, f"expected 'path,label', got {len(fields)} field(s): {line!r}")
        return _Row(lineno, fields[0], fields[1])
    if len(fields) != len(shape.names):
        raise AnnotationError(
            list_file, lineno, f"expected {','.join(shape.names)!r}, got {len(fields)} field(s): {line!r}"
        )

    def value(col: int) -> str:
        if not fields[col]:
            raise AnnotationError(list_file, lineno, f"empty {shape.names[col]!r} column (column {col + 1})")
        return fields[col]

    label = value(shape.label)
    if shape.kinetics is None:
        return _Row(lineno, value(shape.path), label)
    youtube_id, start, end = (value(col) for col in shape.kinetics)
    seconds = []
    for col, text in zip(shape.kinetics[1:], (start, end)):
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not number.is_integer() or number < 0:
            raise AnnotationError(
                list_file, lineno, f"{shape.names[col]!r} column (column {col + 1}) is not a whole number "
                f"of seconds: {text!r}"
            )
        seconds.append(int(number))
    name = f"{youtube_id}_{seconds[0]:06d}_{seconds[1]:06d}.mp4"
    split = fields[shape.split] if shape.split is not None else ""
    return _Row(lineno, name, label, kinetics=True, split=split)


def _raw_rows(list_file: Path) -> list[_Row]:
    """Return the data lines of a list file, raising on malformed lines."""
    text = _read_text(list_file, "list file")
    rows: list[_Row] = []
    lines = text.splitlines()
    if list_file.suffix.lower() == ".csv":
        shape = None
        for lineno, fields in zip(range(1, len(lines) + 1), csv.reader(lines)):
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in fields]
            if shape is None:
                shape = _csv_shape(list_file, lineno, fields)
                if shape.header_line is not None:
                    continue
            rows.append(_csv_row(list_file, lineno, fields, shape, lines[lineno - 1]))
    else:
        for lineno, line in enumerate(lines, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = stripped.rsplit(None, 1)
            if len(fields) != 2:
                raise AnnotationError(list_file, lineno, f"expected 'path label', got {stripped!r}")
            rows.append(_Row(lineno, fields[0], fields[1]))
    return rows


def _kinetics_candidates(base: Path, row: _Row) -> dict[str, Path]:
    """Where a Kinetics clip may be, by layout (:data:`KINETICS_LAYOUTS`), in order."""
    under = row.label.replace(" ", "_")
    candidates = {"NAME": base / row.path, "<label>/NAME": base / row.label / row.path}
    if under != row.label:
        candidates["<label_>/NAME"] = base / under / row.path
    if row.split:
        candidates["<split>/<label>/NAME"] = base / row.split / row.label / row.path
        if under != row.label:
            candidates["<split>/<label_>/NAME"] = base / row.split / under / row.path
        candidates["<split>/NAME"] = base / row.split / row.path
    return candidates


def _locate_kinetics(list_file: Path, base: Path, rows: list[_Row]) -> dict[int, Path]:
    """Resolve each Kinetics row's clip in the downloaders' layouts: ``{line: path}``.

    The layout that found the previous clip is tried first (one ``stat`` a clip on a consistent
    tree). A clip found nowhere gets its path in the layout most clips were found in.
    """
    found: dict[int, Path] = {}
    used: Counter[str] = Counter()
    lost: list[_Row] = []
    last = "NAME"
    for row in rows:
        candidates = _kinetics_candidates(base, row)
        order = ([last] if last in candidates else []) + [k for k in candidates if k != last]
        hit = next((k for k in order if candidates[k].is_file()), None)
        if hit is None:
            lost.append(row)
            continue
        found[row.line], last = candidates[hit], hit
        used[hit] += 1
    layouts = []
    for row in lost:
        candidates = _kinetics_candidates(base, row)
        layouts.append(next((k for k, _ in used.most_common() if k in candidates), "NAME"))
        found[row.line] = candidates[layouts[-1]]
    if lost:
        warnings.warn(
            f"{list_file}: {len(lost)} of {len(rows)} Kinetics clips are in none of the layouts under {base} "
            f"({', '.join(KINETICS_LAYOUTS)}; <label_>: spaces as underscores), first on line {lost[0].line} "
            f"({lost[0].path}); listed as {layouts[0]} and skipped "
            "as missing files",
            UserWarning,
            stacklevel=3,
        )
    return found


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
    bare = [row for row in rows if row.label.isdigit()]
    if bare:
        raise AnnotationError(list_file, bare[0].line, f"label {bare[0].label!r} is an index; class names need a labels file")
    return tuple(sorted({row.label for row in rows}))


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
    return None if all(row.label.isdigit() for row in rows) else collect_class_names(list_file)


def read_video_list(
    list_file: str | Path,
    root: str | Path | None = None,
    classes: Sequence[str] | None = None,
) -> VideoList:
    """Read a list file into records with resolved paths and class indices.

    Parameters
    ----------
    list_file
        A ``.csv`` (``path,label`` rows, a header naming its path and label columns, or an
        official Kinetics annotation list) or a SlowFast ``path label`` list.
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
    rows = _raw_rows(list_file)
    kinetics = _locate_kinetics(list_file, base, [row for row in rows if row.kinetics])
    for lineno, path, label in ((row.line, row.path, row.label) for row in rows):
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
        if lineno in kinetics:
            resolved = kinetics[lineno]
        else:
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
