"""Mixed precision on CPU (bf16-mixed, and 16-mixed with a gradient scaler), channels_last_3d, the data-wait warning.

PARSEC's step back-propagates K losses by hand: under 16-mixed, Lightning's scaler multiplies
what ``manual_backward`` back-propagates, and these tests check that its scale reaches neither
the log-likelihoods nor the importance weights, that the weights' update (clipping included) is
the fp32 one, and that alpha stays float32.
"""

from __future__ import annotations

import json
import math
import time

import nni
import pytest
import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from torch.utils.data import Dataset, TensorDataset

from nni_autotsnet import evaluate as evaluate_cli
from nni_autotsnet import search as search_cli
from nni_autotsnet import train as train_cli
from nni_autotsnet.config import load_config
from nni_autotsnet.data.testing import synthetic_clips
from nni_autotsnet.search_space import TwoStreamSpace, load_preset, make_layout, save_arch
from nni_autotsnet.speed import DataWaitMonitor, loader_options, to_channels_last_3d
from nni_autotsnet.strategies import Parsec

pytestmark = pytest.mark.usefixtures("single_thread")

SCALE = 2.0 ** 12  # the 16-mixed runs' loss scale: a leak into l_k or the update would be glaring


def _parsec_step(precision: str, clip: float | None = 0.5):
    """One PARSEC step (K = 3, batch 2, alpha unfrozen) on the tiny space; what it left behind."""
    from pytorch_lightning.plugins import MixedPrecision

    torch.manual_seed(0)
    space = TwoStreamSpace.from_preset('tiny', parts='all')
    classes = space.preset.num_classes
    x, y = synthetic_clips(space.input_shape, classes, 2, 0)
    loader = DataLoader(nni.trace(TensorDataset)(x, y), batch_size=2)
    if precision == '16-mixed':  # Lightning turns 16-mixed on CPU into bf16: hand it the fp16 plugin and a scaler
        kw = {'plugins': [MixedPrecision('16-mixed', 'cpu', scaler=torch.amp.GradScaler('cpu', init_scale=SCALE))]}
    else:
        kw = {'precision': precision}
    evaluator = Classification(train_dataloaders=loader, val_dataloaders=loader, num_classes=classes,
                               learning_rate=0.05, max_epochs=1, num_sanity_val_steps=0, limit_val_batches=0,
                               enable_progress_bar=False, logger=False, enable_checkpointing=False,
                               enable_model_summary=False, accelerator='cpu', **kw)
    strategy = Parsec(num_samples=3, seed=0, warmup=0.0, weight_optimizer='sgd', metric_samples=8,
                      gradient_clip_val=clip)
    model = strategy.mutate_model(space)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.mutate_evaluator(evaluator).evaluate(model)
    module = strategy.parsec_module
    after = model.state_dict()
    delta = torch.cat([(after[k].float() - before[k].float()).flatten() for k in before if before[k].is_floating_point()])
    return module, delta


@pytest.fixture(scope='module')
def fp32_step():
    return _parsec_step('32-true')


@pytest.mark.parametrize('precision', ['bf16-mixed', '16-mixed'])
def test_parsec_step_in_mixed_precision_matches_fp32(precision, fp32_step):
    reference, ref_delta = fp32_step
    module, delta = _parsec_step(precision)
    if precision == '16-mixed':
        assert module.trainer.precision_plugin.scaler.get_scale() == SCALE  # no inf: the step was taken
    assert [dict(s) for s in module.last_samples] == [dict(s) for s in reference.last_samples]  # same K archs
    w, w32 = module.last_weights, reference.last_weights
    assert w.dtype == torch.float64 and torch.isfinite(w).all() and float(w.sum()) == pytest.approx(1.0)
    # l_k = -n loss_k from the unscaled loss: a leaked scale (x 4096) would make w one-hot
    assert torch.allclose(w, w32, atol=0.01), (w, w32)
    alpha, alpha32 = module.dist.logits, reference.dist.logits
    assert alpha.dtype == torch.float32 and torch.isfinite(alpha).all()
    init = torch.zeros_like(alpha32)  # alpha starts uniform; Adam's first step moves each logit by ~lr
    assert not torch.equal(alpha32.detach(), init)
    assert torch.allclose(alpha.detach(), alpha32.detach(), atol=1e-6) or \
        float((alpha - alpha32).abs().max()) <= 2 * module.arch_lr + 1e-6
    # the weights' update, clipped at norm 0.5: an unscaled clip (scaled gradients) would shrink it 4096 x
    assert torch.isfinite(delta).all()
    cosine = float(torch.nn.functional.cosine_similarity(delta, ref_delta, dim=0))
    assert cosine > 0.95 and float(delta.norm() / ref_delta.norm()) == pytest.approx(1.0, rel=0.1)


def test_a_leaked_scale_would_fail_these_checks():
    """The comparison above can fail: weights from scaled log-likelihoods are far from the fp32 ones."""
    module, _ = _parsec_step('32-true', clip=None)
    l = -2.0 * torch.tensor([float(x) for x in module.last_weights.log()])  # any spread of l_k
    leaked = torch.softmax(SCALE * l, 0).double()
    assert not torch.allclose(leaked, torch.softmax(l, 0).double(), atol=0.01)


# ------------------------------------------------------------------------------------------------
# The commands: a 1-epoch tiny search, a 1-epoch training run and an evaluation in bf16-mixed
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def bench(small_bench):
    return small_bench


