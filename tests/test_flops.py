"""Closed-form FLOPs and parameters against fvcore's count of the built model, and the X3D points."""

from __future__ import annotations

import random

import pytest
import torch

from nni_autotsnet.models import build_model
from nni_autotsnet.search_space import PRESET_NAMES, CostModel, TwoStreamSpace, load_preset, make_layout
from nni_autotsnet.search_space.flops import fvcore_flops

torch.set_num_threads(2)

# Published X3D figures (NOTES): GFLOPs per view (multiply-adds) and parameters in millions.
X3D = {"S": (1.96, 3.79), "M": (4.73, 3.79), "L": (18.37, 6.15)}


def _check(preset, parts: str, archs: int, seed: int) -> float:
    layout = make_layout(preset, parts)
    cost = CostModel(layout)
    rng = random.Random(seed)
    worst = 0.0
    for _ in range(archs):
        arch = {label: rng.choice(v.options) for label, v in layout.variables().items()}
        model = build_model(preset, arch)
        counted, _ = fvcore_flops(model, preset.input_shape)
        assert cost.params(arch) == sum(p.numel() for p in model.parameters())
        worst = max(worst, abs(cost.flops(arch) - counted) / counted)
    return worst


@pytest.mark.slow
def test_flops_match_fvcore_on_100_random_tiny_archs():
    assert _check(load_preset("tiny"), "all", archs=100, seed=0) < 0.005


@pytest.mark.slow
@pytest.mark.parametrize("name,archs", [("S", 100), ("L", 40)])
def test_flops_match_fvcore_on_random_archs_at_reduced_input(name, archs):
    """The preset's choice sets and depths at a small clip: the same formula, cheap enough for many archs.

    Input size enters the closed form only through each layer's output positions, which the
    full-size test below checks. M has S's choice sets and depths (only its input differs), so
    at reduced input it would repeat S. ``benchmarks/bench_flops.py --check 100`` runs 100 archs
    of every preset at full size.
    """
    preset = load_preset(name)
    small = preset.replace(frames=2 * preset.alpha, crop=32)
    assert _check(small, "all", archs=archs, seed=1) < 0.005


@pytest.mark.parametrize("name,archs", [("S", 2), ("M", 1), ("L", 1)])
def test_flops_match_fvcore_at_full_size(name, archs):
    assert _check(load_preset(name), "all", archs=archs, seed=2) < 0.005


@pytest.mark.parametrize("name", ["S", "M", "L"])
def test_x3d_points_match_published_figures(name):
    space = TwoStreamSpace.from_preset(name, parts="sparse")
    arch = space.x3d_arch()
    gflops, mparams = X3D[name]
    assert abs(space.flops(arch) / 1e9 - gflops) / gflops < 0.005
    assert abs(space.params(arch) / 1e6 - mparams) / mparams < 0.005


def test_flops_grow_with_each_variable():
    """Sanity of the closed form's direction: wider, more expanded, larger kernels cost more."""
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    base = space.default_arch()
    f0 = space.flops(base)
    assert space.flops({**base, "sparse/s3_c": 24}) > f0
    assert space.flops({**base, "sparse/s2_b0_e": 3.0}) > f0
    assert space.flops({**base, "sparse/s2_b0_t": 5}) > f0
    assert space.flops({**base, "sparse/s2_b0_k": 5}) > f0
    assert space.flops({**base, "fusion/s1": "skip"}) < f0
    assert space.flops({**base, "attention/s4_b0": "nonlocal"}) > f0


def test_counting_with_fvcore_prints_no_warning():
    """fvcore's torch.jit.script FutureWarning on import reached the main job's screen (issue 22)."""
    import subprocess
    import sys

    code = ("from nni_autotsnet.search_space import TwoStreamSpace\n"
            "space = TwoStreamSpace.from_preset('tiny32', parts='sparse')\n"
            "memo = {}; model = space.random(memo=memo)\n"
            "from nni_autotsnet.search_space.flops import fvcore_flops\n"
            "print(fvcore_flops(model, space.input_shape)[0] > 0)\n")
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert "FutureWarning" not in done.stderr and "jit.script" not in done.stderr, done.stderr
