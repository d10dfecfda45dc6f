"""Stream ablation (issue 11): the dense stream silenced by hooks, against a forward written out by hand, and
``python -m nni_autotsnet.evaluate --drop-stream dense`` on real encoded videos."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nni_autotsnet import evaluate as evaluate_cli
from nni_autotsnet.models import build_model
from nni_autotsnet.models.ablation import drop_dense_stream, drop_stream
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.search_space import load_preset, make_layout

pytestmark = pytest.mark.usefixtures("single_thread")

# every fusion candidate once, so each hook site meets each way a fusion reads its dense input
FUSIONS = {"fusion/s1": "time_to_channel", "fusion/s2": "time_strided_sampling",
           "fusion/s3": "time_strided_conv", "fusion/s4": "skip"}


def _arch(parts: str) -> dict:
    arch = make_layout(load_preset("tiny"), parts).defaults()
    return {**arch, **FUSIONS} if parts == "all" else arch


def _trained_looking(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine parameters and statistics: at initialisation each fusion's last BN is zero, so a
    fusion ignores its dense input and zeroing it would change nothing."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                n = m.num_features
                m.weight.copy_(1 + 0.5 * torch.randn(n, generator=g))
                m.bias.copy_(0.5 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def two_stream():
    torch.manual_seed(0)
    return _trained_looking(build_model("tiny", _arch("all")))


@pytest.fixture(scope="module")
def clips():
    return torch.randn(2, *load_preset("tiny").input_shape, generator=torch.Generator().manual_seed(1))


def _by_hand(net, x, zero_fusions: bool, zero_pool: bool) -> torch.Tensor:
    """``TwoStreamNet.forward`` written out, the dense tensor optionally zeroed where it enters a fusion / the fc."""
    sparse, dense = net.sparse_stem(x[:, :, ::net.alpha]), net.dense_stem(x)
    for fuse, s_stage, d_stage in zip(net.fusions, net.sparse_stages, net.dense_stages):
        sparse = fuse(sparse, torch.zeros_like(dense) if zero_fusions else dense)
        sparse, dense = s_stage(sparse), d_stage(dense)
    pooled = net.dense_pool(dense).flatten(1)
    features = torch.cat([net.head(sparse), torch.zeros_like(pooled) if zero_pool else pooled], dim=1)
    return net.fc(net.dropout(features))


@torch.no_grad()
def test_dropping_the_dense_stream_zeroes_it_at_every_fusion_and_before_the_classifier(two_stream, clips):
    normal = two_stream(clips)
    assert torch.allclose(_by_hand(two_stream, clips, False, False), normal, atol=1e-6)  # the hand forward is the net's
    with drop_dense_stream(two_stream) as model:
        assert model is two_stream
        dropped = two_stream(clips)
    reference = _by_hand(two_stream, clips, True, True)
    assert not torch.allclose(dropped, normal, atol=1e-3)
    assert torch.allclose(dropped, reference, atol=1e-6)
    # both hook sites matter: zeroing only the fusions' input, or only the pooled features, is something else
    assert not torch.allclose(dropped, _by_hand(two_stream, clips, True, False), atol=1e-3)
    assert not torch.allclose(dropped, _by_hand(two_stream, clips, False, True), atol=1e-3)
    with drop_stream(two_stream, "dense"):
        assert torch.equal(two_stream(clips), dropped)


@torch.no_grad()
def test_the_hooks_are_removed_on_exit_even_after_an_error(two_stream, clips):
    normal = two_stream(clips)
    with drop_dense_stream(two_stream):
        pass
    assert torch.equal(two_stream(clips), normal)
    with pytest.raises(KeyError):
        with drop_dense_stream(two_stream):
            raise KeyError("inside")
    assert torch.equal(two_stream(clips), normal)
    assert not two_stream.dense_pool._forward_hooks
    assert not any(fuse._forward_pre_hooks for fuse in two_stream.fusions)
    with drop_stream(two_stream, None):  # no ablation: a no-op
        assert torch.equal(two_stream(clips), normal)


def test_a_model_without_a_dense_stream_cannot_drop_it():
    sparse_only = build_model("tiny", _arch("sparse"))
    assert sparse_only.dense_stem is None
    with pytest.raises(ValueError, match="no dense stream"):
        drop_dense_stream(sparse_only)  # at once, not on entering the context
    with pytest.raises(ValueError, match="cannot drop stream 'sparse'"):
        drop_stream(sparse_only, "sparse")


def _run_dir(root, model, parts: str, bench):
    root.mkdir()
    save_exported(root / "model.pt", preset="tiny", parts=parts, num_classes=10, arch=_arch(parts),
                  state_dict=model.state_dict(), inherited_weights=False)
    (root / "config.yaml").write_text(f"preset: tiny\ndata:\n  benchmark: {bench}\n  batch_size: 4\n  num_workers: 0\n"
                                      "trainer:\n  accelerator: cpu\n  threads: 1\n")
    return root


@pytest.mark.slow
def test_the_cli_writes_the_ablation_next_to_the_normal_evaluation(two_stream, tmp_path, small_bench, capsys):
    bench = small_bench
    run = _run_dir(tmp_path / "run", two_stream, "all", bench)
    assert evaluate_cli.main(["--checkpoint", str(run), "--views", "1"]) == 0
    assert evaluate_cli.main(["--checkpoint", str(run), "--views", "1", "--drop-stream", "dense"]) == 0
    assert "without the dense stream" in capsys.readouterr().out
    normal = json.loads((run / "eval_1-Center" / "metrics.json").read_text())
    dropped = json.loads((run / "eval_1-Center-no-dense" / "metrics.json").read_text())
    assert normal["drop_stream"] is None and dropped["drop_stream"] == "dense"
    assert dropped["num_videos"] == normal["num_videos"] > 0
    assert (run / "eval_1-Center-no-dense" / "per_class.csv").is_file()
    # the same videos, other scores: the ablation reached the model
    assert (run / "eval_1-Center" / "predictions.csv").read_text() != \
        (run / "eval_1-Center-no-dense" / "predictions.csv").read_text()

    sparse = _run_dir(tmp_path / "sparse", build_model("tiny", _arch("sparse")), "sparse", bench)
    capsys.readouterr()
    assert evaluate_cli.main(["--checkpoint", str(sparse), "--views", "1", "--drop-stream", "dense"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(sparse / "model.pt") in err and "no dense stream" in err
    assert not (sparse / "eval_1-Center-no-dense").exists()
    assert evaluate_cli.main(["--checkpoint", str(run), "--drop-stream", "sparse"]) == 2
