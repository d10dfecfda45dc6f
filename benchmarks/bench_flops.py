"""Time of one closed-form F(A) against fvcore on the same architecture, and the X3D points.

FLOPs are multiply-adds of convolutions, linear layers and matrix products per single view
(batch-norm not counted), the X3D / SlowFast convention.

    python benchmarks/bench_flops.py              # timing table + X3D table
    python benchmarks/bench_flops.py --check 100  # also: max |F(A) - fvcore| over 100 random archs per preset
"""

from __future__ import annotations

import argparse
import platform
import random
import time
import timeit

import torch

from nni_autotsnet.models import build_model
from nni_autotsnet.search_space import PRESET_NAMES, CostModel, load_preset, make_layout
from nni_autotsnet.search_space.flops import fvcore_flops

X3D_PAPER = {"S": (1.96, 3.8), "M": (4.73, 3.8), "L": (18.37, 6.1)}


def _random_arch(layout, rng):
    return {label: rng.choice(v.options) for label, v in layout.variables().items()}


def timing() -> None:
    print(f"F(A) timing: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    print("| preset | searched vars | F(A) closed form (us) | fvcore on the same arch (s) | ratio |")
    print("|---|---|---|---|---|")
    rng = random.Random(0)
    for name in PRESET_NAMES:
        preset = load_preset(name)
        layout = make_layout(preset, "all")
        cost = CostModel(layout)
        archs = [_random_arch(layout, rng) for _ in range(100)]
        n = 200
        us = min(timeit.repeat(lambda: [cost.flops(a) for a in archs], number=n // 100 or 1, repeat=5)) \
            / (n // 100 or 1) / len(archs) * 1e6
        model = build_model(preset, archs[0])
        t0 = time.perf_counter()
        fvcore_flops(model, preset.input_shape)
        fv = time.perf_counter() - t0
        print(f"| {name} | {len(layout.variables())} | {us:.2f} | {fv:.2f} | {fv / (us * 1e-6):,.0f}x |")


def x3d_table() -> None:
    print("\nX3D points of the space (parts='sparse', preset defaults), GFLOPs = multiply-adds per view")
    try:
        from pytorchvideo.models.x3d import create_x3d
    except ImportError:
        create_x3d = None
    print("| model | space GFLOPs | space params (M) | pytorchvideo+fvcore GFLOPs | params (M) | paper GFLOPs | params (M) |")
    print("|---|---|---|---|---|---|---|")
    for name, (frames, crop, depth) in {"S": (13, 160, 2.2), "M": (16, 224, 2.2), "L": (16, 312, 5.0)}.items():
        preset = load_preset(name)
        layout = make_layout(preset, "sparse")
        cost = CostModel(layout)
        arch = layout.defaults()
        ref = ("n/a", "n/a")
        if create_x3d is not None:
            m = create_x3d(input_clip_length=frames, input_crop_size=crop, depth_factor=depth)
            f, _ = fvcore_flops(m, (3, frames, crop, crop))
            ref = (f"{f / 1e9:.3f}", f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f}")
        paper = X3D_PAPER[name]
        print(f"| X3D-{name} | {cost.flops(arch) / 1e9:.3f} | {cost.params(arch) / 1e6:.2f} | {ref[0]} | {ref[1]} "
              f"| {paper[0]} | {paper[1]} |")


def check(n: int) -> None:
    print(f"\nClosed form vs fvcore, {n} random archs per preset (parts='all'), full size")
    for name in PRESET_NAMES:
        preset = load_preset(name)
        layout = make_layout(preset, "all")
        cost = CostModel(layout)
        rng = random.Random(1)
        worst = 0.0
        for _ in range(n):
            arch = _random_arch(layout, rng)
            counted, _ = fvcore_flops(build_model(preset, arch), preset.input_shape)
            worst = max(worst, abs(cost.flops(arch) - counted) / counted)
        print(f"{name}: max relative error {worst:.2e}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", type=int, default=0, help="random archs per preset to compare with fvcore")
    args = parser.parse_args(argv)
    timing()
    x3d_table()
    if args.check:
        check(args.check)


if __name__ == "__main__":
    main()
