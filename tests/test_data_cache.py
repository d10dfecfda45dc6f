"""The decoded-frame cache: same frames as the decoder, rebuilt when the list, a video or the size changes."""

from __future__ import annotations

import os
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from nni_autotsnet.data import SkippedVideoWarning, VideoReader, make_dataset, read_video_list, write_video
from nni_autotsnet.data.annotations import write_video_list
from nni_autotsnet.data.cache import FrameCache, cache_key, ensure_cache
from nni_autotsnet.data.testing import index_coded_frames, read_frame_indices, write_garbage


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Index-coded videos: constant rates (two sizes) and a variable-rate one, plus a list of them."""
    root = tmp_path_factory.mktemp("cache")
    rng = np.random.default_rng(0)
    stamps = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 0.12, 59))])
    write_video(root / "cfr.mp4", index_coded_frames(90, 64, 80), fps=25)
    write_video(root / "ntsc.mkv", index_coded_frames(70, 96, 128), fps=Fraction(30000, 1001))
    write_video(root / "vfr.mp4", index_coded_frames(60), fps=25, timestamps=stamps)
    write_video_list(root / "list.csv", [("cfr.mp4", 0), ("ntsc.mkv", 1), ("vfr.mp4", 0)])
    return root


def _times(info, n=40, seed=0):
    return np.random.default_rng(seed).uniform(-0.2, info.duration + 0.5, n)  # before, inside and past the ends


def test_cached_frames_are_the_decoders(clips, tmp_path):
    videos = read_video_list(str(clips / "list.csv"), None, None)
    cache = ensure_cache(videos, tmp_path, short_side=1000)  # no shrinking: byte-identical frames
    assert len(cache) == 3
    for i, record in enumerate(videos.records):
        with VideoReader(record.path) as reader:
            info = reader.info
            times = _times(info, seed=i)
            want = reader.frames_at(times)
        assert cache.info(i) == info
        got = cache.frames_at(i, times)
        np.testing.assert_array_equal(got.pts, want.pts)
        np.testing.assert_array_equal(got.frames, want.frames)
        assert list(read_frame_indices(got.frames)) == list(read_frame_indices(want.frames))


def test_frames_shrink_to_the_short_side(clips, tmp_path):
    videos = read_video_list(str(clips / "list.csv"), None, None)
    cache = ensure_cache(videos, tmp_path, short_side=48)
    shapes = [cache.frames_at(i, [0.0]).frames.shape[1:3] for i in range(3)]
    assert shapes == [(48, 60), (48, 64), (48, 60)]
    # still the right frames: the index bands survive the resize
    with VideoReader(videos.records[0].path) as reader:
        times = _times(reader.info)
        want = read_frame_indices(reader.frames_at(times).frames)
    got = torch.from_numpy(cache.frames_at(0, times).frames).permute(0, 3, 1, 2).float()
    back = torch.nn.functional.interpolate(got, size=(64, 80), mode="nearest").permute(0, 2, 3, 1).numpy()
    assert list(read_frame_indices(back)) == list(want)


def test_key_follows_the_list_the_videos_and_the_size(clips, tmp_path):
    videos = read_video_list(str(clips / "list.csv"), None, None)
    paths = [r.path for r in videos.records]
    key = cache_key(paths, 80)
    assert cache_key(paths, 80) == key
    assert cache_key(paths, 64) != key                      # another preset's size
    assert cache_key(paths[:2], 80) != key                  # a line removed from the list
    assert cache_key(list(reversed(paths)), 80) != key      # reordered (indices would change)
    stat = os.stat(paths[0])
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        assert cache_key(paths, 80) != key                  # a video rewritten
    finally:
        os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    first = ensure_cache(videos, tmp_path, 80)
    assert ensure_cache(videos, tmp_path, 80).folder == first.folder  # reused, not rebuilt
    assert ensure_cache(videos, tmp_path, 64).folder != first.folder


def test_datasets_read_through_the_cache(clips, tmp_path):
    """Test views through the cache equal decoding; training clips have the same shapes and labels."""
    common = dict(preset="tiny", num_frames=4, stride=3)
    plain = make_dataset(clips / "list.csv", split="test", views=2, **common)
    cached = make_dataset(clips / "list.csv", split="test", views=2, **common,
                          cache=str(tmp_path))
    for i in range(3):
        a, b = plain[i], cached[i]
        assert a[1:] == b[1:]
        # the cache holds frames resized to the test size once; decoding resizes the same frames the same way
        torch.testing.assert_close(a[0], b[0], atol=0.05, rtol=0)
    train = make_dataset(clips / "list.csv", split="train", **common, cache=str(tmp_path))
    clip, label = train[1]
    assert clip.shape == (3, 4, 64, 64) and label == 1
    # a DataLoader worker gets the cache by pickling: the memory map is reopened there, not copied
    loader = torch.utils.data.DataLoader(train, batch_size=3, num_workers=1)
    assert next(iter(loader))[0].shape == (3, 3, 4, 64, 64)


def test_a_bad_video_is_skipped_as_without_a_cache(clips, tmp_path):
    write_garbage(tmp_path / "bad.mp4")
    os.symlink(clips / "cfr.mp4", tmp_path / "good.mp4")
    write_video_list(tmp_path / "list.csv", [("bad.mp4", 0), ("good.mp4", 1)])
    data = make_dataset(tmp_path / "list.csv", split="train", preset="tiny", cache=str(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clip, label = data[0]
    assert label == 1  # replaced by the good video
    assert any(issubclass(w.category, SkippedVideoWarning) and "bad.mp4" in str(w.message) for w in caught)
    assert [(os.path.basename(p), reason) for p, reason in data.skipped_videos()] == [("bad.mp4", "cannot open")]


def test_an_interrupted_build_leaves_nothing(clips, tmp_path, monkeypatch):
    import nni_autotsnet.data.cache as cache_module

    calls = []

    def interrupted(job):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    real = cache_module._decode_one
    monkeypatch.setattr(cache_module, "_decode_one", interrupted)
    videos = read_video_list(str(clips / "list.csv"), None, None)
    with pytest.raises(KeyboardInterrupt):
        ensure_cache(videos, tmp_path, 80, workers=1)
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]
    monkeypatch.setattr(cache_module, "_decode_one", real)
    assert isinstance(ensure_cache(videos, tmp_path, 80, workers=1), FrameCache)
