"""Helpers for tests and benchmarks: videos whose frames show their own index, and broken files.

(The tests' shared 10-class benchmark is a session fixture, ``small_bench`` in ``tests/conftest.py``.)

An index-coded frame shows its frame number as black / white vertical bands (one bit a band),
which survives lossy compression, so a test can read back which frames the loader picked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["index_coded_frames", "read_frame_indices", "truncate_copy", "write_garbage", "write_empty", "synthetic_clips",
           "write_format_dataset"]

_BITS = 10  # up to 1023 frames


def index_coded_frames(num_frames: int, height: int = 64, width: int = 80) -> np.ndarray:
    """``uint8 [num_frames, height, width, 3]`` frames showing their index in binary bands."""
    if num_frames > 2**_BITS:
        raise ValueError(f"at most {2**_BITS} index-coded frames")
    band = width // _BITS
    bits = (np.arange(num_frames)[:, None] >> np.arange(_BITS)[None, :]) & 1  # [T, bits]
    columns = np.zeros((num_frames, width), dtype=np.uint8)
    columns[:, : band * _BITS] = np.repeat(bits * 255, band, axis=1)
    return np.repeat(np.repeat(columns[:, None, :, None], height, axis=1), 3, axis=3)


def read_frame_indices(frames: np.ndarray) -> np.ndarray:
    """Read the indices back from decoded ``[N, H, W, 3]`` frames (band centres, rows averaged)."""
    frames = np.asarray(frames, dtype=np.float32)
    width = frames.shape[2]
    band = width // _BITS
    centres = np.arange(_BITS) * band + band // 2
    levels = frames[:, :, centres, :].mean(axis=(1, 3))  # [N, bits]
    return ((levels > 127.5).astype(np.int64) << np.arange(_BITS)).sum(axis=1)


def truncate_copy(src: str | os.PathLike, dst: str | os.PathLike, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of a file's bytes: a download cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def write_garbage(dst: str | os.PathLike, size: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a video's name."""
    Path(dst).write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(dst)


def write_empty(dst: str | os.PathLike) -> Path:
    """A zero-byte file."""
    Path(dst).write_bytes(b"")
    return Path(dst)


def synthetic_clips(input_shape, num_classes: int, n: int, seed: int = 0):
    """``(clips [n, *input_shape], labels)``: a learnable task without video, each class adding its own fixed
    random pattern to Gaussian noise (PARSEC tests and benchmarks on the tiny space)."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.randn(num_classes, *input_shape, generator=g)
    y = torch.randint(0, num_classes, (n,), generator=g)
    return torch.randn(n, *input_shape, generator=g) + 0.5 * templates[y], y


# Each format's videos as the data set ships them: (suffix, encoder, encoder options).
_FORMAT_VIDEOS = {"ssv2": (".webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}),
                  "ucf101": (".avi", "mpeg4", None), "hmdb51": (".avi", "mpeg4", None)}
_FOLDER_VIDEOS = [(".mp4", "libx264", None), (".mkv", "libx264", None), (".avi", "mpeg4", None),
                  (".webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}), (".mov", "libx264", None)]


def write_format_dataset(data_format: str, out: str | os.PathLike, classes: tuple[str, ...] = ("Run", "Jump", "Wave"),
                         per_class: int = 6, frames: int = 32, size: tuple[int, int] = (64, 80)) -> dict[str, Path]:
    """Write a tiny data set in a format's own layout and annotation files: ``{annotations, root}``.

    ``ssv2``: VP9 ``<id>.webm``, the JSON lists (the test list without labels) and labels file,
    classes as templates with ``[something]``; ``ucf101``: ``classInd.txt``, ``trainlist01.txt`` /
    ``testlist01.txt`` (one clip in three is test, by group) and ``<Class>/v_<Class>_gNN_cNN.avi``
    with the first class's folder in another case; ``hmdb51``: split-1 files with 1 / 2 / 0;
    ``folders``: ``<class>/*`` in mp4, mkv, avi, webm and mov. Each video shows its frame indices
    (:func:`index_coded_frames`); the classes differ in contrast, so a model can learn them.
    """
    import json

    from .writer import write_video

    out = Path(out)
    root = out / "videos"
    ann = out / ("annotations" if data_format != "folders" else "videos")
    root.mkdir(parents=True, exist_ok=True)
    ann.mkdir(parents=True, exist_ok=True)

    def video(path: Path, label: int, k: int) -> None:
        suffix, codec, options = _FORMAT_VIDEOS.get(data_format) or _FOLDER_VIDEOS[k % len(_FOLDER_VIDEOS)]
        picture = index_coded_frames(frames, *size)
        low = 90 * label // max(1, len(classes) - 1)  # contrast falls with the class: bands stay readable
        picture = (low + picture.astype(np.int32) * (255 - 2 * low) // 255).astype(np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path.with_suffix(suffix), picture, fps=25, codec=codec, options=options)

    if data_format == "ssv2":
        templates = [f"{name} [something] from left to right" for name in classes]
        (ann / "something-something-v2-labels.json").write_text(
            json.dumps({t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)}, indent=1))
        lists: dict[str, list] = {"train": [], "validation": [], "test": []}
        for label, template in enumerate(templates):
            for k in range(per_class):
                vid = str(1000 + label * per_class + k)
                video(root / vid, label, k)
                entry = {"id": vid, "label": template.replace("[something]", "a cup"), "template": template,
                         "placeholders": ["a cup"]}
                lists["validation" if k % 3 == 2 else "train"].append(entry)
        lists["test"] = [{"id": e["id"]} for e in lists["validation"]]
        for split, entries in lists.items():  # one object a line, as 20BN's files
            body = ",\n".join(json.dumps(e) for e in entries)
            (ann / f"something-something-v2-{split}.json").write_text(f"[\n{body}\n]\n")
    elif data_format == "ucf101":
        (ann / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
        train, test = [], []
        for label, name in enumerate(classes):
            folder = name.lower() if label == 0 else name  # the folder differs in case from classInd.txt
            for k in range(per_class):
                rel = f"{name}/v_{name}_g{k // 2 + 1:02d}_c{k % 2 + 1:02d}.avi"
                video(root / folder / Path(rel).name, label, k)
                (test.append(rel) if k // 2 == 0 else train.append(f"{rel} {label + 1}"))
        (ann / "trainlist01.txt").write_text("\r\n".join(train) + "\r\n")  # as shipped: Windows line ends
        (ann / "testlist01.txt").write_text("\r\n".join(test) + "\r\n")
    elif data_format == "hmdb51":
        for label, name in enumerate(classes):
            lines = []
            for k in range(per_class):
                clip = f"{name}_clip_u_nm_np1_fr_med_{k // 2}_{k % 2}"
                video(root / name / clip, label, k)
                lines.append(f"{clip}.avi {'2' if k // 2 == 0 else '0' if k == per_class - 1 else '1'} ")
            (ann / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    elif data_format == "folders":
        for label, name in enumerate(classes):
            for k in range(per_class):
                video(root / name / f"{name}_{k:02d}", label, k)
        (root / "README.txt").write_text("not a video\n")
        return {"annotations": root, "root": root}
    else:
        raise ValueError(f"unknown format {data_format!r}")
    return {"annotations": ann, "root": root}
