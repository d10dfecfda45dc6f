"""``python -m nni_autotsnet.predict`` on mp4 files the tests encode: lines, files, bad inputs, backends, no NNI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from nni_autotsnet import predict as predict_cli
from nni_autotsnet.data import write_video
from nni_autotsnet.data.testing import truncate_copy, write_garbage
from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.onnx_export import export_onnx, onnx_metadata
from nni_autotsnet.checkpoint import input_spec, load_checkpoint
from nni_autotsnet.prediction import Predictor, expand_inputs
from nni_autotsnet.search_space import load_preset, make_layout

pytestmark = pytest.mark.usefixtures("single_thread")
NAMES = [f"action_{i}" for i in range(10)]


def _video(path, frames=48, seed=0, size=(72, 96)):
    rng = np.random.default_rng(seed)
    write_video(path, rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8), fps=25)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    (root / "sub").mkdir()
    good = [_video(root / "a.mp4"), _video(root / "sub" / "b.mp4", seed=1, size=(96, 72))]  # portrait too
    _video(root / "short.mp4", frames=10)  # fewer frames than a clip spans (8 frames at stride 4: 29)
    write_garbage(root / "broken.mp4")
    truncate_copy(good[0], root / "cut.mp4", 0.3)  # a download cut short: the mp4 index (moov) is missing
    return root, good


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An exported tiny model that carries class names, and one that does not; ONNX beside the named one."""
    root = tmp_path_factory.mktemp("models")
    arch = make_layout(load_preset("tiny"), "all").defaults()
    torch.manual_seed(0)
    model = build_model("tiny", arch, parts="all", num_classes=10)
    for name, classes in (("named", NAMES), ("unnamed", None)):
        (root / name).mkdir()
        save_exported(root / name / "model.pt", preset="tiny", parts="all", num_classes=10, arch=arch,
                      state_dict=model.state_dict(), inherited_weights=False, classes=classes, data_preset="tiny")
    model, info = load_checkpoint(root / "named" / "model.pt")
    spec = input_spec(info, root / "named" / "model.pt")
    export_onnx(model, root / "named" / "model.onnx", (3, 8, 64, 64), onnx_metadata(info, spec))
    return root


def _run(capsys, *argv):
    code = predict_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err.splitlines()


def test_predicts_a_folder_recursively_and_writes_csv_and_json(videos, model_dir, tmp_path, capsys):
    root, good = videos
    code, out, err = _run(capsys, "--checkpoint", model_dir / "named", good[0], root / "sub", "--top-k", "3",
                          "--out", tmp_path)
    assert code == 0, err
    assert [line.split()[0] for line in out] == [str(good[0]), str(good[1])]
    assert all(line.split()[1] in NAMES and 0.0 < float(line.split()[2]) <= 1.0 for line in out)
    assert not any("class names" in line for line in err)
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert list(table.columns) == ["path", "rank", "index", "label", "probability"]
    assert len(table) == 6 and table.groupby("path")["rank"].apply(list).tolist() == [[1, 2, 3]] * 2
    assert (table["label"] == [NAMES[i] for i in table["index"]]).all()
    doc = json.loads((tmp_path / "predictions.json").read_text())
    assert (doc["views"], doc["num_views"], doc["classes_named"], doc["not_predicted"]) == ("4-Center", 4, True, [])
    top = doc["predictions"][0]["top"]
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)


