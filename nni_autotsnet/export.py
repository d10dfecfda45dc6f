"""``python -m nni_autotsnet.export``: turn a search result into plain PyTorch models and a cost table.

Reads a search directory (an NNI trial directory has the same layout)::

    SEARCH_DIR/arch.json                      the final architecture (save_arch format)
    SEARCH_DIR/part{i}_{parts}/part.json      {"preset", "parts", "fixed", "num_classes", "index"}
                              /alpha.json     Parsec.export_alpha: "top", "alpha", ...
                              /supernet.pt    the state dict of the part's weight-sharing supernet

or one ``--arch ARCH.json``, and writes per architecture ``arch.json``, ``model.pt`` (a plain dict
that :func:`nni_autotsnet.models.load_exported` rebuilds without NNI) and a summary in the style of
the supplement's Table 4: parameters, multiply-adds per view and per test protocol, CPU latency.
``--weights`` slices each model's weights out of the supernet (NNI is imported only then).
``--latency-table TABLE.json`` (``python -m nni_autotsnet.latency profile``) adds F_lat(A), the
latency predicted from the table, and beside it the latency measured here at the table's settings
(device, threads, batch, clock) when this machine is the table's (else ``-``, with a note).

``model.pt`` records the class names of the search's data (from its ``config.yaml``), its data
preset and test views. ``--onnx`` also writes ``model.onnx`` beside each ``model.pt``
(:mod:`nni_autotsnet.onnx_export`: dynamic batch, the opset, class names and input in its
metadata), checked by ONNX Runtime against PyTorch on random clips and on views decoded from
``--check-video`` files (default: the first two test videos of the bundled benchmark, when it is
built); the figures are printed and stored in ``onnx_check.json``. ``--checkpoint RUN --onnx``
does the same for a trained run (``RUN/model.onnx``).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.results import to_markdown
from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import save_exported
from nni_autotsnet.search_space import (
    check_arch, load_preset, make_layout, read_arch, save_arch,
)
from nni_autotsnet.search_space.flops import fvcore_flops
from nni_autotsnet.onnx_export import onnx_summary, write_onnx
from nni_autotsnet.rundir import ALPHA_FILE, ARCH_FILE, CONFIG_FILE, MODEL_FILE, PART_FILE, RANKING_FILE, part_dirs
# the part and its supernet live in a library module (the ranking of architectures uses them too); their
# names stay importable from here
from nni_autotsnet.supernet import ExportError, Part, import_nni, inherit_weights, read_part

if TYPE_CHECKING:
    from nni_autotsnet.strategies import ArchDistribution

__all__ = ["ExportError", "Part", "Candidate", "read_part", "read_search_dir", "read_arch_file", "arch_probability",
           "alpha_distribution", "inherit_weights", "views_per_video", "latency_ms", "export", "main"]

_DEFAULT_VIEWS = "10-LeftCenterRight"  # Kinetics' 10 clips x 3 crops, the data presets' default protocol
_FLOPS_COL = "GFLOPs (multiply-adds per view)"


@dataclass
class Candidate:
    """One architecture to export: the full arch of the preset's space for ``parts``, and its origin."""

    name: str
    arch: dict[str, Any]
    preset: str  # a preset name or a YAML path, as recorded
    parts: str
    num_classes: int | None = None
    probability: float | None = None  # P(arch | alpha) of the part that searched it
    part: Part | None = None  # the part whose supernet holds its weights
    classes: Sequence[str] | None = None  # the training data's class names (the search's config.yaml)
    data_preset: str | None = None
    views: str | None = None


def read_arch_file(path: Path, preset: str | None = None) -> Candidate:
    """An arch JSON (save_arch format or a bare dict), checked against its preset (``ArchError`` names the file)."""
    def agree(path: Path, file_preset: str, parts: str | None) -> None:
        if preset and str(preset) != file_preset:
            raise ExportError(f"{path}: key 'preset' is {file_preset!r}, but --preset {preset!r} was given")

    found = read_arch(path, preset, agree)
    return Candidate(f"AutoTSNet-{load_preset(found.preset).name}", found.arch, found.preset, found.parts)


