"""A folder per class: ``root/<class>/*.{mp4,avi,webm,mkv,mov}``, split here by a seed.

The classes are the sorted names of the folders that hold a video (hidden folders and other
files are ignored). No list ships with such a data set, so the train / val / test split is
drawn per class from ``seed`` and the two fractions (:func:`.splits.split_by_fractions`): the
same files, fractions and seed give the same split on every machine; adding a video moves only
videos of its own class.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..annotations import VideoList, VideoRecord
from ..errors import AnnotationError
from .splits import split_by_fractions

__all__ = ["VIDEO_SUFFIXES", "class_folders", "read_folders"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov")


def class_folders(root: Path) -> dict[str, list[Path]]:
    """``{class: its videos, sorted}`` for every non-hidden sub-folder of ``root`` that holds a video."""
    found = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            videos = sorted(Path(entry.path) / name for name in os.listdir(entry.path)
                            if name.lower().endswith(VIDEO_SUFFIXES) and not name.startswith("."))
            if videos:
                found[entry.name] = videos
    return found


def read_folders(root: str | Path, split: str, val_fraction: float = 0.1, test_fraction: float = 0.1,
                 seed: int = 0) -> VideoList:
    """The videos of ``split`` (``train``, ``val``, ``test``) of a folder-per-class data set.

    Raises
    ------
    AnnotationError
        When ``root`` is not a folder or holds no class folder with a video.
    """
    root = Path(root)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if not root.is_dir():
        raise AnnotationError(root, None, "not a folder (a folder per class of videos)")
    folders = class_folders(root)
    if not folders:
        raise AnnotationError(root, None, f"no class folder holding videos ({', '.join(VIDEO_SUFFIXES)})")
    records = [VideoRecord(str(path), label, 0) for label, videos in enumerate(folders.values()) for path in videos]
    chosen = split_by_fractions(records, val_fraction, test_fraction, seed)[split]
    if not chosen:
        raise AnnotationError(root, None, f"the {split} split is empty (fractions val {val_fraction}, test "
                                          f"{test_fraction} of classes this small)")
    return VideoList(tuple(chosen), tuple(folders), str(root))