def test_bad_inputs_get_one_line_each_and_the_others_are_still_predicted(videos, model_dir, capsys):
    root, good = videos
    empty = root / "empty_folder"
    empty.mkdir(exist_ok=True)
    listed = root / "list.txt"
    listed.write_text(f"a.mp4 some_label\n# a comment\n\nnot_there.mp4\n")
    code, out, err = _run(capsys, "--checkpoint", model_dir / "named", root / "short.mp4", root / "broken.mp4",
                          root / "cut.mp4", root / "missing.mp4", empty, listed, good[1])
    assert code == 2
    assert [line.split()[0] for line in out] == [str(root / "a.mp4"), str(good[1])]  # from the list, then the file
    errors = [line for line in err if line.startswith("error: ")]
    expected = {"short.mp4": "shorter than one clip: 10 frames, a clip spans 29", "broken.mp4": "cannot open",
                "cut.mp4": "cannot open", "missing.mp4": "no such file or folder",
                "empty_folder": "a folder with no video files", "not_there.mp4": "no such file (listed in"}
    for name, reason in expected.items():
        assert sum(f"{name}: " in line and reason in line for line in errors) == 1, (name, errors)
    assert errors[-1] == "error: 6 of 8 inputs not predicted (named above)"


def test_a_model_without_class_names_prints_indices_and_says_so_once(videos, model_dir, capsys):
    _, good = videos
    code, out, err = _run(capsys, "--checkpoint", model_dir / "unnamed" / "model.pt", *good)
    assert code == 0 and all(line.split()[1].isdigit() for line in out)
    assert sum("records no class names; printing class indices" in line for line in err) == 1


def test_views_batches_and_backends_give_the_same_prediction(videos, model_dir):
    _, good = videos
    one = Predictor.load(model_dir / "named", views="2-lcr", batch=1)
    assert (one.spec.num_views, one.spec.protocol) == (6, "2-LeftCenterRight")
    many = Predictor.load(model_dir / "named" / "model.pt", views="2-lcr")
    onnx = Predictor.load(model_dir / "named", backend="onnx", views="2-lcr", batch=4)
    a, b, c = (p(good[1]) for p in (one, many, onnx))
    assert torch.allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert torch.allclose(b.probabilities, c.probabilities, atol=1e-5)
    assert [t[0] for t in a.top] == [t[0] for t in c.top] and len(a.top) == 5
    assert (one.clips, many.clips, onnx.clips) == (6, 6, 6)


def test_onnx_backend_prints_the_same_lines(videos, model_dir, capsys):
    _, good = videos
    lines = {}
    for backend in ("torch", "onnx"):
        code, out, _ = _run(capsys, "--checkpoint", model_dir / "named", *good, "--backend", backend)
        assert code == 0
        lines[backend] = [(line.split()[0], line.split()[1]) for line in out]
    assert lines["torch"] == lines["onnx"]


def test_a_file_that_is_not_a_checkpoint_is_one_line_naming_it(videos, tmp_path, capsys):
    _, good = videos
    bad = write_garbage(tmp_path / "model.pt")
    code, out, err = _run(capsys, "--checkpoint", bad, good[0])
    assert code == 2 and out == [] and len(err) == 1 and str(bad) in err[0] and err[0].startswith("error: ")
    code, _, err = _run(capsys, "--checkpoint", tmp_path / "nothing", good[0])
    assert code == 2 and len(err) == 1 and "nothing" in err[0]
    code, _, err = _run(capsys, "--checkpoint", bad, good[0], "--backend", "onnx")
    assert code == 2 and len(err) == 1 and "model.onnx" in err[0]


def test_expand_inputs_reads_csv_lists_with_a_path_column(videos, tmp_path):
    root, good = videos
    listed = tmp_path / "list.csv"
    listed.write_text(f"label,video_path\nx,{good[0]}\ny,{good[1]}\n")
    assert expand_inputs([listed]) == ([good[0], good[1]], [])


@pytest.mark.slow
def test_predict_runs_without_nni(videos, model_dir):
    _, good = videos
    code = ("import sys; sys.modules['nni'] = None\n"  # import nni raises ImportError: as if not installed
            "from nni_autotsnet import predict\n"
            f"assert predict.main(['--checkpoint', {str(model_dir / 'named')!r}, {str(good[0])!r}]) == 0\n"
            f"assert predict.main(['--checkpoint', {str(model_dir / 'named')!r}, {str(good[0])!r}, '--backend', 'onnx']) == 0\n"
            "assert not [k for k in sys.modules if k.startswith('nni.')]\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] in NAMES