def alpha_distribution(alpha: Mapping[str, Any]) -> ArchDistribution:
    """PARSEC's :class:`~nni_autotsnet.strategies.ArchDistribution` with alpha.json's ``alpha`` logits (imports NNI).

    Its ``top_k`` and ``log_prob`` are the ones the search used, so ranks and probabilities agree with it.
    """
    import_nni()
    from nni.mutable import Categorical
    from nni_autotsnet.strategies import ArchDistribution

    # the dict keys are the labels; NNI's own label may not contain '/', so the mutables get stand-ins
    dist = ArchDistribution({label: Categorical(entry["values"], label=f"c{i}")
                             for i, (label, entry) in enumerate(alpha.items())})
    with torch.no_grad():
        dist.logits.copy_(torch.tensor([x for entry in alpha.values() for x in entry["logits"]]))
    return dist


def arch_probability(alpha: Mapping[str, Any], arch: Mapping[str, Any]) -> float | None:
    """``P(arch | alpha)``: the product of alpha.json's per-label ``probs``; ``None`` if ``arch`` is not of it."""
    prob = 1.0
    for label, entry in alpha.items():
        if label not in arch or arch[label] not in entry["values"]:
            return None
        prob *= entry["probs"][entry["values"].index(arch[label])]
    return prob


def _top_samples(part: Part, n: int) -> list[tuple[dict[str, Any], float | None]]:
    where = part.path / ALPHA_FILE
    if part.alpha is None:
        raise ExportError(f"{where}: missing; --top needs the last part's alpha")
    stored = [(entry["sample"], entry.get("probability")) for entry in part.alpha.get("top", [])]
    if len(stored) >= n or "alpha" not in part.alpha:
        if len(stored) < n:
            print(f"note: {where} holds {len(stored)} architectures, not {n}: exporting those", file=sys.stderr)
        return stored[:n]
    found = alpha_distribution(part.alpha["alpha"]).top_k(n)
    print(f"note: {where} stores the top {len(stored)}; recomputed the top {len(found)} from its logits",
          file=sys.stderr)
    return found


def _data_of(root: Path) -> tuple[Sequence[str] | None, str | None, str | None]:
    """(class names, data preset, test views) of a search directory's ``config.yaml``; ``None`` where unknown."""
    if not (root / CONFIG_FILE).is_file():
        return None, None, None
    from nni_autotsnet.config import load_config
    from nni_autotsnet.runtime import dataset_classes

    cfg = load_config(root / CONFIG_FILE)
    views = cfg.train.eval_views
    return dataset_classes(cfg), cfg.data.preset, None if views is None else str(views)


