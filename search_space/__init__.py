"""The Auto-TSNet two-stream search space for NNI 3.0: presets, layout, exact FLOPs, 3D mixed operations.

``TwoStreamSpace`` and the mixed operations import NNI and are loaded on first use, so the
NNI-free parts (presets, layout, arch checks, FLOPs) serve ``nni_autotsnet.models.build_model``
without importing NNI.
"""

from .arch import ArchError, ArchFile, check_arch, infer_parts, load_arch, read_arch, save_arch
from .baselines import x3d_like_arch
from .flops import CostModel
from .layout import PARTS, Layout, Var, make_layout
from .presets import PRESET_NAMES, Preset, PresetError, load_preset

__all__ = [
    "TwoStreamSpace", "MixedConv3d", "MixedBatchNorm3d", "CostModel", "ArchError", "check_arch", "infer_parts",
    "load_arch", "read_arch", "ArchFile", "save_arch", "PARTS", "Layout", "Var", "make_layout", "PRESET_NAMES", "Preset", "PresetError",
    "load_preset", "x3d_like_arch",
]

_LAZY = {"TwoStreamSpace": ".space", "SearchOps": ".space", "MixedConv3d": ".mixed_ops",
         "MixedBatchNorm3d": ".mixed_ops"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
