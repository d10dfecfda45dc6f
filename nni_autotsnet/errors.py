"""One error path for every command: the user-error base class and the handler of ``python -m nni_autotsnet.*``.

A mistake in what a user gives (a list line, a config key, an arch label, a checkpoint, a path)
raises a :class:`UserError` whose message names the file and the line, dotted key or label. Every
command's ``main`` is wrapped by :func:`command`: a user error ends it with ``error: <message>``
as one line on stderr and exit status 2; anything else is a bug and keeps its traceback. It also
handles, once for every command, argparse's exit (``--help``, a usage error: its status is returned)
and the rank-zero rule: a ``main`` that returns its summary text has it printed by rank zero only
(under DDP every rank runs the command) and exits 0. A file or
folder that is missing, of the wrong kind or unreadable (``FileNotFoundError``,
``IsADirectoryError``, ...) counts as a user error too, named by its path. :class:`CommandParser`
gives argparse's errors the same shape: one line naming the command, exit status 2.

The user errors (each importable where it was, and a ``ValueError`` as before)::

    UserError
     |- ConfigError       nni_autotsnet.config          an experiment config's file and dotted key
     |- PresetError       nni_autotsnet.search_space    a preset file and dotted key
     |- ArchError         nni_autotsnet.search_space    an arch JSON and label or value
     |- AnnotationError   nni_autotsnet.data            a list or labels file and line
     |- TrainError        nni_autotsnet.training        a run directory that does not fit
     |- EvalError         nni_autotsnet.checkpoint      a checkpoint, test list or protocol (also .evaluate)
     |- SearchError       nni_autotsnet.search          a search directory that does not fit
     |- ReportError       nni_autotsnet.report          a folder holding no run
     |- CheckpointError   (here)                        a file torch.load cannot read as weights
     |- ExportError       nni_autotsnet.supernet        a search part, supernet or export input
     `- RankingError      nni_autotsnet.ranking         a ranking table or supernet source
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from nni_autotsnet.ranks import is_rank_zero

__all__ = ["UserError", "CheckpointError", "user_message", "command", "CommandParser",
           "load_weights_file"]


class UserError(ValueError):
    """A mistake in what a user gave; the message names the file and the line, dotted key, label or value.

    Commands end on it with ``error: <message>`` and exit status 2 (:func:`command`), never a traceback.
    """


class CheckpointError(UserError):
    """A file given as a checkpoint that ``torch.load(weights_only=True)`` cannot read; the message names it."""


# What a path error says, in place of the C library's words; the path itself comes first.
_PATH_ERRORS: dict[type[OSError], str] = {
    FileNotFoundError: "no such file or folder",
    IsADirectoryError: "is a folder, where a file is expected",
    NotADirectoryError: "not a folder (a file stands where the path needs a folder)",
    PermissionError: "permission denied",
    FileExistsError: "exists already, and is not a folder",
}


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def user_message(err: BaseException) -> str | None:
    """The one-line message of a user error, or ``None`` when ``err`` is a bug (it keeps its traceback)."""
    if isinstance(err, UserError):
        return _one_line(str(err)) or type(err).__name__
    for kind, words in _PATH_ERRORS.items():
        if type(err) is kind and getattr(err, "filename", None) is not None:
            return _one_line(f"{err.filename}: {words}")
    return None


# Library warnings that every run would print and that ask nothing of the user, silenced while a command runs:
# * Lightning's note on a checkpoint folder that is not empty: a run folder holds its config.yaml and arch.json
#   before the first checkpoint by design, and resuming is the explicit --resume;
# * NNI's advice to wrap DataLoaders with nni.trace: that is for multi-trial NAS, which ships a model to
#   trials; here each trial runs its one-shot search in-process.
LIBRARY_NOISE = (r"Checkpoint directory .* exists and is not empty",
                 r"When using training service to spawn trials, please try to wrap PyTorch DataLoader")


def command(main: Callable[..., int | str]) -> Callable[..., int]:
    """Wrap a command's ``main(argv=None) -> int | str``; the wrapped one returns the exit status.

    * a user error prints ``error: <one line>`` on stderr and returns 2;
    * argparse's ``SystemExit`` (``--help``: 0, a usage error already printed by :class:`CommandParser`: 2)
      returns its status instead of leaving the interpreter;
    * a returned ``str`` is the command's summary: printed by rank zero only (:func:`is_rank_zero`), status 0.

    The wrapped ``main`` behaves alike from ``python -m`` and from a test calling ``main([...])``.
    """
    @functools.wraps(main)
    def run(argv: Sequence[str] | None = None, *args: Any, **kwargs: Any) -> int:
        try:
            with warnings.catch_warnings():
                for message in LIBRARY_NOISE:
                    warnings.filterwarnings("ignore", message=message)
                status = main(argv, *args, **kwargs)
        except SystemExit as exit_:  # argparse printed its usage or help
            if exit_.code is None or isinstance(exit_.code, int):
                return exit_.code or 0
            raise
        except Exception as err:
            message = user_message(err)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr, flush=True)
            return 2
        if isinstance(status, str):
            if is_rank_zero():
                print(status, flush=True)
            return 0
        return status

    return run


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line naming the command, with exit status 2.

    ``python -m nni_autotsnet.train: the following arguments are required: --arch (see --help)``
    rather than the usage block and a second line; ``--help`` is unchanged.
    """

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {_one_line(message)} (see --help)", file=sys.stderr, flush=True)
        self.exit(2)


def _load_reason(err: Exception) -> str:
    """What a file torch.load refused is, in a few words; never torch's advice to unpickle it after all."""
    text = str(err)
    unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if unsafe:
        return f"it holds a pickled {unsafe.group(1)} object, and only tensors and plain data are read from a file"
    if isinstance(err, EOFError) or (isinstance(err, RuntimeError) and "zip archive" in text):
        return "a truncated or damaged file: it ends before its index"
    return "not a file of PyTorch tensors"


def load_weights_file(path: str | Path, written_by: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, or :class:`CheckpointError` ``"<path>: not a <written_by> (why)"``.

    Nothing in the file is unpickled; the message says what the file is not, never how to load it
    unsafely. ``written_by`` is what the file should be, e.g. ``"checkpoint written by nni_autotsnet.train"``.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; expected a {written_by}")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; expected a {written_by}")
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of a file it then refuses
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as err:  # UnpicklingError, a damaged zip (RuntimeError), EOFError, KeyError, ...
        raise CheckpointError(f"{path}: not a {written_by} ({_load_reason(err)})") from None
