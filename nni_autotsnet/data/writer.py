"""Encode ``uint8 [T, H, W, 3]`` frames to a video file with PyAV (the benchmark and the tests).

Besides the codec, container and frame rate, a file can carry what videos from the wild carry:
a display rotation (a phone held upright stores landscape frames and a display matrix) and an
audio stream (which the loader must ignore).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Sequence

import av
import numpy as np

__all__ = ["write_video"]

# Timestamps of variable-rate video are written in milliseconds.
_VFR_TIME_BASE = Fraction(1, 1000)
_AUDIO_RATE = 48000


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float | Fraction = 25,
    codec: str = "libx264",
    timestamps: Sequence[float] | None = None,
    keyframe_interval: int | None = None,
    options: dict[str, str] | None = None,
    rotation: int = 0,
    audio: str | None = None,
) -> None:
    """Write frames as a video; the container follows the suffix (``.mp4``, ``.mkv``, ``.avi``).

    Parameters
    ----------
    path
        Output file.
    frames
        ``uint8 [T, H, W, 3]`` RGB frames; H and W must be even (4:2:0 chroma).
    fps
        Nominal frame rate; a float is turned into a fraction (29.97 -> 30000/1001).
    codec
        ``libx264`` (H.264) or ``mpeg4`` (MPEG-4 Part 2), or any encoder PyAV has.
    timestamps
        Presentation times in seconds, one per frame, increasing: variable frame rate.
    keyframe_interval
        Frames between keyframes (``g``); ``fps`` frames (one second) when ``None``.
    options
        Extra encoder options (an ``x264-params`` here replaces the default one). H.264 defaults
        to ``veryfast`` at CRF 18 without macroblock-tree rate control, single-threaded, which
        is deterministic (same frames, same bytes); parallelism comes from encoding several
        files at once.
    rotation
        Display rotation in degrees counter-clockwise (a multiple of 90), stored as the
        container's display matrix: a player (and the loader) turns the stored frames by it.
        A phone held upright writes ``-90``: frames stored sideways, turned clockwise to show.
    audio
        An audio encoder (``aac``, ``libopus``, ``mp3``, ...) to add a one-channel audio
        stream of a quiet tone as long as the video; ``None`` writes video only.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"height and width must be even for yuv420p, got {height}x{width}")
    if timestamps is not None and len(timestamps) != len(frames):
        raise ValueError(f"{len(timestamps)} timestamps for {len(frames)} frames")
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    opts = {"g": str(keyframe_interval or max(1, round(rate)))}
    if codec == "libx264":
        # mbtree off: with it, this x264 build gave different bytes for the same input from
        # run to run (seen even single-threaded); without it every run is identical.
        opts.update(preset="veryfast", crf="18", **{"x264-params": "mbtree=0"})
    elif codec == "libx265":
        opts.update(preset="veryfast", crf="18", **{"x265-params": "log-level=error:pools=1:frame-threads=1"})
    opts.update(options or {})
    # AVI stores no timestamps: the muxer's shift for an audio encoder's delay (mp3: 1105 samples)
    # would drop the second video frame's slot, so leave the timestamps as encoded.
    avi_audio = audio is not None and os.fspath(path).lower().endswith(".avi")
    with av.open(os.fspath(path), "w", options={"avoid_negative_ts": "disabled"} if avi_audio else None) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = opts
        # One thread, set on the codec context (PyAV's default of 0 = auto overrides a "threads"
        # option): the same bytes whatever the machine's core count.
        stream.codec_context.thread_count = 1
        if rotation:
            stream.set_display_rotation(rotation)  # PyAV >= 17: the display matrix (no 'rotate' tag)
        sound = None
        if audio:
            formats = av.codec.Codec(audio, "w").audio_formats
            sound = container.add_stream(audio, rate=_AUDIO_RATE, layout="mono",
                                         format=formats[0].name if formats else "fltp")
        if timestamps is not None:
            stream.codec_context.time_base = _VFR_TIME_BASE
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if timestamps is not None:
                frame.pts = int(round(timestamps[i] / _VFR_TIME_BASE))
                frame.time_base = _VFR_TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            seconds = timestamps[-1] + 0.1 if timestamps is not None else len(frames) / rate
            _write_tone(container, sound, float(seconds))


def _write_tone(container, stream, seconds: float) -> None:
    """A 440 Hz tone of ``seconds`` on a mono ``stream``, in the encoder's frame size and sample format."""
    ctx = stream.codec_context
    fmt = ctx.format.name
    chunk = ctx.frame_size or 1024
    total = int(seconds * _AUDIO_RATE)
    t = np.arange(total) / _AUDIO_RATE
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, total, chunk):
        piece = np.zeros(chunk, np.float32)
        piece[: min(chunk, total - start)] = tone[start : start + chunk]
        if fmt.startswith(("s16", "s32")):  # integer samples, full scale
            dtype = np.int16 if fmt.startswith("s16") else np.int32
            piece = (piece * np.iinfo(dtype).max).astype(dtype)
        frame = av.AudioFrame.from_ndarray(piece[None, :], format=fmt, layout="mono")
        frame.sample_rate, frame.pts = _AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
