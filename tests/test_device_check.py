"""The device check at small size on CPU: it runs, writes its report, and every section has figures."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out


def test_device_check_small_on_cpu(tmp_path):
    done = subprocess.run([sys.executable, "-W", "ignore", "benchmarks/device_check.py", "--device", "cpu", "--small",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "device_check_cpu_small.json").read_text())
    text = (tmp_path / "device_check_cpu_small.md").read_text()
    assert text in done.stdout
    k = report["parsec"]["k"]["3"]
    assert k["parsec_step_s"] > 0 and math.isfinite(k["time_ratio"]) and math.isfinite(k["peak_ratio"])
    assert "step_s" in report["parsec"]["darts"] and "step_s" in report["parsec"]["random"]
    assert set(report["precision"]) == {"fp32", "bf16-mixed", "channels_last_3d", "bf16-mixed + channels_last_3d"}
    assert all(r["seconds"] > 0 for r in report["precision"].values())
    models = {r["model"] for r in report["models"]["rows"].values()}
    assert {"space X3D point (sparse)", "random in-window arch (all)"} <= models  # pytorchvideo: optional
    lo, hi = report["models"]["window"]
    assert lo <= report["models"]["rows"]["random in-window arch (all) / 32-true"]["gflops"] <= hi
    assert report["loader"]["clips_per_s_per_worker"] > 0
    rows = report["cost"]["rows"]
    assert [r["devices"] for r in rows] == [1, 8, 32, 1, 8, 32]
    assert rows[1]["wall_hours"] == rows[0]["device_hours"] / 8 and all(r["workers_per_device"] >= 1 for r in rows)
    assert "multiply-adds per view" in text and "What a full search costs" in text


def test_precision_only_refuses_a_flag_it_does_not_know():
    done = subprocess.run([sys.executable, "-W", "ignore", "benchmarks/device_check.py", "--precision-only",
                           "--batchsize", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unrecognized arguments: --batchsize" in done.stderr
