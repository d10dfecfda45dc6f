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
