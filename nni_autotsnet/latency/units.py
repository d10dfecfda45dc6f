"""The latency units of a layout: every block, fusion, stem, head and classifier at its input shape.

A *unit* is a tuple naming one module of the two-stream network with everything that sets its
run time (kind, widths, kernel, attention, stride, frames, spatial size), so two blocks of the
same shape share one table entry. :func:`layout_terms` mirrors :class:`search_space.flops.CostModel`:
per block, the variables it depends on and a function from their values to its unit; the profiler
enumerates them, the predictor turns them into lookup tables. :func:`build_unit` makes the module
and its inputs. Imports no NNI.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from nni_autotsnet.models.attention import make_attention
from nni_autotsnet.models.blocks import MBConv3d, SparseHead, Stem
from nni_autotsnet.models.fusion import make_fusion
from nni_autotsnet.models.ops import PlainOps
from nni_autotsnet.search_space.layout import PARTS, Layout, Var, make_layout
from nni_autotsnet.search_space.presets import Preset

__all__ = ["Unit", "unit_key", "layout_terms", "preset_units", "build_unit", "GLUE_KINDS", "glue_kind"]


GLUE_KINDS = ("sparse", "two_stream")  # the network's forward has two shapes: the sparse stream alone, or both


def glue_kind(parts: str) -> str:
    """Which end-to-end glue term a layout of ``parts`` pays (see :func:`nni_autotsnet.latency.measure.profile`)."""
    return "sparse" if parts == "sparse" else "two_stream"


Unit = tuple  # ("block", cin, cout, t, k, e, attention, stride, frames, size_in), ("fusion", ...), ...
Term = tuple[list[Var], Callable[..., Unit]]  # the variables a unit depends on, and their values -> the unit


def unit_key(unit: Unit) -> str:
    """The unit's key in a latency table, e.g. ``block/8/16/3/3/2.25/se/2/4/32``."""
    return "/".join(map(str, unit))


def layout_terms(layout: Layout, num_classes: int | None = None) -> list[Term]:
    """Every unit of ``layout``'s network as ``(variables, values -> unit)``, in network order."""
    preset = layout.preset
    classes = num_classes or preset.num_classes
    terms: list[Term] = []
    streams = [(layout.sparse, preset.alpha)] + ([(layout.dense, 1)] if layout.dense is not None else [])
    for stream, step in streams:
        terms.append(([], lambda s=stream, step=step: ("stem", s.stem, preset.frames, step, preset.crop)))
        for stage in stream.stages:
            for b in stage.blocks:
                terms.append(([b.cin, b.cout, b.t, b.k, b.e, b.attention],
                              lambda *v, b=b: ("block", *v, b.stride, b.frames, b.size_in)))
    for f in layout.fusions:
        terms.append(([f.op, f.dense, f.sparse],
                      lambda *v, f=f: ("fusion", *v, preset.alpha, f.frames, f.size)))
    last = layout.sparse.stages[-1].blocks[-1]
    inner, feats = preset.sparse.head_inner, preset.sparse.head_features
    terms.append(([layout.sparse.out_width],
                  lambda c: ("head", c, inner, feats, last.frames, last.size_out)))
    if layout.dense is not None:
        d = layout.dense.stages[-1].blocks[-1]
        terms.append(([layout.dense.out_width],
                      lambda c: ("classifier", feats, c, classes, d.frames, d.size_out)))
    else:
        terms.append(([], lambda: ("classifier", feats, 0, classes, 0, 0)))
    return terms


def _values(variables: Sequence[Var]) -> list[tuple]:
    """Every combination of the variables' options (a label shared by two variables takes one value)."""
    import itertools

    labels = list(dict.fromkeys(v.label for v in variables))
    options = {v.label: v.options for v in variables}
    return [tuple(dict(zip(labels, combo))[v.label] for v in variables)
            for combo in itertools.product(*(options[label] for label in labels))]


def preset_units(preset: Preset, num_classes: int | None = None) -> dict[str, Unit]:
    """Every distinct unit any architecture of any search part of ``preset`` can contain, by key."""
    units: dict[str, Unit] = {}
    for parts in PARTS:  # each part pins what it does not search, so the union covers the progressive search
        for variables, fn in layout_terms(make_layout(preset, parts), num_classes):
            for values in _values(variables):
                unit = fn(*values)
                units.setdefault(unit_key(unit), unit)
    return units


class _StemUnit(nn.Module):
    """A stream's stem on the clip, with the stream's frame selection (every ``step``-th frame)."""

    def __init__(self, width: int, step: int):
        super().__init__()
        self.stem, self.step = Stem(PlainOps({}), 3, width), step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x[:, :, ::self.step])


class _ClassifierUnit(nn.Module):
    """What follows the sparse head: the dense stream's pooling, the concatenation, dropout and the classifier."""

    def __init__(self, features: int, dense: int, classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1) if dense else None
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(features + dense, classes)

    def forward(self, head: torch.Tensor, dense: torch.Tensor | None = None) -> torch.Tensor:
        if self.pool is not None:
            head = torch.cat([head, self.pool(dense).flatten(1)], dim=1)
        return self.fc(self.dropout(head))


def build_unit(unit: Unit, preset: Preset, batch: int = 1) -> tuple[nn.Module, list[tuple[int, ...]]]:
    """The module of ``unit`` as the network builds it, and the shapes of its inputs at ``batch``."""
    ops = PlainOps({})
    kind, *a = unit
    if kind == "stem":
        width, frames, step, crop = a
        return _StemUnit(width, step), [(batch, 3, frames, crop, crop)]
    if kind == "block":
        cin, cout, t, k, e, att, stride, frames, size = a
        module = MBConv3d(ops, cin, cout, t, k, e, stride=stride, shortcut=stride != 1,
                          attention=lambda mid: make_attention(att, ops, mid, preset.se_ratio))
        return module, [(batch, cin, frames, size, size)]
    if kind == "fusion":
        op, cd, cs, alpha, frames, size = a
        return make_fusion(op, ops, cd, cs, alpha), [(batch, cs, frames, size, size),
                                                     (batch, cd, alpha * frames, size, size)]
    if kind == "head":
        cin, inner, feats, frames, size = a
        return SparseHead(ops, cin, inner, feats), [(batch, cin, frames, size, size)]
    if kind == "classifier":
        feats, dense, classes, frames, size = a
        shapes = [(batch, feats)] + ([(batch, dense, frames, size, size)] if dense else [])
        return _ClassifierUnit(feats, dense, classes), shapes
    raise ValueError(f"unknown latency unit {unit!r}")
