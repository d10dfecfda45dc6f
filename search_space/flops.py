"""Exact FLOPs and parameter counts of an architecture in closed form, without a forward pass.

FLOPs are multiply-adds of convolutions, linear layers and matrix products, per single view at the
preset's input (the X3D / SlowFast convention; fvcore's count with batch-norm left out).

PARSEC evaluates F(A) K times per step, so the counter is compiled once per layout into a list of
terms, one per block: each term is an ``itemgetter`` over the labels the block depends on and a
table from their values to the block's (FLOPs, params). F(A) is then one C-level gather and one
table lookup per block. Imports no NNI.
"""

from __future__ import annotations

import itertools
from operator import itemgetter
from typing import Any, Callable, Mapping


from .layout import BlockLayout, FusionLayout, Layout, Var, round_width
from .presets import Preset

__all__ = ["CostModel", "fvcore_flops"]

Cost = tuple[int, int]  # (multiply-adds, parameters)


def _conv(cin: int, cout: int, kvol: int, out_elems: int, groups: int = 1, bias: bool = False) -> Cost:
    """A conv with ``out_elems`` output positions per channel: MACs and parameters."""
    weight = cout * (cin // groups) * kvol
    return weight * out_elems, weight + (cout if bias else 0)


def _bn(c: int) -> Cost:
    return 0, 2 * c


def _sum(*costs: Cost) -> Cost:
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def _stem(preset: Preset, width: int, frames: int, size: int) -> Cost:
    n = frames * size * size
    return _sum(_conv(3, width, 9, n), _conv(width, width, 5, n, groups=width), _bn(width))


def _block(b: BlockLayout, se_ratio: float, cin: int, cout: int, t: int, k: int, e: float, att: str) -> Cost:
    mid = int(e * cout)
    n_in = b.frames * b.size_in * b.size_in
    n_out = b.frames * b.size_out * b.size_out
    parts = [
        _conv(cin, mid, 1, n_in), _bn(mid),  # expand
        _conv(mid, mid, t * k * k, n_out, groups=mid), _bn(mid),  # depthwise
        _conv(mid, cout, 1, n_out), _bn(cout),  # project
    ]
    if att == "se":
        r = round_width(mid, se_ratio)
        parts += [_conv(mid, r, 1, 1, bias=True), _conv(r, mid, 1, 1, bias=True)]
    elif att == "nonlocal":
        inner = mid // 2
        parts += [_conv(mid, inner, 1, n_out)] * 3 + [_conv(inner, mid, 1, n_out), _bn(mid)]
        parts.append((2 * n_out * n_out * inner, 0))  # theta^T phi, then the attention times g
    if b.shortcut:
        parts += [_conv(cin, cout, 1, n_out), _bn(cout)]
    return _sum(*parts)


def _fusion(f: FusionLayout, alpha: int, op: str, cd: int, cs: int) -> Cost:
    n = f.frames * f.size * f.size
    if op == "time_strided_conv":
        return _sum(_conv(cd, cd, 5, n), _bn(cd), _conv(cd, cs, 1, n), _bn(cs))
    if op == "time_strided_sampling":
        return _sum(_conv(cd, cs, 1, n), _bn(cs))
    if op == "time_to_channel":
        return _sum(_conv(alpha * cd, cs, 1, n), _bn(cs))
    return 0, 0  # skip


class _Term:
    """One block's cost as a table over the values of the searched variables it depends on."""

    def __init__(self, variables: list[Var], fn: Callable[..., Cost]):
        # one axis per distinct searched label: a block's input and output widths may be one variable
        self.labels = tuple(dict.fromkeys(v.label for v in variables if v.searched))
        options = {v.label: v.options for v in variables if v.searched}
        table: dict[Any, Cost] = {}
        for values in itertools.product(*(options[label] for label in self.labels)):
            chosen = dict(zip(self.labels, values))
            cost = fn(*(chosen[v.label] if v.searched else v.default for v in variables))
            table[values[0] if len(values) == 1 else values] = cost
        self.flops = {key: c[0] for key, c in table.items()}
        self.params = {key: c[1] for key, c in table.items()}
        self.get = itemgetter(*self.labels) if self.labels else None
        self.const = table[()] if not self.labels else None


class CostModel:
    """Closed-form FLOPs (multiply-adds per view) and parameters of every architecture of a layout."""

    def __init__(self, layout: Layout, num_classes: int | None = None):
        preset = layout.preset
        classes = num_classes or preset.num_classes
        terms: list[_Term] = []
        const = [0, 0]

        def add_const(cost: Cost) -> None:
            const[0] += cost[0]
            const[1] += cost[1]

        streams = [layout.sparse] + ([layout.dense] if layout.dense is not None else [])
        for stream in streams:
            add_const(_stem(preset, stream.stem, stream.frames, stream.stem_size))
            for stage in stream.stages:
                for b in stage.blocks:
                    terms.append(_Term([b.cin, b.cout, b.t, b.k, b.e, b.attention],
                                       lambda *v, b=b: _block(b, preset.se_ratio, *v)))
        for f in layout.fusions:
            terms.append(_Term([f.op, f.dense, f.sparse], lambda *v, f=f: _fusion(f, preset.alpha, *v)))
        # head: conv5 over the last sparse map, lin5 after pooling, then the classifier over both streams
        last = layout.sparse.stages[-1].blocks[-1]
        n_last = last.frames * last.size_out * last.size_out
        inner, feats = preset.sparse.head_inner, preset.sparse.head_features
        terms.append(_Term([layout.sparse.out_width], lambda c: _sum(_conv(c, inner, 1, n_last), _bn(inner))))
        add_const(_conv(inner, feats, 1, 1))
        if layout.dense is not None:
            terms.append(_Term([layout.dense.out_width], lambda c: _conv(feats + c, classes, 1, 1, bias=True)))
        else:
            add_const(_conv(feats, classes, 1, 1, bias=True))

        self.variables = layout.variables()
        self._const_flops, self._const_params = const
        for t in terms:
            if t.const is not None:
                self._const_flops += t.const[0]
                self._const_params += t.const[1]
        live = [t for t in terms if t.const is None]
        self._flops = [(t.get, t.flops) for t in live]
        self._params = [(t.get, t.params) for t in live]

    def flops(self, arch: Mapping[str, Any]) -> int:
        """Multiply-adds per view. Raises ``KeyError`` for a label or value not of the space."""
        total = self._const_flops
        for get, table in self._flops:
            total += table[get(arch)]
        return total

    def params(self, arch: Mapping[str, Any]) -> int:
        """Number of parameters (weights and biases; BN's affine parameters included, running stats not)."""
        total = self._const_params
        for get, table in self._params:
            total += table[get(arch)]
        return total


def fvcore_flops(model: "torch.nn.Module", input_shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    """fvcore's count of ``model`` at one view of ``input_shape``, batch-norm left out (the X3D convention).

    Returns the total and the per-module counts. fvcore's ``set_op_handle(name, None)`` does not
    drop an op that has a default handle (it only marks it ignored), so batch-norm gets a handle
    that counts zero instead.
    """
    import warnings

    import torch

    # fvcore scripts a helper with torch.jit.script when imported, which torch 2.14 deprecates with a
    # FutureWarning that says nothing about this project's counts; it is silenced here, at the one import.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    model = model.eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
        analysis.set_op_handle("aten::batch_norm", lambda inputs, outputs: 0)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        return int(analysis.total()), dict(analysis.by_module())
