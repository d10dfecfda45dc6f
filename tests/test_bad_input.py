"""One catalogue of bad input: every case gives a clear error naming the file, line, key or value, or a
counted skip; never a traceback from deep inside, never a silent loss.

Each case below is one parametrized test id (``pytest -q tests/test_bad_input.py -k ID``).

Videos (a list of [bad video, good video]; the test split replaces the bad one by the next). Each bad one is
skipped with a SkippedVideoWarning "skipping FILE (LIST:2): REASON", counted by skipped_count(), skipped_videos()
and skip_report(); ``python -m nni_autotsnet.data check LIST`` exits 1 with "FAILED FILE: REASON"; with
strict=True the dataset raises VideoDecodeError "FILE: REASON". The REASON per case:
  video-corrupt           garbage bytes                     -> cannot open: Invalid data found ...
  video-truncated_mp4     half a real mp4                   -> cannot open (its index, at the end, is cut off)
  video-truncated_mkv     half a real mkv                   -> truncated: frames stop at 1.xx s of 3.00 s
  video-empty             zero bytes                        -> empty file
  video-zero_frames_avi   a video stream and no frames      -> decode error: [Errno 1] Operation not permitted
  video-zero_frames_mp4   a video stream and no frames      -> no video stream (FFmpeg drops an empty mp4 track)
  video-missing           no such path                      -> missing file
  loads-short             5 frames < one clip -> loads, the clip clamped on the last frame, nothing skipped
  loads-odd_size_65x47    odd width and height -> loads with the preset's shape (write_video refuses it: ValueError)
  loads-fps_7, loads-fps_59.94   odd frame rates -> loads with the right shape and the right frames
List files (make_dataset and ``data check``, which exits 2):
  list-bad_line_csv, list-bad_line_slowfast   wrong number of fields -> AnnotationError "LIST:LINE: expected ..."
  list-unknown_label      a class not in labels.txt  -> "LIST:LINE: unknown class 'fly_away'"
  list-index_out_of_range a class index >= classes   -> "LIST:LINE: class index 12 out of range"
  list-duplicate_path     a video listed twice       -> "LIST:4: duplicate path ./a.mp4 (first on line 2)"
  list-not_utf8           binary list file           -> "LIST: not UTF-8 text"
  list_reads-bom-crlf, ...  a list and labels file saved with a UTF-8 byte-order mark (Excel's "CSV UTF-8") and/or
                          Windows line endings read as the plain file does (was: the BOM made the header a video row)
YAML config (load_config raises ConfigError; ``search --config`` exits 2 and writes nothing):
  config-unknown_key, config-wrong_type, config-not_a_mapping, config-window_reversed (T_min > T_max),
  config-negative_beta, config-zero_K, config-part_without_mutable (preset with attention.stages: [] and
  parts [sparse, fusion, all]) -> the message names the config file and the dotted key
Preset YAML (load_preset raises PresetError; through a config, ConfigError with the same text):
  preset-unknown_key, preset-bad_width, preset-wrong_type, preset-alpha_not_dividing -> file and dotted key
Arch JSON (``export --arch F --preset tiny`` and ``train --arch F --config experiments/tiny.yaml`` exit 2):
  arch-unknown_label, arch-value_outside_choices, arch-missing_label, arch-another_preset (an S arch),
  arch-another_preset_bare (an S arch without its preset), arch-not_json -> the file and the label / value
Checkpoints (``evaluate --checkpoint`` exits 2 naming the file; nothing is unpickled):
  ckpt-model_pt_other_widths, ckpt-last_ckpt_other_arch   weights that do not fit the stored arch
  ckpt-model_pt_unknown_label   a stored arch not of its preset's space (was: a message without the file)
  ckpt-truncated, ckpt-garbage, ckpt-pickled_object        "not a checkpoint written by nni_autotsnet.train or
                          nni_autotsnet.export (why)": what the file is not, never torch's advice to load it with
                          weights_only=False
  resume-other_arch       ``train --resume`` of a run that trained another arch -> exit 2 naming RUN/arch.json
  resume-other_arch_without_arch_json   the same with no arch.json -> exit 2 naming RUN/last.ckpt (was: Lightning's
                          size-mismatch traceback after arch.json and config.yaml had been rewritten)
  resume-truncated_last_ckpt            -> exit 2 naming RUN/last.ckpt, "not a last.ckpt written by
                          nni_autotsnet.train (a truncated or damaged file ...)" (was: a traceback from torch.load)
  each leaves every file of the run directory unchanged
Controls: the unedited model.pt and last.ckpt evaluate (exit 0); resuming the same arch goes on (exit 0).
Disk full mid-write (the write raises ENOSPC after half the bytes): the OSError propagates, the previous file
  is byte-identical and still loads: disk_full-AtomicCheckpointIO, disk_full-save_torch, disk_full-write_text
Unpickling: every ``torch.load(`` in nni_autotsnet/, search_space/, strategies/ passes weights_only=True (ast).
"""

