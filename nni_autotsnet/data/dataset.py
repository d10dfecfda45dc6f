"""Datasets over list files: a random clip per video for training, all views for testing.

Both read only plain constructor arguments (paths, a preset name, ints), so ``nni.trace`` can
ship them to trials as a few hundred bytes of JSON, and both decode lazily in ``__getitem__``,
so they work in DataLoader workers.

Bad videos never crash an epoch and never pass silently: a video that fails to decode is
warned about (:class:`~.errors.SkippedVideoWarning`, naming the file and the reason), counted in
shared memory that every worker writes to, and replaced by another video; the count is read at
the end of the epoch (:meth:`VideoDatasetBase.skip_report`, or the Lightning callback in
:mod:`.callbacks`). ``strict=True`` raises :class:`~.errors.VideoDecodeError` instead.
"""

from __future__ import annotations

import os
import warnings

import nni
import numpy as np
import torch
from torch.utils.data import Dataset

from .annotations import VideoList, read_video_list, resolve_classes
from .cache import ensure_cache
from .clip_sampling import RandomClipSampler, UniformClipSampler
from .decoding import VideoReader
from .errors import SkippedVideoWarning, VideoDecodeError
from .formats import DEFAULT_HFLIP, FORMATS, SPLIT_FORMATS, read_split
from .transforms import frames_to_video, get_preset, parse_views, train_transform
from .views import views_from_frames

__all__ = ["VideoDatasetBase", "VideoClipDataset", "VideoViewDataset", "make_dataset"]

# Reason codes kept in shared memory (strings cannot be), matched on the reason's first words.
_REASONS = ("missing file", "empty file", "cannot open", "no video stream", "truncated", "decode error", "no frames")
_MAX_ATTEMPTS = 10


def _reason_code(reason: str) -> int:
    for code, prefix in enumerate(_REASONS, start=1):
        if reason.startswith(prefix):
            return code
    return len(_REASONS) + 1


