"""Predict the classes of a user's own video files with a trained or exported model (no NNI, no labels).

:class:`Predictor` wraps a model, PyTorch (``model.pt``, ``last.ckpt``) or ONNX Runtime
(``model.onnx``), with the input it was trained on (:class:`~nni_autotsnet.checkpoint.InputSpec`).
A video is cut into the run's test views exactly as ``evaluate`` does
(:func:`nni_autotsnet.data.decode_views`), the views go through the model ``batch`` at a time,
and their softmax is averaged (:func:`nni_autotsnet.data.average_views`). :func:`expand_inputs`
turns files, folders (searched recursively) and list files into video paths, and every input it
cannot use into a :class:`Problem` naming it, so one bad input never stops the others.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from nni_autotsnet.data.formats.folders import VIDEO_SUFFIXES
from nni_autotsnet.checkpoint import EvalError, InputSpec, input_spec, load_checkpoint, resolve_checkpoint
from nni_autotsnet.rundir import ONNX_FILE

__all__ = ["VIDEO_EXTENSIONS", "LIST_EXTENSIONS", "BACKENDS", "Problem", "Prediction", "Predictor",
           "expand_inputs", "read_path_list"]

# a folder is searched for the suffixes the data package's folder format reads (one home; case ignored)
VIDEO_EXTENSIONS = VIDEO_SUFFIXES
LIST_EXTENSIONS = (".txt", ".csv", ".lst", ".list")  # a list file: one video a line (a CSV: its path column)
BACKENDS = ("torch", "onnx")
_PATH_COLUMNS = ("path", "video_path", "clip_path", "file_name", "filename", "file", "video", "clip")


@dataclass(frozen=True)
class Problem:
    """An input that gave no prediction, and why; ``str()`` is the one line printed for it."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Prediction:
    """A video's mean softmax over its views and its ``top`` ``(class index, name, probability)``."""

    path: str
    probabilities: torch.Tensor
    top: list[tuple[int, str, float]] = field(default_factory=list)


def read_path_list(path: Path) -> list[Path]:
    """Video paths of a list file, relative ones against its folder.

    A ``.csv`` gives its path column (a header naming one of ``path``, ``video_path``, ... as in
    ``nni_autotsnet.data``'s lists) or its first column; another list gives a line each, a
    trailing label dropped when the whole line is no file (SlowFast's ``path label``). Blank
    lines and ``#`` comments are skipped.
    """
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        rows = [row for row in csv.reader(text.splitlines()) if row and row[0].strip()]
        header = [c.strip().lower() for c in rows[0]] if rows else []
        column = next((header.index(c) for c in _PATH_COLUMNS if c in header), None)
        if column is not None:
            rows = rows[1:]
        entries = [row[column or 0].strip() for row in rows if len(row) > (column or 0)]
    else:
        entries = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            head, _, tail = line.rpartition(" ")
            whole = path.parent / line if not Path(line).is_absolute() else Path(line)
            entries.append(head if head and tail and not whole.exists() else line)
    return [p if (p := Path(e)).is_absolute() else path.parent / p for e in entries]


def expand_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """``(videos, problems)`` of files, folders and list files; each missing path or empty folder is a problem."""
    videos: list[Path] = []
    problems: list[Problem] = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                problems.append(Problem(str(given), f"a folder with no video files (looked for {', '.join(VIDEO_EXTENSIONS)}"
                                                    " in it and its subfolders)"))
            videos.extend(found)
        elif given.is_file() and given.suffix.lower() in LIST_EXTENSIONS:
            listed = read_path_list(given)
            if not listed:
                problems.append(Problem(str(given), "a list file with no video paths"))
            for p in listed:
                (videos.append(p) if p.is_file() else problems.append(Problem(str(p), f"no such file (listed in {given})")))
        elif given.is_file():
            videos.append(given)
        else:
            problems.append(Problem(str(given), "no such file or folder"))
    return videos, problems


def _onnx_path(checkpoint: Path) -> Path:
    if checkpoint.is_dir():
        return checkpoint / ONNX_FILE
    return checkpoint if checkpoint.suffix == ".onnx" else checkpoint.with_name(ONNX_FILE)


