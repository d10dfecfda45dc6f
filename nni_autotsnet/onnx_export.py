"""ONNX export of a plain model, checked by ONNX Runtime; the ``.onnx`` file's metadata says how to feed it.

Exporter: ``torch.onnx.export(..., dynamo=True)``, the ``torch.export``-based exporter. It is
``torch.onnx.export``'s default since torch 2.9 (the TorchScript exporter is deprecated there),
it takes a symbolic batch dimension (``torch.export.Dim``), so one file serves any batch, and it
translates every operation of this space (3D convolutions, the fusions' strided slices and
reshapes, squeeze-excitation, the non-local block's matrix products) at opset :data:`OPSET`.

The file's ``metadata_props`` (strings; JSON where noted) make it self-describing::

    format          nni-autotsnet-onnx/1
    opset           the ONNX opset of the default domain
    classes         JSON list of class names in logit order, or null
    num_classes, preset, parts, arch (JSON)
    input.layout    [batch, 3, T, H, W] float32 RGB, (pixel / 255 - mean) / std
    input.frames, input.stride, input.crop, input.short_side, input.mean, input.std (JSON lists)
    views           the test protocol (e.g. 4-Center): clips x crops to average softmax over
    data_preset     the data preset of those figures
    check           JSON: ONNX Runtime against PyTorch at export (see :func:`check_onnx`)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nni_autotsnet.checkpoint import EvalError, InputSpec, canonical_views
from nni_autotsnet.rundir import CONFIG_FILE, ONNX_CHECK_FILE, ONNX_FILE
from nni_autotsnet.supernet import ExportError

__all__ = ["ONNX_FORMAT", "OPSET", "TOLERANCE", "onnx_metadata", "export_onnx", "check_onnx", "write_onnx", "onnx_summary",
           "OnnxModel"]

ONNX_FORMAT = "nni-autotsnet-onnx/1"
OPSET = 20  # what torch 2.14.1's exporter targets by default; pinned so a file does not change with torch
TOLERANCE = 1e-4  # max |logit difference| between ONNX Runtime and PyTorch (fp32) that the check accepts


def onnx_metadata(info: Mapping[str, Any], spec: InputSpec) -> dict[str, str]:
    """The metadata of a model (``load_checkpoint``'s ``info``) fed as ``spec`` says; see the module doc."""
    p = spec.data_preset
    return {"format": ONNX_FORMAT, "opset": str(OPSET),
            "classes": json.dumps(list(info["classes"]) if info.get("classes") else None),
            "num_classes": str(info["num_classes"]), "preset": str(info["preset"]), "parts": str(info["parts"]),
            "arch": json.dumps(dict(info["arch"])),
            "input.layout": "[batch, 3, T, H, W] float32 RGB, (pixel / 255 - mean) / std",
            "input.frames": str(p.num_frames), "input.stride": str(p.stride), "input.crop": str(p.test_size),
            "input.short_side": str(p.test_size), "input.mean": json.dumps(list(p.mean)),
            "input.std": json.dumps(list(p.std)), "views": spec.protocol, "data_preset": p.name}


def _session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()  # as many as PyTorch, for a fair comparison
    options.inter_op_num_threads = 1
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def check_onnx(model: nn.Module, path: str | Path, clips: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Run ``clips`` (name -> batch) through ONNX Runtime and PyTorch: max |logit diff| and top-1 agreement.

    Returns ``{"tolerance", "passed", "sources": {name: {"clips", "max_abs_diff", "top1_equal"}}}``;
    ``passed`` when every source's difference is at most :data:`TOLERANCE` and every top-1 agrees.
    """
    session = _session(path)
    name = session.get_inputs()[0].name
    sources = {}
    model.eval()
    for source, batch in clips.items():
        with torch.no_grad():
            ref = model(batch.float()).numpy()
        out = session.run(None, {name: batch.float().numpy()})[0]
        sources[source] = {"clips": int(batch.shape[0]), "max_abs_diff": float(np.abs(out - ref).max()),
                           "top1_equal": bool((out.argmax(1) == ref.argmax(1)).all())}
    passed = all(s["max_abs_diff"] <= TOLERANCE and s["top1_equal"] for s in sources.values())
    return {"tolerance": TOLERANCE, "passed": passed, "sources": sources}


def export_onnx(model: nn.Module, path: str | Path, input_shape: tuple[int, ...], metadata: Mapping[str, str],
                real_clips: torch.Tensor | None = None) -> dict[str, Any]:
    """Export ``model`` to ``path`` with a dynamic batch axis, check it with ONNX Runtime, store the check.

    The check runs random clips at batch 1 and 3 (the file is traced at batch 2, so both test the
    dynamic axis) and ``real_clips`` (decoded views) when given; its figures go into the metadata
    (``check``). The file is written only if the check passes; else :class:`ExportError` gives the figures.
    """
    import onnx

    path = Path(path)
    model = model.eval()
    tmp = path.with_name(f".{path.name}.tmp")
    batch = torch.export.Dim("batch", min=1)
    # the exporter reports its steps on stdout; a command's output is its own
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        program = torch.onnx.export(model, (torch.randn(2, *input_shape),), input_names=["clips"],
                                    output_names=["logits"], dynamic_shapes={"x": {0: batch}}, dynamo=True,
                                    opset_version=OPSET, verbose=False, external_data=False)
    program.save(os.fspath(tmp))
    g = torch.Generator().manual_seed(0)
    clips = {f"random, batch {b}": torch.randn(b, *input_shape, generator=g) for b in (1, 3)}
    if real_clips is not None:
        clips["decoded views"] = real_clips
    check = check_onnx(model, tmp, clips)
    if not check["passed"]:
        tmp.unlink()
        raise ExportError(f"{path}: ONNX Runtime differs from PyTorch beyond {TOLERANCE:g} or in top-1: "
                          f"{json.dumps(check['sources'])}")
    proto = onnx.load(os.fspath(tmp))
    del proto.metadata_props[:]
    for key, value in {**metadata, "check": json.dumps(check)}.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, os.fspath(tmp))
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return check


def _benchmark_videos(config: Path) -> list[Path]:
    """The first two test videos of the bundled benchmark a run or search used, if it is built; else none."""
    if not config.is_file():
        return []
    from nni_autotsnet.config import load_config
    from nni_autotsnet.data import read_labels_file, read_video_list

    data = load_config(config).data
    folder = Path(data.benchmark)
    if data.train is not None or not (folder / "test.csv").is_file():
        return []
    records = read_video_list(folder / "test.csv", None, read_labels_file(folder / "labels.txt")).records
    return [Path(r.path) for r in records if Path(r.path).is_file()][:2]


def write_onnx(checkpoint: Path, out: Path | None = None, check_videos: Sequence[Path] = (),
               config: Path | None = None) -> dict:
    """``model.onnx`` and ``onnx_check.json`` of a checkpoint (``RUN``, a ``model.pt``) in ``out`` (default: beside it).

    The check decodes ``check_videos`` (default: two test videos of the benchmark named by ``config``,
    the run's ``config.yaml`` by default) into the model's test views; returns its figures.
    """
    from nni_autotsnet.checkpoint import input_spec, load_checkpoint, resolve_checkpoint
    from nni_autotsnet.data import decode_views
    from nni_autotsnet.search_space import load_preset

    path = resolve_checkpoint(checkpoint)
    model, info = load_checkpoint(path)
    spec = input_spec(info, path)
    shape, p = tuple(load_preset(info["preset"]).input_shape), spec.data_preset
    if (p.num_frames, p.test_size, p.test_size) != shape[1:]:
        raise ExportError(f"{path}: data preset {p.name!r} gives {p.num_frames} frames of {p.test_size} px, the model "
                          f"takes {shape[1]} of {shape[2]}x{shape[3]}")
    videos = [Path(v) for v in check_videos] or _benchmark_videos(config or path.parent / CONFIG_FILE)
    real = torch.cat([decode_views(v, p, spec.num_clips, spec.num_crops) for v in videos]) if videos else None
    out = Path(out) if out is not None else path.parent
    out.mkdir(parents=True, exist_ok=True)
    check = export_onnx(model, out / ONNX_FILE, shape, onnx_metadata(info, spec), real)
    import onnx
    import onnxruntime

    check.update(file=str(out / ONNX_FILE), checkpoint=str(path), opset=OPSET, views=spec.protocol,
                 videos=[str(v) for v in videos], torch=torch.__version__, onnx_version=onnx.__version__,
                 onnxruntime_version=onnxruntime.__version__)
    (out / ONNX_CHECK_FILE).write_text(json.dumps(check, indent=1))
    return check


def onnx_summary(check: Mapping[str, Any]) -> str:
    """One line of :func:`write_onnx`'s figures, as ``export --onnx`` prints them."""
    figures = "; ".join(f"{name} ({s['clips']} clips) {s['max_abs_diff']:.2e}" for name, s in check["sources"].items())
    return (f"{check['file']}: opset {check['opset']}, dynamic batch; ONNX Runtime {check['onnxruntime_version']} "
            f"against PyTorch (fp32), max |logit diff|: {figures}; top-1 equal: yes (tolerance {check['tolerance']:g})"
            + ("" if check["videos"] else "; no video decoded (pass --check-video)"))


class OnnxModel:
    """An exported ``model.onnx`` under ONNX Runtime (CPU): ``model(clips) -> logits`` on tensors, and its metadata.

    Raises :class:`EvalError` naming the file when it is not an ONNX model written by this project.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise EvalError(f"{self.path}: no such ONNX model (export it with python -m nni_autotsnet.export ... --onnx)")
        try:
            self.session = _session(self.path, threads)
        except Exception as err:  # onnxruntime raises its own error types for a file that is not a model
            raise EvalError(f"{self.path}: not an ONNX model ({type(err).__name__})") from None
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.meta.get("format") != ONNX_FORMAT:
            raise EvalError(f"{self.path}: an ONNX model without metadata 'format' = {ONNX_FORMAT!r}; "
                            "not exported by nni_autotsnet.export --onnx")
        self.input_name = self.session.get_inputs()[0].name

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names in logit order, or ``None``."""
        names = json.loads(self.meta["classes"])
        return tuple(names) if names else None

    def input_spec(self, views: str | None = None) -> InputSpec:
        """The data preset and views recorded in the file (``views`` overrides the protocol)."""
        from nni_autotsnet.data import get_preset

        preset = get_preset(self.meta["data_preset"], num_frames=int(self.meta["input.frames"]),
                            stride=int(self.meta["input.stride"]), test_size=int(self.meta["input.short_side"]),
                            mean=tuple(json.loads(self.meta["input.mean"])),
                            std=tuple(json.loads(self.meta["input.std"])))
        clips, crops, protocol = canonical_views(views or self.meta["views"])
        return InputSpec(preset, clips, crops, protocol)

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: clips.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(out)
