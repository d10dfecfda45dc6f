"""A search killed with SIGKILL mid-part resumes with --resume and ends as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_autotsnet.search_space import load_arch

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

REPO = Path(__file__).resolve().parents[1]


def _command(out: Path, bench: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nni_autotsnet.search", "--config", str(REPO / "experiments" / "tiny.yaml"),
            "--out", str(out), f"data.benchmark={bench}", "search.parts=[sparse]", "search.epochs.sparse=5",
            "search.warmup=0.2", "search.beta=0.2", "search.num_samples=2", "search.rank_candidates=3", "search.metric_samples=8",
            "data.batch_size=2", "data.num_workers=1", "trainer.threads=1", *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_bench):
    tmp = tmp_path_factory.mktemp("resume")
    bench = small_bench
    whole = subprocess.run(_command(tmp / "whole", bench), capture_output=True, text=True, cwd=REPO)
    assert whole.returncode == 0, whole.stderr[-2000:]

    killed = tmp / "killed"
    proc = subprocess.Popen(_command(killed, bench), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    checkpoint = killed / "part1_sparse" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-part: at least one epoch saved, the part not finished
    proc.wait()
    assert not (killed / "part1_sparse" / "arch.json").exists(), "the part finished before the kill"
    epochs_saved = len((killed / "part1_sparse" / "metrics.csv").read_text().splitlines()) - 1

    again = subprocess.run(_command(killed, bench), capture_output=True, text=True, cwd=REPO)
    resumed = subprocess.run(_command(killed, bench, "--resume"), capture_output=True, text=True, cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return {"whole": tmp / "whole", "killed": killed, "again": again, "epochs_saved": epochs_saved}


def test_rerunning_an_interrupted_part_without_resume_is_refused(runs):
    assert runs["again"].returncode == 2
    assert "pass --resume" in runs["again"].stderr and "last.ckpt" in runs["again"].stderr


def test_the_resumed_search_ends_with_the_same_alpha_and_architecture(runs):
    assert runs["epochs_saved"] >= 1
    a = json.loads((runs["whole"] / "part1_sparse" / "alpha.json").read_text())["alpha"]
    b = json.loads((runs["killed"] / "part1_sparse" / "alpha.json").read_text())["alpha"]
    assert list(a) == list(b)
    for label in a:
        assert a[label]["logits"] == pytest.approx(b[label]["logits"], abs=1e-6), label
    assert load_arch(runs["whole"] / "arch.json") == load_arch(runs["killed"] / "arch.json")
    whole = (runs["whole"] / "metrics.csv").read_text().splitlines()
    killed = (runs["killed"] / "metrics.csv").read_text().splitlines()
    assert len(whole) == len(killed) == 6  # header + 5 epochs, none lost or doubled
