"""PARSEC out of the box on a user's NNI space, and the search-health check that says when it is not learning.

The space is the kind a new NNI user writes: two ``LayerChoice``s over MLP blocks, in each one
candidate that outputs zeros (useless) and one that learns, searched with NNI's standard
``Classification`` evaluator at its defaults (Adam, learning rate 1e-3). The data: ten Gaussian
clusters in 16 dimensions, generated here (no data set can be downloaded), deterministic.
"""

from __future__ import annotations

import logging
import math
import time

import nni
import pytest
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from torch import nn
from torch.utils.data import TensorDataset

from nni_autotsnet.strategies import Parsec
from nni_autotsnet.strategies.health import (
    CODES, HEALTHY, SearchHealth, chance_threshold, check_health, distinct_ess_ratio,
)

pytestmark = pytest.mark.usefixtures("single_thread")

CLASSES, FEATURES, HIDDEN = 10, 16, 32
USEFUL = {'block1': 'mlp', 'block2': 'mlp'}


# ----------------------------------------------------------------------------------------------
# The pure check on hand-made rows
# ----------------------------------------------------------------------------------------------
HEALTHY_ROW = {'epoch': 5, 'ml_val_acc': 0.6, 'val_examples': 320.0, 'ess': 2.0, 'ess_ratio': 0.5,
               'entropy': 1.0, 'loss': 1.7, 'alpha_frozen': 0.0}
CONTEXT = dict(max_entropy=2 * math.log(2), num_classes=CLASSES)


def test_a_healthy_row_passes():
    health = check_health(HEALTHY_ROW, **CONTEXT)
    assert health.ok and health.flag == HEALTHY and health.warning() == ''


@pytest.mark.parametrize('change, code', [
    ({'ml_val_acc': 0.12}, 'chance'),        # 1/10 + 2 * sqrt(0.09 / 320) = 0.134
    ({'ess_ratio': 0.9}, 'flat_weights'),
    ({'entropy': 0.995 * 2 * math.log(2)}, 'alpha_still'),
    ({'loss': float('nan')}, 'nonfinite'),
    ({'loss': float('inf')}, 'nonfinite'),
    ({'entropy': float('nan')}, 'nonfinite'),
])
def test_each_condition_fires_alone(change, code):
    health = check_health({**HEALTHY_ROW, **change}, **CONTEXT)
    assert health.codes == (code,), health
    assert health.flag == code
    text = health.warning('epoch 6')
    assert text.startswith('PARSEC search health WARNING (epoch 6)') and 'try ' in text
    if code in ('chance', 'flat_weights'):
        assert 'alpha is following noise: the supernet has not learned' in text
        assert 'weight learning rate' in text and 'warm-up' in text and 'more epochs' in text


def test_everything_at_once_names_every_problem():
    row = {**HEALTHY_ROW, 'ml_val_acc': 0.1, 'ess_ratio': 0.97, 'entropy': 2 * math.log(2), 'loss': float('nan')}
    assert set(check_health(row, **CONTEXT).codes) == set(CODES)


def test_flat_weights_and_a_still_alpha_are_expected_during_the_warm_up():
    row = {**HEALTHY_ROW, 'alpha_frozen': 1.0, 'ess_ratio': 1.0, 'entropy': 2 * math.log(2)}
    assert check_health(row, **CONTEXT).ok
    early = check_health({**row, 'ml_val_acc': 0.1}, **CONTEXT)
    assert early.codes == ('chance',) and early.warming_up
    assert 'WARNING' not in early.warning() and 'not learned yet' in early.warning()


def test_the_chance_margin_is_two_binomial_standard_errors():
    assert chance_threshold(10, 320) == pytest.approx(0.1 + 2 * math.sqrt(0.1 * 0.9 / 320))
    assert chance_threshold(10, None) == pytest.approx(0.1)
    assert check_health({**HEALTHY_ROW, 'ml_val_acc': 0.14}, **CONTEXT).ok           # above 0.134 with 320
    assert check_health({**HEALTHY_ROW, 'ml_val_acc': 0.14, 'val_examples': 60.0},  # 0.177 with 60
                        **CONTEXT).codes == ('chance',)


def test_missing_figures_skip_their_condition():
    assert check_health({'epoch': 0}).ok
    assert check_health({**HEALTHY_ROW, 'ml_val_acc': 0.1}, max_entropy=CONTEXT['max_entropy']).ok  # no chance level
    row = {k: v for k, v in HEALTHY_ROW.items() if k != 'ess_ratio'}
    assert check_health({**row, 'ess': 3.8}, num_samples=4, **CONTEXT).codes == ('flat_weights',)


@pytest.mark.parametrize('kwargs, name', [(dict(flat_ess=1.5), 'flat_ess'), (dict(still_entropy=0.0), 'still_entropy')])
def test_bad_thresholds_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        check_health(HEALTHY_ROW, **kwargs)


