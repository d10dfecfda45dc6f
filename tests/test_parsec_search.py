"""PARSEC end to end on toy spaces: it finds the better candidate, exports, logs and resumes."""

from __future__ import annotations

import json

import pytest
import torch
from nni.nas.experiment import NasExperiment
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from nni_autotsnet.strategies import FlopsWindowCost, Parsec
from toys import BetterCandidateSpace, ToySpace, make_evaluator, toy_data, toy_flops

pytestmark = pytest.mark.usefixtures("single_thread")


def _run(space, strategy, evaluator, tmp_path):
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.config.experiment_working_directory = str(tmp_path / 'nni')
    experiment.run()
    experiment.stop()  # now, not at interpreter exit when pytest has closed the log streams
    return experiment


def test_alpha_concentrates_on_the_clearly_better_candidate(tmp_path):
    torch.manual_seed(0)
    x, y = toy_data()
    strategy = Parsec(num_samples=4, weight_optimizer='sgd', seed=0, arch_lr=0.1, metric_samples=8)
    experiment = _run(BetterCandidateSpace(), strategy, make_evaluator(x, y, max_epochs=8), tmp_path)
    probs = strategy.parsec_module.export_probs()['op']
    assert probs['linear'] > 0.9, probs
    assert experiment.export_top_models(formatter='dict') == [{'op': 'linear'}]
    # warm-up: alpha frozen in the first 25% of the epochs, so entropy is still log(3) there
    frozen = [h for h in strategy.history if h['alpha_frozen']]
    assert [h['epoch'] for h in frozen] == [0, 1]
    assert frozen[-1]['entropy'] == pytest.approx(torch.log(torch.tensor(3.0)).item())


def test_metrics_exports_and_nni_reports(tmp_path):
    torch.manual_seed(0)
    x, y = toy_data()
    strategy = Parsec(num_samples=3, cost=FlopsWindowCost(60e-9, 100e-9, beta=0.1), weight_optimizer='sgd', seed=1,
                      flops_fn=toy_flops,
                      metric_samples=16)
    experiment = _run(ToySpace(), strategy, make_evaluator(x, y, max_epochs=2), tmp_path)

    assert [h['epoch'] for h in strategy.history] == [0, 1]
    for key in ('expected_gflops', 'ml_gflops', 'cost', 'entropy', 'ess', 'ml_val_acc'):
        assert key in strategy.history[-1], key
    assert 1.0 <= strategy.history[-1]['ess'] <= 3.0
    logged = strategy.parsec_module.trainer.callback_metrics
    assert {'parsec/expected_gflops', 'parsec/ml_val_acc', 'parsec/entropy', 'parsec/ess'} <= set(logged)
    # NNI intermediate results, one per epoch, 'default' = accuracy of the most likely architecture
    metrics = strategy._mutated_model_space.metrics
    assert metrics.intermediates == pytest.approx([h['ml_val_acc'] for h in strategy.history])

    top = experiment.export_top_models(top_k=4, formatter='dict')
    module = strategy.parsec_module
    assert top[0] == module.export()
    assert len({json.dumps(t, sort_keys=True) for t in top}) == 4
    probs = [p for _, p in module.export_top(4)]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)

    path = tmp_path / 'alpha.json'
    exported = strategy.export_alpha(path, top_n=2)
    assert json.loads(path.read_text()) == json.loads(json.dumps(exported))
    assert exported['most_likely']['sample'] == top[0]
    assert exported['alpha']['op']['values'] == ['linear', 'zero']
    assert sum(exported['alpha']['width']['probs']) == pytest.approx(1.0)
    assert exported['most_likely']['gflops'] == pytest.approx(toy_flops(top[0]) / 1e9)


def test_the_evaluators_optimizer_is_the_default():
    """NNI's convention for one-shot strategies: the weights train with the evaluator's own optimiser."""
    torch.manual_seed(0)
    x, y = toy_data(n=64)
    strategy = Parsec(num_samples=2, seed=0, flops_fn=toy_flops, metric_samples=4)
    space = strategy.mutate_model(ToySpace())
    evaluator = strategy.mutate_evaluator(make_evaluator(x, y, max_epochs=1))
    evaluator.evaluate(space)
    module = evaluator.module
    assert type(module.optimizers()[0].optimizer).__name__ == 'Adam'  # Classification's default
    assert len(module.history) == 1


class _StopAfter(Callback):
    """Interrupts a run at the end of an epoch, like a pre-empted job."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def _search(tmp_path, max_epochs, ckpt_path=None, name='run', stop_after=None):
    torch.manual_seed(0)
    x, y = toy_data(n=96)
    strategy = Parsec(num_samples=3, weight_optimizer='sgd', seed=5, flops_fn=toy_flops, metric_samples=8,
                      arch_lr=0.05)
    space = strategy.mutate_model(ToySpace())
    checkpoint = ModelCheckpoint(dirpath=tmp_path / name, save_last=True, save_top_k=0)
    callbacks = [checkpoint] + ([_StopAfter(stop_after)] if stop_after else [])
    evaluator = strategy.mutate_evaluator(
        make_evaluator(x, y, max_epochs=max_epochs, enable_checkpointing=True, callbacks=callbacks))
    if ckpt_path is not None:
        evaluator.fit_kwargs['ckpt_path'] = ckpt_path  # what OneShotStrategy.load_state_dict does
    evaluator.evaluate(space)
    return evaluator.module, checkpoint


def test_search_resumes_from_its_checkpoint(tmp_path):
    straight, _ = _search(tmp_path, max_epochs=4, name='straight')
    first, checkpoint = _search(tmp_path, max_epochs=4, name='first', stop_after=2)
    assert first.trainer.current_epoch == 2 and len(first.history) == 2
    resumed, _ = _search(tmp_path, max_epochs=4, ckpt_path=checkpoint.last_model_path, name='resumed')

    torch.testing.assert_close(resumed.dist.logits, straight.dist.logits)
    arch_state = lambda m: m.optimizers()[1].optimizer.state_dict()['state']  # noqa: E731
    torch.testing.assert_close(arch_state(resumed), arch_state(straight))
    assert resumed.trainer.global_step == straight.trainer.global_step == 4 * 3
    assert [h['epoch'] for h in resumed.history] == [0, 1, 2, 3]
    assert resumed.history[-1]['entropy'] == pytest.approx(straight.history[-1]['entropy'])
    for a, b in zip(resumed.training_module.parameters(), straight.training_module.parameters()):
        torch.testing.assert_close(a, b)
