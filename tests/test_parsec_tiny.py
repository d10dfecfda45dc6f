"""PARSEC on this project's two-stream space (tiny preset), and the beta sweep."""

from __future__ import annotations

import json

import nni
import pytest
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from torch.utils.data import TensorDataset

from nni_autotsnet.data.testing import synthetic_clips
from nni_autotsnet.search_space import TwoStreamSpace
from nni_autotsnet.strategies import FlopsWindowCost, Parsec
from toys import tiny_evaluator

pytestmark = pytest.mark.usefixtures("single_thread")


def test_parsec_searches_the_two_stream_space(tmp_path):
    torch.manual_seed(0)
    space = TwoStreamSpace.from_preset('tiny', parts='all')
    labels = list(space.simplify())
    strategy = Parsec(num_samples=2, cost=FlopsWindowCost(0.006, 0.008, beta=0.3), weight_optimizer='sgd', seed=0,
                      metric_samples=32)
    experiment = NasExperiment(space, tiny_evaluator(space, batch=2, batches=2, epochs=2), strategy)
    experiment.config.experiment_working_directory = str(tmp_path / 'nni')
    experiment.run()
    experiment.stop()

    assert strategy.flops.source == 'TwoStreamSpace.flops'  # the space's exact closed form, not a profiler
    history = strategy.history
    assert [h['epoch'] for h in history] == [0, 1]
    assert {'expected_gflops', 'ml_gflops', 'cost', 'entropy', 'ess', 'ml_val_acc'} <= set(history[-1])

    best, = experiment.export_top_models(formatter='dict')
    assert set(best) == set(labels)
    assert history[-1]['ml_gflops'] == pytest.approx(space.flops(best) / 1e9)
    model, = experiment.export_top_models(formatter='instance')  # inherits the supernet's weights
    assert model(torch.randn(1, *space.input_shape)).shape == (1, space.preset.num_classes)
    top = experiment.export_top_models(top_k=3, formatter='dict')
    assert top[0] == best and len({json.dumps(t, sort_keys=True) for t in top}) == 3
    exported = json.loads(json.dumps(strategy.export_alpha(tmp_path / 'alpha.json')))
    assert list(exported['alpha']) == labels


@pytest.mark.slow
def test_beta_sweep_brings_the_searched_flops_down_into_the_window():
    """beta 0 / 0.1 / 0.3 with the same seed, data and window (supplement Table 1 in miniature).

    The sparse-stream part of the tiny space spans 2.6 to 14.6 MFLOPs (median 5.9); the window
    [3, 4] MFLOPs sits near its bottom. Runs share common random numbers, so they differ only
    through beta. Ten epochs on random clips are chaotic in the last bits: on the machine of the
    docs/parsec.md's table: seed 0 ended at 3.15 MFLOPs (in the window), on the 2-core machine of
    2026-12-03 at 2.71 (the same code, cost(A) 0.097), so the check is that the cost term brings
    the architecture from twice the window's top to within 15% of the window, not onto it.
    """
    window = (0.003, 0.004)
    searched = {}
    for beta in (0.0, 0.1, 0.3):
        torch.manual_seed(0)
        space = TwoStreamSpace.from_preset('tiny', parts='sparse')
        strategy = Parsec(num_samples=4, cost=FlopsWindowCost(*window, beta=beta) if beta else None,
                          weight_optimizer='sgd', seed=0, arch_lr=0.1,
                          metric_samples=8)
        model = strategy.mutate_model(space)
        strategy.mutate_evaluator(tiny_evaluator(space, batch=4, batches=8, epochs=10)).evaluate(model)
        searched[beta] = space.flops(strategy.parsec_module.export()) / 1e9
    assert searched[0.0] >= searched[0.1] >= searched[0.3], searched
    assert searched[0.0] > 1.5 * window[1], searched  # without the cost term: well above the window
    cost = max(0.0, searched[0.3] / window[1] - 1) + max(0.0, 1 - searched[0.3] / window[0])
    assert cost < 0.15, searched
