"""The toy spaces of ``toys.py`` themselves: they enumerate, run, and PARSEC refuses what it cannot model."""

from __future__ import annotations

import nni
import pytest
import torch
from nni.nas.nn.pytorch import ModelSpace, MutableLinear
from torch import nn

from nni_autotsnet.strategies import Parsec
from toys import ToySpace, enumerate_space, supernet_and_params, toy_flops

pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------------------------
# The toys themselves
# ----------------------------------------------------------------------------------------------
def test_toy_space_enumerates_and_runs_every_architecture():
    space = ToySpace()
    archs = enumerate_space(space)
    assert len(archs) == 4
    torch.manual_seed(0)
    supernet, modules, _ = supernet_and_params(space)
    x = torch.randn(5, 8)
    for arch in archs:
        for m in modules:
            m.resample(memo=arch)
        assert supernet(x).shape == (5, 3)
    assert sorted(toy_flops(a) for a in archs) == [44, 68, 176, 200]


@pytest.mark.parametrize('bad', ['n_chosen', 'numerical'])
def test_parsec_rejects_mutables_it_cannot_model(bad):
    from nni.nas.nn.pytorch import InputChoice

    class Bad(ModelSpace):
        def __init__(self):
            super().__init__()
            if bad == 'n_chosen':
                self.inp = InputChoice(3, n_chosen=2, label='pick')
            else:
                self.fc = MutableLinear(4, nni.choice('w', [2, 4]))
                self.add_mutable(nni.uniform('lr', 0, 1))

        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="'pick'|'lr'"):
        Parsec().mutate_model(Bad())
