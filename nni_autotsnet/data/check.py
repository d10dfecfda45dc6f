"""``python -m nni_autotsnet.data check``: decode a clip of every listed video and print a table.

Run it on a data set before a search that takes days: it opens every video with the same
reader the datasets use, decodes one centred training clip, and lists what the container says.
It exits non-zero when any video fails, naming each with its reason.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence, TextIO

from nni_autotsnet.errors import CommandParser, command

from .annotations import read_video_list, resolve_classes
from .clip_sampling import UniformClipSampler
from .decoding import VideoInfo, VideoReader
from .errors import VideoDecodeError
from .transforms import DATA_PRESETS, get_preset

__all__ = ["CheckResult", "check_video", "check_list", "main"]


@dataclass(frozen=True)
class CheckResult:
    """One video's outcome: its metadata when it opened, and ``ok`` or the failure reason."""

    path: str
    info: VideoInfo | None
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_video(path: str, num_frames: int, stride: int) -> CheckResult:
    """Open ``path`` and decode its centred clip of ``num_frames`` x ``stride``."""
    info = None
    try:
        with VideoReader(path) as reader:
            info = reader.info
            (clip,) = UniformClipSampler(num_frames, stride, 1)(info)
            reader.frames_at(clip.times)
    except VideoDecodeError as err:
        return CheckResult(path, info, err.reason)
    return CheckResult(path, info, "ok")


def _row(result: CheckResult) -> list[str]:
    info = result.info
    if info is None:
        return [result.path, "-", "-", "-", "-", "-", result.status]
    return [
        result.path,
        info.codec,
        f"{info.width}x{info.height}",
        f"{info.fps:.3f}",
        f"{info.duration:.2f}",
        str(info.num_frames),
        result.status,
    ]


def _print_table(results: Sequence[CheckResult], out: TextIO) -> None:
    header = ["path", "codec", "resolution", "fps", "duration_s", "frames", "status"]
    rows = [header] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] + "\n")


def check_list(list_file: str, root: str | None = None, labels_file: str | None = None, preset: str = "tiny") -> list[CheckResult]:
    """Check every video of a list file (labels are validated too)."""
    videos = read_video_list(list_file, root, resolve_classes(list_file, labels_file))
    p = get_preset(preset)
    return [check_video(record.path, p.num_frames, p.stride) for record in videos.records]


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m nni_autotsnet.data check", description=__doc__.splitlines()[0])
    parser.add_argument("list_file", metavar="LIST", help="path,label CSV or SlowFast 'path label' list")
    parser.add_argument("--root", default=None, help="folder of relative paths (default: the list's folder)")
    parser.add_argument("--labels-file", default=None, help="class names, one a line")
    parser.add_argument("--preset", default="tiny", choices=sorted(DATA_PRESETS), help="clip frames and stride to decode")
    return parser


@command
def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Check a list; return 0 when every video decodes, 1 when any fails, 2 on a bad list (one line on stderr)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    results = check_list(args.list_file, args.root, args.labels_file, args.preset)
    _print_table(results, out)
    failed = [r for r in results if not r.ok]
    out.write(f"\n{len(results) - len(failed)} of {len(results)} videos decode\n")
    for r in failed:
        print(f"FAILED {r.path}: {r.status}", file=sys.stderr)
    return 1 if failed else 0
