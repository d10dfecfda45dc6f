"""The two-stream network, built from a layout by an ops backend (plain values or NNI choices).

::

    clip [B, 3, T, H, W] --every alpha-th frame--> sparse: stem -> s2 -> s3 -> s4 -> s5 -> head (conv, pool, lin5)
                        \\                                ^      ^     ^     ^                  \\
                         \\                             fuse   fuse  fuse  fuse                  concat -> dropout -> fc
                          \\                              |      |     |     |                  /
                           --all T frames-----> dense:  stem -> s2 -> s3 -> s4 -> s5 -> pool --
"""

from __future__ import annotations

import torch
from torch import nn

from nni_autotsnet.search_space.layout import Layout, StreamLayout

from .blocks import MBConv3d, SparseHead, Stem
from .fusion import make_fusion

__all__ = ["TwoStreamNet", "init_weights"]


def _stage(ops, stage, se_ratio: float) -> nn.Sequential:
    blocks = []
    for b in stage.blocks:
        blocks.append(MBConv3d(
            ops, ops.value(b.cin), ops.value(b.cout), ops.value(b.t), ops.value(b.k), ops.value(b.e),
            stride=b.stride, shortcut=b.shortcut, attention=MBConv3d.attention_slot(ops, b.attention, se_ratio),
        ))
    return nn.Sequential(*blocks)


def _stream(ops, stream: StreamLayout, se_ratio: float) -> tuple[nn.Module, nn.ModuleList]:
    stem = Stem(ops, 3, stream.stem)
    return stem, nn.ModuleList(_stage(ops, st, se_ratio) for st in stream.stages)


def init_weights(model: nn.Module) -> None:
    """He initialisation for convolutions, N(0, 0.01) for the classifier, BN at (1, 0) unless zeroed on purpose."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class TwoStreamNet(nn.Module):
    """Sparse stream (few frames, wide) and dense stream (all frames, narrow) with TS-Fusion into the sparse one.

    ``parts="sparse"`` builds the sparse stream alone (X3D-like); the other parts add the dense
    stream and the four fusion blocks.
    """

    def __init__(self, layout: Layout, ops, num_classes: int | None = None):
        super().__init__()
        preset = layout.preset
        self.alpha = preset.alpha
        self.sparse_stem, self.sparse_stages = _stream(ops, layout.sparse, preset.se_ratio)
        self.head = SparseHead(ops, ops.value(layout.sparse.out_width), preset.sparse.head_inner,
                               preset.sparse.head_features)
        features = preset.sparse.head_features
        if layout.dense is not None:
            self.dense_stem, self.dense_stages = _stream(ops, layout.dense, preset.se_ratio)
            self.fusions = nn.ModuleList(
                ops.layer_choice(f.op, {
                    name: (lambda name=name, f=f: make_fusion(name, ops, ops.value(f.dense), ops.value(f.sparse),
                                                              preset.alpha))
                    for name in f.op.options
                })
                for f in layout.fusions
            )
            self.dense_pool = nn.AdaptiveAvgPool3d(1)
            features = features + ops.value(layout.dense.out_width)
        else:
            self.dense_stem = self.dense_stages = self.fusions = self.dense_pool = None
        self.dropout = nn.Dropout(0.5)
        self.fc = ops.linear(features, num_classes or preset.num_classes)
        init_weights(self)
        nn.init.normal_(self.fc.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sparse = self.sparse_stem(x[:, :, ::self.alpha])
        if self.dense_stem is None:
            for stage in self.sparse_stages:
                sparse = stage(sparse)
            features = self.head(sparse)
        else:
            dense = self.dense_stem(x)
            # fusion after the stem and after each of the first three stages, i.e. before each stage
            for fuse, s_stage, d_stage in zip(self.fusions, self.sparse_stages, self.dense_stages):
                sparse = fuse(sparse, dense)
                sparse, dense = s_stage(sparse), d_stage(dense)
            features = torch.cat([self.head(sparse), self.dense_pool(dense).flatten(1)], dim=1)
        return self.fc(self.dropout(features))
