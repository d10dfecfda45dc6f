"""``python -m nni_autotsnet.random_search --config experiments/random_tiny.yaml``: the random-search baseline.

Supplement section 5: N distinct architectures drawn uniformly from the space, kept only when
their FLOPs per view lie in a window (and, with ``random.latency_window``, their latency predicted
from ``search.latency_table`` in that one: ``nni_autotsnet.latency``), each trained from scratch with
the training recipe (:func:`nni_autotsnet.training.train`) and reported with accuracy and GFLOPs. It is an NNI 3.0
multi-trial NAS experiment: NNI's built-in ``Random`` strategy (deduplicating) behind NNI's
``Filter`` middleware for the window, run by ``NasExperiment`` on the local training service, so
the trials show in the web UI (``random.port``). Each trial writes a training run directory
``<random.output>/runs/<arch digest>/``; the summary goes to ``<random.output>/random.csv``.
GFLOPs are multiply-adds of convolutions, linear layers and matrix products per single view.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from nni_autotsnet.config import ConfigError, ExperimentConfig, load_config
from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.rundir import ARCH_FILE, CHECKPOINT_FILE, RANDOM_FILE, RESULT_FILE
from nni_autotsnet.search_space.arch import arch_digest

__all__ = ["main", "run_random_search", "train_trial", "draw_architectures"]


def train_trial(model: Any, config_path: str, overrides: list[str], output: str) -> dict:
    """NNI trial body: train the trial's architecture from scratch and report accuracy and GFLOPs.

    A run that a killed experiment finished (``result.json``) is reported as it is, and one it
    interrupted (``last.ckpt``) is resumed: the strategy is seeded, so running the experiment again
    proposes the same architectures in the same order and goes on where it stopped.
    """
    import nni

    from nni_autotsnet.training import train

    config = load_config(config_path, overrides)
    arch = dict(model.arch)  # set by TwoStreamSpace.freeze
    run = Path(output) / "runs" / arch_digest(arch)
    if (run / RESULT_FILE).is_file():
        result = json.loads((run / RESULT_FILE).read_text())
    else:
        result = train(config, arch, config.preset, config.random.parts, run, label="random",
                       resume=(run / CHECKPOINT_FILE).is_file())
    nni.report_final_result({"default": float(result["val_acc"]), "gflops": float(result["gflops"]),
                             "params_m": result["params"] / 1e6, "run": str(run)})
    return result


def draw_architectures(config: ExperimentConfig, n: int, num_classes: int = 10) -> list[dict[str, Any]]:
    """The first ``n`` distinct in-window architectures that :func:`run_random_search` trains, in its order.

    NNI's own ``Random`` strategy (``random.seed``, deduplicating) draws from the space as the
    experiment does, and the window (``random.flops_window``, or the search's) filters, so the
    draws are the experiment's without running one: a ground truth of many seeds per architecture
    trains exactly the random search's architectures. (The latency window is not applied here.)
    """
    from nni.nas.space import RawFormatModelSpace
    from nni.nas.strategy import Random

    from nni_autotsnet.search_space import TwoStreamSpace

    window = config.random.flops_window
    if window is None:
        raise ConfigError(f"{config.path or '<config>'}: key 'random.flops_window': missing (and no "
                          "search.flops_window)")
    space = TwoStreamSpace.from_preset(config.preset, parts=config.random.parts, num_classes=num_classes)
    model_space = RawFormatModelSpace.from_model(space)
    strategy = Random(dedup=True, seed=config.random.seed)
    archs: list[dict[str, Any]] = []
    for _ in range(100_000):  # the experiment's Filter patience
        if len(archs) == n:
            break
        model = strategy._retry_helper.retry(strategy.random, model_space)  # the strategy's own draw
        if model is None:
            break
        if window[0] <= space.flops(model.sample) / 1e9 <= window[1]:
            archs.append(dict(model.sample))
    if len(archs) < n:
        raise ConfigError(f"{config.path or '<config>'}: key 'random.flops_window': only {len(archs)} distinct "
                          f"architectures of the space lie in {list(window)} GFLOPs per view, {n} asked for")
    return archs


def _space_and_classes(config: ExperimentConfig):
    from nni_autotsnet.runtime import build_datasets
    from nni_autotsnet.search_space import TwoStreamSpace

    train_ds, _ = build_datasets(config)  # builds the benchmark once here, not in every trial
    return TwoStreamSpace.from_preset(config.preset, parts=config.random.parts, num_classes=train_ds.num_classes)


def run_random_search(config: ExperimentConfig, config_path: str, overrides: list[str]) -> list[dict]:
    """Run the experiment; return one row per trained architecture (GFLOPs, accuracy, run directory)."""
    import pandas as pd
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy import Random
    from nni.nas.strategy.middleware import Chain, Filter

    if config.random.flops_window is None and config.random.latency_window is None:
        raise ConfigError(f"{config_path}: key 'random.flops_window': missing (and no search.flops_window, "
                          "nor a random.latency_window)")
    lo, hi = config.random.flops_window or (0.0, float("inf"))
    space = _space_and_classes(config)
    latency, (lat_lo, lat_hi) = None, config.random.latency_window or (0.0, float("inf"))
    if config.random.latency_window is not None:
        from nni_autotsnet.latency import load_latency_model

        latency = load_latency_model(config.search.latency_table, config.preset, config.random.parts,
                                     space.num_classes)
    out = config.random.output
    out.mkdir(parents=True, exist_ok=True)

    def in_window(model) -> bool:
        inside = lo <= space.flops(model.sample) / 1e9 <= hi
        return inside and (latency is None or lat_lo <= latency(model.sample) <= lat_hi)

    strategy = Chain(Random(dedup=True, seed=config.random.seed), Filter(in_window, patience=100_000))
    evaluator = FunctionalEvaluator(train_trial, config_path=str(Path(config_path).resolve()),
                                    overrides=list(overrides), output=str(out))
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.config.max_trial_number = config.random.num_archs
    experiment.config.trial_concurrency = 1
    experiment.config.experiment_working_directory = str(out / "nni")
    print(f"random search: {config.random.num_archs} architectures in [{lo}, {hi}] GFLOPs per view"
          f"{f', [{lat_lo}, {lat_hi}] ms (predicted)' if latency is not None else ''}; "
          f"web UI at http://127.0.0.1:{config.random.port}", flush=True)
    try:
        experiment.run(port=config.random.port)
    finally:
        experiment.stop()
    rows = []
    for run in sorted((out / "runs").glob(f"*/{RESULT_FILE}")):
        result = json.loads(run.read_text())
        row = {"run": run.parent.relative_to(out).as_posix(), "gflops": result["gflops"], "params_m": result["params"] / 1e6,
               "val_acc": result["val_acc"], "best_val_acc": result.get("best_val_acc"),
               "in_window": lo <= result["gflops"] <= hi}
        if latency is not None:
            from nni_autotsnet.search_space import load_arch

            row["latency_ms"] = latency(load_arch(run.parent / ARCH_FILE)[0])
            row["in_window"] = row["in_window"] and lat_lo <= row["latency_ms"] <= lat_hi
        rows.append(row)
    pd.DataFrame(rows).to_csv(out / RANDOM_FILE, index=False)
    return rows


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the experiment, print one line per architecture; 2 with one line on stderr for user errors."""
    parser = CommandParser(prog="python -m nni_autotsnet.random_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="experiment YAML (experiments/random_tiny.yaml, ...)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    rows = run_random_search(config, args.config, list(args.overrides))
    for row in sorted(rows, key=lambda r: -r["val_acc"]):
        print(f"{row['val_acc']:.3f} val acc, {row['gflops']:.5f} GFLOPs per view (multiply-adds): {row['run']}")
    print(f"{len(rows)} architectures trained; table in {config.random.output / RANDOM_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
