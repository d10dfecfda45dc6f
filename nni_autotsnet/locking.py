"""One writer per folder: a run or search directory is locked while a command writes it.

Two commands aimed at one folder (a second ``train --out RUN`` while the first still runs, an NNI
trial started twice) would both write ``last.ckpt`` and ``metrics.csv``. The training, the search
and the evaluation take :func:`folder_lock` on the folder they write (``RUN/.command.lock``,
:data:`nni_autotsnet.rundir.LOCK_FILE`); the second command stops at once with a
:class:`FolderBusyError` naming the folder and the process that holds it (one line, exit status 2,
through :func:`nni_autotsnet.errors.command`). The lock is the operating system's ``flock``, so a
killed command leaves none behind; the lock file stays. Under DDP only rank zero writes, so only
rank zero locks.

Written on ``fcntl`` rather than with the ``filelock`` package because the lock must belong to the
command's process alone: an ``flock`` is shared by every process that inherits its descriptor, and
a DataLoader worker forked while the lock is held kept a killed command's folder locked until the
worker noticed its parent had died (seconds). Every forked child closes its copy at once
(:func:`os.register_at_fork`), which the package does not expose.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from nni_autotsnet.errors import UserError
from nni_autotsnet.rundir import LOCK_FILE

__all__ = ["FolderBusyError", "folder_lock"]

_HELD: set[int] = set()  # descriptors of the locks this process holds


def _close_inherited() -> None:
    """In a forked child: drop the parent's lock descriptors (closing, never unlocking, them)."""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited)


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
        At once, when another process (or another block of this one) holds the lock.
    """
    folder = Path(folder)
    if not enabled:
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited across exec
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        by = f" (process {holder})" if holder.isdigit() else ""
        raise FolderBusyError(f"{folder}: another command{by} is writing this {what}; wait for it to end or "
                              "choose another output folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD.add(fd)
    try:
        yield folder
    finally:
        _HELD.discard(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
