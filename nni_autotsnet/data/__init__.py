"""PyAV video data: datasets, clip samplers, transforms and the synthetic temporal benchmark.

Entry points::

    make_dataset(list_file, root, split="train", preset="tiny")   # -> (clip [C,T,H,W], label)
    make_dataset(list_file, root, split="test", views="10-LeftCenterRight")  # -> ([V,C,T,H,W], label, index)
    python -m nni_autotsnet.data check LIST --root DIR
    python -m nni_autotsnet.data make-benchmark --out DIR

The Lightning pieces (:class:`SkippedVideosCallback`, :class:`VideoLevelAccumulator`) and the
datasets (``nni.trace``-d, so they import NNI) are imported on first use, so the data package alone
imports neither Lightning nor NNI: decoding, transforms and test views (``predict``) run without them.
"""

from .annotations import VideoList, VideoRecord, read_labels_file, read_video_list, resolve_classes
from .benchmark import make_benchmark
from .clip_sampling import ClipInfo, ClipSampler, RandomClipSampler, UniformClipSampler, make_clip_sampler
from .decoding import DecodedFrames, VideoInfo, VideoReader, decode_frames_at, probe_video
from .errors import AnnotationError, SkippedVideoWarning, VideoDecodeError
from .synthetic import CLASS_NAMES
from .transforms import DATA_PRESETS, DataPreset, eval_transform, get_preset, parse_views, spatial_crops, train_transform
from .views import average_views, decode_views, views_from_frames
from .writer import write_video

# name -> submodule, imported on first use (Lightning, NNI)
_LAZY = {**dict.fromkeys(("SkippedVideosCallback", "VideoLevelAccumulator", "find_video_datasets"), "callbacks"),
         **dict.fromkeys(("VideoClipDataset", "VideoDatasetBase", "VideoViewDataset", "make_dataset"), "dataset")}

__all__ = [
    "AnnotationError",
    "CLASS_NAMES",
    "ClipInfo",
    "ClipSampler",
    "DATA_PRESETS",
    "DataPreset",
    "DecodedFrames",
    "RandomClipSampler",
    "SkippedVideoWarning",
    "UniformClipSampler",
    "VideoDecodeError",
    "VideoInfo",
    "VideoList",
    "VideoReader",
    "VideoRecord",
    "average_views",
    "decode_frames_at",
    "decode_views",
    "eval_transform",
    "get_preset",
    "make_benchmark",
    "make_clip_sampler",
    "parse_views",
    "probe_video",
    "read_labels_file",
    "read_video_list",
    "resolve_classes",
    "spatial_crops",
    "train_transform",
    "views_from_frames",
    "write_video",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
