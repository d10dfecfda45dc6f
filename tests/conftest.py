"""Fixtures shared by several test modules (helpers that are not fixtures: ``toys.py``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def single_thread():
    """Tiny tensors run far faster on one intra-op thread (and the machine's cores are shared).

    Modules that want it for every test say ``pytestmark = pytest.mark.usefixtures("single_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