def test_distinct_ess_ratio_merges_samples_of_one_architecture():
    four = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert distinct_ess_ratio(four, torch.zeros(4)) == pytest.approx(1.0)                # flat
    assert distinct_ess_ratio(four, torch.tensor([0.0, -50, -50, -50])) == pytest.approx(0.25)  # one wins
    same = torch.tensor([[1, 1]] * 4)
    assert math.isnan(distinct_ess_ratio(same, torch.tensor([0.0, -3, -1, -2])))            # settled: no verdict
    # three copies of the favourite and one worse sample: weights over 2 architectures, not 4
    settled = torch.tensor([[1, 1], [1, 1], [1, 1], [0, 1]])
    assert distinct_ess_ratio(settled, torch.tensor([0.0, 0, 0, -50])) == pytest.approx(0.5)
    assert math.isnan(distinct_ess_ratio(four, torch.tensor([0.0] + [-math.inf] * 3)))      # one finite


def test_parsec_trains_with_the_evaluators_optimiser_unless_told_otherwise():
    assert Parsec()._module_kwargs['weight_optimizer'] == 'evaluator'
    assert Parsec(weight_optimizer='sgd', weight_lr=0.1)._module_kwargs['weight_lr'] == 0.1
    with pytest.raises(ValueError, match="weight_lr=0.1 is SGD's learning rate: pass weight_optimizer='sgd'"):
        Parsec(weight_lr=0.1)
    with pytest.raises(ValueError, match='weight_lr must be >= 0'):
        Parsec(weight_optimizer='sgd', weight_lr=-1.0)
    with pytest.raises(ValueError, match='num_classes'):
        Parsec(num_classes=1)


# ----------------------------------------------------------------------------------------------
# End to end: a user's space and NNI's Classification evaluator at its defaults
# ----------------------------------------------------------------------------------------------
class Zeros(nn.Module):
    """The useless candidate: zeros whatever the input."""

    def __init__(self, features: int):
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.features)


class TwoChoiceMLP(ModelSpace):
    """Two LayerChoices over MLP blocks; only ``mlp`` in both lets the input through to the head."""

    def __init__(self):
        super().__init__()
        mlp1 = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU())
        mlp2 = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
        self.block1 = LayerChoice({'zeros': Zeros(HIDDEN), 'mlp': mlp1}, label='block1')
        self.block2 = LayerChoice({'zeros': Zeros(HIDDEN), 'mlp': mlp2}, label='block2')
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)))


def clusters(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten Gaussian clusters (unit noise around fixed random means), ``n`` points drawn with ``seed``."""
    means = torch.randn(CLASSES, FEATURES, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return means[y] + torch.randn(n, FEATURES, generator=g), y


def classification(epochs: int = 4) -> Classification:
    """NNI's Classification evaluator with its defaults (Adam, learning rate 1e-3), quiet."""
    x, y = clusters(640, seed=1)
    xv, yv = clusters(320, seed=2)
    return Classification(
        train_dataloaders=DataLoader(nni.trace(TensorDataset)(x, y), batch_size=32, shuffle=True),
        val_dataloaders=DataLoader(nni.trace(TensorDataset)(xv, yv), batch_size=320),
        num_classes=CLASSES, max_epochs=epochs, num_sanity_val_steps=0, enable_progress_bar=False,
        logger=False, enable_checkpointing=False, enable_model_summary=False)


def search(strategy, seed: int, tmp_path) -> dict:
    torch.manual_seed(seed)
    experiment = NasExperiment(TwoChoiceMLP(), classification(), strategy)
    experiment.config.experiment_working_directory = str(tmp_path / 'nni')
    experiment.run()
    experiment.stop()
    best, = experiment.export_top_models(formatter='dict')
    return best


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_parsec_with_its_defaults_finds_the_useful_candidates(seed, tmp_path, caplog):
    start = time.perf_counter()
    strategy = Parsec(num_samples=4, seed=seed)
    with caplog.at_level(logging.WARNING):
        assert search(strategy, seed, tmp_path) == USEFUL
    assert strategy.health.ok, strategy.history[-1]
    assert strategy.history[-1]['health'] == HEALTHY
    assert strategy.history[-1]['val_examples'] == 320 and strategy.history[-1]['ml_val_acc'] > 0.3
    assert 'health WARNING' not in caplog.text  # at most the warm-up's note
    assert time.perf_counter() - start < 20


def test_with_the_weights_frozen_the_health_check_fires(tmp_path, caplog):
    strategy = Parsec(num_samples=4, seed=0, weight_optimizer='sgd', weight_lr=0.0)
    with caplog.at_level(logging.WARNING):
        search(strategy, 0, tmp_path)
    health = strategy.health
    assert isinstance(health, SearchHealth) and not health.ok
    assert 'chance' in health.codes and 'flat_weights' in health.codes, strategy.history[-1]
    assert strategy.history[-1]['health'] == health.flag
    assert all(row['health'] != HEALTHY for row in strategy.history)
    assert ('PARSEC search health WARNING (epoch 4): alpha is following noise: the supernet has not learned'
            in caplog.text)
    assert 'weight learning rate' in caplog.text


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_darts_beside_it_finds_the_useful_candidates_too(seed, tmp_path):
    from nni.nas.strategy import DARTS
    assert search(DARTS(), seed, tmp_path) == USEFUL
