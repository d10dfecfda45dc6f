"""Videos as the public data sets ship them, encoded here through PyAV, decoded by the loader.

VP9 webm (SSv2), MPEG-4 Part 2 avi (UCF101, HMDB51), H.264 mkv, HEVC mp4, a variable frame rate, a
phone video stored sideways with a display matrix, audio streams, 4:3 and 9:16 frames and a video
shorter than one clip. Every frame shows its own index (``index_coded_frames``), so each case checks
which frames came out, not only their shape; the phone video also checks a corner marker.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nni_autotsnet.data import SkippedVideoWarning, VideoReader, make_dataset, probe_video, write_video
from nni_autotsnet.data.annotations import write_video_list
from nni_autotsnet.data.testing import index_coded_frames, read_frame_indices, truncate_copy

N = 40  # frames per video (the short one: SHORT)
SHORT = 10  # fewer than one tiny clip spans (8 frames x stride 4 = 29)
VP9 = {"deadline": "realtime", "cpu-used": "8"}

# name -> (write_video arguments, (height, width) as encoded, codec the container reports)
CASES = {
    "vp9_opus.webm": (dict(codec="libvpx-vp9", options=VP9, audio="libopus"), (64, 80), "vp9"),
    "mpeg4_mp3.avi": (dict(codec="mpeg4", audio="mp3"), (64, 80), "mpeg4"),
    "h264.mkv": (dict(), (64, 80), "h264"),
    "hevc_aac.mp4": (dict(codec="libx265", audio="aac"), (64, 80), "hevc"),
    "4x3.mp4": (dict(), (72, 96), "h264"),
    "9x16.mp4": (dict(), (128, 72), "h264"),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = {}
    for name, (kw, (h, w), _) in CASES.items():
        paths[name] = root / name
        write_video(paths[name], index_coded_frames(N, h, w), fps=25, **kw)
    rng = np.random.default_rng(0)
    stamps = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.1, N - 1))])
    paths["vfr.mp4"], paths["stamps"] = root / "vfr.mp4", stamps
    write_video(paths["vfr.mp4"], index_coded_frames(N), fps=25, timestamps=stamps)
    paths["short.mp4"] = root / "short.mp4"
    write_video(paths["short.mp4"], index_coded_frames(SHORT), fps=25)
    # A phone held upright: the picture is portrait (80 x 64, red marker top left), the camera stores it
    # turned a quarter counter-clockwise (landscape) with a display matrix of -90 (turn clockwise to show).
    upright = index_coded_frames(N, 80, 64)
    upright[:, :12, :12] = (255, 0, 0)
    paths["upright"] = upright
    paths["phone.mp4"] = root / "phone.mp4"
    write_video(paths["phone.mp4"], np.ascontiguousarray(np.rot90(upright, 1, axes=(1, 2))), fps=30,
                rotation=-90, audio="aac")
    paths["truncated.webm"] = truncate_copy(paths["vp9_opus.webm"], root / "truncated.webm", 0.4)
    return paths


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_frame_decodes_to_its_index(videos, name):
    kw, (h, w), codec = CASES[name]
    info = probe_video(videos[name])
    assert (info.codec, info.height, info.width, info.fps) == (codec, h, w, 25.0)
    with VideoReader(videos[name]) as reader:
        decoded = reader.frames_at(np.arange(N) / 25)
        assert decoded.frames.shape == (N, h, w, 3) and decoded.rotation == 0
        np.testing.assert_array_equal(read_frame_indices(decoded.frames), np.arange(N))
        # and a strided clip from the middle, after a seek
        clip = reader.frames_at((13 + 4 * np.arange(6)) / 25)
        np.testing.assert_array_equal(read_frame_indices(clip.frames), 13 + 4 * np.arange(6))


def test_variable_frame_rate_picks_the_frame_on_screen(videos):
    stamps = videos["stamps"]
    times = np.sort(np.random.default_rng(1).uniform(0, stamps[-1], 25))
    with VideoReader(videos["vfr.mp4"]) as reader:
        got = read_frame_indices(reader.frames_at(times).frames)
    np.testing.assert_array_equal(got, np.searchsorted(np.round(stamps, 3), times + 1e-4, side="right") - 1)


def test_phone_video_comes_out_upright(videos):
    """PyAV 18.1 reads no 'rotate' tag; the display matrix on each frame turns it (marker top left)."""
    with VideoReader(videos["phone.mp4"]) as reader:
        assert (reader.info.width, reader.info.height) == (80, 64)  # as stored
        decoded = reader.frames_at(np.arange(0, N, 3) / 30)
    assert decoded.rotation == 270 and decoded.frames.shape[1:] == (80, 64, 3)  # portrait, as shown
    np.testing.assert_array_equal(read_frame_indices(decoded.frames), np.arange(0, N, 3))
    corner = decoded.frames[:, 2:10, 2:10].reshape(-1, 3).mean(0)
    assert corner[0] > 200 and corner[1] < 60 and corner[2] < 60  # red, top left
    for rows, cols in ((slice(-10, -2), slice(2, 10)), (slice(2, 10), slice(-10, -2)), (slice(-10, -2), slice(-10, -2))):
        other = decoded.frames[:, rows, cols].astype(int)
        assert (np.abs(other[..., 0] - other[..., 1]) < 40).all()  # grey levels: no marker there
    np.testing.assert_allclose(decoded.frames[:, 20:, :].astype(int), videos["upright"][::3, 20:, :], atol=40)


def test_video_shorter_than_a_clip_repeats_its_last_frame(videos):
    info = probe_video(videos["short.mp4"])
    assert info.num_frames == SHORT
    with VideoReader(videos["short.mp4"]) as reader:
        got = read_frame_indices(reader.frames_at(4 * np.arange(8) / 25).frames)
    np.testing.assert_array_equal(got, np.minimum(4 * np.arange(8), SHORT - 1))


def test_each_case_trains_through_the_dataset_or_is_skipped_with_its_reason(videos, tmp_path):
    names = sorted(CASES) + ["vfr.mp4", "short.mp4", "phone.mp4", "truncated.webm"]
    lst = tmp_path / "all.csv"
    write_video_list(lst, [(str(videos[n]), i % 2) for i, n in enumerate(names)])
    ds = make_dataset(lst, split="train", preset="tiny", strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, name in enumerate(names):
            clip, label = ds[i]  # the truncated file is replaced by another video, with its label
            assert clip.shape == (3, 8, 64, 64) and bool(clip.isfinite().all())
            assert label == i % 2 or name == "truncated.webm"
    skipped = [str(w.message) for w in caught if issubclass(w.category, SkippedVideoWarning)]
    assert len(skipped) == 1 and "truncated.webm" in skipped[0]
    assert "truncated" in skipped[0] or "decode error" in skipped[0]
    assert [p for p, _ in ds.skipped_videos()] == [str(videos["truncated.webm"])]
