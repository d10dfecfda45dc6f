"""The macro layout of a preset restricted to a search part: every block, its variables and its shapes.

One description serves three readers: the network builder (which turns each variable into a
constant or an NNI choice), the closed-form FLOPs/params counter, and arch-dict validation. A
variable with one option is fixed (a constant); with more it is searched under its label.
Labels follow the structure: ``sparse/s2_c`` (stage width), ``sparse/s2_b1_k`` (block variable),
``fusion/s3`` (fusion after stage s3), ``attention/s5_b0``. Stages are named s2..s5 after
SlowFast's res2..res5; the stem is s1. Imports no NNI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .presets import Preset, StreamSpec

__all__ = ["PARTS", "Var", "BlockLayout", "StageLayout", "StreamLayout", "FusionLayout", "Layout", "make_layout",
           "round_width"]


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """X3D's channel rounding (pytorchvideo ``round_width``), for plain numbers."""
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


# The three parts of the progressive search, each adding to the one before it.
PARTS = ("sparse", "fusion", "all")


@dataclass(frozen=True)
class Var:
    """A variable of the space: searched under ``label`` when it has several ``options``."""

    label: str
    options: tuple[Any, ...]
    default: Any

    @property
    def searched(self) -> bool:
        return len(self.options) > 1


@dataclass(frozen=True)
class BlockLayout:
    """One Super MBConv3D block. Spatial sizes are of one side; time is unchanged by blocks."""

    name: str  # e.g. "sparse/s2_b0"
    cin: Var
    cout: Var
    t: Var
    k: Var
    e: Var
    attention: Var  # options among ATTENTION_OPS; ("none",) where the block has no attention slot
    stride: int
    frames: int
    size_in: int
    size_out: int

    @property
    def shortcut(self) -> bool:
        """The first block of a stage strides and changes width: a 1x1x1 projection shortcut."""
        return self.stride != 1


@dataclass(frozen=True)
class StageLayout:
    name: str  # "s2" .. "s5"
    width: Var
    blocks: tuple[BlockLayout, ...]


@dataclass(frozen=True)
class StreamLayout:
    name: str  # "sparse" or "dense"
    frames: int
    stem: int
    stem_size: int
    stages: tuple[StageLayout, ...]

    @property
    def out_width(self) -> Var:
        return self.stages[-1].width


@dataclass(frozen=True)
class FusionLayout:
    """A Super TS-Fusion block: dense features (width ``dense``) into the sparse ones (``sparse``)."""

    op: Var
    dense: Var  # width of the dense features fused
    sparse: Var  # width of the sparse features they are summed into
    frames: int  # T_sparse
    size: int


@dataclass(frozen=True)
class Layout:
    preset: Preset
    parts: str
    sparse: StreamLayout
    dense: StreamLayout | None
    fusions: tuple[FusionLayout, ...]

    def variables(self) -> dict[str, Var]:
        """The searched variables by label, in network order (each label once)."""
        found: dict[str, Var] = {}
        for v in self._all_vars():
            if v.searched:
                found.setdefault(v.label, v)
        return found

    def defaults(self) -> dict[str, Any]:
        """The default point: every searched variable at its preset default."""
        return {label: v.default for label, v in self.variables().items()}

    def _all_vars(self):
        for stream in (self.sparse, self.dense):
            if stream is None:
                continue
            for stage in stream.stages:
                yield stage.width
                for b in stage.blocks:
                    yield from (b.t, b.k, b.e, b.attention)
        for f in self.fusions:
            yield f.op


def _fixed(label: str, value: Any) -> Var:
    return Var(label, (value,), value)


def _pinned(var: Var, fixed: Mapping[str, Any]) -> Var:
    """``var`` fixed at ``fixed[label]`` when an earlier search part chose its value."""
    if var.label not in fixed:
        return var
    value = fixed[var.label]
    if value not in var.options or isinstance(value, bool):
        raise ValueError(f"fixed label {var.label!r} has value {value!r}, not one of {list(var.options)}")
    return _fixed(var.label, value)


