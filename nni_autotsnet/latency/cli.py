"""``python -m nni_autotsnet.latency profile|predict``: latency tables of a preset on this device, and F_lat(A).

``profile --preset P [--device cpu|cuda] [--threads N] [--batch B] --out TABLE.json`` measures every
distinct unit (Super MBConv3D choice at its input shape, fusion op, attention op, stems, heads) of
the preset's space on this device. A killed profile continues when the same command runs again;
a table of another device, thread count, batch, torch build or preset is refused, naming the field.

``predict --table TABLE.json --arch ARCH.json [--measure]`` prints F_lat(A) and, with ``--measure``,
the measured latency of the built network beside it (this machine must be the table's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from nni_autotsnet.errors import CommandParser, UserError, command
from nni_autotsnet.search_space import load_preset

from .table import load_table

__all__ = ["main"]


def _profile(args) -> int:
    from .measure import profile

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: no CUDA device is available here")
    preset = load_preset(args.preset)
    table = profile(preset, args.out, device=args.device, threads=args.threads, batch=args.batch,
                    num_classes=args.num_classes, repeats=args.repeats, block_ms=args.block_ms, clock=args.clock,
                    progress=not args.quiet,
                    limit=args.limit)
    meta = table["meta"]
    print(f"{args.out}: {len(table['units'])} units of preset {meta['preset']!r} on {meta['device']} "
          f"({meta['device_name']}), {meta['threads']} threads, batch {meta['batch']}, torch {meta['torch']}; "
          f"{table['seconds']:.0f} s of profiling; glue {table['glue_ms']} ms")
    return 0


def _predict(args) -> int:
    from nni_autotsnet.models import build_model
    from nni_autotsnet.search_space import check_arch, infer_parts, load_arch, make_layout

    from .measure import model_ms
    from .predict import load_latency_model
    from .table import make_meta

    table = load_table(args.table)
    meta = table["meta"]
    arch, preset_name, parts = load_arch(args.arch)
    preset = load_preset(preset_name or meta["preset"])
    parts = parts or infer_parts(arch)
    arch = check_arch(make_layout(preset, parts), arch, source=str(args.arch))
    model = load_latency_model(args.table, preset, parts, meta["num_classes"])
    predicted = model.latency(arch)
    line = f"F_lat(A) = {predicted:.3f} ms predicted"
    if args.measure:
        here = make_meta(preset, meta["device"], meta["threads"], meta["batch"], meta["num_classes"], meta["clock"])
        from .table import check_meta
        check_meta(table, {k: here[k] for k in ("device", "device_name", "torch")}, args.table, why="--measure here")
        net = build_model(preset, arch, parts=parts, num_classes=meta["num_classes"])
        measured = model_ms(net, preset.input_shape, meta["device"], meta["threads"], meta["batch"],
                            clock=meta["clock"])
        line += f", {measured:.3f} ms measured ({100 * (predicted - measured) / measured:+.1f}%)"
    print(f"{line}; {meta['device']} ({meta['device_name']}), {meta['threads']} threads, batch {meta['batch']}, "
          f"{meta['clock']} clock")
    return 0


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Parse and dispatch; 2 with one line on stderr for a user error."""
    parser = CommandParser(prog="python -m nni_autotsnet.latency", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", help="measure every unit of a preset's space on this device")
    p.add_argument("--preset", required=True, help="tiny, tiny32, S, M, L or a preset YAML")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    p.add_argument("--batch", type=int, default=1, help="clips per forward (default: 1)")
    p.add_argument("--num-classes", type=int, help="classifier width (default: the preset's)")
    p.add_argument("--repeats", type=int, default=7, help="timed blocks per unit, median taken (default: 7)")
    p.add_argument("--block-ms", type=float, default=5.0, metavar="MS",
                   help="length of one timed block of calls (default: 5 ms)")
    p.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"],
                   help="wall time, or the thread's CPU time (auto: cpu on a CPU with one thread, else wall)")
    p.add_argument("--limit", type=int, help="stop after this many new units (the table stays resumable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, type=Path, metavar="TABLE.json")
    q = sub.add_parser("predict", help="F_lat(A) of an architecture, and optionally its measured latency")
    q.add_argument("--table", required=True, type=Path, metavar="TABLE.json")
    q.add_argument("--arch", required=True, type=Path, metavar="ARCH.json")
    q.add_argument("--measure", action="store_true", help="build the network and measure it here too")
    args = parser.parse_args(argv)
    for name in ("threads", "batch", "num_classes", "limit", "repeats"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    try:
        return _profile(args) if args.command == "profile" else _predict(args)
    except ValueError as err:  # resolve_clock: --clock cpu on a GPU or with several threads
        if "clock" in str(err) and not isinstance(err, UserError):
            raise UserError(f"--clock: {err}") from None
        raise
