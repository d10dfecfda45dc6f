"""``python -m nni_autotsnet.data {check, make-benchmark}``: dispatch to the two commands."""

from __future__ import annotations

import sys
from typing import Sequence

from nni_autotsnet.errors import CommandParser, command

from . import check
from .benchmark import DEFAULT_SPLITS, make_benchmark

__all__ = ["main", "make_benchmark_main"]

PROG = "python -m nni_autotsnet.data"
USAGE = f"usage: {PROG} {{check,make-benchmark}} ... (each takes --help)\n"


def make_benchmark_main(argv: Sequence[str] | None = None) -> int:
    """``make-benchmark --out DIR [--classes N --videos-per-class M --seed S ...]``."""
    parser = CommandParser(
        prog="python -m nni_autotsnet.data make-benchmark",
        description="Write the temporal benchmark: H.264 mp4 files, train/val/test CSVs, labels.txt.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--classes", type=int, default=10, help="number of classes, 2..10 (default 10)")
    parser.add_argument("--videos-per-class", type=int, default=None,
                        help="videos per class over all splits, 60/20/20%% train/val/test (default: the split sizes below)")
    parser.add_argument("--train", type=int, default=None, help="training videos per class (default 60)")
    parser.add_argument("--val", type=int, default=None, help="validation videos per class (default 20)")
    parser.add_argument("--test", type=int, default=None, help="test videos per class (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="shortest video (default 2 s)")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="longest video (default 3 s)")
    parser.add_argument("--stride", type=int, default=4, help="model's frame stride; sets the shake period (default 4)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs, at most 4)")
    args = parser.parse_args(argv)
    if not 0 < args.min_seconds <= args.max_seconds:
        parser.error("need 0 < --min-seconds <= --max-seconds")
    given = {k: getattr(args, k) for k in ("train", "val", "test") if getattr(args, k) is not None}
    if given and args.videos_per_class is not None:
        parser.error("give --videos-per-class or --train/--val/--test, not both")
    splits = {**DEFAULT_SPLITS, **given} if args.videos_per_class is None else None
    try:
        summary = make_benchmark(
            args.out, args.classes, args.videos_per_class, args.seed,
            (args.min_seconds, args.max_seconds), args.stride, args.workers, splits=splits,
        )
    except ValueError as err:
        parser.error(str(err))
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    print(f"wrote {sum(summary['splits'].values())} videos ({splits}) to {args.out} in {summary['build_seconds']:.1f} s")
    return 0


COMMANDS = {"check": check.main, "make-benchmark": make_benchmark_main}


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by the first argument; 2 with one line on stderr for a missing or unknown one."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        given = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"error: {PROG}: {given}; choose {' or '.join(COMMANDS)} (see --help)", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
