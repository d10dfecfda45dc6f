"""Something-Something V2: the JSON lists and labels file as 20BN ships them.

``something-something-v2-{train,validation}.json`` is a list of ``{"id", "label", "template",
"placeholders"}`` objects, ``something-something-v2-labels.json`` maps each template with its
square brackets removed to its class index as a string (``{"Holding something next to
something": "70", ...}``), and the videos are ``<id>.webm`` (VP9). The class of a video is its
template without brackets, as the data set's own scripts compute it; ``label`` (the template with
the objects filled in) is not a class. The test list carries no labels, so the test split is
the validation list (as the papers report SSv2). Horizontal flips are off by default for this
format: "from left to right" and "from right to left" are different classes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..annotations import VideoList, VideoRecord
from ..errors import AnnotationError

__all__ = ["LABELS_FILE", "LIST_FILES", "read_ssv2_labels", "read_ssv2"]

LABELS_FILE = "something-something-v2-labels.json"
#: The list file of each split (the test list has no labels: its split is validation).
LIST_FILES = {"train": "something-something-v2-train.json", "val": "something-something-v2-validation.json",
              "test": "something-something-v2-validation.json"}
_GAP = re.compile(r"[\s,]*")  # between two objects of a JSON list


def _load_json(path: Path, what: str):
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, None, f"{what} not found") from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as err:
        raise AnnotationError(path, err.lineno, f"invalid JSON: {err.msg} (column {err.colno})") from None


def read_ssv2_labels(path: str | Path) -> tuple[str, ...]:
    """Class names in index order from ``{template: "index"}``; indices must be exactly 0..N-1."""
    path = Path(path)
    _, data = _load_json(path, "SSv2 labels file")
    if not isinstance(data, dict) or not data:
        raise AnnotationError(path, None, 'expected a JSON object {"template": "index", ...}')
    names: dict[int, str] = {}
    for template, index in data.items():
        if not str(index).isdigit():
            raise AnnotationError(path, None, f"class {template!r}: index {index!r} is not a whole number")
        if int(index) in names:
            raise AnnotationError(path, None, f"index {index} given to {names[int(index)]!r} and {template!r}")
        names[int(index)] = template
    if sorted(names) != list(range(len(names))):
        raise AnnotationError(path, None, f"class indices must be exactly 0..{len(names) - 1}")
    return tuple(names[i] for i in range(len(names)))


def _entry_lines(text: str, count: int) -> list[int]:
    """The line each top-level object of a JSON list starts on (the real lists: one line, or one a line)."""
    decoder, lines = json.JSONDecoder(), []
    pos = text.index("[") + 1
    line = 1 + text.count("\n", 0, pos)
    for _ in range(count):
        start = _GAP.match(text, pos).end()
        _, end = decoder.raw_decode(text, start)
        line += text.count("\n", pos, start)
        lines.append(line)
        line += text.count("\n", start, end)
        pos = end
    return lines


def read_ssv2(folder: str | Path, split: str, root: str | Path | None = None) -> VideoList:
    """The videos of ``split`` (``train``, ``val``; ``test``: the validation list) with their classes.

    Parameters
    ----------
    folder
        The folder holding the labels file and the list files (or one of those files).
    root
        The folder of the ``<id>.webm`` videos; ``folder`` when ``None``.

    Raises
    ------
    AnnotationError
        On a missing file, an entry without ``id`` or ``template``, a template not in the labels
        file (naming the list's line and the entry), or a video listed twice.
    """
    folder = Path(folder)
    folder = folder if folder.is_dir() else folder.parent
    if split not in LIST_FILES:
        raise ValueError(f"split must be one of {sorted(LIST_FILES)}, got {split!r}")
    classes = read_ssv2_labels(folder / LABELS_FILE)
    index = {name: i for i, name in enumerate(classes)}
    list_file = folder / LIST_FILES[split]
    text, entries = _load_json(list_file, f"SSv2 {split} list")
    if not isinstance(entries, list) or not entries:
        raise AnnotationError(list_file, None, "expected a non-empty JSON list of {id, template, ...} objects")
    base = Path(root) if root is not None else folder
    records, seen = [], {}
    for k, (line, entry) in enumerate(zip(_entry_lines(text, len(entries)), entries)):
        where = f"entry {k + 1}"
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise AnnotationError(list_file, line, f"{where}: expected an object with 'id' and 'template'")
        template = str(entry["template"]).replace("[", "").replace("]", "")
        if template not in index:
            raise AnnotationError(list_file, line, f"{where} (id {entry['id']}): template {template!r} is not in "
                                                   f"{LABELS_FILE} ({len(classes)} classes)")
        video = str(entry["id"])
        if video in seen:
            raise AnnotationError(list_file, line, f"{where}: id {video} listed twice (first: entry {seen[video]})")
        seen[video] = k + 1
        records.append(VideoRecord(str(base / f"{video}.webm"), index[template], line))
    return VideoList(tuple(records), classes, str(list_file))
