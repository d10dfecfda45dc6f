"""The exported ``model.pt`` format: its one writer and its reader, which needs no NNI.

A ``model.pt`` is a plain dict of tensors, strings and numbers, so ``torch.load(...,
weights_only=True)`` reads it without unpickling code: the architecture travels as data and
the module is rebuilt with :func:`~nni_autotsnet.models.build_model`, the builder it names.
It also says what the outputs mean and how to feed the model: ``classes`` (the names of the
training data's classes, in logit order; ``None`` for a list of bare indices), ``data_preset``
and ``views`` (the run's test input and protocol). Those three keys are optional (``None`` in a
file written before they were), so older files keep reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import Tensor, nn

from nni_autotsnet.atomic import save_torch
from nni_autotsnet.errors import load_weights_file

from .builder import build_model

__all__ = ["MODEL_FORMAT", "MODEL_BUILDER", "save_exported", "load_exported", "read_exported"]

MODEL_FORMAT = "nni-autotsnet-model/1"  # bump when the keys below change meaning
MODEL_BUILDER = "nni_autotsnet.models.build_model"  # the only builder this version knows
_KEYS = ("preset", "parts", "num_classes", "arch", "state_dict")


def save_exported(path: str | Path, *, preset: str, parts: str, num_classes: int, arch: Mapping[str, Any],
                  state_dict: Mapping[str, Tensor], inherited_weights: bool, classes: Sequence[str] | None = None,
                  data_preset: str | None = None, views: str | None = None) -> None:
    """Write a ``model.pt`` atomically (export and train both write this format; :func:`read_exported` reads it).

    ``inherited_weights`` records whether the weights were sliced from a search's supernet or trained;
    ``classes`` the class names in logit order (``num_classes`` of them), ``data_preset`` and ``views``
    the data preset and test protocol of the run (see the module doc).
    """
    if classes is not None and len(classes) != int(num_classes):
        raise ValueError(f"{path}: {len(classes)} class names for a model of {num_classes} classes")
    save_torch({"format": MODEL_FORMAT, "builder": MODEL_BUILDER, "preset": preset, "parts": parts,
                "num_classes": int(num_classes), "arch": dict(arch),
                "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
                "inherited_weights": bool(inherited_weights),
                "classes": None if classes is None else [str(c) for c in classes],
                "data_preset": data_preset, "views": views}, path)


def read_exported(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The checked dict of an exported ``model.pt`` (``weights_only=True``: no code is unpickled).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming ``path`` and the key, if the file is not an export of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such exported model file")
    # a truncated file, a pickle with code, a non-torch file: CheckpointError (a ValueError) naming the file
    data = load_weights_file(path, "model.pt written by nni_autotsnet.export", map_location)
    if not isinstance(data, dict) or "format" not in data:
        raise ValueError(f"{path}: not an nni-autotsnet export (no 'format' key; expected {MODEL_FORMAT!r})")
    if data["format"] != MODEL_FORMAT:
        raise ValueError(f"{path}: key 'format' is {data['format']!r}, this version reads {MODEL_FORMAT!r}")
    if data.get("builder", MODEL_BUILDER) != MODEL_BUILDER:
        raise ValueError(f"{path}: key 'builder' is {data['builder']!r}, expected {MODEL_BUILDER!r}")
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r} (an export has {', '.join(_KEYS)})")
    return data


def load_exported(path: str | Path, map_location: Any = "cpu") -> nn.Module:
    """Rebuild an exported model and load its weights; returned in eval mode, ready for inference.

    Parameters
    ----------
    path
        A ``model.pt`` written by ``python -m nni_autotsnet.export``.
    map_location
        Passed to :func:`torch.load` (``"cpu"`` by default, so a GPU-trained export loads anywhere).

    Examples
    --------
    >>> model = load_exported("export/model.pt")  # doctest: +SKIP
    >>> model(torch.randn(1, 3, 8, 64, 64)).shape  # doctest: +SKIP
    torch.Size([1, 10])
    """
    data = read_exported(path, map_location)
    model = build_model(data["preset"], data["arch"], parts=data["parts"], num_classes=data["num_classes"])
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: key 'state_dict' does not fit the architecture it stores: {err}") from None
    return model.eval()
