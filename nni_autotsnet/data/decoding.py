"""PyAV decoding of exactly the frames a clip needs.

The reader seeks to the keyframe before the first requested time, decodes forward only until
the last requested time, and converts to RGB only the frames that are picked. A requested time
``t`` picks the frame on screen at ``t``: the last frame whose presentation time is ``<= t``
(times before the first frame pick the first frame, times after the last pick the last). This
mapping works unchanged for constant and variable frame rates.

Frames come out as a player shows them: a phone held upright stores landscape frames and a
display matrix saying how to turn them. PyAV 18 (FFmpeg 8) no longer gives a ``rotate`` tag in
``stream.metadata``; each decoded frame carries the matrix as side data, read by
``VideoFrame.rotation`` (degrees counter-clockwise), and the RGB frame is turned by it. Other
streams (audio, subtitles) are never decoded.

Pattern after pytorchvideo's ``encoded_video_pyav.py`` (seek back, decode, keep frames in the
window), but picking frames by timestamp instead of keeping a whole window, so a clip of 16
frames with stride 4 converts 16 frames rather than 64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import av
import numpy as np

from .errors import VideoDecodeError

__all__ = ["VideoInfo", "DecodedFrames", "VideoReader", "probe_video", "decode_frames_at", "upright_rgb"]

# Before a clip, non-reference frames (which no later frame needs) are skipped, up to this many
# frame periods before the clip's first time: more than any encoder's B-frame reordering depth
# (16), so every frame that can be on screen inside the clip is decoded.
_SKIP_MARGIN_FRAMES = 20
# Two times closer than this (seconds) are the same instant: far below any frame period, far
# above float rounding of pts * time_base. Coarse time bases widen it (see ``VideoReader.tolerance``).
_EPS = 1e-4


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream.

    ``duration`` is in seconds from time zero (the stream's first timestamp) and ``fps`` is the
    average frame rate (for variable-rate video, the mean). ``num_frames`` is the container's
    frame count, or ``round(duration * fps)`` when the container does not store it.
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float
    num_frames: int


@dataclass(frozen=True)
class DecodedFrames:
    """Frames picked for requested times: ``frames[i]`` is on screen at ``times[i]``.

    ``frames`` is ``uint8 [N, H, W, 3]`` RGB, upright; ``pts`` are the picked frames' presentation times in
    seconds from the stream start (so tests can check the picks against the timestamps).
    """

    frames: np.ndarray
    pts: np.ndarray
    times: np.ndarray
    rotation: int = 0  # degrees counter-clockwise the stored frames were turned by to come out upright


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright (its display matrix; 0 without one).

    A rotation that is not a multiple of 90 degrees (never written by cameras) is left alone.
    """
    try:
        degrees = frame.rotation
    except (AttributeError, ValueError):  # no display matrix
        return 0
    return (int(degrees) // 90) % 4 if degrees and int(degrees) % 90 == 0 else 0


def upright_rgb(frame: av.VideoFrame) -> tuple[np.ndarray, int]:
    """``(uint8 [H, W, 3] RGB as displayed, degrees turned)``: the frame turned by its display matrix."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    return (np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb), 90 * turns


def _open(path: str) -> av.container.InputContainer:
    """Open a container, turning every failure into a :class:`VideoDecodeError` with a reason."""
    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file")
    try:
        return av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoDecodeError(path, f"cannot open: {err}") from None


class VideoReader:
    """An open video: metadata in :attr:`info`, frames by time with :meth:`frames_at`.

    Parameters
    ----------
    path
        The video file (any container and codec FFmpeg reads).
    threads
        Decoder threads. 1 by default: DataLoader workers already decode videos in parallel.

    Raises
    ------
    VideoDecodeError
        When the file is missing, empty, unreadable or has no video stream.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        self.path = os.fspath(path)
        self._container = _open(self.path)
        try:
            if not self._container.streams.video:
                raise VideoDecodeError(self.path, "no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_count = threads
            self._stream.thread_type = "AUTO" if threads != 1 else "SLICE"
            self.info = self._probe()
            self.rotation = 0  # degrees the last converted frame was turned by (its display matrix)
        except BaseException:
            self.close()
            raise

    def _probe(self) -> VideoInfo:
        stream, ctx = self._stream, self._stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        tb = stream.time_base or Fraction(1, 1)
        self._start_pts = stream.start_time if stream.start_time is not None else 0
        if stream.duration:
            duration = float(stream.duration * tb)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        else:
            duration = 0.0
        if fps <= 0 and stream.frames and duration > 0:
            fps = stream.frames / duration
        if fps <= 0:
            raise VideoDecodeError(self.path, "no frame rate in the container")
        num_frames = stream.frames or int(round(duration * fps))
        return VideoInfo(
            path=self.path,
            container=self._container.format.name,
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            duration=duration,
            num_frames=num_frames,
        )

    def close(self) -> None:
        """Release the container; safe to call twice."""
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _seek(self, seconds: float) -> None:
        """Seek to the keyframe at or before ``seconds`` (stream time from zero)."""
        tb = self._stream.time_base
        offset = self._start_pts + int(Fraction(seconds).limit_denominator(10**6) / tb)
        self._container.seek(max(offset, self._start_pts), stream=self._stream, backward=True, any_frame=False)

    @property
    def tolerance(self) -> float:
        """Seconds within which a timestamp matches a time.

        Timestamps are rounded to the stream's time base (1 ms in Matroska: frame 32 of a
        29.97 fps video says 1.068 s, not 1.0677 s), so they match within half a tick.
        """
        return max(_EPS, 0.5 * float(self._stream.time_base))

    def _timed(self):
        """Yield ``(frame, seconds)`` from the current position of the container."""
        tb = float(self._stream.time_base)
        period, last = 1.0 / self.info.fps, None
        for frame in self._container.decode(self._stream):
            # A frame without a pts (rare raw streams) is one period after the previous one.
            if frame.pts is not None:
                last = (frame.pts - self._start_pts) * tb
            else:
                last = 0.0 if last is None else last + period
            yield frame, last

    def _frames(self, start: float):
        """Yield ``(frame, seconds)`` from the keyframe at or before ``start``.

        If the container's index put the first frame after ``start`` (inexact AVI / MKV cue
        points), decode from the beginning instead, which is always correct.
        """
        for seek_to in ((start,) if start > _EPS else ()) + (0.0,):
            self._seek(seek_to)
            frames = self._timed()
            first = next(frames, None)
            if first is None:
                return
            if seek_to > 0 and first[1] > start + self.tolerance:
                continue
            yield first
            yield from frames
            return

    def frames_at(self, times: Sequence[float] | np.ndarray) -> DecodedFrames:
        """Decode the frames on screen at ``times`` (seconds from the stream start, any order).

        Decodes once from the keyframe before ``min(times)`` to the first frame after
        ``max(times)``, skipping non-reference frames well before ``min(times)``; each picked
        frame is converted to RGB once, however often it is picked.

        Raises
        ------
        VideoDecodeError
            When decoding fails, yields no frame, or stops well before the duration in the header
            (a truncated file).
        """
        if self._container is None:
            raise VideoDecodeError(self.path, "reader is closed")
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if times.size == 0:
            raise ValueError("frames_at needs at least one time")
        order = np.argsort(times, kind="stable")
        picked = self._decode_sorted(times[order])
        frames = np.empty((times.size,) + picked[0][0].shape, dtype=np.uint8)
        pts = np.empty(times.size, dtype=np.float64)
        for k, idx in enumerate(order):
            frames[idx], pts[idx] = picked[k]
        return DecodedFrames(frames=frames, pts=pts, times=times, rotation=self.rotation)

    def _decode_sorted(self, sorted_times: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """(RGB frame, pts) on screen at each of ``sorted_times`` (ascending), decoding one pass."""
        eps = self.tolerance
        picked: list[tuple[np.ndarray, float] | None] = [None] * sorted_times.size
        j, n = 0, sorted_times.size
        prev = None  # [frame, time, rgb or None] of the frame currently on screen
        last_time = None

        # Skip non-reference frames until shortly before the clip: they are 30-50% of an H.264
        # stream and only the clip's frames are wanted. Worth most when keyframes are far apart.
        ctx = self._stream.codec_context
        skip_until = float(sorted_times[0]) - _SKIP_MARGIN_FRAMES / self.info.fps
        skipping = skip_until > 0
        if skipping:
            ctx.skip_frame = "NONREF"

        def rgb(entry):
            if entry[2] is None:
                entry[2], self.rotation = upright_rgb(entry[0])
            return entry[2], entry[1]

        try:
            for frame, t in self._frames(float(sorted_times[0])):
                last_time = t
                if skipping and t >= skip_until:
                    ctx.skip_frame, skipping = "DEFAULT", False
                cur = [frame, t, None]
                while j < n and sorted_times[j] < t - eps:
                    picked[j] = rgb(prev if prev is not None else cur)
                    j += 1
                while j < n and sorted_times[j] <= t + eps:
                    picked[j] = rgb(cur)
                    j += 1
                prev = cur
                if j == n:
                    break
        except (av.error.FFmpegError, OSError, ValueError) as err:
            at = f" after {last_time:.2f}s" if last_time is not None else ""
            raise VideoDecodeError(self.path, f"decode error{at}: {err}") from None
        finally:
            ctx.skip_frame = "DEFAULT"
        if prev is None:
            raise VideoDecodeError(self.path, "no frames decoded")
        if j < n:
            # Past the last frame: it stays on screen (clamp). But a stream that stops far
            # before the duration its header promises was cut short.
            self._check_not_truncated(last_time)
            while j < n:
                picked[j] = rgb(prev)
                j += 1
        return picked

    def _check_not_truncated(self, last_time: float) -> None:
        """A stream that stops far before the duration its header promises was cut short."""
        missing = self.info.duration - last_time
        if self.info.duration > 0 and missing > max(1.0, 0.1 * self.info.duration):
            raise VideoDecodeError(self.path, f"truncated: frames stop at {last_time:.2f}s of {self.info.duration:.2f}s")

    def all_frames(self) -> DecodedFrames:
        """Decode every frame from the start: ``frames`` in presentation order, ``times`` = ``pts``.

        Used by the decoded-frame cache (:mod:`.cache`). Raises :class:`VideoDecodeError` like
        :meth:`frames_at`, a truncated file included.
        """
        if self._container is None:
            raise VideoDecodeError(self.path, "reader is closed")
        frames, pts = [], []
        try:
            for frame, t in self._frames(0.0):
                rgb, self.rotation = upright_rgb(frame)
                frames.append(rgb)
                pts.append(t)
        except (av.error.FFmpegError, OSError, ValueError) as err:
            at = f" after {pts[-1]:.2f}s" if pts else ""
            raise VideoDecodeError(self.path, f"decode error{at}: {err}") from None
        if not frames:
            raise VideoDecodeError(self.path, "no frames decoded")
        self._check_not_truncated(pts[-1])
        order = np.argsort(np.asarray(pts), kind="stable")  # decode order is presentation order after reordering
        stacked = np.stack([frames[i] for i in order])
        times = np.asarray(pts, dtype=np.float64)[order]
        return DecodedFrames(frames=stacked, pts=times, times=times.copy(), rotation=self.rotation)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's :class:`VideoInfo` from its container (no decoding)."""
    with VideoReader(path) as reader:
        return reader.info


def decode_frames_at(path: str | os.PathLike, times: Sequence[float], threads: int = 1) -> DecodedFrames:
    """Open ``path`` and return the frames on screen at ``times``; see :meth:`VideoReader.frames_at`."""
    with VideoReader(path, threads=threads) as reader:
        return reader.frames_at(times)