def read_search_dir(root: Path, preset: str | None = None, top: int | None = None,
                    rank: int | None = None) -> list[Candidate]:
    """The final architecture of a search directory, the ``top`` most likely of its last part, or row ``rank``
    of its ``ranking.csv`` (:mod:`nni_autotsnet.shortlist`)."""
    if not root.is_dir():
        raise ExportError(f"{root}: no such search directory")
    if not (root / ARCH_FILE).is_file():
        raise ExportError(f"{root / ARCH_FILE}: missing; is {root} a directory written by the search?")
    final = read_arch_file(root / ARCH_FILE, preset)
    final.classes, final.data_preset, final.views = _data_of(root)
    found = [read_part(folder) for _, _, folder in part_dirs(root)]
    last = max(found, key=lambda p: p.index) if found else None
    if last is not None:
        if (last.preset, last.parts) != (final.preset, final.parts):
            raise ExportError(f"{last.path / PART_FILE}: preset/parts {last.preset!r}/{last.parts!r} differ from "
                              f"{root / ARCH_FILE}'s {final.preset!r}/{final.parts!r}")
        final.part, final.num_classes = last, last.num_classes
        if last.alpha is not None and "alpha" in last.alpha:
            final.probability = arch_probability(last.alpha["alpha"], final.arch)
    if rank is not None:
        from nni_autotsnet.shortlist import ranked_arch

        if last is None:
            raise ExportError(f"{root}: no part*_* folder with part.json; --rank needs the search's last part")
        arch, row = ranked_arch(root, rank)
        layout = make_layout(load_preset(last.preset), last.parts)
        arch = check_arch(layout, arch, source=f"{root / RANKING_FILE} rank {rank}")
        return [Candidate(f"{final.name}-ranked{rank}", arch, last.preset, last.parts, last.num_classes,
                          float(row["probability"]), last, final.classes, final.data_preset, final.views)]
    if top is None:
        return [final]
    if last is None:
        raise ExportError(f"{root}: no part*_* folder with part.json and alpha.json; --top needs one")
    layout = make_layout(load_preset(last.preset), last.parts)
    candidates = []
    for i, (sample, prob) in enumerate(_top_samples(last, top), 1):
        arch = check_arch(layout, {**last.fixed, **sample}, source=f"{last.path / ALPHA_FILE} top[{i - 1}]")
        candidates.append(Candidate(f"{final.name}-rank{i}", arch, last.preset, last.parts, last.num_classes,
                                    prob, last, final.classes, final.data_preset, final.views))
    return candidates


def views_per_video(preset: str, views: str | None = None) -> tuple[int, str]:
    """Views per video of the test protocol: ``views``, else the same-named data preset's, else 10x3."""
    from nni_autotsnet.data.transforms import DATA_PRESETS, parse_views

    name = load_preset(preset).name  # a YAML preset's file stem
    protocol = views or (DATA_PRESETS[name].views if name in DATA_PRESETS else _DEFAULT_VIEWS)
    try:
        clips, crops = parse_views(protocol)
    except ValueError as err:
        raise ExportError(f"--views: {err}") from None
    return clips * crops, protocol


def latency_ms(model: nn.Module, input_shape: Sequence[int], runs: int, warmup: int = 3) -> float:
    """Median wall time of ``runs`` batch-1 forward passes (eval, no_grad) after ``warmup`` passes; NaN if 0."""
    if runs < 1:
        return float("nan")
    x = torch.randn(1, *input_shape)
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _table_latency(c: Candidate, model: nn.Module, table: Path, measure: bool) -> dict:
    """Predicted (F_lat(A) from ``table``) and measured latency at the table's settings, side by side."""
    from nni_autotsnet.latency import load_latency_model, model_ms

    preset = load_preset(c.preset)
    predictor = load_latency_model(table, preset, c.parts, c.num_classes)
    meta = predictor.meta
    measured = float("nan")
    if measure:
        measured = model_ms(model, preset.input_shape, meta["device"], meta["threads"], meta["batch"],
                            clock=meta["clock"])
    return {"latency ms (predicted, table)": predictor.latency(c.arch), "latency ms (measured)": measured,
            "latency device": f"{meta['device']} {meta['device_name']}, {meta['threads']} threads, "
                              f"batch {meta['batch']}, {meta['clock']} clock"}


def _on_the_tables_device(table: Path) -> tuple[bool, str]:
    """Whether this machine is the one the table was measured on (device, its name, torch), and why not."""
    from nni_autotsnet.latency import load_table
    from nni_autotsnet.latency.table import device_name

    meta = load_table(table)["meta"]
    if meta["device"] == "cuda" and not torch.cuda.is_available():
        return False, "the table is of a CUDA device and none is here"
    here = {"device_name": device_name(meta["device"]), "torch": torch.__version__}
    for field, value in here.items():
        if meta[field] != value:
            return False, f"the table's {field} is {meta[field]!r}, this machine's {value!r}"
    return True, ""


