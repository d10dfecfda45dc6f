"""PARSEC under DDP (two CPU processes, gloo): the ranks agree, and agree with one process."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed
from nni.nas.evaluator.pytorch import DataLoader
from pytorch_lightning.callbacks import Callback
from torch.utils.data import Sampler

from nni_autotsnet.strategies import Parsec
from toys import ToySpace, make_evaluator, toy_data, toy_flops

pytestmark = pytest.mark.usefixtures("single_thread")


class _Record(Callback):
    """Writes what every rank sampled and where it ended, one JSON/pt file per rank."""

    def __init__(self, directory):
        self.directory = directory
        self.samples = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.samples.append(pl_module.last_samples)

    def on_fit_end(self, trainer, pl_module):
        rank = trainer.global_rank
        (self.directory / f'samples{rank}.json').write_text(json.dumps(self.samples))
        (self.directory / f'history{rank}.json').write_text(json.dumps(pl_module.history))
        torch.save({'alpha': pl_module.dist.logits.detach().clone(),
                    'weights': [p.detach().clone() for p in pl_module.training_module.parameters()]},
                   self.directory / f'state{rank}.pt')


class _DistributedOrder(Sampler):
    """One process, seeing each step the union of what the two DDP ranks see.

    Lightning gives each DDP rank a ``DistributedSampler(shuffle=True, seed=0)``: a permutation
    per epoch, rank r taking every other index. With half the batch per rank, the ranks' step s
    covers the permutation's indices ``[2 * b * s, 2 * b * (s + 1))``: this sampler's order.
    """

    def __init__(self, n: int):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.epoch)  # DistributedSampler: seed + epoch
        return iter(torch.randperm(self.n, generator=generator).tolist())


def _search(tmp_path, batch_size, sampler=None, **trainer_kwargs):
    torch.manual_seed(0)
    x, y = toy_data(n=64)
    strategy = Parsec(num_samples=3, weight_optimizer='sgd', seed=11, flops_fn=toy_flops, metric_samples=4,
                      arch_lr=0.05, warmup=0.0)
    space = strategy.mutate_model(ToySpace())
    evaluator = make_evaluator(x, y, max_epochs=2, batch_size=batch_size, callbacks=[_Record(tmp_path)],
                               **trainer_kwargs)
    if sampler is not None:
        evaluator.train_dataloaders = DataLoader(evaluator.train_dataloaders.dataset, batch_size=batch_size,
                                                 sampler=sampler)
    evaluator = strategy.mutate_evaluator(evaluator)
    evaluator.evaluate(space)


def test_ranks_sample_the_same_architectures_and_match_a_single_process(tmp_path, monkeypatch):
    # Lightning re-seeds every DDP child from PL_GLOBAL_SEED, which any earlier pl.seed_everything in this
    # process leaves behind; the single process is not re-seeded, so its global RNG would differ.
    monkeypatch.delenv('PL_GLOBAL_SEED', raising=False)
    (tmp_path / 'ddp').mkdir()
    (tmp_path / 'one').mkdir()
    _search(tmp_path / 'ddp', batch_size=8, accelerator='cpu', devices=2, strategy='ddp_fork')
    _search(tmp_path / 'one', batch_size=16, sampler=_DistributedOrder(64), accelerator='cpu', devices=1)

    ranks = [json.loads((tmp_path / 'ddp' / f'samples{r}.json').read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / 'one' / 'samples0.json').read_text())
    assert len(ranks[0]) == 2 * 4
    assert ranks[0] == ranks[1] == single

    # the per-epoch metrics (ESS, cost, entropy, the most likely arch's validation accuracy) are global ones
    histories = [json.loads((tmp_path / 'ddp' / f'history{r}.json').read_text()) for r in (0, 1)]
    one = json.loads((tmp_path / 'one' / 'history0.json').read_text())
    assert histories[0] == histories[1] and len(histories[0]) == 2
    for mine, ref in zip(histories[0], one):
        assert mine.keys() == ref.keys() and 'ml_val_acc' in mine
        for key in mine:
            if isinstance(ref[key], str):  # the health verdict
                assert mine[key] == ref[key], key
            else:
                assert mine[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-5), key

    states = [torch.load(tmp_path / 'ddp' / f'state{r}.pt') for r in (0, 1)]
    reference = torch.load(tmp_path / 'one' / 'state0.pt')
    torch.testing.assert_close(states[0]['alpha'], states[1]['alpha'], rtol=0, atol=0)
    torch.testing.assert_close(states[0]['alpha'], reference['alpha'], rtol=1e-4, atol=1e-5)
    for a, b, ref in zip(states[0]['weights'], states[1]['weights'], reference['weights']):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, ref, rtol=1e-4, atol=1e-5)
