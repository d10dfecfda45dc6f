"""``benchmarks/generalise.py``'s data set: decodable H.264 mp4s behind an official Kinetics CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nni_autotsnet.data import VideoReader, read_labels_file, read_video_list

from toys import load_script


def test_the_generated_kinetics_list_reads_back_with_its_labels_and_decodes(tmp_path):
    g = load_script("generalise")
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

    g = load_script("generalise")
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


def test_the_fast_family_differs_from_steady_only_every_other_stride_and_a_sparse_clip_cannot_tell(tmp_path):
    """Same draws, another class: identical in state A, changed in state B (period 2 x stride); through H.264 and
    PyAV a clip's dense frames (stride apart) show the change at every other frame, its sparse ones (2 x stride
    apart, from a state-A start) match the steady video."""
    from nni_autotsnet.data import write_video
    from nni_autotsnet.data.clip_sampling import clip_times

    g = load_script("generalise")
    stride = 4
    assert g.FAMILIES["fast"][0] == "steady" and len(set(g.FAMILIES["fast"])) == 5
    for seed in range(3):
        steady, fps = g.render_fast("steady", np.random.default_rng(seed), stride)
        for label in g.FAST_CLASSES[1:]:
            video, fps_x = g.render_fast(label, np.random.default_rng(seed), stride)
            assert fps_x == fps and video.shape == steady.shape
            changed = np.flatnonzero((video != steady).any(axis=(1, 2, 3)))
            phase = [p for p in range(2 * stride)
                     if np.array_equal(changed, np.flatnonzero((np.arange(len(video)) + p) // stride % 2 == 1))]
            assert len(phase) == 1, (label, seed, changed[:12])  # exactly the square wave, no other difference
    # through the encoder and the decoder, the model's way: 8 frames `stride` apart
    steady, fps = g.render_fast("steady", np.random.default_rng(7), stride)
    shake, _ = g.render_fast("shake sideways", np.random.default_rng(7), stride)
    a_frames = np.flatnonzero(~(shake != steady).any(axis=(1, 2, 3)))
    paths = []
    for name, video in (("steady", steady), ("shake", shake)):
        paths.append(tmp_path / f"{name}.mp4")
        write_video(paths[-1], video, fps=fps)
    clips = []
    for path in paths:
        with VideoReader(str(path)) as reader:
            times = clip_times(int(a_frames[0]), 8, stride, reader.info)
            clips.append(reader.frames_at(times).frames.astype(float))
    diff = np.abs(clips[0] - clips[1]).mean(axis=(1, 2, 3))
    assert diff[::2].max() < 2.0, diff  # what a sparse stream with alpha 2 sees: the same video
    assert diff[1::2].min() > 4 * max(diff[::2].max(), 0.5), diff  # what the dense stream adds: the shake