from __future__ import annotations

import argparse
import ast
import errno
import io
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np
import pytest
import torch
import yaml

from nni_autotsnet import atomic
from nni_autotsnet import evaluate as evaluate_cli
from nni_autotsnet import export as export_cli
from nni_autotsnet import search as search_cli
from nni_autotsnet import train as train_cli
from nni_autotsnet.config import ConfigError, load_config
from nni_autotsnet.data import (
    AnnotationError, SkippedVideoWarning, VideoDecodeError, VideoReader, make_dataset, probe_video, write_video,
)
from nni_autotsnet.data.__main__ import main as data_main
from nni_autotsnet.data.clip_sampling import UniformClipSampler
from nni_autotsnet.data.testing import (
    index_coded_frames, read_frame_indices, truncate_copy, write_empty, write_garbage,
)
from nni_autotsnet.search_space import PresetError, load_preset, make_layout, save_arch
from nni_autotsnet.search_space.presets import PRESET_DIR

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "experiments" / "tiny.yaml")
QUICK = ["train.epochs=1", "train.epoch_scale=1.0", "train.warmup_epochs=0", "data.batch_size=4",
         "data.num_workers=0", "trainer.threads=1"]


# ------------------------------------------------------------------------------------------------
# Shared fixtures: built once for the module
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench(small_bench) -> Path:
    return small_bench


@pytest.fixture(scope="module")
def labels(bench) -> str:
    return str(bench / "labels.txt")


@pytest.fixture(scope="module")
def good_video(bench) -> Path:
    first = (bench / "train.csv").read_text().splitlines()[1].split(",")[0]
    return bench / first


@pytest.fixture(scope="module")
def tiny_arch() -> dict:
    from nni_autotsnet.search_space import TwoStreamSpace

    return TwoStreamSpace.from_preset("tiny", parts="sparse").default_arch()


@pytest.fixture(scope="module")
def exported(tiny_arch, tmp_path_factory) -> Path:
    """A real ``model.pt`` of the tiny sparse default arch, written by the export command."""
    folder = tmp_path_factory.mktemp("exported")
    save_arch(tiny_arch, folder / "arch.json", "tiny", "sparse")
    assert export_cli.main(["--arch", str(folder / "arch.json"), "--out", str(folder / "export"),
                            "--latency-runs", "0"]) == 0
    return folder / "export" / "model.pt"


@pytest.fixture(scope="module")
def run_dir(tiny_arch, bench, tmp_path_factory) -> Path:
    """A finished one-epoch training run (config.yaml, arch.json, last.ckpt, model.pt)."""
    from nni_autotsnet.training import train

    out = tmp_path_factory.mktemp("train") / "run"
    train(load_config(CONFIG, [*QUICK, f"data.benchmark={bench}"]), tiny_arch, "tiny", "sparse", out)
    return out


@pytest.fixture(scope="module")
def eval_config(bench, tmp_path_factory) -> Path:
    """A config whose benchmark is the small one (so a case that wrongly went on would not build a big one)."""
    path = tmp_path_factory.mktemp("eval_config") / "eval.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "data": {"benchmark": str(bench), "num_workers": 0},
                                    "trainer": {"accelerator": "cpu", "threads": 1}}))
    return path


