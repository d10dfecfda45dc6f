"""The temporal benchmark: classes that differ only in motion, rendered with numpy.

Every video shows one ellipse (semi-axes 0.26-0.34 S and 35-50% of that; random colour) over a static random background
(colour, gradient, soft blobs). Position is uniform on a torus (the ellipse wraps around the
edges) and orientation is uniform, in every class: a single frame has the same distribution
whatever the class, so only motion tells classes apart. Classes come in five pairs. Motion is set per *sampled* frame, i.e. per ``stride`` source frames (S = the short side):

====================  ===========================================================
pair                  motion per sampled frame
====================  ===========================================================
direction             ``move_right`` / ``move_left``: 0.04-0.06 S, horizontal
rotation              ``rotate_cw`` / ``rotate_ccw``: 15-25 degrees about the centre
order of two events   ``right_then_up`` / ``up_then_right``: a cycle of 8 sampled
                      frames: two moves of 2 frames each (0.04-0.06 S), then a
                      pause of 4
speed                 ``drift_slow`` / ``drift_fast``: vertical (up or down),
                      0.01-0.015 versus 0.04-0.06 S
fast periodic         ``shake_horizontal`` / ``shake_vertical``: a square-wave jump of
                      +-0.06-0.09 S with a period of 2 sampled frames
====================  ===========================================================

Why per sampled frame and not per second: a model sees frames ``stride`` source frames apart
whatever the video's rate (15 to 30 fps here), so motion in seconds would make the displacement
between two sampled frames vary twofold with the rate and blur the speed pair; in sampled frames
every video of a class moves alike, and the rates still vary for the decoder's sake.

The shake period is ``2 * stride`` source frames on purpose: a clip sampled every ``stride``
frames sees the object jump back and forth, while a sparse stream that keeps every
``2 * stride``-th frame (alpha = 2, or any even alpha) sees it at the same phase every time, i.e.
standing still.
Only a dense stream can tell the two shakes apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["CLASS_NAMES", "VideoSpec", "sample_spec", "render_video"]

CLASS_NAMES = (
    "move_right",
    "move_left",
    "rotate_cw",
    "rotate_ccw",
    "right_then_up",
    "up_then_right",
    "drift_slow",
    "drift_fast",
    "shake_horizontal",
    "shake_vertical",
)
# (height, width), even for 4:2:0 chroma; landscape, square and portrait.
SIZES = ((64, 80), (72, 96), (80, 80), (96, 128), (96, 72), (112, 112), (120, 160))
FRAME_RATES = (Fraction(15), Fraction(20), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30))
ORDER_CYCLE, ORDER_MOVE = 8, 2  # sampled frames: move A, move B, then pause for the rest


@dataclass(frozen=True)
class VideoSpec:
    """Everything random about one video, drawn from ``(seed, index)`` only."""

    label: int
    height: int
    width: int
    fps: Fraction
    num_frames: int
    params: dict


def sample_spec(label: int, seed: int, index: int, seconds: tuple[float, float] = (2.0, 3.0), stride: int = 4) -> VideoSpec:
    """Draw a video's size, rate, length, scene and motion for class ``label``."""
    rng = np.random.default_rng([seed, index, label])
    height, width = SIZES[rng.integers(len(SIZES))]
    fps = FRAME_RATES[rng.integers(len(FRAME_RATES))]
    num_frames = int(round(rng.uniform(*seconds) * float(fps)))
    short = min(height, width)
    semi_major = rng.uniform(0.26, 0.34) * short
    background = rng.uniform(0.1, 0.9, 3)
    colour = rng.uniform(0.0, 1.0, 3)
    # Keep the object visible: at least 0.35 apart from the background in mean level.
    if abs(colour.mean() - background.mean()) < 0.35:
        colour = np.clip(background.mean() + np.sign(0.5 - background.mean()) * 0.5 + rng.uniform(-0.15, 0.15, 3), 0, 1)
    params = dict(
        background=background,
        gradient=rng.uniform(-0.15, 0.15, 2),
        blobs=[(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.1, 0.3) * short, rng.uniform(-0.2, 0.2, 3)) for _ in range(rng.integers(2, 5))],
        colour=colour,
        semi_axes=(semi_major, semi_major * rng.uniform(0.35, 0.5)),
        x0=rng.uniform(0, width),
        y0=rng.uniform(0, height),
        theta0=rng.uniform(0, np.pi),
        speed=rng.uniform(0, 1),  # position inside the class's speed range
        sign=rng.choice([-1.0, 1.0]),
        phase=rng.uniform(0, 1),
        shake=rng.uniform(0.06, 0.09) * short,
        shake_offset=int(rng.integers(0, 2 * stride)),
        stride=stride,
    )
    return VideoSpec(label, int(height), int(width), fps, num_frames, params)


