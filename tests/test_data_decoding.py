"""The PyAV reader and the clip samplers on real encoded files with index-coded frames.

Every frame of these videos shows its own number, so the tests read back which frames the
reader picked and compare them with the samplers' times and the container's timestamps.
"""

from fractions import Fraction

import numpy as np
import pytest

from nni_autotsnet.data import (
    RandomClipSampler,
    UniformClipSampler,
    VideoDecodeError,
    VideoReader,
    decode_frames_at,
    make_clip_sampler,
    probe_video,
    write_video,
)
from nni_autotsnet.data.testing import index_coded_frames, read_frame_indices

N = 120  # frames per test video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """CFR videos in several containers, codecs, rates and sizes, and two variable-rate ones."""
    root = tmp_path_factory.mktemp("decoding")
    cases = {
        "h264.mp4": dict(fps=30, keyframe_interval=30),
        "h264_gop250.mp4": dict(fps=25, keyframe_interval=250),
        "ntsc.mkv": dict(fps=Fraction(30000, 1001)),
        "mpeg4.avi": dict(fps=15, codec="mpeg4", keyframe_interval=12),
        "mpeg4.mp4": dict(fps=24, codec="mpeg4"),
        "portrait.mkv": dict(fps=20, size=(96, 64)),
    }
    paths = {}
    for name, kw in cases.items():
        if "h264" in name:  # keyframes exactly every keyframe_interval frames (no scene cuts)
            kw["options"] = {"x264-params": "scenecut=0"}
        height, width = kw.pop("size", (64, 80))
        paths[name] = root / name
        write_video(paths[name], index_coded_frames(N, height, width), **kw)
    rng = np.random.default_rng(0)
    stamps = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 0.12, N - 1))])
    for name in ("vfr.mp4", "vfr.mkv"):
        paths[name] = root / name
        write_video(paths[name], index_coded_frames(N), fps=25, timestamps=stamps)
    paths["stamps"] = stamps
    return paths


CFR = ["h264.mp4", "h264_gop250.mp4", "ntsc.mkv", "mpeg4.avi", "mpeg4.mp4", "portrait.mkv"]


@pytest.mark.parametrize("name", CFR)
def test_probe(videos, name):
    info = probe_video(videos[name])
    assert info.codec == ("mpeg4" if "mpeg4" in name else "h264")
    assert (info.height, info.width) == ((96, 64) if "portrait" in name else (64, 80))
    assert info.num_frames == N
    assert info.duration == pytest.approx(N / info.fps, abs=1.5 / info.fps)


@pytest.mark.parametrize("name", CFR)
def test_training_clips_pick_the_sampled_frames(videos, name):
    """Random clips (16 x 4) anywhere in the video: decoded frames are exactly start + 4 i."""
    sampler = RandomClipSampler(16, 4)
    rng = np.random.default_rng(1)
    with VideoReader(videos[name]) as reader:
        for _ in range(6):
            (clip,) = sampler(reader.info, rng)
            decoded = reader.frames_at(clip.times)
            start = round(clip.start_sec * reader.info.fps)
            expected = start + 4 * np.arange(16)
            assert expected[-1] < N
            np.testing.assert_array_equal(read_frame_indices(decoded.frames), expected)
            # The picked frames' own timestamps are the sampled times.
            np.testing.assert_allclose(decoded.pts, clip.times, atol=1e-3)


