"""Presets of the two-stream space: YAML files validated on load into frozen dataclasses.

A preset fixes the macro-architecture (streams, stages, depths, input size) and the choice set of
every searched variable. This module imports no NNI, so the plain model builder can use it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nni_autotsnet.errors import UserError
from nni_autotsnet.yamlcheck import YamlReader

__all__ = [
    "PRESET_DIR", "PRESET_NAMES", "FUSION_OPS", "ATTENTION_OPS", "PresetError",
    "StageSpec", "StreamSpec", "Preset", "load_preset",
]

PRESET_DIR = Path(__file__).with_name("presets")
PRESET_NAMES = ("tiny", "tiny32", "S", "M", "L")

# Candidate names of the Super TS-Fusion block (supplement section 2) and of the attention slot.
FUSION_OPS = ("time_strided_conv", "time_strided_sampling", "time_to_channel", "skip")
ATTENTION_OPS = ("none", "se", "nonlocal")


class PresetError(UserError):
    """A preset file has an unknown key, a missing key or a bad value; the message names both."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of a stream: ``depth`` blocks, output width searched among ``widths``."""

    depth: int
    widths: tuple[int, ...]
    width: int  # the default width (the hand-designed point, e.g. X3D's)


@dataclass(frozen=True)
class StreamSpec:
    """A stream: stem width, four stages, and (sparse stream only) the X3D-style head widths."""

    stem: int
    stages: tuple[StageSpec, ...]
    head_inner: int | None = None  # conv5 (1x1x1) width before pooling
    head_features: int | None = None  # lin5 width after pooling


@dataclass(frozen=True)
class Preset:
    """A validated preset. See ``presets/*.yaml`` for the meaning of each key."""

    name: str
    num_classes: int
    frames: int  # T_dense
    alpha: int  # T_dense / T_sparse
    crop: int
    temporal_kernels: tuple[int, ...]
    spatial_kernels: tuple[int, ...]
    expansions: tuple[float, ...]
    default_temporal_kernel: int
    default_spatial_kernel: int
    default_expansion: float
    sparse: StreamSpec
    dense: StreamSpec
    fusion_ops: tuple[str, ...]
    fusion_default: str
    attention_ops: tuple[str, ...]
    attention_stages: tuple[int, ...]  # stage numbers 2..5 (SlowFast naming) whose blocks search attention
    attention_default: str
    attention_every: int = 2  # attention slots on blocks 0, every, 2*every, ... of a stage (X3D's SE)
    se_ratio: float = 0.0625
    reference: str | None = None  # the hand-designed network the sparse defaults reproduce

    @property
    def sparse_frames(self) -> int:
        return self.frames // self.alpha

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (3, self.frames, self.crop, self.crop)

    def replace(self, **changes: Any) -> "Preset":
        return dataclasses.replace(self, **changes)


def _reader(data: Any, where: str, path: str) -> YamlReader:
    return YamlReader(data, where, path, PresetError)


def _positive(v) -> bool:
    return v > 0


def _odd(v) -> bool:
    return v > 0 and v % 2 == 1


def _stream(r: YamlReader, with_head: bool) -> StreamSpec:
    stem = r.get("stem", int, check=_positive, why="must be > 0")
    raw_stages = r.get("stages", list, check=lambda v: len(v) == 4, why="exactly four stages")
    stages = []
    for i in range(len(raw_stages)):
        s = _reader(raw_stages[i], f"{r.key('stages')}[{i}]", r.path)
        depth = s.get("depth", int, check=_positive, why="must be > 0")
        widths = s.values("widths", int, check=_positive, why="widths must be > 0")
        width = s.get("width", int, check=lambda w: w in widths, why=f"the default width must be one of {widths}")
        s.finish()
        stages.append(StageSpec(depth, widths, width))
    head_inner = head_features = None
    if with_head:
        h = r.sub("head")
        head_inner = h.get("inner", int, check=_positive, why="must be > 0")
        head_features = h.get("features", int, check=_positive, why="must be > 0")
        h.finish()
    r.finish()
    return StreamSpec(stem, tuple(stages), head_inner, head_features)


