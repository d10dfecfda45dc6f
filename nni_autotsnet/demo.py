"""The README's main job (``make demo``). Until the search lands: build every preset's space and print
its size table (searched variables, FLOPs and parameters of the default and extreme points).

FLOPs are multiply-adds of convolutions, linear layers and matrix products per single view.
"""

from __future__ import annotations

import sys

from nni_autotsnet.search_space import PARTS, PRESET_NAMES, TwoStreamSpace

__all__ = ["main"]


def size_table() -> str:
    rows = ["| preset | parts | input (C,T,H,W) | searched vars | GFLOPs/view min / default / max | params (M) default |",
            "|---|---|---|---|---|---|"]
    for name in PRESET_NAMES:
        for parts in PARTS:
            space = TwoStreamSpace.from_preset(name, parts=parts)
            variables = space.layout.variables()
            default = space.default_arch()
            # cost grows with every numeric option and "skip"/"none" are the cheapest operators, so the
            # extreme points are the first/last option of each ordered choice list
            low = {k: min(v.options, key=lambda o: space.flops({**default, k: o})) for k, v in variables.items()}
            high = {k: max(v.options, key=lambda o: space.flops({**default, k: o})) for k, v in variables.items()}
            rows.append(f"| {name} | {parts} | {space.input_shape} | {len(variables)} | "
                        f"{space.flops(low) / 1e9:.3f} / {space.flops(default) / 1e9:.3f} / "
                        f"{space.flops(high) / 1e9:.3f} | {space.params(default) / 1e6:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    print("nni-autotsnet search spaces (GFLOPs = multiply-adds per view, batch-norm not counted)")
    print(size_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
