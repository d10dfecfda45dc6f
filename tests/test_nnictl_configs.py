"""The shipped nnictl configs are valid NNI 3.0 experiment configs, the commented training services too."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from nni.experiment.config import ExperimentConfig

from nni_autotsnet.config import load_config
from nni_autotsnet.nnictl import trial_search_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _commented_services(text: str) -> list[dict]:
    blocks = re.findall(r"^# trainingService:\n((?:#.*\n?)+)", text, re.M)
    return [yaml.safe_load("trainingService:\n" + "\n".join(line[2:] for line in b.splitlines() if line.startswith("#  ")))
            for b in blocks]


@pytest.mark.parametrize("name", ["parsec.yml", "parsec_S.yml"])
def test_nnictl_config_is_valid_and_its_trials_config_loads(name, monkeypatch):
    monkeypatch.chdir(EXPERIMENTS)  # NNI resolves relative paths against the working directory here
    raw = yaml.safe_load((EXPERIMENTS / name).read_text())
    config = ExperimentConfig(**raw).canonical_copy()
    assert config.tuner.name == "GridSearch"
    betas = raw["searchSpace"]["beta"]["_value"]
    assert betas[0] == 0 and len(betas) >= 2 and betas == sorted(betas)  # Table 1: no cost term, then larger beta
    assert raw["maxTrialNumber"] == len(betas)  # one trial per beta (grid search)
    args = shlex.split(raw["trialCommand"])
    assert args[:3] == ["python", "-m", "nni_autotsnet.search"]
    search_config = EXPERIMENTS.parent / args[args.index("--config") + 1]
    assert trial_search_config(EXPERIMENTS / name).resolve() == search_config.resolve()  # what the main job reads
    overrides = [a for a in args[args.index("--config") + 2:] if "=" in a]
    loaded = load_config(search_config, overrides)  # the trials' config validates too
    assert loaded.search.flops_window is not None


def test_commented_remote_and_kubernetes_services_are_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(EXPERIMENTS)
    text = (EXPERIMENTS / "parsec_S.yml").read_text()
    key = tmp_path / "id_rsa"
    key.write_text("not a real key")
    base = yaml.safe_load(text)
    services = _commented_services(text.replace("~/.ssh/id_rsa", str(key)))
    assert [s["trainingService"]["platform"] for s in services] == ["remote", "kubeflow"]
    for service in services:
        ExperimentConfig(**{**base, **service}).canonical_copy()  # raises on a bad or missing key


def test_a_trials_parameters_are_read_back_from_the_config_it_ran(tmp_path):
    # NNI 3.0 can show a trial with another trial's parameters when trials start together (microsoft/nni#5726)
    from nni_autotsnet.nnictl import applied_parameters

    manager = {"beta": 0, "t_min": 1.0, "search.num_samples": 9, "unknown.key": "x"}
    assert applied_parameters(None, manager) == manager and applied_parameters(tmp_path, manager) == manager
    (tmp_path / "config.yaml").write_text("search:\n  beta: 0.3\n  flops_window: [0.0018, 0.0024]\n  num_samples: 2\n")
    assert applied_parameters(tmp_path, manager) == {"beta": 0.3, "t_min": 0.0018, "search.num_samples": 2,
                                                     "unknown.key": "x"}
    (tmp_path / "config.yaml").write_text("search: [unclosed\n")  # being written: the manager's values
    assert applied_parameters(tmp_path, manager) == manager