def _export_one(c: Candidate, root: Path, out: Path, state: dict | None, latency_runs: int,
                views: tuple[int, str], latency_table: Path | None = None, measure_table: bool = False) -> dict:
    """Write ``arch.json`` and ``model.pt`` of one candidate into ``out``; its summary row."""
    preset = load_preset(c.preset)
    model = build_model(preset, c.arch, parts=c.parts, num_classes=c.num_classes)
    if state is not None:
        model.load_state_dict(state)  # copies: the file holds no view of the supernet's storage
    out.mkdir(parents=True, exist_ok=True)
    save_arch(c.arch, out / ARCH_FILE, c.preset, c.parts)
    num_classes = c.num_classes or preset.num_classes
    classes = c.classes if c.classes is not None and len(c.classes) == num_classes else None
    save_exported(out / MODEL_FILE, preset=c.preset, parts=c.parts, num_classes=num_classes,
                  arch=c.arch, state_dict=model.state_dict(), inherited_weights=state is not None,
                  classes=classes, data_preset=c.data_preset, views=c.views)
    flops, _ = fvcore_flops(model, preset.input_shape)
    return {"model": c.name, "parts": c.parts, "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
            _FLOPS_COL: flops / 1e9, "GFLOPs x views": flops * views[0] / 1e9, "views": views[0],
            "view protocol": views[1], "CPU latency (ms, batch 1)": latency_ms(model, preset.input_shape, latency_runs),
            "threads": torch.get_num_threads(),
            **(_table_latency(c, model, latency_table, measure_table) if latency_table is not None else {}),
            "probability": c.probability, "weights": "inherited" if state is not None else "initialised",
            "file": (out / MODEL_FILE).relative_to(root).as_posix()}


def _write_summary(rows: list[dict], out: Path, note: str) -> str:
    df = pd.DataFrame(rows)
    df.to_csv(out / "summary.csv", index=False)
    text = f"{note}\n\n{to_markdown(df)}\n"
    (out / "summary.md").write_text(text)
    return text


