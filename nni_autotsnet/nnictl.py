"""Drive an ``nnictl`` experiment from Python: create it, follow its trials, stop it.

The experiment is created with the real ``nnictl create`` (what users run) and read through
NNI's own client, :meth:`nni.experiment.Experiment.connect`, which wraps the REST API the web UI
uses; it is stopped with ``nnictl stop``. Trials run ``python``: the interpreter running this
module is put first on their ``PATH``, so they use the same environment.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nni_autotsnet.rundir import RESULT_FILE

__all__ = ["applied_parameters", "NnictlExperiment", "TrialInfo", "free_port", "nnictl_command", "trial_search_config"]


def nnictl_command() -> str:
    """``nnictl`` of this interpreter's environment (else the one on ``PATH``)."""
    beside = Path(sys.executable).with_name("nnictl")
    found = str(beside) if beside.exists() else shutil.which("nnictl")
    if found is None:
        raise FileNotFoundError("nnictl not found: install nni in this environment (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@dataclass
class TrialInfo:
    """One trial as the NNI manager sees it."""

    id: str
    status: str
    parameters: dict[str, Any]
    directory: Path | None
    final: dict[str, Any] | None
    intermediate: list[dict[str, Any]] = field(default_factory=list)


class NnictlExperiment:
    """An experiment started by ``nnictl create --config CONFIG --port PORT``; use as a context manager.

    ``with NnictlExperiment("experiments/parsec.yml") as exp: exp.wait(); exp.trials()`` stops the
    experiment on leaving the block, whatever happened inside it.
    """

    def __init__(self, config: str | Path, port: int | None = None):
        self.config = Path(config)
        self.port = port or free_port()
        self.id: str | None = None
        self._client = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create(self) -> str:
        """Run ``nnictl create``; return the experiment id (read from the REST API, not the coloured log)."""
        from nni.experiment import Experiment

        done = subprocess.run([nnictl_command(), "create", "--config", str(self.config), "--port", str(self.port)],
                              env=_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nnictl create --config {self.config} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        self._client = Experiment.connect(self.port)
        self.id = self._client.id
        return self.id

    def status(self) -> str:
        return self._client.get_status()

    def trials(self) -> list[TrialInfo]:
        """Every trial with its parameters, directory, final result and intermediate results."""
        metrics = self._client.get_job_metrics()
        out = []
        for job in self._client.list_trial_jobs():
            params = job.hyperParameters[-1].parameters if job.hyperParameters else {}
            final = job.finalMetricData[-1].data if job.finalMetricData else None
            inter = [m.data for m in metrics.get(job.trialJobId, []) if m.type == "PERIODICAL"]
            directory = Path(job.logPath) if job.logPath else None
            out.append(TrialInfo(job.trialJobId, job.status, applied_parameters(directory, params), directory,
                                 final if isinstance(final, dict) else {"default": final} if final is not None else None,
                                 [m if isinstance(m, dict) else {"default": m} for m in inter]))
        return sorted(out, key=lambda t: t.id)

    def wait(self, timeout: float, poll: float = 5.0, on_progress: Callable[[list[TrialInfo], str], None] | None = None
             ) -> str:
        """Wait until the experiment is DONE, STOPPED or ERROR (or ``timeout`` seconds); return its status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if on_progress is not None:
                on_progress(self.trials(), status)
            if status in ("DONE", "STOPPED", "ERROR"):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"experiment {self.id} still {status} after {timeout:.0f} s ({self.url})")
            time.sleep(poll)

    def stop(self) -> None:
        """``nnictl stop <id>``: ends the manager and any running trial."""
        if self.id is None:
            return
        subprocess.run([nnictl_command(), "stop", self.id], env=_env(), capture_output=True, text=True)
        self.id = None

    def __enter__(self) -> "NnictlExperiment":
        self.create()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def applied_parameters(directory: Path | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters as the trial applied them: each read back from the config.yaml it wrote, where it has one.

    NNI 3.0's local training service can show a trial with another trial's parameters when trials start
    together (microsoft/nni#5726); the trial's own config is what it ran. A parameter is a config key
    (dotted, or a name of :data:`~nni_autotsnet.config.NNI_PARAMETER_KEYS`).
    """
    import yaml

    from nni_autotsnet.config import NNI_PARAMETER_KEYS
    from nni_autotsnet.rundir import CONFIG_FILE, read_config

    if directory is None or not (directory / CONFIG_FILE).is_file():
        return dict(parameters)
    try:
        config = read_config(directory)
    except (OSError, ValueError, yaml.YAMLError):  # a config being written, or not YAML: the manager's values
        return dict(parameters)
    applied = {}
    for name, value in parameters.items():
        node: Any = config
        for part in NNI_PARAMETER_KEYS.get(name, name).split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = value
                break
        applied[name] = node
    return applied


def trial_table(trials: list[TrialInfo]) -> list[dict[str, Any]]:
    """One row per trial: parameters, status, final metrics, and the search's result.json when present."""
    rows = []
    for t in trials:
        result = {}
        if t.directory is not None and (t.directory / RESULT_FILE).exists():
            result = json.loads((t.directory / RESULT_FILE).read_text())
        rows.append({"trial": t.id, "status": t.status, **t.parameters, **(t.final or {}), "result": result,
                     "directory": t.directory})
    return rows


def trial_search_config(experiment: str | Path) -> Path:
    """The ``--config`` file the experiment's ``trialCommand`` passes to the search, as a path from here.

    The main job reads it so that its progress lines and benchmark match what the trials run, with
    no second place to keep in step. Relative paths resolve against ``trialCodeDirectory`` (itself
    relative to the experiment file), as NNI runs the command there.
    """
    import shlex

    import yaml

    from nni_autotsnet.errors import UserError

    experiment = Path(experiment)
    try:
        spec = yaml.safe_load(experiment.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{experiment}: not YAML: {' '.join(str(err).split())}") from None
    command = spec.get("trialCommand") if isinstance(spec, dict) else None
    words = shlex.split(command) if isinstance(command, str) else []
    if "--config" not in words or words.index("--config") + 1 >= len(words):
        raise UserError(f"{experiment}: key 'trialCommand' runs no `--config FILE` "
                        f"(expected `python -m nni_autotsnet.search --config FILE`), got {command!r}")
    config = Path(words[words.index("--config") + 1])
    code_dir = experiment.parent / str(spec.get("trialCodeDirectory", "."))
    return config if config.is_absolute() else code_dir / config