def _stream(preset: Preset, spec: StreamSpec, name: str, frames: int, searched: bool,
            attention: bool, fixed: Mapping[str, Any]) -> StreamLayout:
    def var(label: str, options, default) -> Var:
        return _pinned(Var(label, tuple(options), default), fixed) if searched else _fixed(label, default)

    size = (preset.crop - 1) // 2 + 1  # the stem's 1x3x3 conv strides 2
    stem_size = size
    cin: Var | int = _fixed(f"{name}/s1_c", spec.stem)
    stages = []
    for i, st in enumerate(spec.stages):
        sname = f"s{i + 2}"
        width = var(f"{name}/{sname}_c", st.widths, st.width)
        blocks = []
        for b in range(st.depth):
            stride = 2 if b == 0 else 1
            size_out = (size - 1) // stride + 1
            slot = attention and b % preset.attention_every == 0
            if not slot:
                att = _fixed(f"attention/{sname}_b{b}", "none")
            elif (i + 2) in preset.attention_stages:
                # searched only in the last part; before that it sits at its default
                att = _pinned(Var(f"attention/{sname}_b{b}", preset.attention_ops, preset.attention_default), fixed)
            else:
                att = _fixed(f"attention/{sname}_b{b}", preset.attention_default)
            blocks.append(BlockLayout(
                name=f"{name}/{sname}_b{b}",
                cin=cin if b == 0 else width,
                cout=width,
                t=var(f"{name}/{sname}_b{b}_t", preset.temporal_kernels, preset.default_temporal_kernel),
                k=var(f"{name}/{sname}_b{b}_k", preset.spatial_kernels, preset.default_spatial_kernel),
                e=var(f"{name}/{sname}_b{b}_e", preset.expansions, preset.default_expansion),
                attention=att, stride=stride, frames=frames, size_in=size, size_out=size_out,
            ))
            size = size_out
        stages.append(StageLayout(sname, width, tuple(blocks)))
        cin = width
    return StreamLayout(name, frames, spec.stem, stem_size, tuple(stages))


def _pin_attention(layout_stream: StreamLayout, searched: bool) -> StreamLayout:
    """Before the last part, attention slots sit at their defaults instead of being searched."""
    if searched:
        return layout_stream
    stages = []
    for st in layout_stream.stages:
        blocks = tuple(
            b if not b.attention.searched else
            BlockLayout(**{**b.__dict__, "attention": _fixed(b.attention.label, b.attention.default)})
            for b in st.blocks
        )
        stages.append(StageLayout(st.name, st.width, blocks))
    return StreamLayout(layout_stream.name, layout_stream.frames, layout_stream.stem, layout_stream.stem_size,
                        tuple(stages))


def make_layout(preset: Preset, parts: str = "all", fixed: Mapping[str, Any] | None = None) -> Layout:
    """The layout of ``preset`` for a search part: ``sparse``, ``fusion`` (+ dense, fusion) or ``all``.

    ``fixed`` pins searched labels to values chosen by an earlier part of the progressive search
    (e.g. part 2 inherits part 1's sparse stream); a label or value not of the space is a ``ValueError``.
    """
    if parts not in PARTS:
        raise ValueError(f"parts must be one of {PARTS}, got {parts!r}")
    fixed = dict(fixed or {})
    sparse = _stream(preset, preset.sparse, "sparse", preset.sparse_frames, searched=True, attention=True,
                     fixed=fixed)
    sparse = _pin_attention(sparse, searched=parts == "all")
    if parts == "sparse":
        layout = Layout(preset, parts, sparse, None, ())
    else:
        dense = _stream(preset, preset.dense, "dense", preset.frames, searched=True, attention=False, fixed=fixed)
        ops = preset.fusion_ops
        fusions = [FusionLayout(_pinned(Var("fusion/s1", ops, preset.fusion_default), fixed),
                                _fixed("dense/s1_c", preset.dense.stem), _fixed("sparse/s1_c", preset.sparse.stem),
                                preset.sparse_frames, sparse.stem_size)]
        for i in range(3):  # after the stem and each of the first three stages
            fusions.append(FusionLayout(_pinned(Var(f"fusion/s{i + 2}", ops, preset.fusion_default), fixed),
                                        dense.stages[i].width, sparse.stages[i].width,
                                        preset.sparse_frames, sparse.stages[i].blocks[-1].size_out))
        layout = Layout(preset, parts, sparse, dense, tuple(fusions))
    known = {v.label for v in layout._all_vars()}
    unknown = sorted(set(fixed) - known)
    if unknown:
        raise ValueError(f"fixed label {unknown[0]!r} is not a variable of preset {preset.name!r} with parts={parts!r}")
    return layout
