"""One writer per folder (issue 22): a second command aimed at a folder being written stops with one line.

Real locks, not mocks: the lock is held by another process (or by another handle in this one, which
``flock`` treats alike), and the command under test must give up at once with exit status 2. A
killed command's forked children (DataLoader workers) must not keep its folder locked.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from nni_autotsnet.locking import FolderBusyError, folder_lock
from nni_autotsnet.rundir import LOCK_FILE
from nni_autotsnet.search import main as search_main
from nni_autotsnet.search_space import load_preset, make_layout, save_arch
from nni_autotsnet.train import main as train_main

HOLD = """import fcntl, sys
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True); sys.stdin.read()
"""

# Takes the folder's lock, forks a child that outlives it (as a DataLoader worker does), then waits.
HOLD_AND_FORK = """import os, sys, time
from nni_autotsnet.locking import folder_lock
with folder_lock(sys.argv[1]):
    child = os.fork()
    if child == 0:
        time.sleep(60); os._exit(0)
    print("held", child, flush=True); time.sleep(60)
"""


def _free(path) -> bool:
    """Whether an flock on ``path`` can be taken now (and at once let go)."""
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


@pytest.fixture
def held(tmp_path):
    """A folder whose lock another process holds until the test ends."""
    folder = tmp_path / "run"
    folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / LOCK_FILE)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield folder
    proc.stdin.close()
    proc.wait(timeout=30)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_second_training_into_a_locked_run_directory_stops(held, tmp_path, capsys):
    arch = tmp_path / "arch.json"
    save_arch(make_layout(load_preset("tiny"), "all").defaults(), arch, "tiny", "all")
    start = time.perf_counter()
    code = train_main(["--arch", str(arch), "--config", "experiments/tiny.yaml", "--out", str(held),
                       f"data.benchmark={tmp_path / 'bench'}"])
    assert code == 2 and time.perf_counter() - start < 30  # at once, not after a wait
    line = _one_error_line(capsys)
    assert line.startswith(f"error: {held}: another command is writing this run directory"), line
    assert not (tmp_path / "bench").exists() and not (held / "config.yaml").exists()  # nothing done


def test_a_second_search_into_a_locked_search_directory_stops(held, tmp_path, capsys):
    code = search_main(["--config", "experiments/tiny.yaml", "--out", str(held), f"data.benchmark={tmp_path / 'b'}"])
    assert code == 2
    assert _one_error_line(capsys).startswith(f"error: {held}: another command is writing this search directory")


def test_the_lock_is_released_and_taken_again(tmp_path):
    folder = tmp_path / "new" / "run"
    with folder_lock(folder, "run directory"):
        assert (folder / LOCK_FILE).is_file()
        with pytest.raises(FolderBusyError, match="run directory"):
            with folder_lock(folder, "run directory"):
                pass
    with folder_lock(folder):  # released on leaving the block
        pass
    assert _free(folder / LOCK_FILE)
    with folder_lock(folder, enabled=False):  # a DDP rank other than zero takes no lock
        assert _free(folder / LOCK_FILE)


def test_the_message_names_the_process_that_holds_the_lock(tmp_path):
    with folder_lock(tmp_path, "search directory"):
        with pytest.raises(FolderBusyError, match=rf"another command \(process {os.getpid()}\) is writing"):
            with folder_lock(tmp_path, "search directory"):
                pass


def test_a_killed_commands_forked_child_does_not_keep_the_lock(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_FORK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    held, child = proc.stdout.readline().split()
    assert held == "held" and not _free(tmp_path / LOCK_FILE)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        os.kill(int(child), 0)  # the child still lives (raises if it does not) ...
        assert _free(tmp_path / LOCK_FILE)  # ... and the killed command's lock is gone all the same
        with folder_lock(tmp_path, "run directory"):  # the rerun takes the folder at once
            pass
    finally:
        os.kill(int(child), signal.SIGKILL)
