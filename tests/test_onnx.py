"""ONNX export: every operation of the space exports, ONNX Runtime agrees with PyTorch, the file says how to feed it."""

from __future__ import annotations

import json
import random

import numpy as np
import onnx
import pytest
import torch

from nni_autotsnet import export as export_cli
from nni_autotsnet.checkpoint import EvalError, InputSpec, canonical_views
from nni_autotsnet.data import get_preset, write_video
from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.onnx_export import OPSET, TOLERANCE, OnnxModel, export_onnx, onnx_metadata
from nni_autotsnet.search_space import TwoStreamSpace, load_preset, make_layout

pytestmark = pytest.mark.usefixtures("single_thread")
GROUPS = {"fusion": lambda label: label.startswith("fusion/"), "attention": lambda label: label.startswith("attention/"),
          "t": lambda label: label.endswith("_t"), "k": lambda label: label.endswith("_k")}


def covering_archs(preset: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` random architectures whose fusion, attention and kernel (t, k) choices rotate, so each value appears."""
    variables = make_layout(load_preset(preset), "all").variables()
    rng = random.Random(seed)
    archs = []
    for i in range(n):
        arch = {label: rng.choice(var.options) for label, var in variables.items()}
        for match in GROUPS.values():
            labels = [label for label in variables if match(label)]
            for j, label in enumerate(labels):
                options = variables[label].options
                arch[label] = options[(j + i * len(labels)) % len(options)]
        archs.append(arch)
    return archs


def _meta(preset: str, arch: dict, classes=None) -> dict:
    name = load_preset(preset).name
    p = get_preset(name if name != "tiny" else "tiny")
    clips, crops, protocol = canonical_views(p.views)
    info = {"classes": classes, "num_classes": 10 if preset == "tiny" else 400, "preset": preset, "parts": "all",
            "arch": arch}
    return onnx_metadata(info, InputSpec(p, clips, crops, protocol))


@pytest.mark.slow
def test_random_tiny_architectures_cover_every_operation_and_match_in_onnx_runtime(tmp_path):
    archs = covering_archs("tiny", 2)
    variables = make_layout(load_preset("tiny"), "all").variables()
    for name, match in GROUPS.items():  # every fusion operation, attention block and MBConv3D kernel at least once
        labels = [label for label in variables if match(label)]
        seen = {arch[label] for arch in archs for label in labels}
        assert labels and seen == {value for label in labels for value in variables[label].options}, name
    for i, arch in enumerate(archs):
        torch.manual_seed(i)
        model = build_model("tiny", arch, parts="all", num_classes=10).eval()
        for m in model.modules():  # non-trivial statistics, so batch norm is exercised too
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.data.uniform_(0.5, 1.5)
        check = export_onnx(model, tmp_path / f"{i}.onnx", (3, 8, 64, 64), _meta("tiny", arch))
        assert check["passed"] and set(check["sources"]) == {"random, batch 1", "random, batch 3"}
        assert all(s["max_abs_diff"] <= TOLERANCE and s["top1_equal"] for s in check["sources"].values())
        out = OnnxModel(tmp_path / f"{i}.onnx")(torch.randn(5, 3, 8, 64, 64))  # any batch size: the dynamic axis
        assert out.shape == (5, 10)


@pytest.mark.slow
def test_the_x3d_s_point_exports_and_matches(tmp_path):
    space = TwoStreamSpace.from_preset("S", parts="sparse")
    arch = space.x3d_arch()
    model = build_model("S", arch, parts="sparse", num_classes=400).eval()
    info = {"classes": None, "num_classes": 400, "preset": "S", "parts": "sparse", "arch": arch}
    p = get_preset("S")
    check = export_onnx(model, tmp_path / "x3d_s.onnx", tuple(space.input_shape),
                        onnx_metadata(info, InputSpec(p, 1, 1, "1-Center")))
    assert check["passed"] and max(s["max_abs_diff"] for s in check["sources"].values()) <= TOLERANCE


@pytest.mark.slow
def test_export_of_a_trained_run_writes_a_self_describing_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    arch = make_layout(load_preset("tiny"), "all").defaults()
    names = [f"class_{i}" for i in range(10)]
    model = build_model("tiny", arch, parts="all", num_classes=10)
    save_exported(run / "model.pt", preset="tiny", parts="all", num_classes=10, arch=arch,
                  state_dict=model.state_dict(), inherited_weights=False, classes=names, data_preset="tiny",
                  views="2-Center")
    frames = np.random.default_rng(0).integers(0, 256, (40, 72, 96, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", frames, fps=25)
    assert export_cli.main(["--checkpoint", str(run), "--onnx", "--check-video", str(tmp_path / "clip.mp4")]) == 0
    printed = capsys.readouterr().out
    assert "max |logit diff|" in printed and "decoded views (2 clips)" in printed and f"opset {OPSET}" in printed
    proto = onnx.load(run / "model.onnx")
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == names and meta["opset"] == str(OPSET) and meta["views"] == "2-Center"
    assert (meta["input.frames"], meta["input.crop"], json.loads(meta["input.mean"])) == ("8", "64", [0.45] * 3)
    assert {o.version for o in proto.opset_import if o.domain == ""} == {OPSET}
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis
    check = json.loads((run / "onnx_check.json").read_text())
    assert check["passed"] and check["sources"]["decoded views"]["max_abs_diff"] <= TOLERANCE
    assert json.loads(meta["check"])["sources"] == check["sources"]  # the file carries its own check
    loaded = OnnxModel(run / "model.onnx")
    assert loaded.classes == tuple(names) and loaded.input_spec().num_views == 2


def test_a_file_that_is_not_an_onnx_model_is_named(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(EvalError, match="model.onnx: not an ONNX model"):
        OnnxModel(bad)
    with pytest.raises(EvalError, match="no such ONNX model"):
        OnnxModel(tmp_path / "missing.onnx")
