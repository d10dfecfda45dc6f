"""Measuring latency on this device: one module at its input shapes, and the profile of a whole preset.

Timing is ``torch.utils.benchmark.Timer`` (it sets the thread count and synchronises CUDA), the
median over blocks of calls after a warm-up: inference only (``eval``, ``torch.inference_mode``), float32.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.utils import benchmark

from nni_autotsnet.search_space.layout import make_layout
from nni_autotsnet.search_space.presets import Preset

from .table import check_meta, load_table, make_meta, new_table, save_table
from .units import GLUE_KINDS, build_unit, glue_kind, preset_units

__all__ = ["CLOCKS", "resolve_clock", "time_ms", "module_ms", "model_ms", "profile"]

CLOCKS = ("wall", "cpu")


def resolve_clock(clock: str, device: str, threads: int) -> str:
    """``auto``: the thread's CPU time on a CPU with one thread, wall time otherwise.

    On a machine that other processes share, wall time counts the slices the scheduler gives them
    (the same network measured 6 to 12 ms at one thread on the 2-core box this was written on);
    a single-threaded CPU forward never waits for anything but the CPU, so the CPU time of the
    thread is its latency on an idle machine, and it does not count the other processes' slices.
    """
    if clock == "auto":
        return "cpu" if device == "cpu" and threads == 1 else "wall"
    if clock not in CLOCKS:
        raise ValueError(f"clock must be auto, wall or cpu, got {clock!r}")
    if clock == "cpu" and (device != "cpu" or threads != 1):
        raise ValueError(f"clock 'cpu' (the thread's CPU time) is the latency only on a CPU with one thread, "
                         f"not device {device!r} with {threads} threads: use 'wall'")
    return clock


def time_ms(fn: Callable[[], Any], threads: int, repeats: int = 7, block_ms: float = 5.0, warmup: int = 2,
            clock: str = "wall") -> float:
    """Milliseconds of one call of ``fn`` on ``threads`` intra-op threads, by ``clock`` (wall or cpu).

    ``torch.utils.benchmark.Timer`` times ``repeats`` blocks of calls, each block about ``block_ms``
    long (the first timed call sizes it); the fastest block's mean is the figure: on a shared
    machine a block is only ever slowed by other processes (their time slices, their cache traffic),
    so the fastest is the closest to the device's own latency, and units and whole networks are
    measured alike. (``blocked_autorange`` sizes its blocks for a 1e-4 timer overhead, tenfold at a time:
    three times slower for the ~1,600 sub-millisecond units of tiny, with no gain in accuracy here.)
    """
    kwargs = {"timer": time.thread_time} if clock == "cpu" else {}  # default: perf_counter, CUDA synchronised
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, **kwargs)
    with benchmark.utils.common.set_torch_threads(threads):
        for _ in range(warmup):
            fn()
    once = timer.timeit(1).mean
    number = max(1, round(block_ms / 1e3 / max(once, 1e-7)))
    return 1e3 * min(timer.timeit(number).mean for _ in range(repeats))


def module_ms(module: nn.Module, shapes: Sequence[Sequence[int]], device: str, threads: int,
              repeats: int = 7, block_ms: float = 5.0, warmup: int = 2, clock: str = "wall") -> float:
    """Milliseconds of one inference forward of ``module`` on random inputs of ``shapes``."""
    module = module.to(device).eval()
    inputs = [torch.randn(*s, device=device) for s in shapes]

    def run():
        with torch.inference_mode():
            module(*inputs)
    return time_ms(run, threads, repeats, block_ms, warmup, clock)


def model_ms(model: nn.Module, input_shape: Sequence[int], device: str = "cpu", threads: int | None = None,
             batch: int = 1, repeats: int = 7, block_ms: float = 20.0, warmup: int = 2,
             clock: str = "auto") -> float:
    """Measured end-to-end latency of a built network at ``batch`` clips of ``input_shape`` (one view each)."""
    threads = threads or torch.get_num_threads()
    return module_ms(model, [(batch, *input_shape)], device, threads, repeats, block_ms, warmup,
                     resolve_clock(clock, device, threads))


def _calibration_archs(preset: Preset, parts: str, n: int = 3) -> list[dict]:
    """The default architecture and ``n - 1`` seeded random ones of a part's space, for the glue term."""
    layout = make_layout(preset, parts)
    rng = random.Random(parts)
    archs = [layout.defaults()]
    for _ in range(n - 1):
        archs.append({label: rng.choice(v.options) for label, v in layout.variables().items()})
    return archs


def profile(preset: Preset, out: str | Path, device: str = "cpu", threads: int = 1, batch: int = 1,
            num_classes: int | None = None, repeats: int = 7, block_ms: float = 5.0, warmup: int = 2,
            clock: str = "auto", progress: bool = True, save_every: float = 10.0, limit: int | None = None
            ) -> dict[str, Any]:
    """Measure every unit of ``preset`` into the table at ``out``, continuing a table a killed run left there.

    The table is saved (atomically) every ``save_every`` seconds and at the end; ``limit`` stops after
    that many new units (tests). The end-to-end glue term is measured once every unit is in.
    """
    from nni_autotsnet.models import build_model
    from .predict import LatencyModel

    from tqdm.auto import tqdm

    out = Path(out)
    meta = make_meta(preset, device, threads, batch, num_classes, resolve_clock(clock, device, threads))
    settings = {"repeats": repeats, "block_ms": block_ms, "warmup": warmup}
    if out.exists():
        table = load_table(out)
        check_meta(table, meta, out, why="this profile")
    else:
        table = new_table(meta, settings)
    units = preset_units(preset, meta["num_classes"])
    todo = [key for key in units if key not in table["units"]]
    if limit is not None:
        todo = todo[:limit]
    start = time.perf_counter()
    last_save = start
    seconds = table["seconds"]
    try:
        if table["call_ms"] is None:
            table["call_ms"] = module_ms(nn.Identity(), [(batch, 1)], device, threads, repeats, block_ms, warmup,
                                         meta["clock"])
        bar = tqdm(todo, desc=f"profiling {preset.name} on {device} ({threads} threads, batch {batch})",
                   initial=len(units) - len(todo) if limit is None else 0, total=len(units) if limit is None else None,
                   unit="unit", disable=not progress)
        for key in bar:
            module, shapes = build_unit(units[key], preset, batch)
            table["units"][key] = module_ms(module, shapes, device, threads, repeats, block_ms, warmup,
                                            meta["clock"])
            if time.perf_counter() - last_save > save_every:
                table["seconds"] = seconds + time.perf_counter() - start
                save_table(table, out)
                last_save = time.perf_counter()
        bar.close()
        if len(table["units"]) == len(units):
            for parts, kind in (("sparse", "sparse"), ("all", "two_stream")):
                if kind in table["glue_ms"]:
                    continue
                residuals = []
                for arch in _calibration_archs(preset, parts):
                    model = build_model(preset, arch, parts=parts, num_classes=meta["num_classes"])
                    measured = model_ms(model, preset.input_shape, device, threads, batch, repeats, 4 * block_ms,
                                        warmup, meta["clock"])
                    predicted = LatencyModel(make_layout(preset, parts), table, meta["num_classes"],
                                             glue=False).latency(arch)
                    residuals.append(measured - predicted)
                table["glue_ms"][kind] = sorted(residuals)[len(residuals) // 2]
    finally:
        table["seconds"] = seconds + time.perf_counter() - start
        save_table(table, out)
    return table
