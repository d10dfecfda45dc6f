"""One writer per folder: a run or search directory is locked while a command writes it.

Two commands aimed at one folder (a second ``train --out RUN`` while the first still runs, an NNI
trial started twice) would both write ``last.ckpt`` and ``metrics.csv``. The training, the search
and the evaluation take :func:`folder_lock` on the folder they write (``RUN/.command.lock``,
:data:`nni_autotsnet.rundir.LOCK_FILE`); the second command stops at once with a
:class:`FolderBusyError` naming the folder (one line, exit status 2, through
:func:`nni_autotsnet.errors.command`). The lock is the operating system's (``filelock``: ``flock``
on POSIX), so a killed command leaves none behind; the empty lock file stays. Under DDP only rank
zero writes, so only rank zero locks.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from nni_autotsnet.errors import UserError
from nni_autotsnet.rundir import LOCK_FILE

__all__ = ["FolderBusyError", "folder_lock"]


class FolderBusyError(UserError):
    """Another command is writing the folder; the message names it."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "folder", enabled: bool = True) -> Iterator[Path]:
    """Hold ``folder/.command.lock`` (the folder made if missing) while the block runs.

    Parameters
    ----------
    folder
        The run, search or output folder the block writes.
    what
        What the folder is, for the message (``"run directory"``, ``"search directory"``).
    enabled
        False: lock nothing (a DDP rank other than zero, which writes no file).

    Raises
    ------
    FolderBusyError
        At once, when another process holds the lock.
    """
    folder = Path(folder)
    if not enabled:
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderBusyError(f"{folder}: another command is writing this {what}; wait for it to end or "
                              "choose another output folder") from None
    try:
        yield folder
    finally:
        lock.release()
