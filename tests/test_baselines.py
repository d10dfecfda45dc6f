"""The in-space X3D-like baseline: X3D itself without a budget, the nearest widths with one."""

import pytest

from nni_autotsnet.search_space import CostModel, TwoStreamSpace, load_preset, make_layout, x3d_like_arch


@pytest.mark.parametrize("preset", ["S", "M", "L"])
def test_without_a_budget_it_is_x3d(preset):
    assert x3d_like_arch(preset) == TwoStreamSpace.from_preset(preset, parts="sparse").x3d_arch()


@pytest.mark.parametrize("window", [(0.0065, 0.0085), (0.003, 0.004), (1.0, 2.0)])
def test_with_a_budget_only_widths_move_towards_it(window):
    layout = make_layout(load_preset("tiny"), "sparse")
    cost = CostModel(layout)
    arch = x3d_like_arch("tiny", window)
    default = layout.defaults()
    assert {k: v for k, v in arch.items() if not k.endswith("_c")} == {k: v for k, v in default.items()
                                                                       if not k.endswith("_c")}
    g = cost.flops(arch) / 1e9
    lo, hi = window
    widest = cost.flops({**default, **{s.width.label: max(s.width.options) for s in layout.sparse.stages}}) / 1e9
    if lo <= widest:  # reachable: inside the window
        assert lo <= g <= hi
    else:  # out of reach: the widest point, the closest there is
        assert g == pytest.approx(widest)
