"""PyAV video data: datasets, clip samplers, transforms and the synthetic temporal benchmark.

Entry points::

    make_dataset(list_file, root, split="train", preset="tiny")   # -> (clip [C,T,H,W], label)
    make_dataset(list_file, root, split="test", views="10-LeftCenterRight")  # -> ([V,C,T,H,W], label, index)
    python -m nni_autotsnet.data check LIST --root DIR
    python -m nni_autotsnet.data make-benchmark --out DIR

The Lightning pieces (:class:`SkippedVideosCallback`, :func:`average_views`,
:class:`VideoLevelAccumulator`) are imported on first use, so the data package alone does not
import Lightning.
"""

from .annotations import VideoList, VideoRecord, read_labels_file, read_video_list, resolve_classes
from .benchmark import make_benchmark
from .clip_sampling import ClipInfo, ClipSampler, RandomClipSampler, UniformClipSampler, make_clip_sampler
from .dataset import VideoClipDataset, VideoDatasetBase, VideoViewDataset, make_dataset
from .decoding import DecodedFrames, VideoInfo, VideoReader, decode_frames_at, probe_video
from .errors import AnnotationError, SkippedVideoWarning, VideoDecodeError
from .synthetic import CLASS_NAMES
from .transforms import DATA_PRESETS, DataPreset, eval_transform, get_preset, parse_views, spatial_crops, train_transform
from .writer import write_video

_LAZY = {"SkippedVideosCallback", "average_views", "VideoLevelAccumulator", "find_video_datasets"}

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
    "VideoClipDataset",
    "VideoDatasetBase",
    "VideoDecodeError",
    "VideoInfo",
    "VideoList",
    "VideoReader",
    "VideoRecord",
    "VideoViewDataset",
    "decode_frames_at",
    "eval_transform",
    "get_preset",
    "make_benchmark",
    "make_clip_sampler",
    "make_dataset",
    "parse_views",
    "probe_video",
    "read_labels_file",
    "read_video_list",
    "resolve_classes",
    "spatial_crops",
    "train_transform",
    "write_video",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _LAZY:
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
