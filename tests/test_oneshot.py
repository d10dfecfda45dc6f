"""NNI's own one-shot strategies train the space through the 3D mixed operations (shared weights)."""

from __future__ import annotations

import pytest
import torch

import nni
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.strategy import DARTS, ENAS, RandomOneShot

from nni_autotsnet.search_space import MixedBatchNorm3d, MixedConv3d, TwoStreamSpace

torch.set_num_threads(2)


def _resample(supernet, memo):
    for m in supernet.modules():
        if isinstance(m, BaseSuperNetModule):
            memo.update(m.resample(memo))
    return memo


def test_one_weight_tensor_serves_two_widths():
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    supernet = RandomOneShot().mutate_model(space)
    conv = supernet.sparse_stages[2][0].conv_c  # project conv of s4's first block: out = s4 width
    assert isinstance(conv, MixedConv3d)
    assert conv.weight.shape[0] == 32  # the largest width
    assert any(isinstance(m, MixedBatchNorm3d) for m in supernet.modules())
    x = torch.randn(2, *space.input_shape)
    rows = {}
    for width in (16, 24):
        supernet.zero_grad()
        _resample(supernet, {"sparse/s4_c": width})
        supernet(x).sum().backward()
        rows[width] = int((conv.weight.grad.abs().sum(dim=(1, 2, 3, 4)) > 0).sum())
    assert rows == {16: 16, 24: 24}


def test_mixed_conv3d_slices_the_kernel_centre():
    space = TwoStreamSpace.from_preset("tiny", parts="sparse")
    supernet = RandomOneShot().mutate_model(space)
    dw = supernet.sparse_stages[0][0].conv_b
    assert tuple(dw.weight.shape[2:]) == (5, 5, 5)
    _resample(supernet, {"sparse/s2_b0_t": 3, "sparse/s2_b0_k": 3, "sparse/s2_b0_e": 2.25, "sparse/s2_c": 16})
    frozen = dw.freeze({"sparse/s2_b0_t": 3, "sparse/s2_b0_k": 3, "sparse/s2_b0_e": 2.25, "sparse/s2_c": 16})
    assert frozen.kernel_size == (3, 3, 3) and frozen.padding == (1, 1, 1) and frozen.groups == 36
    assert torch.equal(frozen.weight, dw.weight[:36, :, 1:4, 1:4, 1:4])


def _evaluator(space, batches: int = 4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batches * 2, *space.input_shape, generator=g)
    y = torch.randint(0, space.preset.num_classes, (batches * 2,), generator=g)
    data = nni.trace(torch.utils.data.TensorDataset)(x, y)
    return Classification(
        train_dataloaders=DataLoader(data, batch_size=2), val_dataloaders=DataLoader(data, batch_size=2),
        num_classes=space.preset.num_classes, max_epochs=1, enable_progress_bar=False, logger=False,
        enable_checkpointing=False, accelerator="cpu", enable_model_summary=False,
    )


def test_enas_mutates_and_runs_the_space():
    """ENAS's supernet (its RL controller needs tianshou, not a dependency here) forwards sampled paths."""
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    supernet = ENAS().mutate_model(space)
    memo = _resample(supernet, {})
    assert set(memo) == set(space.simplify())
    out = supernet(torch.randn(2, *space.input_shape))
    out.sum().backward()
    assert out.shape == (2, space.preset.num_classes)


def test_random_one_shot_trains_the_space_through_nas_experiment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    exp = NasExperiment(space, _evaluator(space), RandomOneShot())
    exp.config.experiment_working_directory = str(tmp_path / "nni")
    exp.run()
    supernet = exp.strategy.supernet
    assert isinstance(supernet.sparse_stages[2][0].conv_c, MixedConv3d)
    top = exp.export_top_models(formatter="dict")[0]
    exp.stop()  # now, not at interpreter exit when pytest has closed the log streams
    assert space.check_arch(top) == top


def test_darts_weighs_joint_kernel_choices():
    """DARTS hands (t, k, k) kernels to MixedConv3d as one weighted dict; alpha of t and of k get gradients."""
    space = TwoStreamSpace.from_preset("tiny", parts="all")
    supernet = DARTS().mutate_model(space)
    supernet(torch.randn(2, *space.input_shape)).sum().backward()
    grads = {name.rsplit(".", 1)[-1]: p.grad for name, p in supernet.named_parameters() if "_arch_alpha" in name}
    for label in ("sparse/s2_b0_t", "sparse/s2_b0_k", "sparse/s2_c", "dense/s3_b0_e"):
        assert grads[label] is not None and grads[label].abs().sum() > 0, label