# ------------------------------------------------------------------------------------------------
# Videos that fail: skipped, counted, named
# ------------------------------------------------------------------------------------------------
def _zero_frame_video(path: Path, codec: str) -> Path:
    """A container with a video stream and no frames: the header is written, no packet ever is."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
        assert stream.encode(None) == []
    return path


def _truncated_mkv(tmp: Path, good: Path) -> Path:
    write_video(tmp / "full.mkv", index_coded_frames(75), fps=25)
    # Half of it: Matroska's cues are lost with the end, the clusters before the cut still decode and stop
    # at 1.5 s of the 3 s the header promises. (At 30% FFmpeg cannot even seek to 0 and the reason reads
    # "decode error: [Errno 1] Operation not permitted": skipped and named too, but less telling.)
    return truncate_copy(tmp / "full.mkv", tmp / "truncated.mkv", 0.5)


# id -> (make the bad file in a folder from a good video, the reason its skip gives)
BAD_VIDEOS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "corrupt": (lambda tmp, good: write_garbage(tmp / "corrupt.mp4"), "cannot open"),
    # half an mp4 loses the index (moov) that PyAV writes at the end: FFmpeg cannot open it
    "truncated_mp4": (lambda tmp, good: truncate_copy(good, tmp / "truncated.mp4", 0.5), "cannot open"),
    "truncated_mkv": (_truncated_mkv, "truncated"),
    "empty": (lambda tmp, good: write_empty(tmp / "empty.mp4"), "empty file"),
    # AVI keeps the empty stream; seeking in it fails ("Operation not permitted", FFmpeg's EPERM)
    "zero_frames_avi": (lambda tmp, good: _zero_frame_video(tmp / "zero.avi", "mpeg4"), "decode error"),
    # the mp4 muxer writes the track, FFmpeg's mov demuxer drops a track without samples
    "zero_frames_mp4": (lambda tmp, good: _zero_frame_video(tmp / "zero.mp4", "libx264"), "no video stream"),
    "missing": (lambda tmp, good: tmp / "not_here.mp4", "missing file"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS), ids=[f"video-{c}" for c in BAD_VIDEOS])
def test_a_bad_video_is_skipped_counted_and_named(case, good_video, labels, tmp_path, capsys):
    make, reason = BAD_VIDEOS[case]
    bad = make(tmp_path, good_video)
    lst = tmp_path / "list.csv"
    lst.write_text(f"path,label\n{bad.name},move_right\n{good_video},move_left\n")  # the bad video on line 2

    ds = make_dataset(lst, split="test", preset="tiny", views=1, labels_file=labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        views, label, index = ds[0]
    assert index == 1 and label == 1 and views.shape == (1, 3, 8, 64, 64)  # replaced by the next video
    skips = [str(w.message) for w in caught if issubclass(w.category, SkippedVideoWarning)]
    assert len(skips) == 1, skips
    assert skips[0].startswith(f"skipping {bad} ({lst}:2): {reason}"), skips[0]
    assert ds.skipped_count() == 1 and ds.skipped_videos() == [(str(bad), reason)]
    assert ds.skip_report() == f"{lst}: skipped 1 time(s), 1 video(s): {bad} ({reason})"
    assert ds.skipped_count() == 0  # the report resets the count for the next epoch

    strict = make_dataset(lst, split="test", preset="tiny", views=1, labels_file=labels, strict=True)
    with pytest.raises(VideoDecodeError) as err:
        strict[0]
    assert str(err.value).startswith(f"{bad}: {reason}") and err.value.path == str(bad)

    assert data_main(["check", str(lst), "--labels-file", labels]) == 1
    out, err_text = capsys.readouterr()
    assert "1 of 2 videos decode" in out
    assert err_text.startswith(f"FAILED {bad}: {reason}") and err_text.count("\n") == 1


# ------------------------------------------------------------------------------------------------
# Unusual but valid videos: they load
# ------------------------------------------------------------------------------------------------
def _odd_size(path: Path, fps: float) -> Path:
    frames = index_coded_frames(40, height=47, width=65)
    with pytest.raises(ValueError, match="must be even for yuv420p, got 47x65"):
        write_video(path, frames, fps=fps)  # the writer refuses it clearly; H.264 in 4:4:4 stores it
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = 65, 47, "yuv444p"
        stream.codec_context.thread_count = 1
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode(None))
    return path


@dataclass(frozen=True)
class Unusual:
    make: Callable[[Path], Path]
    size: tuple[int, int]  # width, height
    fps: float
    frames: int


def _indexed(path: Path, frames: int, fps: float) -> Path:
    write_video(path, index_coded_frames(frames), fps=fps)
    return path


UNUSUAL_VIDEOS = {
    "short": Unusual(lambda p: _indexed(p, 5, 25), (80, 64), 25.0, 5),  # a tiny clip spans 29 frames
    "odd_size_65x47": Unusual(lambda p: _odd_size(p, 25), (65, 47), 25.0, 40),
    "fps_7": Unusual(lambda p: _indexed(p, 60, 7), (80, 64), 7.0, 60),
    "fps_59.94": Unusual(lambda p: _indexed(p, 90, Fraction(60000, 1001)), (80, 64), 60000 / 1001, 90),
}


@pytest.mark.parametrize("case", list(UNUSUAL_VIDEOS), ids=[f"loads-{c}" for c in UNUSUAL_VIDEOS])
def test_an_unusual_video_loads_with_the_right_shape(case, labels, tmp_path, capsys):
    spec = UNUSUAL_VIDEOS[case]
    video = spec.make(tmp_path / "video.mp4")
    info = probe_video(video)
    assert (info.width, info.height, info.num_frames) == (*spec.size, spec.frames)
    assert info.fps == pytest.approx(spec.fps, rel=1e-6)
    lst = tmp_path / "list.csv"
    lst.write_text(f"path,label\n{video.name},drift_slow\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedVideoWarning)
        test_ds = make_dataset(lst, split="test", preset="tiny", views=2, labels_file=labels)
        views, label, index = test_ds[0]
        train_ds = make_dataset(lst, split="train", preset="tiny", labels_file=labels)
        clip, _ = train_ds[0]
    assert views.shape == (2, 3, 8, 64, 64) and clip.shape == (3, 8, 64, 64) and (label, index) == (6, 0)
    assert torch.isfinite(views).all() and torch.isfinite(clip).all()
    assert test_ds.skipped_count() == train_ds.skipped_count() == 0
    if case != "odd_size_65x47":  # index-coded frames: the picked frames are the clip's, clamped at the end
        with VideoReader(video) as reader:
            clips = UniformClipSampler(8, 4, 2)(reader.info)
            times = np.concatenate([c.times for c in clips])
            picked = read_frame_indices(reader.frames_at(times).frames)
        expected = np.minimum(np.rint(times * spec.fps), spec.frames - 1)
        assert picked.tolist() == expected.astype(int).tolist()
        if case == "short":
            assert picked.tolist() == [0, 4, 4, 4, 4, 4, 4, 4] * 2
    assert data_main(["check", str(lst), "--labels-file", labels]) == 0
    assert "1 of 1 videos decode" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# List files
# ------------------------------------------------------------------------------------------------
# id -> (file name, text, bad line or None, what the message says)
BAD_LISTS = {
    "bad_line_csv": ("train.csv", "path,label\na.mp4,move_left\nb.mp4,move_left,extra\n", 3,
                     "expected 'path,label', got 3 field(s): 'b.mp4,move_left,extra'"),
    "bad_line_slowfast": ("train.txt", "a.mp4 0\nlonely_path_without_label\n", 2,
                          "expected 'path label', got 'lonely_path_without_label'"),
    "unknown_label": ("train.csv", "path,label\na.mp4,move_left\nb.mp4,fly_away\n", 3,
                      "unknown class 'fly_away' (not among the 10 classes)"),
    "index_out_of_range": ("train.txt", "a.mp4 0\nb.mp4 12\n", 2, "class index 12 out of range (0..9)"),
    "duplicate_path": ("train.csv", "path,label\na.mp4,move_left\nb.mp4,move_right\n./a.mp4,move_right\n", 4,
                       "duplicate path ./a.mp4 (first on line 2)"),
    "not_utf8": ("train.csv", b"path,label\n\xff\xfe\x00a.mp4,0\n", None, "not UTF-8 text (invalid start byte)"),
}


@pytest.mark.parametrize("case", list(BAD_LISTS), ids=[f"list-{c}" for c in BAD_LISTS])
def test_a_bad_list_file_names_file_and_line(case, labels, tmp_path, capsys):
    name, text, line, message = BAD_LISTS[case]
    lst = tmp_path / name
    lst.write_bytes(text if isinstance(text, bytes) else text.encode())
    where = f"{lst}:{line}" if line is not None else str(lst)
    for split in ("train", "test"):
        with pytest.raises(AnnotationError) as err:
            make_dataset(lst, split=split, preset="tiny", labels_file=labels)
        assert str(err.value) == f"{where}: {message}" and err.value.line == line
    assert data_main(["check", str(lst), "--labels-file", labels]) == 2
    assert capsys.readouterr().err == f"error: {where}: {message}\n"


@pytest.mark.parametrize("bom, newline", [(True, "\n"), (False, "\r\n"), (True, "\r\n")],
                         ids=["list_reads-bom", "list_reads-crlf", "list_reads-bom-crlf"])
def test_a_list_saved_by_excel_or_on_windows_reads_as_the_plain_file(bom, newline, labels, tmp_path, capsys):
    from nni_autotsnet.data.annotations import read_labels_file, read_video_list

    def save(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode())
        return path

    rows = "path,label\na.mp4,move_left\nb.mp4,drift_slow\n"
    plain = tmp_path / "plain" / "list.csv"
    plain.parent.mkdir()
    plain.write_text(rows)
    lst, names = save("list.csv", rows), save("labels.txt", Path(labels).read_text())
    assert read_labels_file(names) == read_labels_file(labels)
    expected = read_video_list(plain, tmp_path, read_labels_file(labels)).records
    assert read_video_list(lst, None, read_labels_file(names)).records == expected
    assert [(r.label, r.line) for r in expected] == [(1, 2), (6, 3)]
    ds = make_dataset(lst, split="test", preset="tiny", labels_file=str(names))  # and the dataset collects names
    assert ds.classes == read_labels_file(labels) and len(ds) == 2
    assert make_dataset(lst, split="train", preset="tiny", classes_from=str(save("train.csv", rows))).classes == \
        ("drift_slow", "move_left")


# ------------------------------------------------------------------------------------------------
# YAML configs and presets
# ------------------------------------------------------------------------------------------------
def _no_attention_preset(folder: Path) -> Path:
    data = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())
    data["attention"]["stages"] = []
    path = folder / "noatt.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _deep_update(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


# id -> (changes over a valid config, dotted key, what the message says)
BAD_CONFIGS: dict[str, tuple[Any, str, str]] = {
    "unknown_key": ({"search": {"betta": 0.1}}, "search.betta", "unknown key"),
    "wrong_type": ({"data": {"batch_size": "four"}}, "data.batch_size", "expected int, got 'four'"),
    "not_a_mapping": ({"search": 3}, "search", "must be a mapping, got 3"),
    "window_reversed": ({"search": {"beta": 0.1, "flops_window": [0.009, 0.006]}}, "search.flops_window",
                        "need 0 < T_min <= T_max, got T_min=0.009 > T_max=0.006"),
    "negative_beta": ({"search": {"beta": -0.1}}, "search.beta", "bad value -0.1 (beta must be >= 0)"),
    "zero_K": ({"search": {"num_samples": 0}}, "search.num_samples", "bad value 0 (K must be >= 1)"),
    "part_without_mutable": (lambda folder: {"preset": str(_no_attention_preset(folder)), "data": {"preset": "tiny"},
                                             "search": {"parts": ["sparse", "fusion", "all"]}},
                             "search.parts", "part 'all' names no mutable"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS), ids=[f"config-{c}" for c in BAD_CONFIGS])
def test_a_bad_config_names_file_and_key_and_writes_nothing(case, bench, tmp_path, capsys):
    changes, key, message = BAD_CONFIGS[case]
    changes = changes(tmp_path) if callable(changes) else changes
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_deep_update({"preset": "tiny", "data": {"benchmark": str(bench)}}, changes)))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and f"'{key}'" in text and message in text, text
    out = tmp_path / "out"
    assert search_cli.main(["--config", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {text}\n"
    assert not out.exists()


# id -> (edit of tiny.yaml's mapping, dotted key, what the message says)
BAD_PRESETS: dict[str, tuple[Callable[[dict], None], str, str]] = {
    "unknown_key": (lambda d: d["sparse"]["head"].update(innr=72), "sparse.head.innr", "unknown key"),
    "bad_width": (lambda d: d["sparse"]["stages"][1].update(width=99), "sparse.stages[1].width",
                  "bad value 99 (the default width must be one of (12, 16, 24))"),
    "wrong_type": (lambda d: d.update(crop="64px"), "crop", "expected int, got '64px'"),
    "alpha_not_dividing": (lambda d: d.update(alpha=3), "alpha", "bad value 3 (must be > 0 and divide frames=8)"),
}


@pytest.mark.parametrize("case", list(BAD_PRESETS), ids=[f"preset-{c}" for c in BAD_PRESETS])
def test_a_bad_preset_names_file_and_key(case, bench, tmp_path):
    edit, key, message = BAD_PRESETS[case]
    data = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())
    edit(data)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert str(err.value).startswith(f"{path}: key '{key}': ") and message in str(err.value), str(err.value)
    with pytest.raises(ConfigError) as err2:  # through a config that names it
        load_config(None, [f"preset={path}", f"data.benchmark={bench}", "data.preset=tiny"])
    assert str(err.value) in str(err2.value) and "key 'preset'" in str(err2.value)


# ------------------------------------------------------------------------------------------------
# Arch JSON
# ------------------------------------------------------------------------------------------------
def _s_arch() -> dict:
    return make_layout(load_preset("S"), "sparse").defaults()


# id -> (write the file, what stderr says for export, for train)
BAD_ARCHS: dict[str, tuple[Callable[[Path, dict], None], str, str]] = {
    "unknown_label": (lambda p, a: save_arch({**a, "sparse/s9_c": 8}, p, "tiny", "sparse"),
                      "unknown label 'sparse/s9_c' for preset 'tiny'", "unknown label 'sparse/s9_c' for preset 'tiny'"),
    "value_outside_choices": (lambda p, a: save_arch({**a, "sparse/s2_c": 7}, p, "tiny", "sparse"),
                              "label 'sparse/s2_c' has value 7, not one of [8, 12, 16]",
                              "label 'sparse/s2_c' has value 7, not one of [8, 12, 16]"),
    "missing_label": (lambda p, a: save_arch({k: v for k, v in a.items() if k != "sparse/s3_c"}, p, "tiny", "sparse"),
                      "missing label 'sparse/s3_c'", "missing label 'sparse/s3_c'"),
    "another_preset": (lambda p, a: save_arch(_s_arch(), p, "S", "sparse"),
                       "key 'preset' is 'S', but --preset 'tiny' was given",
                       "an architecture of preset 'S', but the config trains preset 'tiny'"),
    "another_preset_bare": (lambda p, a: p.write_text(json.dumps(_s_arch())),
                            "label 'sparse/s2_c' has value 24, not one of [8, 12, 16]",
                            "label 'sparse/s2_c' has value 24, not one of [8, 12, 16] (the file records no preset"),
    "not_json": (lambda p, a: p.write_text("{'sparse/s2_c': 8,"), "cannot read an architecture JSON",
                 "cannot read an architecture JSON"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHS), ids=[f"arch-{c}" for c in BAD_ARCHS])
def test_a_bad_arch_json_exits_2_naming_file_and_label(case, tiny_arch, bench, tmp_path, capsys):
    write, export_says, train_says = BAD_ARCHS[case]
    arch_file = tmp_path / "arch.json"
    write(arch_file, tiny_arch)
    out = tmp_path / "export"
    assert export_cli.main(["--arch", str(arch_file), "--preset", "tiny", "--out", str(out),
                            "--latency-runs", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {arch_file}: ") and export_says in err and err.count("\n") == 1, err
    assert not out.exists()
    run = tmp_path / "run"
    assert train_cli.main(["--arch", str(arch_file), "--config", CONFIG, "--out", str(run),
                           f"data.benchmark={bench}", *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {arch_file}: ") and train_says in err and err.count("\n") == 1, err
    assert not run.exists()


# ------------------------------------------------------------------------------------------------
# Checkpoints of another space; nothing a user gives is unpickled
# ------------------------------------------------------------------------------------------------
def _edited(source: Path, target: Path, edit: Callable[[dict], None]) -> Path:
    data = torch.load(source, map_location="cpu", weights_only=True)
    edit(data)
    torch.save(data, target)
    return target


def _other_width(arch: dict) -> None:
    arch["sparse/s2_c"] = 12 if arch["sparse/s2_c"] != 12 else 16


NOT_A_CHECKPOINT = "not a checkpoint written by nni_autotsnet.train or nni_autotsnet.export"

# id -> (make the checkpoint from (exported model.pt, run dir, folder), what stderr says after the file name)
BAD_CHECKPOINTS: dict[str, tuple[Callable[[Path, Path, Path], Path], str]] = {
    "model_pt_other_widths": (lambda pt, run, tmp: _edited(pt, tmp / "model.pt", lambda d: _other_width(d["arch"])),
                              "the weights do not fit the architecture it stores"),
    "last_ckpt_other_arch": (lambda pt, run, tmp: _edited(run / "last.ckpt", tmp / "last.ckpt",
                                                          lambda d: _other_width(d["hyper_parameters"]["arch"])),
                             "the weights do not fit the architecture it stores"),
    "model_pt_unknown_label": (lambda pt, run, tmp: _edited(pt, tmp / "model.pt",
                                                            lambda d: d["arch"].update({"sparse/s9_c": 8})),
                               "the architecture it stores is not of its preset's space: arch: unknown label "
                               "'sparse/s9_c'"),
    "truncated": (lambda pt, run, tmp: truncate_copy(pt, tmp / "model.pt", 0.5),
                  f"{NOT_A_CHECKPOINT} (a truncated or damaged file: it ends before its index)"),
    "garbage": (lambda pt, run, tmp: write_garbage(tmp / "model.pt"),
                f"{NOT_A_CHECKPOINT} (not a file of PyTorch tensors)"),
    # a pickled object of a class torch's weights_only unpickler does not allow: refused, never built
    "pickled_object": (lambda pt, run, tmp: _edited(pt, tmp / "model.pt",
                                                    lambda d: d.update(extra=argparse.Namespace(x=1))),
                       f"{NOT_A_CHECKPOINT} (it holds a pickled argparse.Namespace object, and only tensors and plain "
                       "data are read from a file)"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS), ids=[f"ckpt-{c}" for c in BAD_CHECKPOINTS])
def test_a_checkpoint_of_another_space_exits_2_naming_the_file(case, exported, run_dir, eval_config, tmp_path,
                                                               capsys):
    make, says = BAD_CHECKPOINTS[case]
    checkpoint = make(exported, run_dir, tmp_path)
    out = tmp_path / "eval"
    assert evaluate_cli.main(["--checkpoint", str(checkpoint), "--config", str(eval_config), "--views", "1",
                              "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: {says}") and err.count("\n") == 1, err
    assert "weights_only" not in err  # never the advice to unpickle a file of unknown origin
    assert not out.exists()


def test_the_shared_checkpoints_are_good(exported, run_dir, eval_config, tmp_path):
    """The control of the cases above: unedited, both files evaluate."""
    for checkpoint in (exported, run_dir / "last.ckpt"):
        assert evaluate_cli.main(["--checkpoint", str(checkpoint), "--config", str(eval_config), "--views", "1",
                                  "--out", str(tmp_path / checkpoint.stem)]) == 0


def _other_arch(arch: dict) -> dict:
    other = dict(arch)
    _other_width(other)
    return other


def _truncate_in_place(path: Path) -> None:
    truncate_copy(path, path.with_name(path.name + ".half"))
    os.replace(path.with_name(path.name + ".half"), path)


# id -> (change the copied run directory, whether the resume asks for another arch, the file named, the message)
BAD_RESUMES: dict[str, tuple[Callable[[Path], Any], bool, str, str]] = {
    "other_arch": (lambda run: None, True, "arch.json", "the run being resumed trained another architecture"),
    # no arch.json (deleted, or a last.ckpt copied in): the checkpoint's own hyper-parameters say which arch
    "other_arch_without_arch_json": (lambda run: (run / "arch.json").unlink(), True, "last.ckpt",
                                     "the run being resumed trained another architecture"),
    "truncated_last_ckpt": (lambda run: _truncate_in_place(run / "last.ckpt"), False, "last.ckpt",
                            "not a last.ckpt written by nni_autotsnet.train (a truncated or damaged file"),
}


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


@pytest.mark.parametrize("case", list(BAD_RESUMES), ids=[f"resume-{c}" for c in BAD_RESUMES])
def test_resuming_a_run_it_cannot_continue_exits_2_and_changes_nothing(case, run_dir, tiny_arch, bench, tmp_path,
                                                                       capsys):
    prepare, other, named, message = BAD_RESUMES[case]
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    prepare(run)
    before = _files(run)
    arch_file = tmp_path / "arch.json"
    save_arch(_other_arch(tiny_arch) if other else tiny_arch, arch_file, "tiny", "sparse")
    assert train_cli.main(["--arch", str(arch_file), "--config", CONFIG, "--out", str(run), "--resume",
                           f"data.benchmark={bench}", *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / named}: {message}") and err.count("\n") == 1, err
    assert _files(run) == before  # arch.json and config.yaml are not rewritten for a run that cannot go on


def test_resuming_the_same_arch_goes_on(run_dir, tiny_arch, bench, tmp_path):
    """The control of the resume cases: the same arch with one more epoch continues the run."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    arch_file = tmp_path / "arch.json"
    save_arch(tiny_arch, arch_file, "tiny", "sparse")
    assert train_cli.main(["--arch", str(arch_file), "--config", CONFIG, "--out", str(run), "--resume",
                           f"data.benchmark={bench}", *QUICK, "train.epochs=2"]) == 0
    assert torch.load(run / "last.ckpt", weights_only=True)["epoch"] == 1


