"""One home for each run-directory name and format (issue 22): no module but ``rundir`` spells a file name.

Walks every module of the package and every script of ``benchmarks/`` with ``ast`` (as ``tests/test_layers.py`` does for imports) and
collects the string constants outside docstrings: a name such as ``"last.ckpt"`` written anywhere but
:mod:`nni_autotsnet.rundir` is a second home that can drift from the first. The readers and writers
that live there (``alpha.json``, ``alpha_history.jsonl``, ``config.yaml``) are checked by round trips.
"""

from __future__ import annotations

import ast
import json

import pytest

from nni_autotsnet import rundir
from test_layers import REPO, _modules

NAMES = {getattr(rundir, name) for name in rundir.__all__ if name.endswith("_FILE")}
HOME = "nni_autotsnet.rundir"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


@pytest.fixture(scope="module")
def spelled() -> dict[str, set[str]]:
    """file name -> the modules whose code (not docstrings) holds it as a string constant."""
    where: dict[str, set[str]] = {name: set() for name in NAMES}
    scripts = {f"benchmarks/{file.name}": file for file in sorted((REPO / "benchmarks").glob("*.py"))}
    for module, file in {**_modules(), **scripts}.items():
        tree = ast.parse(file.read_text(), str(file))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in skip:
                where[node.value].add(module)
    return where


def test_the_names_are_the_run_directorys():
    assert {"arch.json", "alpha.json", "alpha_history.jsonl", "config.yaml", "last.ckpt", "metrics.csv",
            "ranking.csv", "result.json"} <= NAMES


def test_every_file_name_is_spelled_in_rundir_only(spelled):
    elsewhere = {name: sorted(modules - {HOME}) for name, modules in spelled.items() if modules - {HOME}}
    assert elsewhere == {}
    assert all(HOME in modules for modules in spelled.values())


# atomic.AtomicCheckpointIO: made on first use, so that importing atomic imports no Lightning
LAZY_CLASSES = {"nni_autotsnet.atomic.__getattr__.AtomicCheckpointIO"}


def test_no_class_is_defined_inside_a_function():
    """A callback class made inside a function (the search's progress, once) cannot be imported, tested or pickled."""
    nested = []
    for module, file in _modules().items():
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested += [f"{module}.{node.name}.{inner.name}" for inner in ast.walk(node)
                           if isinstance(inner, ast.ClassDef)]
    assert sorted(set(nested) - LAZY_CLASSES) == []


def test_alpha_json_round_trip_and_a_bad_one_named(tmp_path):
    alpha = {"most_likely": {"sample": {"a": 1}, "probability": 0.5}, "top": [{"sample": {"a": 1}, "probability": 0.5}],
             "alpha": {"a": {"values": [1, 2], "logits": [0.0, 0.0], "probs": [0.5, 0.5]}}, "beta": 0.0}
    rundir.write_alpha(tmp_path / rundir.ALPHA_FILE, alpha)
    assert (tmp_path / rundir.ALPHA_FILE).read_text() == json.dumps(alpha, indent=2)
    assert rundir.read_alpha(tmp_path / rundir.ALPHA_FILE) == alpha
    (tmp_path / "bad.json").write_text(json.dumps({"alpha": {"a": {"values": [1], "logits": [], "probs": []}}}))
    with pytest.raises(ValueError, match="bad.json: expected Parsec.export_alpha's"):
        rundir.read_alpha(tmp_path / "bad.json")


def test_alpha_history_appends_and_a_rerun_epoch_wins(tmp_path):
    rundir.append_alpha_history(tmp_path, "sparse", 0, {"a": {1: 0.25, 2: 0.75}})
    rundir.append_alpha_history(tmp_path, "sparse", 0, {"a": {1: 0.5, 2: 0.5}})
    rundir.append_alpha_history(tmp_path, "sparse", 1, {"a": {1: 0.9, 2: 0.1}})
    with open(tmp_path / rundir.ALPHA_HISTORY_FILE, "a") as f:
        f.write("{not json\n")
    warnings = []
    epochs = rundir.read_alpha_history(tmp_path, warnings.append)
    assert [(e["epoch"], e["probs"]["a"]) for e in epochs] == [(0, [[1, 0.5], [2, 0.5]]), (1, [[1, 0.9], [2, 0.1]])]
    assert len(warnings) == 1 and ":4: not JSON" in warnings[0]
    assert rundir.read_alpha_history(tmp_path / "none") == []


def test_config_round_trip(tmp_path):
    raw = {"preset": "tiny", "search": {"beta": 0.1, "flops_window": [0.006, 0.008]}}
    rundir.write_config(tmp_path, raw)
    assert rundir.read_config(tmp_path) == raw
    assert rundir.checkpoint_stem() + ".ckpt" == rundir.CHECKPOINT_FILE
