"""One error path for every command: a user's mistake ends any ``python -m nni_autotsnet.*`` command with exit
status 2 and one line ``error: <file, file:line, or file and dotted key>: <what is wrong>`` on stderr, never a
traceback (``nni_autotsnet.errors``).

Every command meets the mistakes that apply to it (``-`` where it takes no such input):

  command        bad list (line 3      bad config (unknown    bad arch JSON / bad     folder where a      missing file
                 without a label)      key)                   checkpoint              file is expected
  search         --config -> data.train --config              part1_sparse/arch.json  --config FOLDER     --config
  random_search  --config -> data.train --config              -                       --config FOLDER     --config
  train          --config -> data.train --config              --arch (not JSON)       --config FOLDER     --arch
  evaluate       --list                 --config              --checkpoint garbage    --checkpoint FOLDER --checkpoint
  export         -                      --preset (preset YAML) --arch (unknown label) --arch FOLDER       SEARCH_DIR
  report         -                      -                     -                       -                   RUN_DIR
  data check     LIST                   --labels-file (dup.)  -                       LIST FOLDER         LIST
  demo           -                      --search-config       -                       --experiment FOLDER --search-config

plus a bad argument for each (argparse: one line naming the command). Most run in-process through ``main(argv)``;
a few run as real subprocesses, side by side, to prove the exit status and that stderr has no traceback. No
video is decoded and nothing trains: every case fails before that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from nni_autotsnet import demo, evaluate, export, random_search, report, search, train
from nni_autotsnet.data.__main__ import main as data_main
from nni_autotsnet.errors import CommandParser, UserError, command, user_message
from nni_autotsnet.rundir import LOCK_FILE
from nni_autotsnet.search_space import PresetError, save_arch
from nni_autotsnet.search_space.presets import PRESET_DIR

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "experiments" / "tiny.yaml")
LABELS = ["move_left", "move_right"]


class Inputs:
    """The files of every case, in one folder (made once for the module)."""

    def __init__(self, root: Path):
        self.root = root
        (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
        self.labels = root / "labels.txt"
        self.dup_labels = root / "dup_labels.txt"
        self.dup_labels.write_text("move_left\nmove_left\n")
        self.good_list = root / "good.csv"  # the videos need not exist: nothing is decoded
        self.good_list.write_text("path,label\na.mp4,move_left\nb.mp4,move_right\n")
        self.bad_list = root / "bad.csv"
        self.bad_list.write_text("path,label\na.mp4,move_left\nb.mp4\n")
        quiet = {"data": {"labels_file": str(self.labels), "num_workers": 0},
                 "trainer": {"accelerator": "cpu", "threads": 1}, "random": {"flops_window": [0.001, 1.0]}}
        self.good_config = self._config("good.yaml", {**quiet, "data": {**quiet["data"], "train": str(self.good_list),
                                                                         "val": str(self.good_list)}})
        self.list_config = self._config("list.yaml", {**quiet, "data": {**quiet["data"], "train": str(self.bad_list),
                                                                         "val": str(self.good_list)}})
        self.bad_config = self._config("bad.yaml", {"search": {"betta": 0.1}})
        preset = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())
        preset["sparse"]["head"]["innr"] = 72
        self.bad_preset = root / "bad_preset.yaml"
        self.bad_preset.write_text(yaml.safe_dump(preset))
        from nni_autotsnet.search_space import TwoStreamSpace

        self.arch = TwoStreamSpace.from_preset("tiny", parts="sparse").default_arch()
        self.good_arch = root / "arch.json"
        save_arch(self.arch, self.good_arch, "tiny", "sparse")
        self.bare_arch = root / "bare_arch.json"  # no preset recorded: --preset says which
        self.bare_arch.write_text(json.dumps(self.arch))
        self.not_json = root / "not_json.json"
        self.not_json.write_text("{'sparse/s2_c': 8,")
        self.unknown_label = root / "unknown_label.json"
        save_arch({**self.arch, "sparse/s9_c": 8}, self.unknown_label, "tiny", "sparse")
        self.folder = root / "folder"
        self.folder.mkdir()
        self.missing = root / "missing"  # + a suffix per case; never created
        self.garbage = root / "garbage.pt"
        self.garbage.write_bytes(bytes(range(256)) * 8)
        self.search_dir = root / "search"  # a part finished by "another run" whose arch.json is not JSON
        (self.search_dir / "part1_sparse").mkdir(parents=True)
        (self.search_dir / "part1_sparse" / "arch.json").write_text("{'sparse/s2_c': 8,")

    def _config(self, name: str, data: dict) -> Path:
        path = self.root / name
        path.write_text(yaml.safe_dump({"preset": "tiny", **data}))
        return path

    def model_pt(self) -> Path:
        """A real model.pt of the tiny sparse default arch (export, no latency runs), made on first use."""
        path = self.root / "export" / "model.pt"
        if not path.exists():
            assert export.main(["--arch", str(self.good_arch), "--out", str(path.parent), "--latency-runs", "0"]) == 0
        return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("cli_errors"))


def _code(main: Callable, argv: list[str]) -> int:
    """The exit status ``python -m`` would give: ``main``'s return value, or argparse's SystemExit code."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


