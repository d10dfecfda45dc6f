"""``benchmarks/generalise.py``'s data set: decodable H.264 mp4s behind an official Kinetics CSV."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from nni_autotsnet.data import VideoReader, read_labels_file, read_video_list

ROOT = Path(__file__).resolve().parents[1]


def _generalise():
    spec = importlib.util.spec_from_file_location("generalise", ROOT / "benchmarks" / "generalise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_kinetics_list_reads_back_with_its_labels_and_decodes(tmp_path):
    g = _generalise()
    lists = g.build_dataset(tmp_path, {"train": 2}, seed=3, log=lambda *_: None)
    text = lists["train"].read_text()
    assert lists["train"].name == "train.csv" and text.startswith("label,youtube_id,time_start,time_end,split\n")
    classes = read_labels_file(tmp_path / "labels.txt")
    assert classes == g.CLASSES
    videos = read_video_list(lists["train"], root=tmp_path, classes=classes)
    assert sorted(r.label for r in videos.records) == sorted(list(range(len(classes))) * 2)
    for record in videos.records:  # found in <split>/<label>/NAME, label with its spaces
        path = Path(record.path)
        assert path.parent == tmp_path / "train" / classes[record.label]
        with VideoReader(record.path) as reader:
            assert reader.info.codec == "h264" and 1.9 < reader.info.duration < 2.1
            frames = reader.frames_at(np.array([0.0, 1.0])).frames
        assert frames.shape[0] == 2 and frames.shape[-1] == 3 and frames.std() > 10


def test_arch_options_take_x3d_a_search_folder_or_a_file_and_name_a_bad_one(tmp_path):
    import pytest

    from nni_autotsnet.search_space import ArchError, load_arch, save_arch, x3d_like_arch
    from nni_autotsnet.search_space.arch import arch_digest

    g = _generalise()
    args = g._parser().parse_args(["--arch", "x3d", "--arch", str(tmp_path / "search"), "--seeds", "0,2",
                                   "train.ema_decay=0.995"])
    assert args.arch == ["x3d", str(tmp_path / "search")] and args.seeds == [0, 2]
    assert args.overrides == ["train.ema_decay=0.995"]
    label, path = g._arch_file("x3d", tmp_path)
    assert label == "x3d" and load_arch(path)[2] == "sparse"
    (tmp_path / "search").mkdir()
    arch = x3d_like_arch("tiny32", (0.0018, 0.0024))
    save_arch(arch, tmp_path / "search" / "arch.json", "tiny32", "sparse")
    assert g._arch_file(str(tmp_path / "search"), tmp_path) == (arch_digest(arch), tmp_path / "search" / "arch.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ArchError, match="bad.json"):
        g._arch_file(str(tmp_path / "bad.json"), tmp_path)
    with pytest.raises(SystemExit):
        g._parser().parse_args(["--seeds", "a,b"])