@pytest.mark.parametrize("name", ["h264.mp4", "mpeg4.avi"])
def test_uniform_views_cover_the_video(videos, name):
    info = probe_video(videos[name])
    clips = UniformClipSampler(8, 4, num_clips=5)(info)
    starts = [round(c.start_sec * info.fps) for c in clips]
    assert starts[0] == 0 and starts[-1] == N - (7 * 4 + 1)  # first and last views touch the ends
    assert starts == sorted(starts) and len(set(starts)) == 5
    decoded = decode_frames_at(videos[name], np.concatenate([c.times for c in clips]))
    expected = np.concatenate([s + 4 * np.arange(8) for s in starts])
    np.testing.assert_array_equal(read_frame_indices(decoded.frames), expected)
    (centre,) = UniformClipSampler(8, 4, num_clips=1)(info)
    assert round(centre.start_sec * info.fps) == (N - 29) // 2


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv"])
def test_variable_frame_rate_picks_the_frame_on_screen(videos, name):
    stamps = videos["stamps"]
    rng = np.random.default_rng(2)
    times = np.sort(rng.uniform(0, stamps[-1] + 0.5, 40))
    with VideoReader(videos[name]) as reader:
        decoded = reader.frames_at(times)
    # The frame on screen at t is the last one whose timestamp is <= t (ms time base).
    expected = np.searchsorted(np.round(stamps, 3), times + 1e-4, side="right") - 1
    expected = np.clip(expected, 0, N - 1)
    np.testing.assert_array_equal(read_frame_indices(decoded.frames), expected)
    np.testing.assert_allclose(decoded.pts, np.round(stamps, 3)[expected], atol=1e-3)


def test_times_in_any_order_and_repeated(videos):
    times = np.array([3.0, 0.0, 1.0, 1.0, 0.5]) / 30 * 30 / 30 * 10  # seconds: 1.0, 0, 0.333, ...
    decoded = decode_frames_at(videos["h264.mp4"], times)
    np.testing.assert_array_equal(read_frame_indices(decoded.frames), np.round(times * 30).astype(int))


def test_clamp_and_loop_at_the_ends(videos):
    info = probe_video(videos["h264.mp4"])
    clamp = make_clip_sampler("uniform", 40, 4, 1, end_mode="clamp")(info)[0]
    loop = make_clip_sampler("uniform", 40, 4, 1, end_mode="loop")(info)[0]
    got_clamp = read_frame_indices(decode_frames_at(videos["h264.mp4"], clamp.times).frames)
    got_loop = read_frame_indices(decode_frames_at(videos["h264.mp4"], loop.times).frames)
    wanted = 4 * np.arange(40)  # 160 frames of a 120-frame video
    np.testing.assert_array_equal(got_clamp, np.minimum(wanted, N - 1))
    np.testing.assert_array_equal(got_loop, wanted % N)
    # Times before the start pick the first frame.
    np.testing.assert_array_equal(read_frame_indices(decode_frames_at(videos["h264.mp4"], [-1.0]).frames), [0])


def test_decoding_stops_after_the_clip(videos, monkeypatch):
    """A clip near the start decodes from the keyframe before it to just past its last frame."""
    reader = VideoReader(videos["h264.mp4"])
    seen = []
    original = reader._timed

    def spy():
        for frame, t in original():
            seen.append(round(t * 30))
            yield frame, t

    monkeypatch.setattr(reader, "_timed", spy)
    reader.frames_at((65 + 2 * np.arange(8)) / 30)  # frames 65..79, keyframes every 30
    reader.close()
    assert seen[0] == 60 and seen[-1] <= 80


def test_errors_name_the_file(tmp_path, videos):
    with pytest.raises(VideoDecodeError, match="missing file"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(ValueError, match="at least one time"):
        decode_frames_at(videos["h264.mp4"], [])
    with pytest.raises(ValueError, match="end_mode"):
        RandomClipSampler(8, 4, end_mode="bounce")


def test_long_gop_clip_with_skipped_non_reference_frames(videos):
    """One keyframe in 250 frames: frames before the clip are decoded without their non-reference
    B-frames, and the clip's frames are still exactly the right ones."""
    times = (90 + 4 * np.arange(6)) / 25
    decoded = decode_frames_at(videos["h264_gop250.mp4"], times)
    np.testing.assert_array_equal(read_frame_indices(decoded.frames), 90 + 4 * np.arange(6))
    np.testing.assert_allclose(decoded.pts, times, atol=1e-3)