def _time_in(window_start: float, window_len: float, t: np.ndarray) -> np.ndarray:
    """Time of ``[0, t]`` spent inside ``[start, start + len)`` of each ``ORDER_CYCLE`` cycle (sampled frames)."""
    cycles, rest = np.divmod(t, ORDER_CYCLE)
    return cycles * window_len + np.clip(rest - window_start, 0.0, window_len)


def _trajectory(spec: VideoSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre ``x, y`` (pixels) and orientation ``theta`` (radians) of each frame."""
    p, name = spec.params, CLASS_NAMES[spec.label]
    short = min(spec.height, spec.width)
    frames = np.arange(spec.num_frames)
    stride = p["stride"]
    t = frames / stride  # in sampled frames: the motion a model sees does not depend on the frame rate
    x = np.full(t.shape, p["x0"])
    y = np.full(t.shape, p["y0"])
    theta = np.full(t.shape, p["theta0"])
    lerp = lambda lo, hi: lo + (hi - lo) * p["speed"]  # noqa: E731
    if name in ("move_right", "move_left"):
        x = x + (1 if name == "move_right" else -1) * lerp(0.04, 0.06) * short * t
    elif name in ("rotate_cw", "rotate_ccw"):
        # Image y points down, so a growing angle turns clockwise on screen.
        theta = theta + (1 if name == "rotate_cw" else -1) * np.deg2rad(lerp(15, 25)) * t
    elif name in ("right_then_up", "up_then_right"):
        tc = t + p["phase"] * ORDER_CYCLE
        speed = lerp(0.04, 0.06) * short
        first, second = _time_in(0.0, ORDER_MOVE, tc), _time_in(ORDER_MOVE, ORDER_MOVE, tc)
        right, up = (first, second) if name == "right_then_up" else (second, first)
        x = x + speed * right
        y = y - speed * up
    elif name in ("drift_slow", "drift_fast"):
        lo, hi = (0.01, 0.015) if name == "drift_slow" else (0.04, 0.06)
        y = y + p["sign"] * lerp(lo, hi) * short * t
    elif name in ("shake_horizontal", "shake_vertical"):
        jump = np.where(((frames + p["shake_offset"]) // stride) % 2 == 0, 1.0, -1.0) * p["shake"]
        if name == "shake_horizontal":
            x = x + jump
        else:
            y = y + jump
    return x, y, theta


def _background(spec: VideoSpec) -> np.ndarray:
    p = spec.params
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    image = np.broadcast_to(p["background"], (spec.height, spec.width, 3)).astype(np.float32)
    image = image + (p["gradient"][0] * (xx / spec.width - 0.5) + p["gradient"][1] * (yy / spec.height - 0.5))[..., None]
    for bx, by, radius, tint in p["blobs"]:
        image = image + np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * radius**2))[..., None] * tint
    return np.clip(image, 0, 1)


def render_video(spec: VideoSpec) -> np.ndarray:
    """Render ``uint8 [T, H, W, 3]`` frames of a video (vectorised over all frames at once)."""
    x, y, theta = (v.astype(np.float32)[:, None, None] for v in _trajectory(spec))
    h, w = spec.height, spec.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Offsets on the torus, so the object wraps around the edges and positions stay uniform.
    dx = np.mod(xx[None] - x + w / 2, w) - w / 2
    dy = np.mod(yy[None] - y + h / 2, h) - h / 2
    cos, sin = np.cos(theta), np.sin(theta)
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    a, b = spec.params["semi_axes"]
    radius = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    # Soft edge about one pixel wide, so sub-pixel motion still changes the pixels.
    alpha = np.clip((1.0 - radius) * b + 0.5, 0.0, 1.0)[..., None]
    frames = _background(spec)[None] * (1 - alpha) + spec.params["colour"].astype(np.float32) * alpha
    return (frames * 255 + 0.5).astype(np.uint8)
