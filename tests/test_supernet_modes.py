"""Supernet training modes with alpha frozen (strategies.paths): uniform, sandwich, in-window, distillation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from nni.nas.experiment import NasExperiment
from pytorch_lightning.callbacks import Callback

from nni_autotsnet import config as config_module
from nni_autotsnet.strategies import FlopsWindowCost, Parsec
from nni_autotsnet.strategies.distribution import ArchDistribution
from nni_autotsnet.strategies.paths import SUPERNET_MODES, distillation_loss, extreme_architectures, mix
from toys import ToySpace, make_evaluator, toy_data, toy_flops

pytestmark = pytest.mark.usefixtures("single_thread")

SMALLEST, LARGEST = {"op": "zero", "width": 4}, {"op": "linear", "width": 16}


class _Steps(Callback):
    """Each step's paths and per-path losses, and (before the step) each path's loss recomputed by hand."""

    def __init__(self):
        self.paths, self.losses, self.before = [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        x, y = batch
        outputs = {}
        with torch.no_grad():
            for name, sample in (("largest", LARGEST), ("smallest", SMALLEST)):
                pl_module.activate(sample)
                outputs[name] = pl_module.training_module.model(x)
        self.before.append((outputs, y))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.paths.append([dict(p) for p in pl_module.last_samples])
        self.losses.append(list(pl_module.last_losses))


def _run(strategy, tmp_path, epochs=1):
    torch.manual_seed(0)
    x, y = toy_data(n=64)
    steps = _Steps()
    evaluator = make_evaluator(x, y, max_epochs=epochs, callbacks=[steps])
    experiment = NasExperiment(ToySpace(), evaluator, strategy)
    experiment.config.experiment_working_directory = str(tmp_path / "nni")
    experiment.run()
    experiment.stop()
    return steps


def test_the_config_knows_the_strategy_modes():
    assert config_module.SUPERNET_MODES == SUPERNET_MODES


def test_extremes_are_the_cheapest_and_costliest_architectures():
    dist = ArchDistribution(ToySpace().simplify())
    assert extreme_architectures(dist, toy_flops) == (SMALLEST, LARGEST)


def test_extremes_of_the_two_stream_space_bound_its_flops():
    from nni_autotsnet.search_space import TwoStreamSpace

    space = TwoStreamSpace.from_preset("tiny32", parts="all", num_classes=10)
    dist = ArchDistribution(space.simplify())
    smallest, largest = extreme_architectures(dist, space.flops)
    drawn = [space.flops(s) for s in dist.sample(300, torch.Generator().manual_seed(0))[0]]
    assert space.flops(smallest) <= min(drawn) and space.flops(largest) >= max(drawn)
    assert space.flops(largest) > 2 * space.flops(smallest)


def test_a_sandwich_step_trains_the_largest_the_smallest_and_uniform_paths(tmp_path):
    strategy = Parsec(num_samples=4, supernet="sandwich", warmup=1.0, flops_fn=toy_flops, seed=0,
                      weight_optimizer="sgd", metric_samples=4)
    steps = _run(strategy, tmp_path)
    assert len(steps.paths) == 2  # 64 examples, batch 32
    for paths in steps.paths:
        assert len(paths) == 4 and paths[0] == LARGEST and paths[1] == SMALLEST
    randoms = [tuple(sorted(p.items())) for paths in steps.paths for p in paths[2:]]
    assert len(set(randoms)) > 1  # drawn, not fixed
    entropy = [h["entropy"] for h in strategy.history]  # warmup 1: alpha never moves
    assert entropy == pytest.approx([2 * math.log(2)] * len(entropy))
    assert [h["ess"] for h in strategy.history] == [4.0]  # equal weights


def test_uniform_paths_in_the_window_only(tmp_path):
    # toy FLOPs: linear/4 = 68, zero/4 = 44, linear/16 = 200, zero/16 = 176; the window holds linear/4 only
    strategy = Parsec(num_samples=3, supernet="uniform", in_window=True, cost=FlopsWindowCost(60e-9, 100e-9, beta=0.1),
                      warmup=1.0, flops_fn=toy_flops, seed=0, weight_optimizer="sgd", metric_samples=4)
    steps = _run(strategy, tmp_path)
    assert all(p == {"op": "linear", "width": 4} for paths in steps.paths for p in paths)
    assert strategy.parsec_module.path_sampler().rejected > 0


def test_distillation_term_is_the_kl_to_the_largest_paths_soft_predictions(tmp_path):
    strategy = Parsec(num_samples=2, supernet="sandwich", distill=1.0, warmup=1.0, flops_fn=toy_flops, seed=0,
                      weight_optimizer="sgd", metric_samples=4)
    steps = _run(strategy, tmp_path)
    (outputs, y), losses = steps.before[0], steps.losses[0]  # the first step: weights as before it
    assert losses[0] == pytest.approx(float(F.cross_entropy(outputs["largest"], y)), rel=1e-5)  # labels
    kl = float(distillation_loss(outputs["smallest"], outputs["largest"]))
    assert losses[1] == pytest.approx(kl, rel=1e-5)  # the teacher's soft predictions, not the labels
    assert kl != pytest.approx(float(F.cross_entropy(outputs["smallest"], y)), rel=1e-3)


def test_distillation_loss_and_mix():
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    student = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    p = F.softmax(teacher, -1)
    expected = (p * (p.log() - F.log_softmax(student, -1))).sum(-1).mean()
    assert float(distillation_loss(student, teacher)) == pytest.approx(float(expected), rel=1e-6)
    assert float(distillation_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-7)
    teacher_leaf = teacher.clone().requires_grad_()
    distillation_loss(student, teacher_leaf).backward()
    assert teacher_leaf.grad is None and student.grad is not None  # the teacher is a target, not trained by it
    hard, soft = torch.tensor(2.0), torch.tensor(4.0)
    assert float(mix(hard, soft, 0.25)) == 2.5 and float(mix(hard, None, 0.5)) == 2.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(supernet="spos"), "supernet"), (dict(supernet="uniform", distill=0.5), "sandwich"),
    (dict(supernet="sandwich", num_samples=1), "num_samples"), (dict(supernet="uniform", in_window=True), "window"),
])
def test_bad_modes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Parsec(**kwargs)


def test_searched_se_candidates_start_near_the_identity_and_fixed_ones_do_not():
    from nni_autotsnet.models.attention import SqueezeExcite3d
    from nni_autotsnet.search import _searched_se_near_identity
    from nni_autotsnet.search_space import TwoStreamSpace

    space = TwoStreamSpace.from_preset("tiny32", parts="all", num_classes=10)
    model = Parsec().mutate_model(space)
    se = {name: m for name, m in model.named_modules() if isinstance(m, SqueezeExcite3d)}
    searched = [n for n in se if n.endswith("attention.se")]
    fixed = [n for n in se if not n.endswith("attention.se")]
    assert searched and fixed
    before = {n: se[n].expand.weight.clone() for n in fixed}
    assert _searched_se_near_identity(model) == len(searched)
    for n in searched:
        assert not se[n].expand.weight.any()
        assert torch.allclose(torch.sigmoid(se[n].expand.bias), torch.tensor(0.95))
    assert all(torch.equal(se[n].expand.weight, before[n]) for n in fixed)  # trained as always
    # on a plain model's SE block: the output is 0.95 of the input, whatever the input
    from nni_autotsnet.models import build_model
    from nni_autotsnet.models.attention import start_near_identity
    from nni_autotsnet.search_space import make_layout, load_preset

    plain = next(m for m in build_model("tiny32", make_layout(load_preset("tiny32"), "all").defaults(), parts="all",
                                        num_classes=10).modules() if isinstance(m, SqueezeExcite3d))
    start_near_identity(plain)
    x = torch.randn(2, plain.expand.out_channels, 2, 4, 4)
    assert torch.allclose(plain(x), 0.95 * x, atol=1e-6)
