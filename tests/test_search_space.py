"""The two-stream space: presets, shapes, arch dicts, the plain builder, and NNI's one-shot machinery."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import torch

from nni_autotsnet.models import build_model
from nni_autotsnet.search_space.presets import PRESET_DIR
from nni_autotsnet.search_space import (
    PARTS, PRESET_NAMES, ArchError, PresetError, TwoStreamSpace, load_preset, make_layout,
)

torch.set_num_threads(2)


def random_arch(layout, rng: random.Random) -> dict:
    return {label: rng.choice(v.options) for label, v in layout.variables().items()}


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("parts", PARTS)
def test_every_preset_and_part_builds_a_space(name, parts):
    space = TwoStreamSpace.from_preset(name, parts=parts)
    labels = set(space.simplify())
    assert labels == set(space.layout.variables())
    assert any(label.startswith("sparse/") for label in labels)
    assert any(label.startswith("fusion/") for label in labels) == (parts != "sparse")
    assert any(label.startswith("attention/") for label in labels) == (parts == "all")
    assert space.input_shape == (3, space.preset.frames, space.preset.crop, space.preset.crop)


@pytest.mark.parametrize("parts", PARTS)
@pytest.mark.parametrize("batch", [1, 3])
def test_random_archs_forward_backward_shapes(parts, batch):
    torch.manual_seed(0)
    space = TwoStreamSpace.from_preset("tiny", parts=parts)
    for seed in range(3):
        memo: dict = {}
        model = space.random(memo=memo)
        x = torch.randn(batch, *space.input_shape)
        y = model(x)
        assert y.shape == (batch, space.preset.num_classes)
        y.sum().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_num_classes_override():
    space = TwoStreamSpace.from_preset("tiny", parts="fusion", num_classes=7)
    model = space.random()
    assert model(torch.randn(2, *space.input_shape)).shape == (2, 7)


def test_sparse_stream_sees_every_alpha_th_frame():
    """Changing a frame the sparse stream skips cannot change a sparse-only model's output."""
    space = TwoStreamSpace.from_preset("tiny", parts="sparse")
    model = space.freeze(space.default_arch()).eval()
    x = torch.randn(1, *space.input_shape)
    x2 = x.clone()
    x2[:, :, 1] += 5.0  # frame 1 is not among 0, alpha, 2*alpha, ...
    assert torch.allclose(model(x), model(x2))
    x2[:, :, 0] += 5.0
    assert not torch.allclose(model(x), model(x2))


def test_arch_roundtrips_through_json_and_the_plain_builder():
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    memo: dict = {}
    frozen = space.random(memo=memo).eval()
    arch = json.loads(json.dumps(memo))
    assert arch == memo
    plain = build_model("tiny", arch).eval()
    assert type(plain).__name__ == "TwoStreamNet"
    plain.load_state_dict(frozen.state_dict(), strict=True)
    x = torch.randn(2, *space.input_shape)
    assert torch.allclose(frozen(x), plain(x), atol=1e-6)
    again = space.freeze(arch)
    assert set(again.state_dict()) == set(frozen.state_dict())


def test_frozen_model_has_no_mutables():
    from nni.mutable import Mutable
    from nni.nas.nn.pytorch import LayerChoice, MutableModule

    space = TwoStreamSpace.from_preset("tiny", parts="all")
    model = space.random()
    for m in model.modules():
        assert not isinstance(m, LayerChoice)
        if isinstance(m, MutableModule):
            assert not m.mutables
    assert not any(isinstance(v, Mutable) for v in vars(model.fc).values())


def test_plain_builder_imports_no_nni():
    code = (
        "import sys, torch\n"
        "from nni_autotsnet.models import build_model\n"
        "from nni_autotsnet.search_space import load_preset, make_layout\n"
        "arch = make_layout(load_preset('tiny'), 'all').defaults()\n"
        "m = build_model('tiny', arch)\n"
        "m(torch.randn(1, 3, 8, 64, 64))\n"
        "bad = [k for k in sys.modules if k == 'nni' or k.startswith('nni.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_foreign_arch_dicts_are_refused_with_the_bad_label_named():
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    arch = space.default_arch()
    with pytest.raises(ArchError, match="'sparse/s2_c' has value 999"):
        space.freeze({**arch, "sparse/s2_c": 999})
    with pytest.raises(ArchError, match="unknown label 'sparse/s9_c'"):
        build_model("tiny", {**arch, "sparse/s9_c": 8})
    missing = dict(arch)
    del missing["fusion/s3"]
    with pytest.raises(ArchError, match="missing label 'fusion/s3'"):
        build_model("tiny", missing)
    s_arch = TwoStreamSpace.from_preset("S", parts="all").default_arch()
    with pytest.raises(ArchError, match="label 'sparse/s2_c' has value 24|unknown label"):
        build_model("tiny", s_arch)
    with pytest.raises(ArchError, match="fusion/s1"):
        space.flops({**arch, "fusion/s1": "teleport"})


def _write(tmp_path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def test_bad_preset_keys_and_values_name_the_key_and_file(tmp_path):
    base = (PRESET_DIR / "tiny.yaml").read_text()
    cases = [
        (base + "\nwidth_multiplier: 2\n", "key 'width_multiplier': unknown key"),
        (base.replace("alpha: 2 ", "alpha: 3 "), "key 'alpha': bad value 3"),
        (base.replace("temporal_kernels: [1, 3, 5]", "temporal_kernels: [1, 2]"), "key 'temporal_kernels': bad element 1"),
        (base.replace("{depth: 2, widths: [16, 24, 32], width: 24}", "{depth: 2, widths: [16, 24, 32], width: 20}"),
         r"key 'sparse.stages\[2\].width': bad value 20"),
        (base.replace("default: time_strided_conv", "default: teleport"), "key 'fusion.default': bad value 'teleport'"),
        (base.replace("crop: 64", "crop: sixty-four"), "key 'crop': expected int"),
        (base.replace("  head: {inner: 72, features: 128}\n", ""), "key 'sparse.head': missing"),
    ]
    for text, message in cases:
        path = _write(tmp_path, text)
        with pytest.raises(PresetError, match=message) as info:
            TwoStreamSpace.from_preset(path)
        assert str(path) in str(info.value)
    with pytest.raises(PresetError, match="unknown preset 'XL'"):
        load_preset("XL")


def test_bad_parts_and_x3d_outside_sparse_part():
    with pytest.raises(ValueError, match="parts must be one of"):
        TwoStreamSpace.from_preset("tiny", parts="dense")
    with pytest.raises(ValueError, match="no X3D point"):
        TwoStreamSpace.from_preset("S", parts="all").x3d_arch()
    with pytest.raises(ValueError, match="no X3D point"):
        TwoStreamSpace.from_preset("tiny", parts="sparse").x3d_arch()


def test_layout_defaults_are_a_point_of_the_space():
    for name in PRESET_NAMES:
        layout = make_layout(load_preset(name), "all")
        space_labels = set(layout.variables())
        assert set(layout.defaults()) == space_labels
