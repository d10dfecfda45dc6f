"""End to end through NNI: ``nnictl create`` runs search trials, the REST API has their results, export works without NNI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nni_autotsnet.nnictl import NnictlExperiment
from nni_autotsnet.search_space import check_arch, load_arch, load_preset, make_layout

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

REPO = Path(__file__).resolve().parents[1]
BETAS = [0.0, 0.2]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_bench):
    """A 2-trial experiment (beta 0 and 0.2), one epoch per part, on a small generated benchmark."""
    tmp = tmp_path_factory.mktemp("nnictl")
    bench = small_bench
    command = (f"python -m nni_autotsnet.search --config {REPO / 'experiments' / 'tiny.yaml'} data.benchmark={bench} "
               "search.num_samples=2 search.rank_candidates=3 search.epochs.sparse=1 search.epochs.fusion=1 search.epochs.all=1 "
               "search.metric_samples=8 data.batch_size=4 data.num_workers=0")
    config = {
        "experimentName": "test-parsec", "searchSpace": {"beta": {"_type": "choice", "_value": BETAS}},
        "trialCommand": command, "trialCodeDirectory": str(REPO), "trialConcurrency": 1, "maxTrialNumber": 2,
        "maxExperimentDuration": "15m", "experimentWorkingDirectory": str(tmp / "nni"),
        "tuner": {"name": "GridSearch"}, "trainingService": {"platform": "local"},
    }
    path = tmp / "exp.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    with NnictlExperiment(path) as experiment:
        status = experiment.wait(timeout=600, poll=3)
        trials = experiment.trials()
        port = experiment.port
    return {"status": status, "trials": trials, "tmp": tmp, "port": port}


def test_every_trial_reports_and_writes_an_architecture_of_the_space(finished):
    assert finished["status"] == "DONE"
    trials = finished["trials"]
    assert sorted(t.parameters["beta"] for t in trials) == BETAS
    layout = make_layout(load_preset("tiny"), "all")
    for t in trials:
        assert t.status == "SUCCEEDED", t.directory
        assert {"default", "gflops", "in_window", "beta", "healthy"} <= set(t.final)
        assert t.final["beta"] == t.parameters["beta"]  # holds one trial at a time (see parsec.yml's note)
        assert len(t.intermediate) == 3  # one epoch in each of the three parts
        assert all({"default", "expected_gflops", "ml_gflops", "entropy", "health", "healthy"} <= set(m)
                   for m in t.intermediate)
        arch, preset, parts = load_arch(t.directory / "arch.json")
        assert (preset, parts) == ("tiny", "all")
        check_arch(layout, arch)  # raises if a label or value is not of the space
        result = json.loads((t.directory / "result.json").read_text())
        assert result["gflops"] == pytest.approx(t.final["gflops"])
        assert t.final["healthy"] == float(result["healthy"])
        assert result["health"]["all"] == t.intermediate[-1]["health"]  # the last epoch's verdict
    # the main job's Table 1 analog carries each search's health
    from nni_autotsnet.demo import table1
    cells = list(table1(trials)["search health"])
    assert len(cells) == 2 and all(c == "ok" or c.startswith("WARNING: ") for c in cells)


def test_a_trial_exports_and_loads_in_a_process_without_nni(finished):
    trial = max(finished["trials"], key=lambda t: t.final["default"])
    out = finished["tmp"] / "export"
    done = subprocess.run([sys.executable, "-m", "nni_autotsnet.export", str(trial.directory), "--weights",
                           "--out", str(out), "--latency-runs", "2"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "GFLOPs" in done.stdout
    code = ("import sys, torch\n"
            "from nni_autotsnet.models import load_exported\n"
            f"model = load_exported({str(out / 'model.pt')!r})\n"
            "assert not any(m == 'nni' or m.startswith('nni.') for m in sys.modules), 'nni was imported'\n"
            "print(tuple(model(torch.zeros(1, 3, 8, 64, 64)).shape))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "(1, 10)"


def test_the_experiment_is_stopped(finished):
    import socket
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", finished["port"])) != 0  # the NNI manager no longer listens


def test_the_main_jobs_clock_never_shows_60_seconds():
    from nni_autotsnet.demo import clock

    assert clock(0) == "00:00"
    assert clock(59.4) == "00:59"
    assert clock(59.6) == "01:00"  # was [00:60]
    assert clock(1379.7) == "23:00"  # was [22:60]
    assert clock(3725) == "62:05"