def _parse(data: Any, name: str, path: str) -> Preset:
    r = _reader(data, "", path)
    frames = r.get("frames", int, check=_positive, why="must be > 0")
    alpha = r.get("alpha", int, check=lambda a: a > 0 and frames % a == 0,
                  why=f"must be > 0 and divide frames={frames}")
    t_kernels = r.values("temporal_kernels", int, check=_odd, why="kernels must be odd and > 0")
    s_kernels = r.values("spatial_kernels", int, check=_odd, why="kernels must be odd and > 0")
    expansions = r.values("expansions", float, check=_positive, why="must be > 0")
    d = r.sub("defaults")
    defaults = (
        d.get("temporal_kernel", int, check=lambda v: v in t_kernels, why=f"must be one of {t_kernels}"),
        d.get("spatial_kernel", int, check=lambda v: v in s_kernels, why=f"must be one of {s_kernels}"),
        d.get("expansion", float, check=lambda v: v in expansions, why=f"must be one of {expansions}"),
    )
    d.finish()
    f = r.sub("fusion")
    fusion_ops = tuple(f.get("operations", list, list(FUSION_OPS),
                             check=lambda v: v and set(v) <= set(FUSION_OPS) and len(set(v)) == len(v),
                             why=f"a non-empty list of distinct names from {FUSION_OPS}"))
    fusion_default = f.get("default", str, check=lambda v: v in fusion_ops, why=f"must be one of {fusion_ops}")
    f.finish()
    a = r.sub("attention")
    attention_ops = tuple(a.get("operations", list, list(ATTENTION_OPS),
                                check=lambda v: v and set(v) <= set(ATTENTION_OPS) and len(set(v)) == len(v),
                                why=f"a non-empty list of distinct names from {ATTENTION_OPS}"))
    attention_stages = tuple(a.get("stages", list, check=lambda v: all(s in (2, 3, 4, 5) for s in v),
                                   why="stage numbers among 2, 3, 4, 5 (SlowFast naming: s2..s5)"))
    attention_default = a.get("default", str, check=lambda v: v in attention_ops,
                              why=f"must be one of {attention_ops}")
    attention_every = a.get("every", int, 2, check=_positive, why="must be > 0")
    a.finish()
    preset = Preset(
        name=name,
        num_classes=r.get("num_classes", int, check=_positive, why="must be > 0"),
        frames=frames,
        alpha=alpha,
        crop=r.get("crop", int, check=lambda c: c >= 32, why="must be at least 32 (the network strides by 32)"),
        temporal_kernels=t_kernels,
        spatial_kernels=s_kernels,
        expansions=expansions,
        default_temporal_kernel=defaults[0],
        default_spatial_kernel=defaults[1],
        default_expansion=defaults[2],
        sparse=_stream(r.sub("sparse"), with_head=True),
        dense=_stream(r.sub("dense"), with_head=False),
        fusion_ops=fusion_ops,
        fusion_default=fusion_default,
        attention_ops=attention_ops,
        attention_stages=attention_stages,
        attention_default=attention_default,
        attention_every=attention_every,
        se_ratio=r.get("se_ratio", float, 0.0625, check=lambda v: 0 < v <= 1, why="must be in (0, 1]"),
        reference=r.get("reference", str, None),
    )
    r.finish()
    return preset


def load_preset(preset: str | Path | Preset) -> Preset:
    """Load a preset by name (``tiny``, ``S``, ``M``, ``L``) or from a YAML path, validating every key.

    Raises :class:`PresetError` naming the file and key on an unknown key, a missing key or a bad value.
    """
    if isinstance(preset, Preset):
        return preset
    path = PRESET_DIR / f"{preset}.yaml" if str(preset) in PRESET_NAMES else Path(preset)
    if not path.is_file():
        raise PresetError(f"unknown preset {str(preset)!r}: not one of {PRESET_NAMES} and no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PresetError(f"{path}: not valid YAML: {err}") from None
    return _parse(data, path.stem, str(path))
