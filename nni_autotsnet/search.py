"""``python -m nni_autotsnet.search --config experiments/tiny.yaml [key=value ...]``: one progressive PARSEC search.

Supplement Table 2's three parts run in order, each a PARSEC search of its own with its own
epochs, learning rates and alpha warm-up: the sparse stream; then the dense stream and the fusion
blocks with part 1's most likely sparse stream fixed; then the attention blocks with everything
else fixed. The search directory gets, per part (``part{i}_{name}/``) and at the end::

    config.yaml                    the config as run (after overrides and NNI parameters)
    part1_sparse/part.json         how to rebuild the part's space (preset, parts, fixed labels)
    part1_sparse/arch.json         the part's most likely architecture (all labels fixed so far)
    part1_sparse/alpha.json        alpha with choice labels, the top architectures and their GFLOPs
    part1_sparse/supernet.pt       the weight-sharing supernet's state dict (weights_only loadable)
    part1_sparse/last.ckpt         Lightning checkpoint (weights, alpha, optimisers, PARSEC's RNG)
    part1_sparse/metrics.csv       per-epoch metrics (written every epoch)
    part1_sparse/alpha_history.jsonl   P(value) of every label after each epoch
    arch.json, result.json         the final architecture; accuracy, GFLOPs, whether in the window, and
                                   each part's search health at its last epoch ('ok' or the problems)

A part whose ``arch.json`` exists is reused, so a search killed between parts goes on from the
next part when run again. Run as an NNI trial (``nnictl create --config experiments/parsec.yml``),
it reads its parameters (``beta``, ``t_min``, ``t_max`` or any dotted config key) from NNI,
writes into the trial's directory, reports every epoch and the final result to NNI.
Every epoch PARSEC checks the search's health (``nni_autotsnet.strategies.health``): the line
printed for the epoch ends with ``health=ok`` or the problems, with a warning saying what they mean.
GFLOPs are multiply-adds of convolutions, linear layers and matrix products per single view.

NNI (seconds to import, and a warning for every torch class it does not know) is imported inside
the functions that search, so a bad config or path is reported without it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import pytorch_lightning as pl
import torch

from nni_autotsnet.atomic import save_torch, write_text
from nni_autotsnet.config import ConfigError, ExperimentConfig, PartConfig, load_config, portable_raw
from nni_autotsnet.errors import CommandParser, UserError, command, load_weights_file
from nni_autotsnet.locking import folder_lock
from nni_autotsnet.rundir import (ALPHA_FILE, ARCH_FILE, CHECKPOINT_FILE, METRICS_FILE, SEARCH_RESULT_KEYS,
                                  SUPERNET_FILE, append_alpha_history, checkpoint_stem, part_dir as part_folder,
                                  write_config, write_part_info, write_result)
from nni_autotsnet.runtime import EpochSeededLoader, build_datasets, in_nni_trial, is_rank_zero, say
from nni_autotsnet.search_space import CostModel, load_preset, make_layout, read_arch, save_arch
from nni_autotsnet.search_space.arch import arch_digest
from nni_autotsnet.supernet import carry_over, read_part

__all__ = ["main", "run_search", "run_part", "make_strategy", "health_line", "SearchError", "SearchProgress"]


class SearchError(UserError):
    """The search directory does not fit this run (another preset, an interrupted part without --resume)."""


# ------------------------------------------------------------------------------------------------
# One part
# ------------------------------------------------------------------------------------------------
class SearchProgress(pl.Callback):
    """Prints one line per epoch, rewrites ``metrics.csv`` and appends to ``alpha_history.jsonl``, so a crash
    keeps every finished epoch."""

    def __init__(self, part: PartConfig, index: int, total: int, part_dir: Path, strategy):
        self.part, self.index, self.total, self.part_dir, self.strategy = part, index, total, part_dir, strategy
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        part, history = self.part, self.strategy.history
        if not history or not trainer.is_global_zero:
            return
        frame = pd.DataFrame([{"part": part.name, **row} for row in history])
        write_text(frame.to_csv(index=False), self.part_dir / METRICS_FILE)
        last = history[-1]
        append_alpha_history(self.part_dir, part.name, last["epoch"], self.strategy.parsec_module.export_probs())
        cells = [f"{k}={last[k]:.4g}" for k in ("ml_val_acc", "expected_gflops", "ml_gflops", "cost", "entropy", "ess")
                 if k in last]
        if "health" in last:
            cells.append(f"health={last['health']}")
        frozen = " (alpha frozen)" if last.get("alpha_frozen") else ""
        print(f"[part {self.index}/{self.total} {part.name}] epoch {last['epoch'] + 1}/{part.epochs}{frozen}: "
              f"{' '.join(cells)} ({time.perf_counter() - self.start:.0f} s)", flush=True)


def final_network_flops(config: ExperimentConfig, fixed: dict, num_classes: int):
    """F(A) of the final network: what later parts search sits at the preset's defaults.

    The FLOPs window is a budget for the network the search ends with, so part 1 (the sparse
    stream alone) counts the dense stream, fusion and attention at their defaults, and part 2
    the attention; otherwise part 1 would fill the whole budget with the sparse stream.
    """
    layout = make_layout(load_preset(config.preset), config.search.parts[-1].name)
    cost = CostModel(layout, num_classes)
    base = {**layout.defaults(), **fixed}
    return lambda sample: cost.flops({**base, **sample})


def search_latency_fn(config: ExperimentConfig, fixed: Mapping[str, Any], num_classes: int):
    """F_lat(A) of the search's final network for one part (what later parts search sits at the defaults).

    The latency window is a budget for the network the search ends with, as the FLOPs window is
    (:func:`final_network_flops`). A table of another class count is a
    ``ConfigError`` naming ``search.latency_table``.
    """
    from nni_autotsnet.latency.predict import load_latency_model
    from nni_autotsnet.latency.table import LatencyTableError

    last = config.search.parts[-1].name
    try:
        model = load_latency_model(config.search.latency_table, config.preset, last, num_classes)
    except LatencyTableError as err:
        raise ConfigError(f"{config.path or '<defaults>'}: key 'search.latency_table': {err}") from None
    base = {**make_layout(load_preset(config.preset), last).defaults(), **fixed}

    def latency(sample: Mapping[str, Any]) -> float:
        return model.latency({**base, **sample})
    latency.source = str(config.search.latency_table)
    return latency


def make_strategy(config: ExperimentConfig, part: PartConfig, seed: int, fixed: dict, num_classes: int):
    """The part's PARSEC: the supplement's recipe (SGD at the part's Table 2 learning rate), said explicitly.

    ``Parsec`` trains the weights with the evaluator's optimiser by default (NNI's convention); the
    search command keeps Table 2's SGD recipe, so it passes ``weight_optimizer='sgd'`` and ``weight_lr``,
    unless ``search.weight_optimizer`` is ``adamw`` (the CPU benchmark's): then the evaluator's AdamW.
    ``search.cost: latency`` bounds F_lat(A) of ``search.latency_table`` by ``search.latency_window`` instead.
    """
    from nni_autotsnet.strategies import FlopsWindowCost, LatencyWindowCost, Parsec

    search = config.search
    # search.weight_optimizer=adamw: the evaluator's AdamW (VideoClassifier) at the part's rate, constant
    weights = (dict(weight_optimizer="sgd", weight_lr=part.weight_lr, weight_decay=search.weight_decay)
               if search.weight_optimizer == "sgd" else dict(weight_optimizer="evaluator"))
    # search.cost=latency: the window bounds F_lat(A) from the device's latency table (FLOPs are still logged);
    # the windows were checked when the config loaded (beta > 0 has one)
    cost = FlopsWindowCost(*search.flops_window, beta=search.beta) if search.flops_window is not None else None
    if search.cost == "latency" and search.latency_window is not None:
        cost = LatencyWindowCost(*search.latency_window, beta=search.beta,
                                 latency_fn=search_latency_fn(config, fixed, num_classes))
    return Parsec(num_samples=search.num_samples, cost=cost,
                  warmup=search.warmup, arch_lr=part.arch_lr, **weights, supernet=search.supernet,
                  distill=search.distill, in_window=search.in_window,
                  seed=seed, metric_samples=search.metric_samples, gradient_clip_val=search.gradient_clip_val,
                  flops_fn=final_network_flops(config, fixed, num_classes), num_classes=num_classes)


def run_part(config: ExperimentConfig, part: PartConfig, index: int, fixed: dict, part_dir: Path,
             train_ds, val_ds, resume: bool = False, callbacks: Sequence[Any] = (),
             previous: Path | None = None) -> dict:
    """Search one part with PARSEC; write its files and return its architecture (``fixed`` included).

    ``previous``: the finished part before this one, whose supernet this part starts from when
    ``search.inherit_weights`` is on (:func:`nni_autotsnet.supernet.carry_over`).

    ``last.ckpt`` is written atomically after every epoch; ``resume`` continues from it (weights,
    alpha, optimisers, PARSEC's sampling generator and history, the epoch), and every epoch's data
    order is seeded from (seed, epoch), so a resumed part ends as an uninterrupted one would.
    """
    from nni.nas.evaluator.pytorch import DataLoader, Lightning

    from nni_autotsnet.module import VideoClassifier
    from nni_autotsnet.speed import loader_options

    search, data, tr = config.search, config.data, config.trainer
    seed = search.seed + 1000 * index
    checkpoint = part_dir / CHECKPOINT_FILE
    resume = _check_resume(checkpoint, part, resume)
    strategy, model = _part_supernet(config, part, index, fixed, part_dir, seed, train_ds.num_classes,
                                     None if resume else previous)  # a resumed part has its own weights
    loader = dict(batch_size=data.batch_size, num_workers=data.num_workers)
    first_epoch = _resumed_epoch(checkpoint) + 1 if resume else 0
    # training workers are re-made every epoch for the per-epoch seeding; validation keeps its workers
    train_loader = EpochSeededLoader(train_ds, shuffle=True, drop_last=True, seed=seed, first_epoch=first_epoch,
                                     **loader, **loader_options(tr.accelerator, data.num_workers))
    trainer = _part_trainer(config, part, index, part_dir, strategy, callbacks)
    train_loader.trainer = trainer
    classifier = VideoClassifier(learning_rate=part.weight_lr, weight_decay=search.weight_decay,
                                 optimizer=search.weight_optimizer)
    evaluator = Lightning(classifier, trainer, train_dataloaders=train_loader,
                          val_dataloaders=DataLoader(val_ds, **loader,
                                                     **loader_options(tr.accelerator, data.num_workers, persistent=True)),
                          fit_kwargs={"ckpt_path": str(checkpoint)} if resume else None)
    strategy.mutate_evaluator(evaluator).evaluate(model)

    arch = {**fixed, **strategy.parsec_module.export()}
    if trainer.is_global_zero:  # alpha and the weights are the same on every rank
        save_torch(model.state_dict(), part_dir / SUPERNET_FILE)
        strategy.export_alpha(part_dir / ALPHA_FILE, top_n=search.top_n)
        save_arch(arch, part_dir / ARCH_FILE, preset=config.preset, parts=part.name)  # last: marks the part done
    return {"arch": arch, "history": strategy.history}


def _check_resume(checkpoint: Path, part: PartConfig, resume: bool) -> bool:
    """Whether the part continues from ``checkpoint``; an interrupted part needs ``--resume`` said."""
    if checkpoint.exists() and not resume:
        raise SearchError(f"{checkpoint}: part {part.name!r} was interrupted; pass --resume to continue it, "
                          "or choose another --out")
    return resume and checkpoint.exists()  # nothing to resume in this part: start it


def _resumed_epoch(checkpoint: Path) -> int:
    """The last finished epoch in a search checkpoint (written at the end of an epoch)."""
    state = load_weights_file(checkpoint, "search checkpoint written by nni_autotsnet.search")
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise SearchError(f"{checkpoint}: not a search checkpoint written by nni_autotsnet.search (no epoch)")
    return state["epoch"]


def _part_supernet(config: ExperimentConfig, part: PartConfig, index: int, fixed: dict, part_dir: Path, seed: int,
                   num_classes: int, previous: Path | None):
    """The part's PARSEC strategy and its supernet (seeded; from the previous part's weights when asked)."""
    import pytorch_lightning as pl

    from nni_autotsnet.search_space import TwoStreamSpace

    pl.seed_everything(seed, workers=True, verbose=False)
    part_dir.mkdir(parents=True, exist_ok=True)
    space = TwoStreamSpace.from_preset(config.preset, parts=part.name, num_classes=num_classes, fixed=fixed)
    space.dropout.p = config.search.dropout
    if is_rank_zero():
        write_part_info(part_dir, config.preset, part.name, fixed, num_classes, index)
    strategy = make_strategy(config, part, seed, fixed, num_classes)
    model = strategy.mutate_model(space)
    if previous is not None and config.search.inherit_weights:
        copied, total = carry_over(read_part(previous), fixed, model)
        say(f"[part {index}/{len(config.search.parts)} {part.name}] starts from {previous.name}'s supernet: "
            f"{copied} of {total} tensors inherited")
    if config.search.attention_init == "identity":
        _searched_se_near_identity(model)
    return strategy, model


def _searched_se_near_identity(model) -> int:
    """Start every SE candidate of a searched attention slot near the identity (search.attention_init); returns how many."""
    from nni_autotsnet.models.attention import SqueezeExcite3d, start_near_identity

    found = [m for name, m in model.named_modules() if isinstance(m, SqueezeExcite3d) and name.endswith("attention.se")]
    for se in found:
        start_near_identity(se)
    return len(found)


def _part_trainer(config: ExperimentConfig, part: PartConfig, index: int, part_dir: Path, strategy,
                  callbacks: Sequence[Any]):
    """NNI's Lightning ``Trainer`` of one part: atomic ``last.ckpt`` each epoch, progress lines, CSV logs."""
    from nni.nas.evaluator.pytorch import Trainer
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from nni_autotsnet.atomic import AtomicCheckpointIO
    from nni_autotsnet.data import SkippedVideosCallback
    from nni_autotsnet.speed import ChannelsLast3d, DataWaitMonitor

    tr = config.trainer
    return Trainer(
        max_epochs=part.epochs, accelerator=tr.accelerator, devices=tr.devices, num_nodes=tr.num_nodes,
        precision=tr.precision, default_root_dir=str(part_dir), num_sanity_val_steps=0,
        log_every_n_steps=tr.log_every_n_steps, enable_model_summary=False,
        enable_progress_bar=sys.stdout.isatty() and not in_nni_trial(),
        logger=CSVLogger(str(part_dir), name="logs"), plugins=[AtomicCheckpointIO()],
        callbacks=[SearchProgress(part, index, len(config.search.parts), part_dir, strategy),
                   ModelCheckpoint(dirpath=str(part_dir), filename=checkpoint_stem(), save_top_k=1,
                                   enable_version_counter=False),
                   SkippedVideosCallback(), DataWaitMonitor(echo=is_rank_zero()),
                   *([ChannelsLast3d()] if tr.channels_last else []), *callbacks],
    )


# ------------------------------------------------------------------------------------------------
# The progressive search
# ------------------------------------------------------------------------------------------------
def _finished_part(part_dir: Path, config: ExperimentConfig, part: PartConfig) -> dict | None:
    """The architecture of a part a previous run finished, if it is of this config's space."""
    if not (part_dir / ARCH_FILE).exists():
        return None

    def agree(path: Path, preset: str, parts: str | None) -> None:
        if preset != config.preset or parts != part.name:
            raise SearchError(f"{path}: written by a search of preset {preset!r}, part {parts!r}; this config "
                              f"searches {config.preset!r}, part {part.name!r}. Use another output folder.")

    return read_arch(part_dir / ARCH_FILE, None, agree).raw


def run_search(config: ExperimentConfig, out: Path, report_to_nni: bool = False, resume: bool = False,
               callbacks: Sequence[Any] = ()) -> dict:
    """Run every part of ``config.search.parts`` into ``out`` and return the final result.

    Finished parts are reused; ``resume`` continues an interrupted part from its ``last.ckpt``.
    ``callbacks`` are extra Lightning callbacks for every part. ``out`` is locked while the search writes it
    (:func:`~nni_autotsnet.locking.folder_lock`: a second search aimed at it stops with a user error).
    """
    with folder_lock(out, "search directory", enabled=is_rank_zero()):
        return _run_search(config, Path(out), report_to_nni, resume, callbacks)


def _run_search(config: ExperimentConfig, out: Path, report_to_nni: bool, resume: bool,
                callbacks: Sequence[Any]) -> dict:
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    out.mkdir(parents=True, exist_ok=True)
    if is_rank_zero():
        write_config(out, portable_raw(config))  # paths absolute
    start = time.perf_counter()
    train_ds, val_ds = build_datasets(config)
    say(f"data: {len(train_ds)} training and {len(val_ds)} validation videos, {train_ds.num_classes} classes")
    fixed: dict = {}
    histories = []
    health: dict[str, str | None] = {}  # part -> the health flag of its last epoch
    parts = config.search.parts
    for index, part in enumerate(parts, start=1):
        part_dir = part_folder(out, index, part.name)
        done = _finished_part(part_dir, config, part)
        if done is not None:
            say(f"[part {index}/{len(parts)} {part.name}] already finished in {part_dir}; reusing it")
            fixed = done
            history = pd.read_csv(part_dir / METRICS_FILE) if (part_dir / METRICS_FILE).exists() else None
        else:
            say(f"[part {index}/{len(parts)} {part.name}] {part.epochs} epochs, weight lr {part.weight_lr:.4g}, "
                f"alpha lr {part.arch_lr:.4g}, K={config.search.num_samples}, beta={config.search.beta}, "
                f"window={config.search.flops_window} GFLOPs/view")
            previous = part_folder(out, index - 1, parts[index - 2].name) if index > 1 else None
            found = run_part(config, part, index, fixed, part_dir, train_ds, val_ds, resume, callbacks, previous)
            fixed = found["arch"]
            history = pd.DataFrame([{"part": part.name, **h} for h in found["history"]])
        if history is not None:
            histories.append(history)
            health[part.name] = _last_health(history)

    metrics = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    supernet_choice = dict(fixed)
    fixed, shortlist = _rank_and_shortlist(config, out, fixed, train_ds, val_ds)
    result = _search_result(config, fixed, metrics, health, train_ds.num_classes, time.perf_counter() - start)
    result.update(supernet_choice=arch_digest(supernet_choice), shortlist=shortlist)
    if not is_rank_zero():
        return result
    save_arch(fixed, out / ARCH_FILE, preset=config.preset, parts=parts[-1].name)
    if not metrics.empty:
        write_text(metrics.to_csv(index=False), out / METRICS_FILE)
    write_result(out, result, SEARCH_RESULT_KEYS)
    if report_to_nni:
        import nni
        nni.report_final_result({"default": result["accuracy"] or 0.0, "gflops": result["gflops"],
                                 "in_window": float(bool(result["in_window"])), "beta": config.search.beta,
                                 "params_m": result["params"] / 1e6,
                                 "healthy": float(bool(result["healthy"])) if result["healthy"] is not None else -1.0})
    return result


def _rank_and_shortlist(config: ExperimentConfig, out: Path, fixed: dict, train_ds, val_ds) -> tuple[dict, dict | None]:
    """``ranking.csv`` from the last part (search.rank_candidates), then the shortlist's winner (search.shortlist).

    Returns the search's architecture (the winner, or ``fixed``: the most likely one) and the
    shortlist's summary for ``result.json``. A ranking that a killed run wrote is reused. On rank zero only.
    """
    from nni_autotsnet.ranking import RANKING_FILE, read_ranking_table
    from nni_autotsnet.shortlist import FULL_DIR, SHORTLIST_DIR, rank_search, run_shortlist

    s, parts = config.search, config.search.parts
    if s.rank_candidates == 0 or not is_rank_zero():
        return fixed, None
    last = read_part(part_folder(out, len(parts), parts[-1].name))
    table = None  # a ranking a killed run wrote is read only if the shortlist needs it
    if not (out / RANKING_FILE).is_file():
        latency = (search_latency_fn(config, last.fixed, train_ds.num_classes)
                   if s.latency_table is not None else None)
        say(f"ranking: {s.rank_candidates} candidates from "
            + ("every part's alpha" if s.rank_scope == "all" else "the last part's alpha, scored on its supernet")
            + (f" (temperature {s.rank_temperature:g})" if s.rank_temperature != 1 else ""))
        earlier = [read_part(part_folder(out, i + 1, p.name)) for i, p in enumerate(parts[:-1])]
        table = rank_search(config, last, out, train_ds, val_ds, latency, earlier=earlier)
        if table.empty:
            say(f"ranking: none of the architectures drawn from the last part's alpha is inside the cost window "
                f"(alpha's mass lies outside it, e.g. a search without the cost term); {out / RANKING_FILE} is "
                f"empty" + ("; no shortlist: the search keeps its most likely architecture" if s.shortlist else ""))
        else:
            scored = table["inherited_acc"].dropna()
            say(f"ranking: {len(table)} distinct candidates in {out / RANKING_FILE}"
                + (f"; {len(scored)} held by the last supernet, the best scores {scored.max():.3f} on it"
                   if len(scored) else ""))
    if s.shortlist == 0:
        return fixed, None
    if (table if table is not None else read_ranking_table(out / RANKING_FILE)).empty:
        return fixed, None
    epochs = s.shortlist_epochs or config.train.scaled_epochs
    say(f"shortlist: training the top {s.shortlist} of {out / RANKING_FILE} from scratch ({epochs} epochs)"
        + (f", then the best {s.shortlist_full} with the full recipe ({config.train.scaled_epochs} epochs)"
           if s.shortlist_full else ""))
    row, table, seconds = run_shortlist(config, last, out)
    accuracy = float(row["full_acc"] if s.shortlist_full else row["scratch_acc"])
    say(f"shortlist: rank {int(row['rank'])} ({row['arch']}) wins with validation accuracy {accuracy:.3f}"
        + (f" (full recipe; its trained model: {out / SHORTLIST_DIR / FULL_DIR / row['arch']})"
           if s.shortlist_full else ""))
    return json.loads(row["arch_json"]), {"trained": int(table["scratch_acc"].notna().sum()),
                                          "trained_full": int(s.shortlist_full), "winner_rank": int(row["rank"]),
                                          "winner_val_acc": accuracy, "seconds": seconds}


def _search_result(config: ExperimentConfig, fixed: dict, metrics, health: dict[str, str | None], num_classes: int,
                   seconds: float) -> dict:
    """The search directory's ``result.json`` (:data:`~nni_autotsnet.rundir.SEARCH_RESULT_KEYS`)."""
    cost = CostModel(make_layout(load_preset(config.preset), config.search.parts[-1].name), num_classes)
    gflops = cost.flops(fixed) / 1e9
    final = metrics.iloc[-1].to_dict() if not metrics.empty else {}
    accuracy = final.get("ml_val_acc")
    return {
        "accuracy": None if accuracy is None or pd.isna(accuracy) else float(accuracy),
        "gflops": gflops, "params": cost.params(fixed), "in_window": config.in_window(gflops),
        "beta": config.search.beta, "flops_window": list(config.search.flops_window or []) or None,
        "expected_gflops": final.get("expected_gflops"), "entropy": final.get("entropy"),
        "health": health, "healthy": _all_healthy(health),
        "preset": config.preset, "parts": [p.name for p in config.search.parts], "seconds": seconds,
    }


def _last_health(history) -> str | None:
    """The health flag of a part's last epoch in its metrics frame (``None`` for a search run before the check)."""
    if history.empty or "health" not in history.columns or pd.isna(history["health"].iloc[-1]):
        return None
    return str(history["health"].iloc[-1])


def _all_healthy(health: dict[str, str | None]) -> bool | None:
    """True when every part's last epoch is healthy, False when one is not, None when none was checked."""
    flags = [flag for flag in health.values() if flag is not None]
    if not flags:
        return None
    return all(flag == "ok" for flag in flags)


def health_line(health: dict[str, str | None]) -> str:
    """One line on the search's health, part by part, for the command's last message."""
    cells = "; ".join(f"{part} {flag or 'not recorded'}" for part, flag in health.items()) or "not recorded"
    if _all_healthy(health) is False:
        return (f"search health WARNING ({cells}): where a part is not 'ok', its architecture follows noise, not "
                "the data; see the warnings above and docs/parsec.md, 'Search health'")
    return f"search health: {cells}"


@command
def main(argv: Sequence[str] | None = None) -> str:
    """Parse, search; the architecture and the search's health as the summary (:func:`command` prints it)."""
    parser = CommandParser(prog="python -m nni_autotsnet.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="experiment YAML (experiments/tiny.yaml, ...)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    parser.add_argument("--out", help="search directory (default: the config's output; an NNI trial's own folder)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted part from its last.ckpt")
    args = parser.parse_args(argv)

    overrides = list(args.overrides)
    trial = in_nni_trial()
    if trial:
        import nni
        params = nni.get_next_parameter() or {}
        overrides += [f"{key}={json.dumps(value)}" for key, value in params.items()]
    config = load_config(args.config, overrides)
    out = Path(args.out) if args.out else Path(os.environ["NNI_OUTPUT_DIR"]) if trial else config.output
    result = run_search(config, out, report_to_nni=trial, resume=args.resume or trial)
    window = result["flops_window"]
    return (f"searched architecture: {out / ARCH_FILE}\n"  # printed by rank zero (errors.command)
            f"  {result['gflops']:.5f} GFLOPs per view (multiply-adds), {result['params'] / 1e6:.3f} M params, "
            f"window {window} -> {'in' if result['in_window'] else 'outside' if window else 'no window'}; "
            f"val accuracy of the most likely arch (supernet weights) {result['accuracy']:.3f}; "
            f"{result['seconds']:.0f} s\n  {health_line(result['health'])}")


if __name__ == "__main__":
    sys.exit(main())
