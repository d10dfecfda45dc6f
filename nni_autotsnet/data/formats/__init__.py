"""The data set formats: one name selects how a data set's splits and classes are read.

====================  ====================================================================
``csv``               a list per split: ``path,label`` CSV or SlowFast ``path label``
                      (:mod:`..annotations`; the official Kinetics CSVs are recognised by
                      their header)
``kinetics``          the same readers, for the official Kinetics CSVs (a name for configs)
``ssv2``              Something-Something V2's JSON lists and labels file (:mod:`.ssv2`)
``ucf101``            UCF101's ``classInd.txt`` and train / test lists (:mod:`.ucf_hmdb`)
``hmdb51``            HMDB51's ``<class>_test_split<N>.txt`` files (:mod:`.ucf_hmdb`)
``folders``           a folder per class of videos, split by a seed (:mod:`.folders`)
====================  ====================================================================

The list formats read one file per split; the others read every split from one place (a
folder), chosen by :func:`read_split`. :func:`detect_format` tells them apart where the files
leave no doubt and otherwise raises an error naming the path and what it found.
"""

from __future__ import annotations

from pathlib import Path

from ..annotations import VideoList
from ..errors import AnnotationError
from .folders import VIDEO_SUFFIXES, class_folders, read_folders
from .ssv2 import LABELS_FILE as SSV2_LABELS_FILE, read_ssv2
from .ucf_hmdb import UCF101_CLASSES_FILE, hmdb51_split_files, read_hmdb51, read_ucf101

__all__ = ["FORMATS", "LIST_FORMATS", "SPLIT_FORMATS", "DEFAULT_HFLIP", "detect_format", "read_split"]

LIST_FORMATS = ("csv", "kinetics")  # one list file per split, read by ..annotations
SPLIT_FORMATS = ("ssv2", "ucf101", "hmdb51", "folders")  # every split from one folder
FORMATS = LIST_FORMATS + SPLIT_FORMATS
#: Formats whose classes a horizontal flip would confuse ("left to right" vs "right to left").
DEFAULT_HFLIP = {"ssv2": False}


def _signs(folder: Path) -> dict[str, str]:
    """What in ``folder`` points at each folder format: ``{format: the file or folders seen}``."""
    signs = {}
    if (folder / SSV2_LABELS_FILE).is_file():
        signs["ssv2"] = SSV2_LABELS_FILE
    if (folder / UCF101_CLASSES_FILE).is_file():
        signs["ucf101"] = UCF101_CLASSES_FILE
    for number in (1, 2, 3):
        files = hmdb51_split_files(folder, number)
        if files:
            signs["hmdb51"] = f"{len(files)} files like {next(iter(files.values())).name}"
            break
    classes = class_folders(folder)
    if classes:
        signs["folders"] = f"{len(classes)} sub-folders of videos ({', '.join(list(classes)[:3])}...)"
    return signs


def detect_format(path: str | Path) -> str:
    """The format of a data set at ``path``: a file is a list (``csv``), a folder is told by its files.

    Raises
    ------
    AnnotationError
        Naming ``path`` when it is missing, when nothing in it is a known format, or when two
        formats fit (then ``data.format`` / ``--format`` must say which).
    """
    path = Path(path)
    if path.is_file() or (path.suffix and not path.exists()):
        return "csv"  # a list (a missing one: the list reader says so, naming it)
    if not path.is_dir():
        raise AnnotationError(path, None, "no such file or folder (a list file, or a data set's folder)")
    signs = _signs(path)
    if len(signs) == 1:
        return next(iter(signs))
    if not signs:
        raise AnnotationError(path, None, "is a folder; expected a list file (path,label CSV or 'path label' lines) "
                                          f"or a data set's folder: {SSV2_LABELS_FILE} (ssv2), "
                                          f"{UCF101_CLASSES_FILE} (ucf101), <class>_test_split1.txt files (hmdb51), "
                                          f"or a folder per class of {'/'.join(VIDEO_SUFFIXES)} videos (folders)")
    found = "; ".join(f"{name}: {seen}" for name, seen in signs.items())
    raise AnnotationError(path, None, f"more than one format fits ({found}); say which with data.format / --format")


def read_split(data_format: str, path: str | Path, split: str, root: str | Path | None = None, *,
               split_number: int = 1, val_fraction: float = 0.1, test_fraction: float = 0.1,
               seed: int = 0) -> VideoList:
    """The videos and classes of ``split`` (``train``, ``val``, ``test``) of a folder format's data set.

    Parameters
    ----------
    data_format
        One of :data:`SPLIT_FORMATS` (the list formats read a list per split: ``read_video_list``).
    path
        The data set's annotation folder (SSv2: the JSON files; UCF101: ``classInd.txt`` and the
        lists; HMDB51: the split files); for ``folders``, the folder of class folders.
    root
        The videos' folder, ``path`` when ``None`` (``folders``: the videos are under ``path``).
    split_number
        UCF101 / HMDB51: which of the three official splits.
    val_fraction, test_fraction, seed
        How the splits a data set does not ship are drawn: UCF101 / HMDB51 validation is
        ``val_fraction`` of each class's training videos; folders give ``val_fraction`` and
        ``test_fraction`` of each class to validation and test.
    """
    if data_format == "ssv2":
        return read_ssv2(path, split, root)
    if data_format == "ucf101":
        return read_ucf101(path, split, root, split_number, val_fraction, seed)
    if data_format == "hmdb51":
        return read_hmdb51(path, split, root, split_number, val_fraction, seed)
    if data_format == "folders":
        return read_folders(path, split, val_fraction, test_fraction, seed)
    raise ValueError(f"read_split reads the formats {SPLIT_FORMATS}, got {data_format!r}"
                     + (" (a list format: read_video_list)" if data_format in LIST_FORMATS else ""))
