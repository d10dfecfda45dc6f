"""A search part's weight-sharing supernet: read the part, load the supernet, slice architectures out of it.

A search part directory (``part{i}_{parts}/``, written by the search command) holds::

    part.json      {"preset", "parts", "fixed", "num_classes", "index"}: how to rebuild the part's space
    alpha.json     Parsec.export_alpha: "top", "alpha", ... (optional here)
    supernet.pt    the state dict of the part's weight-sharing supernet (weights_only loadable)

The export command (weights of the searched models) and the ranking of architectures by their
inherited weights (:mod:`nni_autotsnet.ranking`) both need this, so it lives in a library module
that imports no command. NNI is imported only when a supernet is loaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from nni_autotsnet.errors import UserError, load_weights_file
from nni_autotsnet.rundir import ALPHA_FILE, PART_DIR, PART_FILE, SUPERNET_FILE, read_alpha, read_part_info

if TYPE_CHECKING:
    from nni_autotsnet.search_space import TwoStreamSpace

__all__ = ["ExportError", "Part", "read_part", "import_nni", "load_supernet", "check_pinned",
           "slice_weights", "inherit_weights", "carry_over"]


class ExportError(UserError):
    """A user error: a missing or inconsistent input; the message names the file, key or label."""


@dataclass
class Part:
    """One ``part{i}_{parts}`` folder: a search part, its pinned labels and its learned alpha."""

    path: Path
    index: int
    preset: str
    parts: str
    fixed: dict[str, Any]
    num_classes: int | None
    alpha: dict[str, Any] | None  # alpha.json, when the part wrote one


def read_part(path: Path) -> Part:
    """Read ``path/part.json`` (and ``alpha.json`` if present); errors name the file and key."""
    path = Path(path)
    info = read_part_info(path, ExportError)
    alpha = read_alpha(path / ALPHA_FILE, ExportError) if (path / ALPHA_FILE).is_file() else None
    if "index" in info:
        index = int(info["index"])
    else:
        match = PART_DIR.match(path.name)
        if match is None:
            raise ExportError(f"{path / PART_FILE}: no 'index' key, and the folder is not named part<i>_<parts>")
        index = int(match.group(1))
    return Part(path, index, str(info["preset"]), info["parts"], dict(info.get("fixed") or {}),
                info.get("num_classes"), alpha)


def import_nni() -> None:
    """Import NNI once, quietly: NNI 3.0 warns about every torch class it does not know."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module")
        import nni_autotsnet.search_space.space  # noqa: F401
        import nni_autotsnet.strategies  # noqa: F401


def load_supernet(part: Part) -> TwoStreamSpace:
    """The part's space with PARSEC's weight-sharing operations and ``supernet.pt`` loaded (imports NNI).

    Built once, it gives any number of architectures' weights through :func:`slice_weights`.
    """
    import_nni()
    from nni_autotsnet.search_space import TwoStreamSpace
    from nni_autotsnet.strategies import Parsec

    where = part.path / SUPERNET_FILE
    if not where.is_file():
        raise ExportError(f"{where}: missing; inherited weights need the supernet the search part saved")
    try:
        space = TwoStreamSpace.from_preset(part.preset, parts=part.parts, num_classes=part.num_classes,
                                           fixed=part.fixed)
    except ValueError as err:
        raise ExportError(f"{part.path / PART_FILE}: {err}") from None
    Parsec().mutate_model(space)
    state = load_weights_file(where, "supernet state dict written by nni_autotsnet.search")
    try:
        space.load_state_dict(state)
    except Exception as err:  # RuntimeError on mismatched keys or shapes
        detail = " ".join(str(err).split())[:300] or type(err).__name__  # one line, the first keys named
        raise ExportError(f"{where}: not the supernet of the space in {part.path / PART_FILE} "
                          f"(preset {part.preset!r}, parts {part.parts!r}, {len(part.fixed)} fixed labels): "
                          f"{detail}") from None
    return space


def check_pinned(fixed: Mapping[str, Any], arch: Mapping[str, Any], where: str | Path) -> None:
    """Raise :class:`ExportError` (naming ``where``) unless ``arch`` has the values a part pinned in ``fixed``.

    A part's supernet holds weights only for those values.
    """
    wrong = [label for label, value in fixed.items() if arch.get(label) != value]
    if wrong:
        raise ExportError(f"{where}: fixed label {wrong[0]!r} is {fixed[wrong[0]]!r}, "
                          f"the architecture has {arch.get(wrong[0])!r}: its weights are not in this supernet")


def slice_weights(supernet: TwoStreamSpace, arch: Mapping[str, Any],
                  where: str | Path = "the supernet") -> dict[str, torch.Tensor]:
    """The state dict of ``arch`` sliced out of a loaded ``supernet`` (:func:`load_supernet`), for the plain model.

    ``arch`` must agree with the labels the supernet's part pinned; labels beyond its space are ignored.
    """
    check_pinned(supernet.fixed, arch, where)
    return supernet.freeze({label: arch[label] for label in supernet.layout.variables()}).state_dict()


def inherit_weights(part: Part, archs: Sequence[Mapping[str, Any]]) -> list[dict[str, torch.Tensor]]:
    """State dicts of ``archs`` sliced out of ``part``'s supernet (imports NNI, builds the supernet once)."""
    for arch in archs:  # every architecture checked before the supernet is built
        check_pinned(part.fixed, arch, part.path / PART_FILE)
    supernet = load_supernet(part)
    return [slice_weights(supernet, arch, part.path / PART_FILE) for arch in archs]


def carry_over(previous: Part, arch: Mapping[str, Any], model: torch.nn.Module) -> tuple[int, int]:
    """Start ``model`` (the next part's supernet) from ``arch``'s slice of ``previous``'s supernet.

    A progressive search pins a part's choices and searches the next part's variables; the pinned
    blocks keep the weights they were trained with (and the newly searched blocks start where the
    previous part's fixed defaults had got to, where names and shapes agree), so the parts add up
    instead of each training a supernet from scratch. Tensors whose name or shape differ (new
    blocks, a classifier on wider features) keep their fresh initialisation. Returns (tensors
    copied, tensors in ``model``).
    """
    weights = inherit_weights(previous, [arch])[0]
    state = model.state_dict()
    same = {name: value for name, value in weights.items()
            if name in state and state[name].shape == value.shape}
    model.load_state_dict(same, strict=False)
    return len(same), len(state)
