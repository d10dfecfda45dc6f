"""``TwoStreamSpace``: the Auto-TSNet two-stream search space as an NNI 3.0 ``ModelSpace``."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Mapping


from nni.mutable import Categorical, MutableExpression, label_scope
from nni.mutable.frozen import frozen_context
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableBatchNorm3d, MutableConv3d, MutableLinear
from torch import nn

from nni_autotsnet.models.network import TwoStreamNet

from .arch import check_arch
from .flops import CostModel
from .layout import Var, make_layout, round_width
from .mixed_ops import MIXED_OPERATIONS_3D
from .presets import Preset, load_preset

__all__ = ["SearchOps", "TwoStreamSpace"]


def _is_mutable(*values: Any) -> bool:
    return any(isinstance(v, MutableExpression) for v in values)


@contextmanager
def _scoped(label: str):
    """NNI forbids '/' in a label; hierarchical labels like ``sparse/s2_c`` are built with label scopes."""
    scope, _, name = label.rpartition("/")
    with ExitStack() as stack:
        for part in filter(None, scope.split("/")):
            stack.enter_context(label_scope(part))
        yield name


def _kernel(t: Any, k: Any) -> tuple:
    return (t, k, k)


def _layer(plain: type, mutable: type) -> Callable[..., nn.Module]:
    """A layer factory: the mutable layer when any argument is a choice, the plain one otherwise."""
    def make(*args, **kwargs):
        return (mutable if _is_mutable(*args, *kwargs.values()) else plain)(*args, **kwargs)
    return make


class SearchOps:
    """NNI choices and mutable layers for the network code (see ``nni_autotsnet.models.ops``)."""

    conv3d = staticmethod(_layer(nn.Conv3d, MutableConv3d))
    batchnorm3d = staticmethod(_layer(nn.BatchNorm3d, MutableBatchNorm3d))
    linear = staticmethod(_layer(nn.Linear, MutableLinear))

    def __init__(self) -> None:
        self._choices: dict[str, Any] = {}

    def value(self, var: Var) -> Any:
        """A constant for a fixed variable; one shared ``nni.choice`` per label for a searched one."""
        if not var.searched:
            return var.default
        if var.label not in self._choices:
            with _scoped(var.label) as name:
                self._choices[var.label] = Categorical(list(var.options), default=var.default, label=name)
        return self._choices[var.label]

    def layer_choice(self, var: Var, candidates: Mapping[str, Callable[[], nn.Module]]) -> nn.Module:
        if not var.searched:
            return candidates[var.default]()
        modules = {name: make() for name, make in candidates.items()}
        with _scoped(var.label) as name:
            return LayerChoice(modules, label=name)

    @staticmethod
    def to_int(x: Any) -> Any:
        return MutableExpression.to_int(x) if _is_mutable(x) else int(x)

    @staticmethod
    def kernel(t: Any, k: Any) -> Any:
        if _is_mutable(t, k):
            return MutableExpression(_kernel, "kernel({}, {})", [t, k])
        return (t, k, k)

    @staticmethod
    def round_width(width: Any, multiplier: float) -> Any:
        """X3D's channel rounding, also on NNI expressions (mirrors ``models.ops.round_width``)."""
        if not _is_mutable(width):
            return round_width(width, multiplier)
        scaled = width * multiplier
        out = MutableExpression.max(8, MutableExpression.to_int(scaled + 4) // 8 * 8)
        return MutableExpression.condition(out < 0.9 * scaled, out + 8, out)


class TwoStreamSpace(TwoStreamNet, ModelSpace):
    """Two-stream video networks: a sparse stream (few frames, wide) and a dense stream (all frames,
    narrow), Super MBConv3D blocks searching temporal kernel, spatial kernel, width and expansion,
    Super TS-Fusion blocks (four operations) from dense to sparse, and attention blocks.

    Build it from a preset: ``TwoStreamSpace.from_preset("tiny" | "S" | "M" | "L", parts="all")``,
    where ``parts`` is ``"sparse"``, ``"fusion"`` or ``"all"`` (the three parts of the
    progressive search; what a part does not search sits at the preset's defaults).
    An architecture is the NNI sample dict: ``memo = {}; model = space.random(memo=memo)``.

    Examples
    --------
    >>> space = TwoStreamSpace.from_preset("S", parts="sparse")
    >>> space.flops(space.x3d_arch()) / 1e9  # X3D-S, multiply-adds per view  # doctest: +SKIP
    1.96...
    """

    def __init__(self, preset: str | Path | Preset = "tiny", parts: str = "all", num_classes: int | None = None,
                 fixed: Mapping[str, Any] | None = None):
        preset = load_preset(preset)
        layout = make_layout(preset, parts, fixed)
        super().__init__(layout, SearchOps(), num_classes)
        self.preset, self.parts, self.layout, self.num_classes = preset, parts, layout, num_classes
        self.fixed = dict(fixed or {})
        sample = frozen_context.current()
        if sample and all(label in sample for label in layout.variables()):
            # rebuilt under a sample (NNI's multi-trial engines do this in the trial): remember which
            self.arch = {**self.fixed, **check_arch(layout, {k: sample[k] for k in layout.variables()}, "sample")}
        self._cost_model: CostModel | None = None

    @property
    def _cost(self) -> CostModel:
        # built on first use: the tables take a moment for L, and frozen copies rarely need them
        if self._cost_model is None:
            self._cost_model = CostModel(self.layout, self.num_classes)
        return self._cost_model

    @classmethod
    def from_preset(cls, name: str | Path, parts: str = "all", num_classes: int | None = None,
                    fixed: Mapping[str, Any] | None = None) -> "TwoStreamSpace":
        """The space of a named preset (``tiny``, ``S``, ``M``, ``L``) or of a preset YAML file.

        ``fixed`` pins labels to values an earlier search part chose (progressive search).
        """
        return cls(name if isinstance(name, Preset) else str(name), parts, num_classes, fixed)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(3, T_dense, H, W)`` of one view."""
        return self.preset.input_shape

    def flops(self, arch: Mapping[str, Any]) -> int:
        """Multiply-adds per view of ``arch`` (closed form, microseconds; see ``search_space.flops``)."""
        try:
            return self._cost.flops(arch)
        except (KeyError, TypeError):
            check_arch(self.layout, arch)
            raise

    def params(self, arch: Mapping[str, Any]) -> int:
        """Parameter count of ``arch``."""
        try:
            return self._cost.params(arch)
        except (KeyError, TypeError):
            check_arch(self.layout, arch)
            raise

    def default_arch(self) -> dict[str, Any]:
        """Every searched variable at the preset's default."""
        return self.layout.defaults()

    def x3d_arch(self) -> dict[str, Any]:
        """The X3D network of this preset (X3D-S/M/L) as a point of the sparse-only space."""
        if self.preset.reference is None or self.parts != "sparse":
            raise ValueError(f"preset {self.preset.name!r} with parts={self.parts!r} has no X3D point; "
                             "X3D-S/M/L are points of the S/M/L presets with parts='sparse'")
        return self.default_arch()

    def check_arch(self, arch: Mapping[str, Any], source: str = "arch") -> dict[str, Any]:
        """``arch`` as a dict of this space's labels, or an ``ArchError`` naming the bad label or value."""
        return check_arch(self.layout, arch, source)

    def freeze(self, sample: Mapping[str, Any]) -> nn.Module:
        """The plain model of ``sample``; its ``arch`` attribute is the architecture dict.

        ``arch`` travels with the model because NNI's multi-trial evaluators receive the model,
        not the sample.
        """
        arch = check_arch(self.layout, sample, "sample")
        model = super().freeze(sample)
        model.arch = {**self.fixed, **arch}
        return model

    def extra_oneshot_hooks(self, strategy: Any) -> list:
        """Register the 3D mixed operations with any NNI one-shot strategy (weight sharing for Conv3d/BN3d)."""
        return [op.mutate for op in MIXED_OPERATIONS_3D]