class Predictor:
    """A model and its input: ``predictor(path) -> Prediction`` for one video file.

    Parameters
    ----------
    forward
        Clips ``[N, 3, T, H, W]`` -> logits ``[N, K]`` (a PyTorch module or an :class:`~.onnx_export.OnnxModel`).
    spec
        The data preset and views to cut a video into.
    classes
        Class names in logit order, or ``None`` (indices are printed).
    batch
        Views per forward pass (``None``: all views of a video at once).
    device
        Where the clips go (``cpu`` for ONNX Runtime).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], spec: InputSpec,
                 classes: Sequence[str] | None, num_classes: int, batch: int | None = None, device: str = "cpu",
                 source: str = "", backend: str = "torch"):
        self.forward, self.spec, self.batch, self.device = forward, spec, batch, torch.device(device)
        self.classes = tuple(classes) if classes else None
        self.num_classes, self.source, self.backend = num_classes, source, backend
        self.model_seconds, self.clips = 0.0, 0

    @classmethod
    def load(cls, checkpoint: str | Path, backend: str = "torch", views: str | None = None, batch: int | None = None,
             device: str = "cpu") -> "Predictor":
        """A run directory, ``model.pt``, ``last.ckpt`` (``backend="torch"``) or ``model.onnx`` (``"onnx"``)."""
        checkpoint = Path(checkpoint)
        if backend == "onnx":
            from nni_autotsnet.onnx_export import OnnxModel

            if device != "cpu":
                raise EvalError(f"--device {device}: the onnxruntime package runs on the CPU here "
                                "(use --backend torch, or install onnxruntime-gpu)")
            path = _onnx_path(checkpoint)
            model = OnnxModel(path)
            return cls(model, model.input_spec(views), model.classes, int(model.meta["num_classes"]), batch,
                       source=str(path), backend="onnx")
        if backend != "torch":
            raise EvalError(f"--backend {backend}: one of {', '.join(BACKENDS)}")
        if checkpoint.suffix == ".onnx":
            raise EvalError(f"{checkpoint}: an ONNX model; pass --backend onnx")
        if device == "cuda" and not torch.cuda.is_available():
            raise EvalError("--device cuda: no CUDA device is visible to PyTorch here")
        path = resolve_checkpoint(checkpoint)
        model, info = load_checkpoint(path)
        return cls(model.to(device), input_spec(info, path, views), info["classes"], info["num_classes"], batch,
                   device, str(path), "torch")

    def name(self, index: int) -> str:
        """The class name of logit ``index``, or the index itself when the model records no names."""
        return self.classes[index] if self.classes else str(index)

    def __call__(self, path: str | Path, top_k: int = 5) -> Prediction:
        """Predict one video; raises :class:`~nni_autotsnet.data.VideoDecodeError` naming it if it cannot be read."""
        from nni_autotsnet.data import average_views, decode_views

        spec = self.spec
        views = decode_views(path, spec.data_preset, spec.num_clips, spec.num_crops, allow_short=False)
        start = time.perf_counter()
        with torch.no_grad():
            logits = torch.cat([self.forward(chunk.to(self.device)).float().cpu()
                                for chunk in views.split(self.batch or len(views))])
        self.model_seconds += time.perf_counter() - start
        self.clips += len(views)
        probs = average_views(logits, len(views))[0]
        values, indices = probs.topk(min(top_k, len(probs)))
        return Prediction(str(path), probs, [(int(i), self.name(int(i)), float(v)) for v, i in zip(values, indices)])

    def settings(self) -> dict[str, Any]:
        """What the predictions were made with (the JSON output's header)."""
        p = self.spec.data_preset
        return {"checkpoint": self.source, "backend": self.backend, "device": str(self.device),
                "views": self.spec.protocol, "num_views": self.spec.num_views, "batch": self.batch,
                "data_preset": p.name, "frames": p.num_frames, "stride": p.stride, "crop": p.test_size,
                "classes_named": self.classes is not None, "num_classes": self.num_classes}