# id -> (main, argv from the inputs, what stderr's one line starts with after "error: ")
Case = tuple[Callable, Callable[[Inputs, Path], list[str]], Callable[[Inputs], str]]
CASES: dict[str, Case] = {
    # search
    "search-bad_list": (search.main, lambda i, o: ["--config", str(i.list_config), "--out", str(o)],
                        lambda i: f"{i.bad_list}:3: expected 'path,label', got 1 field(s)"),
    "search-bad_config": (search.main, lambda i, o: ["--config", str(i.bad_config), "--out", str(o)],
                          lambda i: f"{i.bad_config}: unknown key 'search.betta'"),
    "search-bad_arch": (search.main, lambda i, o: ["--config", str(i.good_config), "--out", str(i.search_dir)],
                        lambda i: f"{i.search_dir / 'part1_sparse' / 'arch.json'}: cannot read an architecture JSON"),
    "search-folder": (search.main, lambda i, o: ["--config", str(i.folder), "--out", str(o)],
                      lambda i: f"{i.folder}: cannot read the config: Is a directory"),
    "search-missing": (search.main, lambda i, o: ["--config", f"{i.missing}.yaml", "--out", str(o)],
                       lambda i: f"{i.missing}.yaml: cannot read the config: No such file or directory"),
    # random_search (every case fails before NNI starts an experiment)
    "random_search-bad_list": (random_search.main, lambda i, o: ["--config", str(i.list_config), f"random.output={o}"],
                               lambda i: f"{i.bad_list}:3: expected 'path,label'"),
    "random_search-bad_config": (random_search.main, lambda i, o: ["--config", str(i.bad_config)],
                                 lambda i: f"{i.bad_config}: unknown key 'search.betta'"),
    "random_search-folder": (random_search.main, lambda i, o: ["--config", str(i.folder)],
                             lambda i: f"{i.folder}: cannot read the config: Is a directory"),
    "random_search-missing": (random_search.main, lambda i, o: ["--config", f"{i.missing}.yaml"],
                              lambda i: f"{i.missing}.yaml: cannot read the config"),
    # train
    "train-bad_list": (train.main, lambda i, o: ["--arch", str(i.good_arch), "--config", str(i.list_config),
                                                 "--out", str(o)],
                       lambda i: f"{i.bad_list}:3: expected 'path,label'"),
    "train-bad_config": (train.main, lambda i, o: ["--arch", str(i.good_arch), "--config", str(i.bad_config),
                                                   "--out", str(o)],
                         lambda i: f"{i.bad_config}: unknown key 'search.betta'"),
    "train-bad_arch": (train.main, lambda i, o: ["--arch", str(i.not_json), "--config", str(i.good_config),
                                                 "--out", str(o)],
                       lambda i: f"{i.not_json}: cannot read an architecture JSON"),
    "train-folder": (train.main, lambda i, o: ["--arch", str(i.good_arch), "--config", str(i.folder), "--out", str(o)],
                     lambda i: f"{i.folder}: cannot read the config: Is a directory"),
    "train-missing": (train.main, lambda i, o: ["--arch", f"{i.missing}.json", "--config", str(i.good_config),
                                                "--out", str(o)],
                      lambda i: f"{i.missing}.json: cannot read an architecture JSON: No such file or directory"),
    # evaluate
    "evaluate-bad_list": (evaluate.main, lambda i, o: ["--checkpoint", str(i.model_pt()), "--config",
                                                       str(i.good_config), "--list", str(i.bad_list), "--views", "1",
                                                       "--out", str(o)],
                          lambda i: f"{i.bad_list}:3: expected 'path,label'"),
    "evaluate-bad_config": (evaluate.main, lambda i, o: ["--checkpoint", str(i.model_pt()), "--config",
                                                         str(i.bad_config), "--out", str(o)],
                            lambda i: f"{i.bad_config}: unknown key 'search.betta'"),
    "evaluate-bad_checkpoint": (evaluate.main, lambda i, o: ["--checkpoint", str(i.garbage), "--config",
                                                             str(i.good_config), "--out", str(o)],
                                lambda i: f"{i.garbage}: not a checkpoint written by nni_autotsnet.train or "
                                          "nni_autotsnet.export (not a file of PyTorch tensors)"),
    "evaluate-folder": (evaluate.main, lambda i, o: ["--checkpoint", str(i.folder), "--out", str(o)],
                        lambda i: f"{i.folder}: no model.pt or last.ckpt in this directory"),
    "evaluate-missing": (evaluate.main, lambda i, o: ["--checkpoint", f"{i.missing}.pt", "--out", str(o)],
                         lambda i: f"{i.missing}.pt: no such checkpoint"),
    # export
    "export-bad_config": (export.main, lambda i, o: ["--arch", str(i.bare_arch), "--preset", str(i.bad_preset),
                                                     "--out", str(o), "--latency-runs", "0"],
                          lambda i: f"{i.bad_preset}: key 'sparse.head.innr': unknown key"),
    "export-bad_arch": (export.main, lambda i, o: ["--arch", str(i.unknown_label), "--preset", "tiny", "--out", str(o),
                                                   "--latency-runs", "0"],
                        lambda i: f"{i.unknown_label}: unknown label 'sparse/s9_c' for preset 'tiny'"),
    "export-folder": (export.main, lambda i, o: ["--arch", str(i.folder), "--preset", "tiny", "--out", str(o)],
                      lambda i: f"{i.folder}: cannot read an architecture JSON: Is a directory"),
    "export-missing": (export.main, lambda i, o: [f"{i.missing}_search", "--out", str(o)],
                       lambda i: f"{i.missing}_search: no such search directory"),
    # report
    "report-missing": (report.main, lambda i, o: [f"{i.missing}_run", "--out", str(o)],
                       lambda i: f"{i.missing}_run: no such directory"),
    # data check
    "data_check-bad_list": (data_main, lambda i, o: ["check", str(i.bad_list), "--labels-file", str(i.labels)],
                            lambda i: f"{i.bad_list}:3: expected 'path,label', got 1 field(s): 'b.mp4'"),
    "data_check-bad_config": (data_main, lambda i, o: ["check", str(i.good_list), "--labels-file", str(i.dup_labels)],
                              lambda i: f"{i.dup_labels}:2: duplicate class name 'move_left' (first on line 1)"),
    "data_check-folder": (data_main, lambda i, o: ["check", str(i.folder)],
                          lambda i: f"{i.folder}: is a folder; expected a list file (path,label CSV or 'path label' "
                                    "lines)"),
    "data_check-missing": (data_main, lambda i, o: ["check", f"{i.missing}.csv"],
                           lambda i: f"{i.missing}.csv: list file not found"),
    # demo (every case fails before the benchmark is built or nnictl starts)
    "demo-bad_config": (demo.main, lambda i, o: ["--search-config", str(i.bad_config), "--out", str(o)],
                        lambda i: f"{i.bad_config}: unknown key 'search.betta'"),
    "demo-folder": (demo.main, lambda i, o: ["--search-config", TINY, "--experiment", str(i.folder), "--out", str(o)],
                    lambda i: f"{i.folder}: is a folder; --experiment expects an nnictl experiment config"),
    "demo-missing": (demo.main, lambda i, o: ["--search-config", f"{i.missing}.yaml", "--out", str(o)],
                     lambda i: f"{i.missing}.yaml: cannot read the config: No such file or directory"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_users_mistake_exits_2_with_one_line_naming_it(case, inputs, tmp_path, capsys):
    main, argv, says = CASES[case]
    out = tmp_path / "out"
    assert _code(main, argv(inputs, out)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and err.endswith(lines[0] + "\n"), err
    assert lines[0].startswith(f"error: {says(inputs)}"), lines[0]
    assert "Traceback" not in err and "weights_only" not in err
    written = sorted(p.name for p in out.rglob("*") if p.name != LOCK_FILE) if out.exists() else []
    # nothing was written (but the folder's lock); run_search writes the config it runs before it reads the lists
    assert written == (["config.yaml"] if case == "search-bad_list" else []), written


COMMANDS = {"search": search.main, "random_search": random_search.main, "train": train.main,
            "evaluate": evaluate.main, "export": export.main, "report": report.main, "demo": demo.main,
            "data check": lambda argv: data_main(["check", *argv]),
            "data make-benchmark": lambda argv: data_main(["make-benchmark", *argv])}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_bad_argument_is_one_line_naming_the_command(name, capsys):
    assert _code(COMMANDS[name], ["--bogus"]) == 2
    err = capsys.readouterr().err
    prog = f"python -m nni_autotsnet.{name}"
    assert err.startswith(f"error: {prog}: ") and err.count("\n") == 1 and err.endswith(" (see --help)\n"), err


def test_the_data_command_names_its_subcommands(capsys):
    assert data_main([]) == 2 and data_main(["chek", "x.csv"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: python -m nni_autotsnet.data: no command given; choose check or make-benchmark (see --help)",
                   "error: python -m nni_autotsnet.data: unknown command 'chek'; choose check or make-benchmark "
                   "(see --help)"]


# ------------------------------------------------------------------------------------------------
# The handler itself: user errors are one line, bugs keep their traceback
# ------------------------------------------------------------------------------------------------
def test_the_handler_turns_user_errors_into_one_line_and_lets_bugs_raise(tmp_path, capsys):
    @command
    def main(argv=None):
        raise argv

    assert main(UserError("cfg.yaml: key 'a.b':\n  bad value")) == 2
    assert capsys.readouterr().err == "error: cfg.yaml: key 'a.b': bad value\n"
    assert main(PresetError("p.yaml: key 'alpha': bad")) == 2  # every user-error class derives from one base
    assert capsys.readouterr().err == "error: p.yaml: key 'alpha': bad\n"
    assert main(IsADirectoryError(21, "Is a directory", str(tmp_path))) == 2  # a path error names the path
    assert capsys.readouterr().err == f"error: {tmp_path}: is a folder, where a file is expected\n"
    from nni_autotsnet.supernet import ExportError  # still a plain ValueError in its module

    assert main(ExportError("x: missing")) == 2 and capsys.readouterr().err == "error: x: missing\n"
    for bug in (RuntimeError("a bug"), ValueError("a bug's ValueError"), KeyError("k"), OSError("no path")):
        with pytest.raises(type(bug)):
            main(bug)
    assert user_message(ZeroDivisionError()) is None


def test_every_user_error_class_is_a_user_error_and_still_a_value_error():
    from nni_autotsnet.config import ConfigError
    from nni_autotsnet.data import AnnotationError
    from nni_autotsnet.errors import CheckpointError
    from nni_autotsnet.evaluate import EvalError
    from nni_autotsnet.report import ReportError
    from nni_autotsnet.search import SearchError
    from nni_autotsnet.search_space import ArchError
    from nni_autotsnet.training import TrainError

    for cls in (ConfigError, PresetError, ArchError, AnnotationError, TrainError, EvalError, SearchError,
                ReportError, CheckpointError):
        assert issubclass(cls, UserError) and issubclass(cls, ValueError), cls


def test_the_parser_error_is_one_line(capsys):
    parser = CommandParser(prog="python -m nni_autotsnet.x")
    parser.add_argument("--n", type=int, required=True)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--n", "two"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("error: python -m nni_autotsnet.x: argument --n: invalid int value: 'two' "
                                       "(see --help)\n")


# ------------------------------------------------------------------------------------------------
# Real processes: the exit status and stderr of python -m, several at once
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_python_m_exits_2_without_a_traceback(inputs, tmp_path):
    runs = {
        "search": (["nni_autotsnet.search", "--config", str(inputs.list_config), "--out", str(tmp_path / "s")],
                   f"{inputs.bad_list}:3: "),
        "train": (["nni_autotsnet.train", "--arch", str(inputs.good_arch)], "python -m nni_autotsnet.train: "),
        "evaluate": (["nni_autotsnet.evaluate", "--checkpoint", str(inputs.garbage), "--config",
                      str(inputs.good_config)], f"{inputs.garbage}: not a checkpoint written by nni_autotsnet.train"),
        "data check": (["nni_autotsnet.data", "check", str(inputs.folder)], f"{inputs.folder}: is a folder"),
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    procs = {name: subprocess.Popen([sys.executable, "-m", *argv], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, (argv, _) in runs.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (name, err)
        assert "Traceback" not in err and "weights_only" not in err, (name, err)
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"error: {runs[name][1]}") and err.count("error: ") == 1, (name, err)


def test_command_handles_argparse_exits_and_prints_a_summary_on_rank_zero_only(capsys, monkeypatch):
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    @command
    def main(argv=None):
        parser = CommandParser(prog="python -m nni_autotsnet.x")
        parser.add_argument("--n", type=int, required=True)
        args = parser.parse_args(argv)
        return f"summary {args.n}"

    assert main(["--help"]) == 0 and "--n" in capsys.readouterr().out
    assert main([]) == 2 and capsys.readouterr().err.startswith("error: python -m nni_autotsnet.x: ")
    assert main(["--n", "3"]) == 0 and capsys.readouterr().out == "summary 3\n"
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)  # a DDP rank other than zero
    assert main(["--n", "3"]) == 0 and capsys.readouterr().out == ""


def test_a_command_silences_the_library_notes_that_ask_nothing_of_the_user_and_keeps_other_warnings():
    import warnings

    @command
    def main(argv=None):
        warnings.warn("Checkpoint directory /runs/x exists and is not empty.", UserWarning)
        warnings.warn("When using training service to spawn trials, please try to wrap PyTorch DataLoader with "
                      "nni.trace", RuntimeWarning)
        warnings.warn("a warning of the project's own", UserWarning)
        return 0

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert main([]) == 0
    assert [str(w.message) for w in seen] == ["a warning of the project's own"]
