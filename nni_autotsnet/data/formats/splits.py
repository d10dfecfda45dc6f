"""Deterministic splits of one list into several, and paths as the data sets spell them.

UCF101 and HMDB51 ship train and test lists only, and a folder per class ships none: the
validation videos (and, for folders, the test videos) are drawn here from a seed. Per class, so
every class is in every split; and by *group* where a data set cuts several clips from one
recording (UCF101's ``_gNN_``, HMDB51's ``_0``, ``_1`` suffixes), so no recording is on both
sides and validation accuracy is not inflated by near-duplicates of training clips.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..annotations import VideoRecord

__all__ = ["hold_out", "split_by_fractions", "resolve_case_insensitive"]


def _by_class(records: Sequence[VideoRecord]) -> dict[int, list[VideoRecord]]:
    classes: dict[int, list[VideoRecord]] = defaultdict(list)
    for record in records:
        classes[record.label].append(record)
    return classes


def hold_out(records: Sequence[VideoRecord], fraction: float, seed: int,
             group: Callable[[str], str] = lambda path: path) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """``(kept, held)``: per class, whole groups drawn by ``seed`` until ``fraction`` of its videos are held.

    A class with one group keeps it (its videos stay in training). ``kept`` and ``held`` keep the
    list's order. The same records, fraction and seed give the same split on every machine.
    """
    held_ids: set[int] = set()
    for label, members in sorted(_by_class(records).items()):
        groups: dict[str, list[VideoRecord]] = defaultdict(list)
        for record in members:
            groups[group(record.path)].append(record)
        names = sorted(groups)
        if fraction <= 0 or len(names) < 2:
            continue
        order = np.random.default_rng([seed, label]).permutation(len(names))
        target, taken = fraction * len(members), 0
        for k in order[: len(names) - 1]:  # at least one group stays in training
            if taken >= target - 1e-9:
                break
            held_ids.update(id(r) for r in groups[names[k]])
            taken += len(groups[names[k]])
    return [r for r in records if id(r) not in held_ids], [r for r in records if id(r) in held_ids]


def split_by_fractions(records: Sequence[VideoRecord], val_fraction: float, test_fraction: float,
                       seed: int) -> dict[str, list[VideoRecord]]:
    """``{train, val, test}``: per class, files in path order permuted by ``seed``, cut by the fractions.

    Each of val and test gets ``round(fraction * n)`` videos of a class of ``n`` (at least one
    when the fraction is above zero and the class has three videos or more); training the rest.
    """
    out: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    where: dict[int, str] = {}
    for label, members in sorted(_by_class(records).items()):
        members = sorted(members, key=lambda r: r.path)
        order = np.random.default_rng([seed, label]).permutation(len(members))
        counts = []
        for fraction in (val_fraction, test_fraction):
            n = round(fraction * len(members))
            counts.append(max(n, 1) if fraction > 0 and len(members) >= 3 else n)
        n_val, n_test = counts
        for rank, k in enumerate(order):
            where[id(members[k])] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    for record in records:
        out[where[id(record)]].append(record)
    return out


def resolve_case_insensitive(root: Path, relative: str, listings: dict[str, dict[str, str]] | None = None) -> Path:
    """``root / relative``, each part matched without case when the exact spelling is not on disk.

    UCF101's lists and folders disagree in case for a few classes (``HandStandPushups`` in file
    names, ``HandstandPushups`` as the folder); a path found in neither spelling is returned as
    listed, and the datasets skip it as a missing file. ``listings`` keeps the folders read so far
    (one ``listdir`` a folder over a whole list).
    """
    listings = {} if listings is None else listings
    exact = root / relative
    if exact.exists():
        return exact
    current = root
    for part in Path(relative).parts:
        key = os.fspath(current)
        if key not in listings:
            try:
                listings[key] = {name.lower(): name for name in os.listdir(current)}
            except OSError:
                return exact
        name = listings[key].get(part.lower())
        if name is None:
            return exact
        current = current / name
    return current
