"""``python -m nni_autotsnet.config {show, reference}``: the effective config of a YAML file, and the key reference.

    python -m nni_autotsnet.config show experiments/tiny32.yaml [key.sub=value ...]
    python -m nni_autotsnet.config reference [--out docs/config.md]

``show`` loads the file as every command does (defaults, ``base:``, overrides, every check) and prints
the result, like Hydra's ``--cfg job``; ``reference`` writes the table of every key (``docs/config.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from nni_autotsnet.errors import CommandParser, command

from . import load_config
from .reference import effective_yaml, reference_markdown

__all__ = ["main"]

PROG = "python -m nni_autotsnet.config"


def _show(argv: Sequence[str]) -> int:
    parser = CommandParser(prog=f"{PROG} show", description="Print the effective config: defaults, the YAML file "
                           "(and its base:), then the overrides, checked; derived values after it as comments.")
    parser.add_argument("config", help="experiment YAML (e.g. experiments/tiny32.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, values read as YAML")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    sys.stdout.write(f"# {args.config}{''.join(' ' + o for o in args.overrides)}\n" + effective_yaml(config))
    return 0


def _reference(argv: Sequence[str]) -> int:
    parser = CommandParser(prog=f"{PROG} reference", description="Write the reference of every config key.")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write (default: print it)")
    args = parser.parse_args(argv)
    text = reference_markdown()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


COMMANDS = {"show": _show, "reference": _reference}
USAGE = f"usage: {PROG} {{show,reference}} ... (each takes --help)\n"


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named by the first argument; 2 with one line on stderr for a missing or unknown one."""
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
