"""Fixtures shared by several test modules (helpers that are not fixtures: ``toys.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory) -> Path:
    """The 10-class test benchmark (3 videos a class and split, seed 0), built once per test session.

    Tests read it and never write into it; a test that needs a benchmark of its own builds one in its
    ``tmp_path``.
    """
    from nni_autotsnet.data import make_benchmark

    folder = tmp_path_factory.getbasetemp() / "small_bench"
    make_benchmark(folder, num_classes=10, videos_per_class=3, seed=0, workers=1)
    return folder


@pytest.fixture
def single_thread():
    """Tiny tensors run far faster on one intra-op thread (and the machine's cores are shared).

    Modules that want it for every test say ``pytestmark = pytest.mark.usefixtures("single_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