# ------------------------------------------------------------------------------------------------
# A disk that fills mid-write
# ------------------------------------------------------------------------------------------------
def _half_then_enospc(payload: bytes, target: Any) -> None:
    with open(target, "wb") as fh:
        fh.write(payload[: len(payload) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))


def _torch_bytes(obj: Any, save=torch.save) -> bytes:
    buffer = io.BytesIO()
    save(obj, buffer)
    return buffer.getvalue()


def _ckpt_io_write(obj: Any, path: Path) -> None:
    from nni_autotsnet.atomic import AtomicCheckpointIO

    AtomicCheckpointIO().save_checkpoint(obj, path)


def _ckpt_io_full(monkeypatch) -> None:
    """Lightning's writer (the parent class) runs out of space half-way through AtomicCheckpointIO's temp file."""
    from lightning_fabric.plugins import TorchCheckpointIO

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", lambda self, checkpoint, path, storage_options=None:
                        _half_then_enospc(_torch_bytes(checkpoint), path))


def _torch_save_full(monkeypatch) -> None:
    real = torch.save
    monkeypatch.setattr(torch, "save", lambda o, f, *a, **k: _half_then_enospc(_torch_bytes(o, real), f))


def _write_text_full(monkeypatch) -> None:
    monkeypatch.setattr(Path, "write_text", lambda self, text, *a, **k: _half_then_enospc(text.encode(), self))


