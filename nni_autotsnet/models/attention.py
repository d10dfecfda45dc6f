"""Attention blocks for the attention slot of a Super MBConv3D block: squeeze-excitation, non-local."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcite3d", "NonLocal3d", "make_attention", "start_near_identity"]


class SqueezeExcite3d(nn.Module):
    """Squeeze-excitation over space-time (X3D's SE: pool, 1x1x1 reduce, ReLU, 1x1x1 expand, sigmoid)."""

    def __init__(self, ops, channels, ratio: float):
        super().__init__()
        reduced = ops.round_width(channels, ratio)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.reduce = ops.conv3d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.expand = ops.conv3d(reduced, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


def start_near_identity(se: SqueezeExcite3d, gate: float = 0.95) -> None:
    """Make a fresh SE block pass its input almost unchanged: the gate starts at ``gate`` for every channel.

    A fresh SE halves its input (sigmoid(0)); in a supernet whose attention slot is searched that
    makes the SE path look different from ``none`` before it has learned anything, so alpha can
    favour it (or drop it) on noise. Zero expand weights and a bias of ``logit(gate)`` start it as
    the non-local block starts (its residual's batch-norm weight zero): as the identity, with
    gradients still reaching the expand weights through the gate.
    """
    with torch.no_grad():
        se.expand.weight.zero_()
        if se.expand.bias is not None:
            se.expand.bias.fill_(float(torch.logit(torch.tensor(gate))))


class NonLocal3d(nn.Module):
    """Space-time non-local block (Wang et al. 2018, embedded Gaussian), inner width C/2, residual.

    ::

        x -> theta, phi, g (1x1x1, C -> C/2) -> softmax(theta^T phi / sqrt(C/2)) g -> 1x1x1 (C/2 -> C) -> BN -> + x
    """

    def __init__(self, ops, channels):
        super().__init__()
        inner = channels // 2
        self.theta = ops.conv3d(channels, inner, 1, bias=False)
        self.phi = ops.conv3d(channels, inner, 1, bias=False)
        self.g = ops.conv3d(channels, inner, 1, bias=False)
        self.out = ops.conv3d(inner, channels, 1, bias=False)
        self.bn = ops.batchnorm3d(channels)
        nn.init.zeros_(self.bn.weight)  # starts as the identity, as in the paper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2)  # [B, C', N]
        phi = self.phi(x).flatten(2)
        g = self.g(x).flatten(2)
        affinity = torch.matmul(theta.transpose(1, 2), phi) * theta.shape[1] ** -0.5  # [B, N, N]
        y = torch.matmul(g, affinity.softmax(dim=-1).transpose(1, 2))  # [B, C', N]
        return x + self.bn(self.out(y.reshape(b, -1, t, h, w)))


def make_attention(name: str, ops, channels, se_ratio: float) -> nn.Module:
    """One candidate of the attention slot by name (``none``, ``se``, ``nonlocal``)."""
    if name == "none":
        return nn.Identity()
    if name == "se":
        return SqueezeExcite3d(ops, channels, se_ratio)
    if name == "nonlocal":
        return NonLocal3d(ops, channels)
    raise ValueError(f"unknown attention operation {name!r}")
