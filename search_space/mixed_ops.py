"""3D mixed operations for NNI's one-shot strategies: one max-size weight, sliced per sampled architecture.

NNI 3.0 ships mixed operations for 2D layers only (``MixedConv2d``, ``MixedBatchNorm2d``, ...);
these add ``Conv3d`` and ``BatchNorm3d`` on the same machinery, so RandomOneShot, ENAS, DARTS and
PARSEC all train the two-stream space. They reach a strategy through the space's
``extra_oneshot_hooks``. Channels slice a prefix; kernels slice the centre on each axis.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from nni.mutable import MutableExpression
from nni.nas.nn.pytorch import MutableBatchNorm3d, MutableConv3d
from nni.nas.oneshot.pytorch.supermodule._operation_utils import Slicable as _S
from nni.nas.oneshot.pytorch.supermodule._operation_utils import MaybeWeighted as _W
from nni.nas.oneshot.pytorch.supermodule._expression_utils import traverse_all_options
from nni.nas.oneshot.pytorch.supermodule.operation import MixedBatchNorm2d, MixedConv2d, MixedOperation
from torch import nn

__all__ = ["MixedConv3d", "MixedBatchNorm3d", "MIXED_OPERATIONS_3D"]


def _triple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value, value, value)


class MixedConv3d(MixedOperation, nn.Conv3d):
    """Mixed ``Conv3d``: mutable ``in_channels``, ``out_channels``, ``groups``, ``kernel_size``, ``padding``.

    Channels take the prefix of the max-size weight; a smaller kernel takes the centre of the
    largest on each of (t, h, w). Depthwise convolutions (``groups`` = ``in_channels``) are
    supported, as in ``MixedConv2d``. In differentiable mode, kernel and padding choices use the
    largest padding; stride and dilation must be fixed there.
    """

    bound_type = MutableConv3d
    argument_list = MixedConv2d.argument_list
    # Not a subclass of MixedConv2d: nn.Conv2d.__init__ would then hand Conv2d arguments to nn.Conv3d
    # through the MRO. Its dimension-free channel logic is borrowed instead.

    def freeze_weight(self, in_channels, out_channels, kernel_size, groups, **kwargs) -> Any:
        """The sliced weight (and bias, when the conv has one) as a state dict of the frozen ``Conv3d``."""
        p = self._freeze_weight_impl(in_channels, out_channels, kernel_size, groups)
        return {"weight": p["weight"]} if p["bias"] is None else {"weight": p["weight"], "bias": p["bias"]}

    @staticmethod
    def _to_tuple(value: Any) -> tuple:
        return _triple(value)

    def super_init_argument(self, name: str, mutable_expr: MutableExpression) -> Any:
        if name in ("kernel_size", "padding"):
            # max on every axis. (MixedConv2d compares ``name == [...]``, always False, and so
            # takes ``max`` over whole tuples, which is wrong for (t, k, k) kernels.)
            sizes = [_triple(s) for s in traverse_all_options(mutable_expr)]
            return tuple(max(s[i] for s in sizes) for i in range(3))
        return MixedConv2d.super_init_argument(self, name, mutable_expr)  # channels and groups

    def _freeze_weight_impl(self, in_channels, out_channels, kernel_size, groups, **kwargs) -> Any:
        in_channels_ = _W(in_channels)
        out_channels_ = _W(out_channels)
        weight = _S(self.weight)[:out_channels_]
        if not isinstance(groups, dict):
            weight = _S(weight)[:, :in_channels_ // groups]
            in_channels_per_group = None
        else:
            # depthwise in differentiable mode: in_channels / groups must be a constant
            in_channels_per_group = int(self.weight.shape[1])
            weight = _S(weight)[:, :in_channels_per_group]
        sliced = []
        for axis, max_size in enumerate(self.kernel_size):
            if isinstance(kernel_size, dict):
                # DARTS weighs whole (t, k, k) tuples: one dict for all three axes, each axis reading its
                # element, so every candidate's centre slice is taken with that candidate's weight
                size_ = _W(lhs=_W(kernel_size), rhs=axis, operation=lambda value, i: _triple(value)[i])
            else:
                size_ = _W(_triple(kernel_size)[axis])
            start = (max_size - size_) // 2
            sliced.append(slice(start, start + size_))
        weight = _S(weight)[:, :, sliced[0], sliced[1], sliced[2]]
        bias = _S(self.bias)[:out_channels_] if self.bias is not None else None
        return {"weight": weight, "bias": bias, "in_channels_per_group": in_channels_per_group}

    def forward_with_args(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                          inputs: torch.Tensor) -> torch.Tensor:
        if any(isinstance(arg, dict) for arg in (stride, dilation)):
            raise ValueError("MixedConv3d: stride and dilation cannot be mutable in differentiable mode")
        p = self._freeze_weight_impl(in_channels, out_channels, kernel_size, groups)
        if isinstance(groups, dict):
            groups = inputs.size(1) // p["in_channels_per_group"]
        if isinstance(kernel_size, dict) or isinstance(padding, dict):
            padding = self.padding  # the largest padding, with the weighted kernel padded to the largest
        return F.conv3d(inputs, p["weight"], p["bias"], _triple(stride), _triple(padding), _triple(dilation), groups)


class MixedBatchNorm3d(MixedOperation, nn.BatchNorm3d):
    """Mixed ``BatchNorm3d``: mutable ``num_features``, slicing the prefix of weights and running statistics."""

    bound_type = MutableBatchNorm3d
    argument_list = MixedBatchNorm2d.argument_list
    # MixedBatchNorm2d's methods are dimension-free (prefix slices and F.batch_norm); borrowed as for Conv3d.
    super_init_argument = MixedBatchNorm2d.super_init_argument
    freeze_weight = MixedBatchNorm2d.freeze_weight
    forward_with_args = MixedBatchNorm2d.forward_with_args


MIXED_OPERATIONS_3D: list[type[MixedOperation]] = [MixedConv3d, MixedBatchNorm3d]
