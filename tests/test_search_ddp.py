"""The search command under Lightning DDP (2 CPU processes, gloo): every rank runs it, rank 0 alone writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nni_autotsnet.search_space import check_arch, load_arch, load_preset, make_layout

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

REPO = Path(__file__).resolve().parents[1]


def test_search_command_on_two_processes(tmp_path, small_bench):
    bench = small_bench
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "nni_autotsnet.search", "--config", str(REPO / "experiments" / "tiny.yaml"),
         "--out", str(out), f"data.benchmark={bench}", "search.parts=[sparse, fusion]", "search.epochs.sparse=2",
         "search.epochs.fusion=1", "search.num_samples=2", "search.rank_candidates=3", "search.metric_samples=8", "data.batch_size=2",
         "data.num_workers=0", "trainer.threads=1", "trainer.accelerator=cpu", "trainer.devices=2"],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in done.stdout + done.stderr  # really two processes
    assert done.stdout.count("searched architecture:") == 1 and done.stdout.count("epoch 1/2") == 1  # rank 0 speaks
    for part in ("part1_sparse", "part2_fusion"):
        for file in ("part.json", "arch.json", "alpha.json", "supernet.pt", "last.ckpt", "metrics.csv"):
            assert (out / part / file).is_file(), out / part / file
        assert not list((out / part).glob("*.tmp"))
    arch, preset, parts = load_arch(out / "arch.json")
    check_arch(make_layout(load_preset("tiny"), "fusion"), arch)
    assert json.loads((out / "result.json").read_text())["parts"] == ["sparse", "fusion"]