class VideoDatasetBase(Dataset):
    """List loading, class names, decoding and the skip bookkeeping shared by both datasets.

    Parameters
    ----------
    list_file
        ``path,label`` CSV or SlowFast ``path label`` list.
    root
        Folder of relative paths (default: the list file's folder).
    preset
        A name in :data:`~.transforms.DATA_PRESETS`: sizes, frames and stride.
    num_frames, stride
        Override the preset's clip sampling (frames per clip, source frames between them).
    labels_file
        Class names, one a line (or JSON); labels may then be names or indices.
    classes_from
        A (training) list file to collect sorted class names from, when there is no labels file.
    strict
        Raise on the first bad video instead of skipping it.
    end_mode
        ``'clamp'`` or ``'loop'`` for clips longer than the video.
    cache
        Folder of the decoded-frame cache (:mod:`.cache`): every video is decoded once, at the
        largest short side the transforms use, and read from a memory-mapped file afterwards.
        Built on first use; ``None`` decodes every clip from the file.
    data_format
        A format of :mod:`.formats`; ``None``, ``csv`` and ``kinetics`` read ``list_file`` as a
        list. For ``ssv2``, ``ucf101``, ``hmdb51`` and ``folders``, ``list_file`` is the data set's
        folder, ``subset`` the split to read (``train``, ``val``, ``test``), ``split_options``
        :func:`~.formats.read_split`'s keywords, and the classes are the data set's own (no
        ``labels_file`` / ``classes_from``). ``hflip=None`` then follows the format (SSv2: off).
    """

    def __init__(
        self,
        list_file: str,
        root: str | None = None,
        preset: str = "tiny",
        num_frames: int | None = None,
        stride: int | None = None,
        labels_file: str | None = None,
        classes_from: str | None = None,
        strict: bool = False,
        end_mode: str = "clamp",
        hflip: bool | None = None,
        autoaugment: bool | None = None,
        cache: str | None = None,
        data_format: str | None = None,
        subset: str | None = None,
        split_options: dict | None = None,
    ):
        if data_format is not None and data_format not in FORMATS:
            raise ValueError(f"data_format must be one of {list(FORMATS)}, got {data_format!r}")
        if hflip is None and data_format in DEFAULT_HFLIP:
            hflip = DEFAULT_HFLIP[data_format]
        self.preset = get_preset(preset, num_frames=num_frames, stride=stride, hflip=hflip, autoaugment=autoaugment)
        if data_format in SPLIT_FORMATS:
            if labels_file is not None or classes_from is not None:
                raise ValueError(f"the {data_format} format names its own classes; give no labels_file or classes_from")
            self.videos: VideoList = read_split(data_format, list_file, subset or "train", root, **(split_options or {}))
        else:
            classes = resolve_classes(list_file, labels_file, classes_from)
            self.videos = read_video_list(list_file, root, classes)
        self.strict = strict
        self.end_mode = end_mode
        self.cache = ensure_cache(self.videos, cache, self.cache_short_side) if cache is not None else None
        # Per-video skip counts and reason codes, in shared memory so that DataLoader workers'
        # writes are seen by the main process (each index is loaded by one worker at a time).
        self._skips = torch.zeros(len(self.videos.records), dtype=torch.int32).share_memory_()
        self._reasons = torch.zeros(len(self.videos.records), dtype=torch.int8).share_memory_()

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names, or ``None`` when the list uses bare indices and no names were given."""
        return self.videos.classes

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.videos.num_classes

    def __len__(self) -> int:
        return len(self.videos.records)

    @property
    def cache_short_side(self) -> int:
        """The largest short side the transforms need: frames are cached no larger."""
        raise NotImplementedError

    def _decode(self, index: int, sampler) -> tuple[np.ndarray, list]:
        """Decode all clips the sampler asks for from one video: frames ``[sum T, H, W, 3]``."""
        record = self.videos.records[index]
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))  # follows torch seeding
        if self.cache is not None:
            clips = sampler(self.cache.info(index), rng)
            return self.cache.frames_at(index, np.concatenate([c.times for c in clips])).frames, clips
        with VideoReader(record.path) as reader:
            clips = sampler(reader.info, rng)
            decoded = reader.frames_at(np.concatenate([c.times for c in clips]))
        return decoded.frames, clips

    def _load(self, index: int):
        raise NotImplementedError

    def _replacement(self, index: int, attempt: int) -> int:
        return (index + attempt) % len(self)

    def __getitem__(self, index: int):
        last_error = None
        for attempt in range(_MAX_ATTEMPTS):
            current = self._replacement(index, attempt)
            try:
                return self._load(current)
            except VideoDecodeError as err:
                if self.strict:
                    raise
                last_error = err
                self._skips[current] += 1
                self._reasons[current] = _reason_code(err.reason)
                record = self.videos.records[current]
                where = f"{self.videos.source}:{record.line}" if record.line else self.videos.source
                warnings.warn(
                    f"skipping {err.path} ({where}): {err.reason}",
                    SkippedVideoWarning,
                    stacklevel=2,
                )
        raise RuntimeError(f"{_MAX_ATTEMPTS} videos in a row failed to decode; the last: {last_error}")

    # ----- skip bookkeeping -------------------------------------------------------------
    def skipped_count(self) -> int:
        """Number of skips (failed decodes) since the last :meth:`reset_skipped`, all workers."""
        return int(self._skips.sum())

    def skipped_videos(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of every video skipped since the last reset."""
        bad = torch.nonzero(self._skips).flatten().tolist()
        names = _REASONS + ("other error",)
        return [(self.videos.records[i].path, names[int(self._reasons[i]) - 1]) for i in bad]

    def reset_skipped(self) -> None:
        """Zero the skip counts (call at the start of an epoch, or after reporting)."""
        self._skips.zero_()
        self._reasons.zero_()

    def skip_report(self, reset: bool = True) -> str:
        """One line for the end of an epoch: how many videos were skipped and which, then reset."""
        videos, count = self.skipped_videos(), self.skipped_count()
        if reset:
            self.reset_skipped()
        if not videos:
            return f"{self.videos.source}: no videos skipped"
        listed = "; ".join(f"{path} ({reason})" for path, reason in videos[:10])
        more = f"; and {len(videos) - 10} more" if len(videos) > 10 else ""
        return f"{self.videos.source}: skipped {count} time(s), {len(videos)} video(s): {listed}{more}"