def _load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


@dataclass(frozen=True)
class Writer:
    write: Callable[[Any, Path], None]
    fill_disk: Callable[[Any], None]  # patches the underlying write (monkeypatch) to fail half-way
    load: Callable[[Path], Any]
    name: str
    make: Callable[[int], Any] = field(
        default=lambda epoch: {"epoch": epoch, "state_dict": {"w": torch.full((64,), epoch)}})


DISK_WRITERS = {
    "AtomicCheckpointIO": Writer(_ckpt_io_write, _ckpt_io_full, _load_torch, "last.ckpt"),
    "save_torch": Writer(lambda obj, p: atomic.save_torch(obj, p), _torch_save_full, _load_torch,
                           "supernet.pt"),
    "write_text": Writer(lambda obj, p: atomic.write_text(json.dumps(obj), p), _write_text_full,
                           lambda p: json.loads(p.read_text()), "result.json",
                           make=lambda epoch: {"epoch": epoch, "accuracy": 0.5 + epoch / 10}),
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


@pytest.mark.parametrize("case", list(DISK_WRITERS), ids=[f"disk_full-{c}" for c in DISK_WRITERS])
def test_a_disk_that_fills_mid_write_keeps_the_previous_file(case, tmp_path, monkeypatch):
    writer = DISK_WRITERS[case]
    path = tmp_path / writer.name
    first = writer.make(1)
    writer.write(first, path)
    before = path.read_bytes()
    assert _same(writer.load(path), first)
    with monkeypatch.context() as m:
        writer.fill_disk(m)
        with pytest.raises(OSError) as err:
            writer.write(writer.make(2), path)
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and _same(writer.load(path), first)
    assert not list(tmp_path.glob(f"{writer.name}*.tmp"))  # the half-written temporary is gone, never renamed
    writer.write(writer.make(3), path)  # space again: the next write replaces the file
    assert _same(writer.load(path), writer.make(3)) and not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------------------------------------
# No file a user gives is unpickled
# ------------------------------------------------------------------------------------------------
def _torch_load_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls of ``torch.load``, ``torch.serialization.load`` or a ``load`` imported from torch."""
    local = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and (node.module or "").startswith("torch") for alias in node.names if alias.name == "load"}
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in local:
            calls.append(node)
        elif isinstance(func, ast.Attribute) and func.attr == "load":
            root = func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id == "torch":
                calls.append(node)
    return calls


def test_every_torch_load_passes_weights_only_true():
    files = sorted(p for folder in ("nni_autotsnet", "search_space", "strategies")
                   for p in (REPO / folder).rglob("*.py"))
    assert len(files) > 30
    found, bad = 0, []
    for file in files:
        for call in _torch_load_calls(ast.parse(file.read_text(), str(file))):
            found += 1
            flag = next((kw.value for kw in call.keywords if kw.arg == "weights_only"), None)
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                bad.append(f"{file.relative_to(REPO)}:{call.lineno}: {ast.unparse(call)}")
    assert found >= 1  # the scan does see the loads (errors.load_weights_file: every user file goes through it)
    assert not bad, "torch.load without weights_only=True:\n" + "\n".join(bad)
    # and no other unpickler is imported at all
    unpicklers = {"pickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve"}
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & unpicklers, f"{file.relative_to(REPO)}:{node.lineno}"
