"""``python -m nni_autotsnet.data check``: decode a clip of every video of a data set and summarise it.

Run it on a data set before a search that takes days. It reads the data set the way the
datasets do (a list file per split, or a data set's folder in any format of :mod:`.formats`),
opens every video with the same reader, decodes one centred clip, and prints per split: videos,
classes and the smallest / largest class, codecs, frame rates, resolutions and durations (ranges
and the most common values), unreadable files and videos shorter than one clip; ``--json FILE``
writes the same. It warns when validation or test hold classes training does not, and exits 1
when any video fails (each named with its reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from nni_autotsnet.errors import CommandParser, command

from .annotations import VideoList, read_video_list, resolve_classes
from .clip_sampling import UniformClipSampler
from .decoding import VideoInfo, VideoReader
from .errors import VideoDecodeError
from .formats import FORMATS, SPLIT_FORMATS, detect_format, read_split
from .summary import class_warnings, format_summary, summarize
from .transforms import DATA_PRESETS, get_preset

__all__ = ["CheckResult", "check_video", "check_list", "check_dataset", "main"]


@dataclass(frozen=True)
class CheckResult:
    """One video's outcome: its metadata when it opened, ``ok`` or the failure reason, and its picture.

    ``width`` / ``height`` are as displayed (after the display rotation, when a frame decoded).
    """

    path: str
    info: VideoInfo | None
    status: str
    label: int = -1
    width: int = 0
    height: int = 0
    rotation: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_video(path: str, num_frames: int, stride: int, label: int = -1) -> CheckResult:
    """Open ``path`` and decode its centred clip of ``num_frames`` x ``stride``."""
    info = None
    try:
        with VideoReader(path) as reader:
            info = reader.info
            (clip,) = UniformClipSampler(num_frames, stride, 1)(info)
            decoded = reader.frames_at(clip.times)
    except VideoDecodeError as err:
        size = (info.width, info.height) if info is not None else (0, 0)
        return CheckResult(path, info, err.reason, label, *size)
    height, width = decoded.frames.shape[1:3]
    return CheckResult(path, info, "ok", label, width, height, decoded.rotation)


def _row(result: CheckResult) -> list[str]:
    info = result.info
    if info is None:
        return [result.path, "-", "-", "-", "-", "-", result.status]
    return [result.path, info.codec, f"{result.width}x{result.height}", f"{info.fps:.3f}", f"{info.duration:.2f}",
            str(info.num_frames), result.status]


def _print_table(results: Sequence[CheckResult], out: TextIO) -> None:
    header = ["path", "codec", "resolution", "fps", "duration_s", "frames", "status"]
    rows = [header] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] + "\n")


def _check_videos(videos: VideoList, preset: str) -> list[CheckResult]:
    p = get_preset(preset)
    return [check_video(record.path, p.num_frames, p.stride, record.label) for record in videos.records]


def check_list(list_file: str, root: str | None = None, labels_file: str | None = None, preset: str = "tiny") -> list[CheckResult]:
    """Check every video of a list file (labels are validated too)."""
    return _check_videos(read_video_list(list_file, root, resolve_classes(list_file, labels_file)), preset)


def _splits(paths: Sequence[str], data_format: str, root: str | None, labels_file: str | None,
            options: dict) -> list[tuple[str, VideoList]]:
    """``(split name, its videos)`` of the data set: every split of a folder format, else each list given."""
    if data_format in SPLIT_FORMATS:
        if len(paths) != 1:
            raise ValueError(f"the {data_format} format reads every split from one folder; give one PATH")
        names = ("train", "val") if data_format == "ssv2" else ("train", "val", "test")  # SSv2 test = validation
        return [(name, read_split(data_format, paths[0], name, root, **options)) for name in names]
    first = paths[0]
    out = []
    for k, path in enumerate(paths):
        # later lists take the first (training) list's class names, so their indices agree
        classes = resolve_classes(path, labels_file) if k == 0 or labels_file else resolve_classes(path, None, first)
        out.append((Path(path).name, read_video_list(path, root, classes)))
    return out


def check_dataset(paths: Sequence[str], data_format: str | None = None, root: str | None = None,
                  labels_file: str | None = None, preset: str = "tiny", **options) -> dict:
    """Check and summarise a data set: ``{format, preset, splits: [summary...], warnings, videos: [row...]}``.

    ``paths``: a folder of a format of :mod:`.formats` (detected when ``data_format`` is ``None``)
    or list files, the training list first. ``options``: :func:`~.formats.read_split`'s keywords.
    """
    data_format = data_format or detect_format(paths[0])
    p = get_preset(preset)
    span = (p.num_frames - 1) * p.stride + 1
    summaries, rows, results_by_split = [], [], []
    for name, videos in _splits(paths, data_format, root, labels_file, options):
        results = _check_videos(videos, preset)
        results_by_split.append((name, results))
        summaries.append(summarize(name, videos.source, results, videos.classes, span))
        rows += [dict(zip(["path", "codec", "resolution", "fps", "duration_s", "frames", "status"], _row(r)),
                      split=name, label=r.label) for r in results]
    return {"format": data_format, "preset": preset, "splits": summaries, "warnings": class_warnings(summaries),
            "videos": rows, "_results": results_by_split}


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m nni_autotsnet.data check", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a data set's folder (ssv2, ucf101, hmdb51, folders), or list files, the training list first")
    parser.add_argument("--format", default=None, choices=FORMATS, help="the data set's format (default: detected)")
    parser.add_argument("--root", default=None, help="folder of the videos (default: the list's or data set's folder)")
    parser.add_argument("--labels-file", default=None, help="class names, one a line (list formats)")
    parser.add_argument("--preset", default="tiny", choices=sorted(DATA_PRESETS), help="clip frames and stride to decode")
    parser.add_argument("--split-number", type=int, default=1, choices=(1, 2, 3), help="ucf101 / hmdb51 split (default 1)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="held out for validation (default 0.1)")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="folders: for test (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out draw (default 0)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the summary and every video's row here")
    parser.add_argument("--videos", action="store_true", help="print a row per video before the summary")
    return parser


@command
def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Check a data set; return 0 when every video decodes, 1 when any fails, 2 on a bad list (one line on stderr)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    options = dict(split_number=args.split_number, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                   seed=args.seed) if (args.format or detect_format(args.paths[0])) in SPLIT_FORMATS else {}
    report = check_dataset(args.paths, args.format, args.root, args.labels_file, args.preset, **options)
    results = [r for _, split in report.pop("_results") for r in split]
    if args.videos:
        _print_table(results, out)
        out.write("\n")
    out.write(f"format {report['format']}, clips of preset {args.preset}\n")
    for summary in report["splits"]:
        out.write(format_summary(summary))
    failed = [r for r in results if not r.ok]
    out.write(f"\n{len(results) - len(failed)} of {len(results)} videos decode\n")
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for r in failed:
        print(f"FAILED {r.path}: {r.status}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 1 if failed else 0