def test_search_runs_in_bf16(bench, tmp_path):
    out = tmp_path / 'search'
    code = search_cli.main(['--config', 'experiments/tiny.yaml', '--out', str(out), f'data.benchmark={bench}',
                            'search.parts=[all]', 'search.epochs={all: 1}', 'search.num_samples=2', 'search.rank_candidates=3', 'search.warmup=0',
                            'search.metric_samples=8', 'data.batch_size=4', 'data.num_workers=0',
                            'trainer.threads=1', 'trainer.precision=bf16-mixed'])
    assert code == 0
    alpha = json.loads((out / 'part1_all' / 'alpha.json').read_text())
    assert math.isfinite(alpha['entropy']) and 0 < alpha['most_likely']['probability'] <= 1
    logits = torch.load(out / 'part1_all' / 'last.ckpt', map_location='cpu', weights_only=True)['state_dict']
    (alpha_key,) = [k for k in logits if k.endswith('logits')]
    assert logits[alpha_key].dtype == torch.float32 and torch.isfinite(logits[alpha_key]).all()


@pytest.fixture(scope='module')
def bf16_run(bench, tmp_path_factory):
    arch = tmp_path_factory.mktemp('arch') / 'arch.json'
    save_arch(make_layout(load_preset('tiny'), 'all').defaults(), arch, 'tiny', 'all')
    out = tmp_path_factory.mktemp('runs') / 'bf16'
    assert train_cli.main(['--arch', str(arch), '--config', 'experiments/tiny.yaml', '--out', str(out),
                           f'data.benchmark={bench}', 'train.epochs=1', 'train.warmup_epochs=0', 'train.epoch_scale=1',
                           'data.batch_size=4', 'data.num_workers=0', 'trainer.threads=1',
                           'trainer.precision=bf16-mixed']) == 0
    return out


def test_train_and_evaluate_in_bf16(bf16_run, tmp_path):
    result = json.loads((bf16_run / 'result.json').read_text())
    assert result['epochs'] == 1 and math.isfinite(result['val_acc'])
    state = torch.load(bf16_run / 'model.pt', map_location='cpu', weights_only=True)['state_dict']
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())  # weights stay fp32
    assert load_config(bf16_run / 'config.yaml').trainer.precision == 'bf16-mixed'
    bf16 = evaluate_cli.evaluate(bf16_run, views='1', out=tmp_path / 'bf16')
    cfg32 = tmp_path / 'fp32.yaml'
    raw = (bf16_run / 'config.yaml').read_text().replace('precision: bf16-mixed', 'precision: 32-true')
    cfg32.write_text(raw)
    fp32 = evaluate_cli.evaluate(bf16_run, views='1', config=cfg32, out=tmp_path / 'fp32')
    assert bf16['precision'] == 'bf16-mixed' and fp32['precision'] == '32-true'
    assert bf16['num_videos'] == fp32['num_videos'] > 0
    import pandas as pd

    a = pd.read_csv(tmp_path / 'bf16' / 'predictions.csv')['score']
    b = pd.read_csv(tmp_path / 'fp32' / 'predictions.csv')['score']
    difference = float((a - b).abs().max())
    assert difference < 0.05  # the same predictions up to bfloat16's rounding...
    assert difference > 0  # ...which is there: the evaluation did run in bfloat16


def test_inference_autocast_rejects_what_it_cannot_run():
    with pytest.raises(evaluate_cli.EvalError, match='trainer.precision'):
        evaluate_cli.inference_autocast('transformer-engine', 'cpu')


# ------------------------------------------------------------------------------------------------
# channels_last_3d, loader options, the data-wait warning
# ------------------------------------------------------------------------------------------------
def test_channels_last_3d_changes_the_layout_not_the_result():
    torch.manual_seed(0)
    from nni_autotsnet.models import build_model

    space = TwoStreamSpace.from_preset('tiny', parts='all')
    model = build_model('tiny', make_layout(load_preset('tiny'), 'all').defaults(), parts='all').eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        plain = model(x)
        to_channels_last_3d(model)
        weights = [p for p in model.parameters() if p.dim() == 5]
        assert weights and all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in weights)
        assert torch.allclose(model(x), plain, atol=1e-4)
    assert load_config('experiments/tiny.yaml').trainer.channels_last is False
    assert load_config('experiments/tiny.yaml', ['trainer.channels_last=true']).trainer.channels_last is True


def test_loader_options_pin_only_on_cuda_and_keep_training_workers_fresh():
    options = loader_options('cpu', 2, persistent=True)
    assert options == {'pin_memory': False, 'persistent_workers': True}
    assert loader_options('cpu', 0, persistent=True) == {'pin_memory': False}
    assert 'persistent_workers' not in loader_options('auto', 2)  # training: fresh workers per epoch
    assert loader_options('gpu', 2)['pin_memory'] is torch.cuda.is_available()


class _Slow(Dataset):
    def __init__(self, delay: float):
        self.delay = delay

    def __len__(self):
        return 6

    def __getitem__(self, i):
        time.sleep(self.delay)
        return torch.randn(4), torch.tensor(i % 2)


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        time.sleep(0.03)  # the step's compute, well above Lightning's own overhead between batches
        return torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize('delay, warns', [(0.15, True), (0.0, False)])
def test_data_wait_warning(delay, warns, capsys):
    monitor = DataWaitMonitor(threshold=0.5)
    trainer = pl.Trainer(max_epochs=1, accelerator='cpu', logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor])
    trainer.fit(_Tiny(), torch.utils.data.DataLoader(_Slow(delay), batch_size=1))
    (row,) = monitor.history
    assert row['batches'] == 5  # the epoch's first batch (worker start-up) left out
    assert (row['share'] > 0.5) is warns
    assert ('waited on data' in capsys.readouterr().out) is warns
