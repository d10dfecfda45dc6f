"""Layer and value factories: how the network code turns a layout variable into a layer argument.

The network modules are written once against this small interface. :class:`PlainOps` reads
concrete values from an arch dict and builds ``torch.nn`` layers (the exported model, no NNI);
the search space's ``SearchOps`` builds NNI mutables and mutable layers instead.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from torch import nn

from nni_autotsnet.search_space.layout import round_width  # one definition, beside the widths it rounds

__all__ = ["PlainOps", "round_width"]


class PlainOps:
    """Concrete values from a complete arch dict ``{label: value}``; plain ``torch.nn`` layers."""

    conv3d = nn.Conv3d
    batchnorm3d = nn.BatchNorm3d
    linear = nn.Linear

    def __init__(self, arch: Mapping[str, Any]):
        self.arch = arch

    def value(self, var) -> Any:
        """The value of a layout variable: its only option when fixed, else the arch's choice."""
        return self.arch[var.label] if var.searched else var.default

    def layer_choice(self, var, candidates: Mapping[str, Callable[[], nn.Module]]) -> nn.Module:
        """Build only the chosen candidate."""
        return candidates[self.value(var)]()

    @staticmethod
    def to_int(x: Any) -> int:
        return int(x)

    @staticmethod
    def kernel(t: Any, k: Any) -> tuple:
        return (t, k, k)

    @staticmethod
    def round_width(width: Any, multiplier: float) -> int:
        return round_width(width, multiplier)

    @staticmethod
    def ceil_div(a: Any, b: int) -> int:
        return math.ceil(a / b)
