"""Stream ablations of a trained :class:`~nni_autotsnet.models.TwoStreamNet`: same weights, one stream silenced.

:func:`drop_dense_stream` replaces the dense stream's tensor by zeros wherever it leaves the
stream: the ``dense`` input of every TS-Fusion block and the pooled dense features that are
concatenated before the classifier. Nothing is retrained, so the change in accuracy measures how
much the trained network relies on the dense stream. Fusion blocks fed zeros still add their
input-independent BN shifts to the sparse stream; no information about the clip passes through
the dense stream. It works with forward hooks, removed on exit; the network's code is unchanged.

>>> with drop_stream(model, "dense"):  # doctest: +SKIP
...     logits = model(clips)
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

__all__ = ["STREAMS", "drop_dense_stream", "drop_stream"]

STREAMS = ("dense",)  # what drop_stream can silence ("sparse" would need its own definition: it carries the fusions)


def _zero_dense_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook of a fusion block: ``(sparse, dense) -> (sparse, zeros_like(dense))``."""
    if len(args) != 2:
        raise RuntimeError(f"{type(module).__name__}: a fusion block is called as fuse(sparse, dense), "
                           f"got {len(args)} positional arguments")
    sparse, dense = args
    return sparse, torch.zeros_like(dense)


def _zero_output(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: the module's output replaced by zeros of the same shape, dtype and layout."""
    return torch.zeros_like(output)


def drop_dense_stream(model: nn.Module) -> contextlib.AbstractContextManager:
    """A context in which ``model``'s dense stream contributes zeros (see the module doc); restored on exit.

    Raises
    ------
    ValueError
        At once (not on entering the context), if ``model`` has no dense stream (a sparse-only
        architecture, ``dense_stem is None``).
    """
    if getattr(model, "dense_stem", None) is None or not getattr(model, "fusions", None):
        raise ValueError(f"{type(model).__name__} has no dense stream (a sparse-only architecture): "
                         "there is nothing to drop")
    return _dense_hooks(model)


@contextlib.contextmanager
def _dense_hooks(model: nn.Module) -> Iterator[nn.Module]:
    handles = []
    try:
        handles += [fuse.register_forward_pre_hook(_zero_dense_input) for fuse in model.fusions]
        handles.append(model.dense_pool.register_forward_hook(_zero_output))
        yield model
    finally:
        for handle in handles:
            handle.remove()


def drop_stream(model: nn.Module, stream: str | None) -> contextlib.AbstractContextManager:
    """The ablation context of ``stream`` (one of :data:`STREAMS`), or a no-op for ``None``."""
    if stream is None:
        return contextlib.nullcontext(model)
    if stream == "dense":
        return drop_dense_stream(model)
    raise ValueError(f"cannot drop stream {stream!r}: one of {', '.join(STREAMS)}")
