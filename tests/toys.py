"""Shared helpers of the tests (not tests): tiny NNI model spaces, data and evaluators.

The toy spaces are small enough to enumerate: the PARSEC tests compare its estimators with exact
sums over every architecture. Fixtures shared by several test modules are in ``conftest.py``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import nni
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableLinear
from torch import nn
from torch.utils.data import TensorDataset

from nni_autotsnet.data.testing import synthetic_clips
from nni_autotsnet.latency.table import make_meta
from nni_autotsnet.latency.units import preset_units
from nni_autotsnet.strategies import Parsec

__all__ = ['Zero', 'ToySpace', 'BetterCandidateSpace', 'toy_flops', 'enumerate_space', 'toy_data',
           'make_evaluator', 'num_classes_of', 'supernet_and_params', 'tiny_evaluator', 'synthetic_table',
           'load_script', 'ROOT']

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """``benchmarks/<name>.py`` as a module (the scripts are not a package); registered in ``sys.modules``
    under ``name``, where the dataclasses of a script look their module up."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Zero(nn.Module):
    """A candidate that ignores its input: it can only learn a constant."""

    def __init__(self, out_features: int):
        super().__init__()
        self.out_features = out_features
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.out_features) + self.bias


class ToySpace(ModelSpace):
    """Four architectures: a LayerChoice (``op``) and a mixed-op width (``width``, MutableLinear)."""

    def __init__(self, in_features: int = 8, num_classes: int = 3):
        super().__init__()
        width = nni.choice('width', [4, 16])
        self.op = LayerChoice({'linear': nn.Linear(in_features, num_classes), 'zero': Zero(num_classes)}, label='op')
        self.hidden = MutableLinear(in_features, width)
        self.out = MutableLinear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x) + self.out(torch.tanh(self.hidden(x)))


class BetterCandidateSpace(ModelSpace):
    """One clearly better candidate: only ``linear`` can see the input."""

    def __init__(self, in_features: int = 8, num_classes: int = 3):
        super().__init__()
        self.op = LayerChoice({'zero': Zero(num_classes), 'linear': nn.Linear(in_features, num_classes),
                               'zero2': Zero(num_classes)}, label='op')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def toy_flops(sample: dict) -> float:
    """Exact multiply-adds of a :class:`ToySpace` architecture (a stand-in for ``space.flops``)."""
    return (8 * 3 if sample['op'] == 'linear' else 0) + sample['width'] * (8 + 3)


def enumerate_space(space: ModelSpace) -> list[dict]:
    """Every architecture of a small space, as NNI sample dicts."""
    spec = space.simplify()
    labels = list(spec)
    return [dict(zip(labels, values)) for values in itertools.product(*[spec[l].values for l in labels])]


def toy_data(n: int = 256, in_features: int = 8, num_classes: int = 3, seed: int = 0):
    """A learnable linear classification task on random features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_features, generator=g)
    y = (x @ torch.randn(in_features, num_classes, generator=g)).argmax(1)
    return x, y


def make_evaluator(x, y, *, max_epochs: int, batch_size: int = 32, lr: float = 0.1, **trainer_kwargs):
    """NNI's Classification evaluator over traced tensor datasets, quiet and without files by default."""
    train = DataLoader(nni.trace(TensorDataset)(x, y), batch_size=batch_size, shuffle=False)
    val = DataLoader(nni.trace(TensorDataset)(x[:64], y[:64]), batch_size=64)
    options = dict(enable_progress_bar=False, logger=False, enable_checkpointing=False,
                   enable_model_summary=False, num_sanity_val_steps=0)
    options.update(trainer_kwargs)
    return Classification(train_dataloaders=train, val_dataloaders=val, num_classes=num_classes_of(y),
                          learning_rate=lr, max_epochs=max_epochs, **options)


def num_classes_of(y: torch.Tensor) -> int:
    return int(y.max()) + 1


def supernet_and_params(space: ModelSpace):
    """Mutate a space into PARSEC's supernet; return it, its supernet modules and its parameters."""
    from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
    Parsec(flops_fn=toy_flops).mutate_model(space)
    modules = [m for m in space.modules() if isinstance(m, BaseSuperNetModule)]
    return space, modules, [p for p in space.parameters()]


def tiny_evaluator(space, *, batch: int, batches: int, epochs: int, seed: int = 0):
    """NNI's Classification on random clips of ``space``'s input shape (the tiny two-stream space's tests)."""
    classes = space.preset.num_classes
    x, y = synthetic_clips(space.input_shape, classes, batch * batches, seed)
    xv, yv = synthetic_clips(space.input_shape, classes, 2 * batch, seed + 1)
    return Classification(
        train_dataloaders=DataLoader(nni.trace(TensorDataset)(x, y), batch_size=batch, shuffle=True),
        val_dataloaders=DataLoader(nni.trace(TensorDataset)(xv, yv), batch_size=2 * batch),
        num_classes=classes, learning_rate=0.05, max_epochs=epochs, num_sanity_val_steps=0,
        enable_progress_bar=False, logger=False, enable_checkpointing=False, enable_model_summary=False)


# ------------------------------------------------------------------------------------------------
# Latency tables without measuring
# ------------------------------------------------------------------------------------------------
def synthetic_ms(unit) -> float:
    """A made-up latency per unit (not proportional to FLOPs): what a device's table might hold."""
    kind, *a = unit
    if kind == "block":
        cin, cout, t, k, e, att, stride, frames, size = a
        return 0.05 + 2e-6 * frames * size * size * (cin + cout) * e + 0.01 * t * k + \
            {"none": 0.0, "se": 0.08, "nonlocal": 0.4}[att]
    if kind == "fusion":
        return 0.0 if a[0] == "skip" else 0.1 + 0.002 * a[1]
    return {"stem": 0.5, "head": 0.2, "classifier": 0.05}[kind] + 0.001 * a[0]


def synthetic_table(preset_, path=None, **meta_changes):
    """A complete table of ``preset`` with :func:`synthetic_ms` entries (no measuring)."""
    meta = {**make_meta(preset_, "cpu", 1, 1, clock="cpu"), **meta_changes}
    table = {"format": "nni-autotsnet-latency/1", "meta": meta, "settings": {}, "call_ms": 0.003,
             "glue_ms": {"sparse": 0.1, "two_stream": 0.3}, "seconds": 0.0,
             "units": {key: synthetic_ms(unit) for key, unit in preset_units(preset_).items()}}
    if path is not None:
        path.write_text(json.dumps(table))
    return table
