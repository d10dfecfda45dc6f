"""Atomic file writes: a temporary file beside the target, then a rename.

A crash, a kill or a full disk never leaves a half-written file under the target's name: the
previous version stays until the new one is complete. The temporary is named per process, so
DDP ranks (or nodes sharing a filesystem) never rename each other's, and it is removed if the
write fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["atomic_write", "save_torch", "write_text", "AtomicCheckpointIO"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary_path)``, then rename the temporary over ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def write_text(text: str, path: str | os.PathLike) -> None:
    """``Path.write_text`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def __getattr__(name: str) -> Any:
    """``AtomicCheckpointIO`` on first use: Lightning takes seconds to import, and the plain writers above
    serve modules that must load without it (the exported model's reader and writer, arch JSONs)."""
    if name != "AtomicCheckpointIO":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from lightning_fabric.plugins import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Lightning's checkpoint writer into a temporary file renamed over the old one: never half a file."""

        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
            write = super().save_checkpoint
            atomic_write(path, lambda tmp: write(checkpoint, tmp, storage_options))

    AtomicCheckpointIO.__qualname__ = name
    globals()[name] = AtomicCheckpointIO
    return AtomicCheckpointIO