@nni.trace
class VideoClipDataset(VideoDatasetBase):
    """Training set: one random clip per video, ``(clip float [C, T, H, W], label)``.

    Clip sampling: :class:`~.clip_sampling.RandomClipSampler`; transform:
    :func:`~.transforms.train_transform`. Labels named in a CSV without a labels file take
    the sorted names of that CSV; for validation and test lists pass ``labels_file`` or
    ``classes_from=<train list>`` so the indices agree.
    """

    def __init__(self, list_file: str, root: str | None = None, preset: str = "tiny", **kwargs):
        super().__init__(list_file, root, preset, **kwargs)
        self.sampler = RandomClipSampler(self.preset.num_frames, self.preset.stride, self.end_mode)
        self.transform = train_transform(self.preset)

    @property
    def cache_short_side(self) -> int:
        return max(self.preset.jitter)

    def _replacement(self, index: int, attempt: int) -> int:
        # A random other video, as SlowFast retries, so one bad file does not bias the batch.
        return index if attempt == 0 else int(torch.randint(0, len(self), ()))

    def _load(self, index: int) -> tuple[torch.Tensor, int]:
        frames, _ = self._decode(index, self.sampler)
        clip = self.transform(frames_to_video(frames))
        return clip.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous(), self.videos.records[index].label


@nni.trace
class VideoViewDataset(VideoDatasetBase):
    """Test set: every view of a video, ``(views float [V, C, T, H, W], label, video index)``.

    ``views`` temporal clips evenly spread over the video, each cut into 1 (centre) or 3 (along
    the long side) crops of ``test_size``: ``'10-Center'`` gives 10 views, ``'10-LeftCenterRight'``
    30. A bad video is replaced by the next one in the list, which carries its own index, so
    per-video averaging (:func:`~.callbacks.average_views`) leaves the bad video out.
    """

    def __init__(self, list_file: str, root: str | None = None, preset: str = "tiny", views: str | int | None = None, **kwargs):
        if kwargs.get("data_format") not in SPLIT_FORMATS and kwargs.get("labels_file") is None \
                and kwargs.get("classes_from") is None and resolve_classes(list_file) is not None:
            # Names collected from a test list would index differently from training whenever a
            # class is missing from it; make the caller say where the class list comes from.
            raise ValueError(
                f"{list_file}: labels are class names; pass labels_file or classes_from=<training list> "
                "so test indices match training"
            )
        super().__init__(list_file, root, preset, **kwargs)
        self.num_clips, self.num_crops = parse_views(views if views is not None else self.preset.views)
        self.sampler = UniformClipSampler(self.preset.num_frames, self.preset.stride, self.num_clips, self.end_mode)

    @property
    def cache_short_side(self) -> int:
        return self.preset.test_size

    @property
    def num_views(self) -> int:
        """Views per video: temporal clips times spatial crops."""
        return self.num_clips * self.num_crops

    def _load(self, index: int) -> tuple[torch.Tensor, int, int]:
        frames, clips = self._decode(index, self.sampler)
        return views_from_frames(frames, clips, self.preset, self.num_crops), self.videos.records[index].label, index


def make_dataset(
    list_file: str,
    root: str | None = None,
    split: str = "train",
    preset: str = "tiny",
    num_frames: int | None = None,
    stride: int | None = None,
    views: str | int | None = None,
    **kwargs,
) -> VideoClipDataset | VideoViewDataset:
    """Build the training (``split='train'``) or test (``'val'``/``'test'``) dataset of a list.

    Returns an ``nni.trace``-d dataset; ``views`` applies to test splits only. Extra keyword
    arguments go to :class:`VideoDatasetBase` (``labels_file``, ``classes_from``, ``strict``,
    ``data_format``, ``split_options``...). With a folder format, ``split`` also says which of
    the data set's splits is read.
    """
    list_file = os.fspath(list_file)
    if kwargs.get("data_format") in SPLIT_FORMATS:
        kwargs.setdefault("subset", split)
    root = os.fspath(root) if root is not None else None
    if split == "train":
        if views is not None:
            raise ValueError("views apply to the 'val' and 'test' splits, not 'train'")
        return VideoClipDataset(list_file, root, preset, num_frames=num_frames, stride=stride, **kwargs)
    if split in ("val", "test"):
        return VideoViewDataset(list_file, root, preset, views=views, num_frames=num_frames, stride=stride, **kwargs)
    raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
