"""``build_model(preset, arch)``: the plain PyTorch model of an architecture, importing no NNI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from nni_autotsnet.search_space.arch import check_arch, infer_parts
from nni_autotsnet.search_space.layout import make_layout
from nni_autotsnet.search_space.presets import Preset, load_preset

from .network import TwoStreamNet
from .ops import PlainOps

__all__ = ["build_model"]


def build_model(preset: str | Path | Preset, arch: Mapping[str, Any], parts: str | None = None,
                num_classes: int | None = None) -> TwoStreamNet:
    """Build the plain ``nn.Module`` of ``arch`` (an NNI sample dict of the preset's space).

    ``parts`` is inferred from the labels when not given. The result has the same module names
    as ``TwoStreamSpace.freeze(arch)``, so state dicts move between the two.
    """
    preset = load_preset(preset)
    layout = make_layout(preset, parts or infer_parts(arch))
    arch = check_arch(layout, arch)
    return TwoStreamNet(layout, PlainOps(arch), num_classes)
