"""UCF101 and HMDB51: their official split files, three splits each, the split number a key.

* **UCF101** (``ucfTrainTestlist/``): ``classInd.txt`` (``1 ApplyEyeMakeup``: 1-based),
  ``trainlist0N.txt`` (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``: path and 1-based class)
  and ``testlist0N.txt`` (the path only). The class is the path's folder, matched against
  ``classInd.txt`` without case (``HandStandPushups`` / ``HandstandPushups``); a trainlist's index
  must agree with it. Files are found under ``root`` without case too.
* **HMDB51** (``testTrainMulti_7030_splits/``): ``<class>_test_split<N>.txt`` with ``name.avi K``
  lines, K = 1 train, 2 test, 0 unused in this split; the videos are ``<class>/name.avi``; the
  classes are the sorted class names of the split files.

Both ship train and test only. The validation split is held out of the training list: per class,
``val_fraction`` of its videos in whole recordings (UCF101's group ``gNN``, HMDB51's name without
its clip number), drawn by ``seed`` (:func:`.splits.hold_out`); training is the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..annotations import VideoList, VideoRecord
from ..errors import AnnotationError
from .splits import hold_out, resolve_case_insensitive

__all__ = ["SPLIT_NUMBERS", "UCF101_CLASSES_FILE", "read_ucf101", "read_hmdb51", "ucf101_group", "hmdb51_group"]

SPLIT_NUMBERS = (1, 2, 3)
UCF101_CLASSES_FILE = "classInd.txt"
HMDB51_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")
_UCF_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)
_HMDB_CLIP = re.compile(r"_\d+$")


def ucf101_group(path: str) -> str:
    """The recording a UCF101 clip comes from: its folder and group (``v_X_g08_c01.avi`` -> ``X/08``)."""
    p = Path(path)
    found = _UCF_GROUP.search(p.stem)
    return f"{p.parent.name.lower()}/{found.group(1) if found else p.stem}"


def hmdb51_group(path: str) -> str:
    """The recording an HMDB51 clip comes from: its name without the trailing clip number."""
    p = Path(path)
    return f"{p.parent.name}/{_HMDB_CLIP.sub('', p.stem)}"


def _lines(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of the non-empty lines of a split file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, None, f"{what} not found") from None
    return [(i, line.split()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _check_split(split: str, number: int) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if number not in SPLIT_NUMBERS:
        raise ValueError(f"split number must be one of {SPLIT_NUMBERS}, got {number!r}")


def _select(records: list[VideoRecord], split: str, val_fraction: float, seed: int, group) -> list[VideoRecord]:
    if split == "test":
        return records
    kept, held = hold_out(records, val_fraction, seed, group)
    return kept if split == "train" else held


def read_ucf101(folder: str | Path, split: str, root: str | Path | None = None, split_number: int = 1,
                val_fraction: float = 0.1, seed: int = 0) -> VideoList:
    """UCF101 ``split`` (``train``, ``val`` held out of the trainlist, ``test``) of split ``split_number``.

    ``folder`` holds ``classInd.txt`` and the lists; ``root`` the class folders of videos (default:
    ``folder``). Raises :class:`AnnotationError` naming the file and line of a bad line, an unknown
    class or a trainlist index that disagrees with the path's folder.
    """
    _check_split(split, split_number)
    folder = Path(folder)
    classes_file = folder / UCF101_CLASSES_FILE
    classes = []
    for line, fields in _lines(classes_file, "UCF101 class index"):
        if len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) != len(classes) + 1:
            raise AnnotationError(classes_file, line, f"expected '{len(classes) + 1} ClassName', got {' '.join(fields)!r}")
        classes.append(fields[1])
    index = {name.lower(): i for i, name in enumerate(classes)}
    list_file = folder / f"{'test' if split == 'test' else 'train'}list{split_number:02d}.txt"
    base, listings = Path(root) if root is not None else folder, {}
    records = []
    for line, fields in _lines(list_file, "UCF101 split list"):
        if len(fields) not in (1, 2) or (len(fields) == 2 and not fields[1].isdigit()):
            raise AnnotationError(list_file, line, f"expected 'Class/v_Class_gNN_cNN.avi [index]', got {' '.join(fields)!r}")
        folder_name = Path(fields[0]).parent.name
        if folder_name.lower() not in index:
            raise AnnotationError(list_file, line, f"class {folder_name!r} (the path's folder) is not in {classes_file}")
        label = index[folder_name.lower()]
        if len(fields) == 2 and int(fields[1]) != label + 1:
            raise AnnotationError(list_file, line, f"class index {fields[1]} but the folder {folder_name!r} is class "
                                                   f"{label + 1} in {UCF101_CLASSES_FILE}")
        path = resolve_case_insensitive(base, fields[0], listings)
        records.append(VideoRecord(str(path), label, line))
    if not records:
        raise AnnotationError(list_file, None, "no videos listed")
    chosen = _select(records, split, val_fraction, seed, ucf101_group)
    return VideoList(tuple(chosen), tuple(classes), str(list_file))


def hmdb51_split_files(folder: Path, split_number: int) -> dict[str, Path]:
    """``{class: its <class>_test_split<N>.txt}``, sorted by class."""
    found = {}
    for path in sorted(folder.glob(f"*_test_split{split_number}.txt")):
        match = HMDB51_SPLIT.match(path.name)
        if match and int(match.group("n")) == split_number:
            found[match.group("cls")] = path
    return found


def read_hmdb51(folder: str | Path, split: str, root: str | Path | None = None, split_number: int = 1,
                val_fraction: float = 0.1, seed: int = 0) -> VideoList:
    """HMDB51 ``split`` (``train``: K = 1 less the held-out validation videos, ``val``, ``test``: K = 2).

    ``folder`` holds the ``<class>_test_split<N>.txt`` files, ``root`` the class folders (default:
    ``folder``). Raises :class:`AnnotationError` naming the file and line of a bad line.
    """
    _check_split(split, split_number)
    folder = Path(folder)
    files = hmdb51_split_files(folder, split_number)
    if not files:
        raise AnnotationError(folder, None, f"no HMDB51 split files <class>_test_split{split_number}.txt here")
    classes = tuple(files)
    base, want = Path(root) if root is not None else folder, "2" if split == "test" else "1"
    records, listings = [], {}
    for label, (name, path) in enumerate(files.items()):
        for line, fields in _lines(path, "HMDB51 split file"):
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise AnnotationError(path, line, f"expected 'name.avi K' with K 0 (unused), 1 (train) or 2 (test), "
                                                  f"got {' '.join(fields)!r}")
            if fields[1] == want:
                records.append(VideoRecord(str(resolve_case_insensitive(base, f"{name}/{fields[0]}", listings)),
                                           label, line))
    if not records:
        raise AnnotationError(folder, None, f"split {split_number} lists no {split} videos")
    chosen = _select(records, split, val_fraction, seed, hmdb51_group)
    return VideoList(tuple(chosen), classes, str(folder / f"*_test_split{split_number}.txt"))
