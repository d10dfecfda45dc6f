"""Stem, Super MBConv3D block and head of the two-stream network (X3D conventions)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .attention import make_attention

__all__ = ["Stem", "MBConv3d", "SparseHead"]


class Stem(nn.Module):
    """X3D stem: 1x3x3 conv (spatial stride 2), depthwise 5x1x1 temporal conv, BN, ReLU."""

    def __init__(self, ops, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_xy = ops.conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1),
                                  bias=False)
        self.conv_t = ops.conv3d(out_channels, out_channels, (5, 1, 1), padding=(2, 0, 0), groups=out_channels,
                                 bias=False)
        self.bn = ops.batchnorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv_t(self.conv_xy(x))))


class MBConv3d(nn.Module):
    """Super MBConv3D: an inverted residual with temporal kernel ``t``, spatial ``k``, width ``cout``, expansion ``e``.

    Arguments are plain values or NNI choices (through ``ops``); the expanded width is
    ``int(e * cout)``, X3D's bottleneck convention, so X3D's block is the point e = 2.25, t = k = 3::

        x -> 1x1x1 expand (cin -> e*cout), BN, ReLU
          -> t x k x k depthwise (stride 1xSxS), BN -> attention (none | SE | non-local) -> Swish
          -> 1x1x1 project (e*cout -> cout), BN
          -> + shortcut(x) -> ReLU        shortcut: identity, or 1x1x1 conv + BN on the strided first block
    """

    def __init__(self, ops, cin, cout, t, k, e, stride: int, shortcut: bool, attention: Callable[[Any], nn.Module]):
        super().__init__()
        mid = ops.to_int(e * cout)
        # expand
        self.conv_a = ops.conv3d(cin, mid, 1, bias=False)
        self.bn_a = ops.batchnorm3d(mid)
        self.act_a = nn.ReLU(inplace=True)
        # depthwise
        self.conv_b = ops.conv3d(mid, mid, ops.kernel(t, k), stride=(1, stride, stride), padding=ops.kernel(t // 2, k // 2),
                                 groups=mid, bias=False)
        self.bn_b = ops.batchnorm3d(mid)
        # attention: built for the expanded width; a LayerChoice of candidates when searched
        self.attention = attention(mid)
        self.act_b = nn.SiLU()
        # project
        self.conv_c = ops.conv3d(mid, cout, 1, bias=False)
        self.bn_c = ops.batchnorm3d(cout)
        # shortcut, decided once
        self.shortcut = nn.Sequential(
            ops.conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False), ops.batchnorm3d(cout)
        ) if shortcut else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act_a(self.bn_a(self.conv_a(x)))
        y = self.act_b(self.attention(self.bn_b(self.conv_b(y))))
        y = self.bn_c(self.conv_c(y))
        return self.act(y + self.shortcut(x))

    @staticmethod
    def attention_slot(ops, var, se_ratio: float) -> Callable[[Any], nn.Module]:
        """The attention slot's factory for expanded width ``mid``: one module, or a LayerChoice when searched."""
        def build(mid):
            candidates = {name: (lambda name=name: make_attention(name, ops, mid, se_ratio)) for name in var.options}
            return ops.layer_choice(var, candidates)
        return build


class SparseHead(nn.Module):
    """X3D head of the sparse stream: 1x1x1 conv, BN, ReLU, global pool, linear (lin5), ReLU."""

    def __init__(self, ops, cin, inner: int, features: int):
        super().__init__()
        self.conv = ops.conv3d(cin, inner, 1, bias=False)
        self.bn = ops.batchnorm3d(inner)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.lin = nn.Linear(inner, features, bias=False)
        self.lin_act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.bn(self.conv(x)))).flatten(1)
        return self.lin_act(self.lin(x))
