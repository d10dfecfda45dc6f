"""``nnictl stop`` mid-trial, then ``nnictl resume``: the trial continues its search from its last checkpoint."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from nni.experiment import Experiment

from nni_autotsnet.nnictl import NnictlExperiment, _env, free_port, nnictl_command
from nni_autotsnet.search_space import check_arch, load_arch, load_preset, make_layout

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

REPO = Path(__file__).resolve().parents[1]


def test_a_stopped_experiment_resumes_its_running_trial(tmp_path, small_bench):
    bench = small_bench
    command = (f"python -m nni_autotsnet.search --config {REPO / 'experiments' / 'tiny.yaml'} data.benchmark={bench} "
               "search.parts=[sparse] search.epochs.sparse=6 search.num_samples=2 search.rank_candidates=3 search.metric_samples=8 "
               "data.batch_size=2 data.num_workers=0 trainer.threads=1")
    config = {
        "experimentName": "test-resume", "searchSpace": {"beta": {"_type": "choice", "_value": [0.2]}},
        "trialCommand": command, "trialCodeDirectory": str(REPO), "trialConcurrency": 1, "maxTrialNumber": 1,
        "experimentWorkingDirectory": str(tmp_path / "nni"), "tuner": {"name": "GridSearch"},
        "trainingService": {"platform": "local"},
    }
    path = tmp_path / "exp.yml"
    path.write_text(json.dumps(config))
    experiment = NnictlExperiment(path)
    experiment.create()
    exp_id = experiment.id
    try:
        deadline = time.monotonic() + 300
        checkpoint = None
        while checkpoint is None and time.monotonic() < deadline:
            found = list((tmp_path / "nni" / exp_id).glob("environments/*/trials/*/part1_sparse/last.ckpt"))
            checkpoint = found[0] if found else None
            time.sleep(0.2)
        assert checkpoint is not None, "the trial never wrote a checkpoint"
        trial_dir = checkpoint.parents[1]
        assert not (trial_dir / "arch.json").exists(), "the trial finished before the stop"
        experiment.stop()  # kills the running trial mid-part

        port = free_port()
        done = subprocess.run([nnictl_command(), "resume", exp_id, "--port", str(port)], env=_env(),
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        experiment.id, experiment.port = exp_id, port
        experiment._client = Experiment.connect(port)
        assert experiment.wait(timeout=600, poll=2) == "DONE"
        trial, = experiment.trials()
        assert trial.status == "SUCCEEDED" and trial.directory == trial_dir  # the same trial, in its own folder
    finally:
        experiment.id = exp_id
        experiment.stop()
    arch, preset, parts = load_arch(trial_dir / "arch.json")
    check_arch(make_layout(load_preset("tiny"), "sparse"), arch)
    epochs = [int(line.split(",")[1]) for line in (trial_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(6))  # every epoch once: the resumed trial went on from its checkpoint
    starts = (trial_dir / "trial.log").read_text().split("[part 1/1 sparse] 6 epochs")  # NNI logs prints here
    assert len(starts) == 3, "the trial should have started twice"
    assert "epoch 1/6" in starts[1] and "epoch 6/6" not in starts[1]
    assert "epoch 1/6" not in starts[2] and "epoch 6/6" in starts[2]  # went on after the checkpoint