def export(search_dir: Path | None = None, *, arch: Path | None = None, preset: str | None = None,
           out: Path | None = None, top: int | None = None, rank: int | None = None, weights: bool = False,
           latency_runs: int = 20,
           views: str | None = None, num_classes: int | None = None,
           latency_table: Path | None = None) -> tuple[pd.DataFrame, str]:
    """Export a search directory's final (or ``top``) architectures, or one arch file; see the module doc.

    Returns the summary table and its markdown; raises :class:`ExportError`, ``ArchError`` or
    ``PresetError`` for user errors.
    """
    if search_dir is not None:
        candidates = read_search_dir(Path(search_dir), preset, top, rank)
    else:
        candidates = [read_arch_file(Path(arch), preset)]
        candidates[0].num_classes = num_classes
    out = Path(out) if out is not None else (Path(search_dir) if search_dir else Path(".")) / "export"
    num_views = views_per_video(candidates[0].preset, views)  # one preset: the last part's
    states: list[dict | None] = [None] * len(candidates)
    if weights:
        if candidates[0].part is None:
            raise ExportError(f"{search_dir or arch}: --weights needs a search directory with part*_*/supernet.pt")
        states = inherit_weights(candidates[0].part, [c.arch for c in candidates])
    note = (f"{_FLOPS_COL}: fvcore, batch-norm left out, at the preset's input; 'GFLOPs x views' multiplies by "
            f"the test protocol's views. CPU latency: median of {latency_runs} forward passes at batch 1 "
            "(eval, torch.no_grad) after 3 warm-up passes. probability: P(arch | alpha) of the last search part.")
    measure_table = False
    if latency_table is not None:
        measure_table, why = _on_the_tables_device(Path(latency_table))
        note += (" latency ms (predicted, table): F_lat(A), the sum of the latency table's entries; latency ms "
                 "(measured): the built model timed here at the table's settings" +
                 (" (fastest of 7 blocks of calls)." if measure_table else f", not measured: {why}."))
    rows = []
    for i, (c, state) in enumerate(zip(candidates, states), 1):
        rows.append(_export_one(c, out, out / f"rank{i}" if top else out, state, latency_runs, num_views,
                                latency_table, measure_table))
        if top:
            _write_summary(rows[-1:], out / f"rank{i}", note)
    return pd.DataFrame(rows), _write_summary(rows, out, note)


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Parse, export, print the markdown table; 2 with a one-line message on a user error."""
    p = CommandParser(prog="python -m nni_autotsnet.export",
                                description="Export searched architectures as plain PyTorch models with a cost table.")
    p.add_argument("search_dir", nargs="?", type=Path, metavar="SEARCH_DIR", help="a search (or NNI trial) directory")
    p.add_argument("--checkpoint", type=Path, metavar="RUN", help="with --onnx: a trained run (or its model.pt)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx, checked by ONNX Runtime")
    p.add_argument("--check-video", type=Path, action="append", default=[], metavar="FILE",
                   help="with --onnx: decode this video's views for the check (repeatable; default: benchmark videos)")
    p.add_argument("--arch", type=Path, metavar="ARCH.json", help="export this arch JSON instead")
    p.add_argument("--preset", help="preset name or YAML path, for an arch JSON that does not record one")
    p.add_argument("--num-classes", type=int, metavar="K", help="classifier size for --arch (default: the preset's)")
    p.add_argument("--top", type=int, metavar="N", help="export the N most likely architectures of the last part")
    p.add_argument("--rank", type=int, metavar="R", help="export row R of the search's ranking.csv (its shortlist)")
    p.add_argument("--weights", action="store_true", help="inherit weights from the last part's supernet.pt")
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: SEARCH_DIR/export or ./export)")
    p.add_argument("--latency-runs", type=int, default=20, metavar="R", help="timed forward passes (0: no latency)")
    p.add_argument("--views", help="test protocol such as 10-LeftCenterRight (default: the data preset's)")
    p.add_argument("--threads", type=int, metavar="T", help="torch.set_num_threads for the latency runs")
    p.add_argument("--latency-table", type=Path, metavar="TABLE.json",
                   help="add F_lat(A) from this latency table and the latency measured here at its settings")
    args = p.parse_args(argv)
    if sum(x is not None for x in (args.search_dir, args.arch, args.checkpoint)) != 1:
        p.error("give a SEARCH_DIR, --arch ARCH.json or --checkpoint RUN (one of them)")
    if args.checkpoint is not None and not args.onnx:
        p.error("--checkpoint RUN exports a trained run to ONNX: add --onnx")
    if args.arch is not None and (args.top or args.weights or args.rank):
        p.error("--top, --rank and --weights need a SEARCH_DIR, not --arch")
    if args.top is not None and args.rank is not None:
        p.error("give --top N or --rank R, not both")
    if args.rank is not None and args.rank < 1:
        p.error(f"--rank must be >= 1, got {args.rank}")
    if args.top is not None and args.top < 1:
        p.error(f"--top must be >= 1, got {args.top}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint is not None:
        print(onnx_summary(write_onnx(args.checkpoint, args.out, args.check_video)), flush=True)
        return 0
    table, text = export(args.search_dir, arch=args.arch, preset=args.preset, out=args.out, top=args.top,
                         rank=args.rank, weights=args.weights, latency_runs=args.latency_runs, views=args.views,
                         num_classes=args.num_classes, latency_table=args.latency_table)
    print(text)
    if args.onnx:
        root = Path(args.out) if args.out is not None else (Path(args.search_dir or ".") / "export")
        config = Path(args.search_dir) / CONFIG_FILE if args.search_dir else None
        for file in table["file"]:
            print(onnx_summary(write_onnx(root / file, check_videos=args.check_video, config=config)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
