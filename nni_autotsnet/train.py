"""``python -m nni_autotsnet.train --arch ARCH.json --config CFG [--out RUN] [--label NAME] [--resume] [key=value ...]``.

Trains one architecture from scratch with the supplement's recipe (section 3.2) scaled by the
config's ``train`` section, and writes the run directory described in
:mod:`nni_autotsnet.training` (``config.yaml``, ``arch.json``, ``last.ckpt`` every epoch,
``model.pt``, ``metrics.csv``, ``logs/``, ``result.json``). ``ARCH.json`` is a ``save_arch`` file
(``export``'s or a search's ``arch.json``; a search directory works too) or a bare
``{label: value}`` dict; its preset must be the config's. ``--resume`` continues from
``RUN/last.ckpt``; with a larger ``train.epochs`` it extends the run on the longer schedule.

Several devices: ``trainer.devices=4`` (and ``trainer.num_nodes=N``) train with DDP; on one node
Lightning starts the processes itself. Across nodes, start one process per device with the
launcher and the same arguments everywhere, e.g.
``torchrun --nnodes 2 --nproc-per-node 4 --rdzv-endpoint HOST:29500 -m nni_autotsnet.train ...
trainer.devices=4 trainer.num_nodes=2`` or, under SLURM, ``srun --ntasks-per-node 4 python -m
nni_autotsnet.train ... trainer.devices=4 trainer.num_nodes=2`` (Lightning reads the ranks from
the environment). ``data.batch_size`` is per device; the learning rate scales with the total batch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from nni_autotsnet.config import ExperimentConfig, load_config
from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.rundir import ARCH_FILE, MODEL_FILE
from nni_autotsnet.search_space import ArchError, PresetError, load_preset, read_arch

__all__ = ["main", "read_arch_for"]


def _same_preset(a: str, b: str) -> bool:
    if str(a) == str(b):
        return True
    try:
        return load_preset(a) == load_preset(b)
    except PresetError:
        return False


def read_arch_for(path: Path, config: ExperimentConfig) -> tuple[dict, str, str | None]:
    """``(arch, preset, parts)`` of an arch file (or a search directory's ``arch.json``) for ``config``'s preset.

    Raises ``ArchError`` naming the file when it is unreadable, of another preset, or not a point
    of the preset's space.
    """
    def agree(path: Path, file_preset: str, parts: str | None) -> None:
        if not _same_preset(file_preset, config.preset):
            raise ArchError(f"{path}: an architecture of preset {file_preset!r}, but the config trains preset "
                            f"{config.preset!r} (use that preset's config, or preset={file_preset})")

    found = read_arch(path / ARCH_FILE if path.is_dir() else path, config.preset, agree)
    return found.arch, found.preset, found.parts


@command
def main(argv: Sequence[str] | None = None) -> str:
    """Parse, load and check the config and the architecture, train; the summary (:func:`command` prints it)."""
    from nni_autotsnet.training import train

    parser = CommandParser(prog="python -m nni_autotsnet.train", description=__doc__.split("\n\n")[1])
    parser.add_argument("--arch", required=True, type=Path, metavar="ARCH.json",
                        help="architecture (save_arch JSON, a bare {label: value} dict, or a search directory)")
    parser.add_argument("--config", required=True, metavar="CFG", help="experiment YAML (experiments/tiny.yaml, ...)")
    parser.add_argument("--out", type=Path, metavar="RUN", help="run directory (default: the config's train.output)")
    parser.add_argument("--label", help="name in result.json and the log lines (default: the run folder's name)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/last.ckpt")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    arch, preset, parts = read_arch_for(args.arch, config)
    out = args.out or config.train.output
    result = train(config, arch, preset, parts, out, label=args.label, resume=args.resume)
    return (f"trained {result['label']}: val_acc {result['val_acc']:.4f} (best {result['best_val_acc']:.4f}) after "
            f"{result['epochs']} epochs, {result['gflops']:.5f} GFLOPs per view, {result['params'] / 1e6:.3f} M "
            f"params, {result['seconds']:.0f} s\n  model: {Path(out) / MODEL_FILE}")  # printed by rank zero


if __name__ == "__main__":
    sys.exit(main())
