"""Super TS-Fusion candidates (supplement section 2): dense features into the sparse stream, summed.

Each candidate maps ``(sparse [B, C_S, T_S, H, W], dense [B, C_D, alpha*T_S, H, W])`` to the fused
sparse features ``sparse + f(dense)``. The last BN of each branch starts at zero, so a fusion
begins as the identity and the two streams start out as they would train alone.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TimeStridedConv", "TimeStridedSampling", "TimeToChannel", "SkipFusion", "make_fusion"]


class _Pointwise(nn.Sequential):
    def __init__(self, ops, cin, cout):
        super().__init__(ops.conv3d(cin, cout, 1, bias=False), ops.batchnorm3d(cout))
        nn.init.zeros_(self[1].weight)


class TimeStridedConv(nn.Module):
    """5x1x1 conv with temporal stride alpha (C_D -> C_D), BN, ReLU, then 1x1x1 to C_S (SlowFast's fuse)."""

    def __init__(self, ops, dense, sparse, alpha: int):
        super().__init__()
        self.conv = ops.conv3d(dense, dense, (5, 1, 1), stride=(alpha, 1, 1), padding=(2, 0, 0), bias=False)
        self.bn = ops.batchnorm3d(dense)
        self.act = nn.ReLU(inplace=True)
        self.proj = _Pointwise(ops, dense, sparse)

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        return sparse + self.proj(self.act(self.bn(self.conv(dense))))


class TimeStridedSampling(nn.Module):
    """Every alpha-th dense frame (the sparse stream's own frames), then 1x1x1 to C_S."""

    def __init__(self, ops, dense, sparse, alpha: int):
        super().__init__()
        self.alpha = alpha
        self.proj = _Pointwise(ops, dense, sparse)

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        return sparse + self.proj(dense[:, :, ::self.alpha])


class TimeToChannel(nn.Module):
    """Each group of alpha dense frames folded into channels ([alpha*C_D, T_S, H, W]), then 1x1x1 to C_S.

    Channels are laid out ``c * alpha + i`` (channel-major), so a narrower C_D is a prefix of a wider one.
    """

    def __init__(self, ops, dense, sparse, alpha: int):
        super().__init__()
        self.alpha = alpha
        self.proj = _Pointwise(ops, dense * alpha, sparse)

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = dense.shape
        folded = dense.reshape(b, c, t // self.alpha, self.alpha, h, w).transpose(2, 3)
        return sparse + self.proj(folded.reshape(b, c * self.alpha, t // self.alpha, h, w))


class SkipFusion(nn.Module):
    """No fusion: the sparse features pass unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        return sparse


_FUSIONS = {
    "time_strided_conv": TimeStridedConv,
    "time_strided_sampling": TimeStridedSampling,
    "time_to_channel": TimeToChannel,
    "skip": SkipFusion,
}


def make_fusion(name: str, ops, dense, sparse, alpha: int) -> nn.Module:
    """One fusion candidate by name."""
    return _FUSIONS[name](ops, dense, sparse, alpha)
