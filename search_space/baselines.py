"""Hand-designed points of the space to compare searched models with. Imports no NNI.

``x3d_like_arch`` is the in-space X3D-like baseline at a FLOPs budget: the sparse stream alone
(one stream, X3D's block: 3x3x3 depthwise, expansion and SE slots at the preset defaults) with
the stage widths, among each stage's choices, that bring it closest to the budget. For the S, M
and L presets at no budget it is X3D-S/M/L exactly (the default point of the sparse part).
"""

from __future__ import annotations

import itertools
from typing import Any

from .flops import CostModel
from .layout import make_layout
from .presets import Preset, load_preset

__all__ = ["x3d_like_arch"]


def x3d_like_arch(preset: str | Preset, window: tuple[float, float] | None = None,
                  num_classes: int | None = None) -> dict[str, Any]:
    """The X3D-like single-stream arch of ``preset`` (parts="sparse") nearest to ``window`` (GFLOPs per view).

    Only the stage widths move (X3D scales width to reach a budget); every other variable stays at
    the preset default. Without a window, or when the defaults already lie in it, it is the default
    point. Otherwise it is the width combination inside the window closest to the window's centre,
    or, if none is inside, the one closest to the window.
    """
    preset = load_preset(preset)
    layout = make_layout(preset, "sparse")
    default = layout.defaults()
    cost = CostModel(layout, num_classes)
    if window is None:
        return default
    lo, hi = window
    gflops = cost.flops(default) / 1e9
    if lo <= gflops <= hi:
        return default
    width_vars = [stage.width for stage in layout.sparse.stages if stage.width.searched]
    centre = (lo + hi) / 2

    def distance(arch: dict) -> tuple[float, float]:
        g = cost.flops(arch) / 1e9
        outside = max(lo - g, 0.0, g - hi)
        return outside, abs(g - centre)

    candidates = ({**default, **{v.label: w for v, w in zip(width_vars, widths)}}
                  for widths in itertools.product(*(v.options for v in width_vars)))
    return min(candidates, key=distance)
