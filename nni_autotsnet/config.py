"""Experiment configs (``experiments/*.yaml``): one source of defaults, validated on load.

Every key has its default and meaning in :data:`DEFAULTS` below; a YAML file holds only what
changes. :func:`load_config` merges the file and any ``key.sub=value`` overrides over the
defaults, then checks every key and every cross-field rule (T_min <= T_max, a part that adds
no searched variable, ...) before anything trains, raising :class:`ConfigError` with the file
and the dotted key. Relative paths resolve against the config file's folder, so a config runs
the same from any working directory (and from an NNI trial).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from nni_autotsnet.errors import UserError
from nni_autotsnet.search_space.layout import PARTS, make_layout
from nni_autotsnet.search_space.presets import PRESET_NAMES, PresetError, load_preset
from nni_autotsnet.yamlcheck import YamlReader

__all__ = ["ConfigError", "DEFAULTS", "TABLE2", "DataConfig", "PartConfig", "SearchConfig", "TrainConfig",
           "RandomConfig", "TrainerConfig",
           "ExperimentConfig", "load_config", "parse_overrides", "NNI_PARAMETER_KEYS"]


class ConfigError(UserError):
    """A config key is unknown, missing, of the wrong type or inconsistent; the message names file and key."""


# Supplement Table 2: epochs, weight learning rate (total batch 256) and alpha learning rate per part.
TABLE2 = {"sparse": (800, 0.4, 0.015), "fusion": (400, 0.2, 0.015), "all": (200, 0.2, 0.010)}
OPTIMIZERS = ("sgd", "adamw")  # train.optimizer, search.weight_optimizer
COSTS = ("flops", "latency")  # search.cost: what PARSEC's cost window bounds
REFERENCE_BATCH = 256  # the supplement's total batch (8 clips x 32 GPUs) for Table 2's learning rates

DEFAULTS: dict[str, Any] = {
    "preset": "tiny",              # search-space preset: tiny, S, M, L or a preset YAML path
    "output": "runs/search",       # search directory (in an NNI trial: the trial's own directory)
    "data": {
        "benchmark": None,         # folder of the bundled temporal benchmark, built there if missing
        "benchmark_seed": 0,       # its seed (same seed, same bytes)
        "benchmark_splits": None,  # {train: n, val: n, test: n} videos a class when it is built; null: 60 / 20 / 50
        "train": None,             # training list (CSV path,label or SlowFast 'path label'); overrides benchmark
        "val": None,               # validation list (the search's val accuracy of the most likely arch)
        "root": None,              # folder of relative video paths (default: each list's folder)
        "labels_file": None,       # class names, one a line; default: collected from the training list
        "preset": None,            # data preset (sizes, frames, stride); default: the space preset's name
        "batch_size": 8,           # clips per device and step (supplement: 8 per GPU)
        "num_workers": 2,          # DataLoader worker processes per device
        "hflip": None,             # random horizontal flip (off for direction-sensitive classes); null: the data preset's
        "autoaugment": None,       # AutoAugment, same parameters on every frame of a clip; null: the data preset's
        "val_views": 1,            # temporal views per validation video during the search
        "cache": None,             # folder of the decoded-frame cache (decode each video once); null: decode every clip
    },
    "search": {
        "num_samples": 13,         # K, architectures sampled per step (supplement: 13)
        "beta": 0.0,               # weight of beta * log C(alpha); 0 searches without a FLOPs constraint
        "flops_window": None,      # [T_min, T_max] in GFLOPs (multiply-adds) per view; needed when beta > 0 (cost: flops)
        "cost": "flops",           # what the window bounds: flops (F(A)) or latency (F_lat(A) from latency_table)
        "latency_window": None,    # [T_min, T_max] in ms on the table's device; needed when beta > 0 (cost: latency)
        "latency_table": None,     # python -m nni_autotsnet.latency profile's table for this preset; cost: latency
        "warmup": 0.25,            # fraction of each part's epochs with alpha frozen
        "epoch_scale": 1.0,        # Table 2 epochs (800 / 400 / 200) times this, at least 1 each
        "lr_scale": None,          # Table 2 weight learning rates times this; null: total batch / 256 (linear rule)
        "arch_lr_scale": 1.0,      # Table 2 alpha learning rates (0.015 / 0.015 / 0.010) times this
        "parts": list(PARTS),      # progressive search parts, in order: sparse, fusion, all
        "epochs": None,            # {part: epochs} overriding the scaled Table 2 figure for a part
        "seed": 0,                 # seeds weights, data order and architecture sampling
        "metric_samples": 256,     # architectures drawn per epoch to estimate E[GFLOPs] and C(alpha)
        "top_n": 5,                # most likely architectures listed in alpha.json
        "gradient_clip_val": None, # clip the weight gradients' norm
        "weight_optimizer": "sgd", # sgd (supplement: momentum 0.9, cosine) or adamw (constant lr), for the supernet's weights
        "weight_decay": 5.0e-5,    # of the supernet's weights (supplement: 5e-5)
        "inherit_weights": True,   # a part starts from the previous part's supernet (its chosen architecture's slice)
        "dropout": 0.5,            # before the supernet's classifier (supplement: 0.5)
    },
    "train": {                     # training an architecture from scratch (supplement section 3.2)
        "output": "runs/train",    # run directory of python -m nni_autotsnet.train
        "epochs": 300,             # supplement: 300 (256 for L), times epoch_scale, at least 1
        "epoch_scale": 1.0,
        "warmup_epochs": 34,       # linear warm-up (supplement: 34 of 300), times epoch_scale
        "lr": 0.4,                 # at total batch 256 (supplement); half-period cosine after the warm-up
        "lr_scale": None,          # lr times this; null: total batch / 256 (linear scaling rule)
        "optimizer": "sgd",        # sgd (supplement: momentum, weight decay) or adamw (lr and weight_decay as given)
        "weight_decay": 5.0e-5,
        "momentum": 0.9,
        "label_smoothing": 0.0,    # cross-entropy label smoothing
        "dropout": 0.5,            # before the classifier (supplement: 0.5)
        "seed": 0,                 # seeds initialisation and data order
        "eval_views": None,        # test protocol of evaluate (e.g. 10-LeftCenterRight); null: the data preset's
    },
    "random": {                    # the random-search baseline (supplement section 5)
        "output": "runs/random",   # its experiment folder: one run directory per architecture
        "num_archs": 16,           # distinct architectures trained from scratch (supplement: 16)
        "flops_window": None,      # [lo, hi] GFLOPs per view they must lie in; null: search.flops_window
        "latency_window": None,    # [lo, hi] ms (search.latency_table) they must lie in too; null: search's with cost: latency
        "parts": "all",            # which part's space they are drawn from (all: the whole space)
        "seed": 0,                 # seeds the sampling of architectures
        "port": 8081,              # NNI web UI port of the random-search experiment
    },
    "trainer": {
        "accelerator": "auto",     # cpu, gpu or auto (Lightning)
        "devices": 1,              # devices per node (more than one: DDP)
        "num_nodes": 1,            # nodes
        "precision": "32-true",    # Lightning precision: 32-true, bf16-mixed, 16-mixed (search, train and evaluate)
        "threads": None,           # torch intra-op threads per process; null: torch's default
        "log_every_n_steps": 10,
        "channels_last": False,    # 5-D weights and clips in channels_last_3d (README: GPU path; off: not measured faster)
    },
}

# Short names an NNI trial's parameters may use (any dotted config key works too).
NNI_PARAMETER_KEYS = {"beta": "search.beta", "t_min": "search.flops_window.0", "t_max": "search.flops_window.1",
                      "num_samples": "search.num_samples", "seed": "search.seed"}


@dataclass(frozen=True)
class DataConfig:
    benchmark: Path | None
    benchmark_seed: int
    benchmark_splits: dict | None
    train: Path | None
    val: Path | None
    root: Path | None
    labels_file: Path | None
    preset: str
    batch_size: int
    num_workers: int
    hflip: bool | None
    autoaugment: bool | None
    val_views: int | str
    cache: Path | None


@dataclass(frozen=True)
class PartConfig:
    """One part of the progressive search (a row of supplement Table 2, scaled)."""

    name: str
    epochs: int
    weight_lr: float
    arch_lr: float


@dataclass(frozen=True)
class SearchConfig:
    num_samples: int
    beta: float
    flops_window: tuple[float, float] | None
    warmup: float
    parts: tuple[PartConfig, ...]
    seed: int
    metric_samples: int
    top_n: int
    gradient_clip_val: float | None
    weight_optimizer: str = "sgd"
    weight_decay: float = 5e-5
    inherit_weights: bool = True
    dropout: float = 0.5
    cost: str = "flops"
    latency_window: tuple[float, float] | None = None
    latency_table: Path | None = None


@dataclass(frozen=True)
class TrainConfig:
    output: Path
    epochs: int
    warmup_epochs: int
    lr: float
    weight_decay: float
    momentum: float
    seed: int
    eval_views: int | str | None
    optimizer: str = "sgd"
    label_smoothing: float = 0.0
    dropout: float = 0.5


@dataclass(frozen=True)
class RandomConfig:
    output: Path
    num_archs: int
    flops_window: tuple[float, float] | None
    parts: str
    seed: int
    port: int
    latency_window: tuple[float, float] | None = None


@dataclass(frozen=True)
class TrainerConfig:
    accelerator: str
    devices: int
    num_nodes: int
    precision: str
    threads: int | None
    log_every_n_steps: int
    channels_last: bool = False


@dataclass(frozen=True)
class ExperimentConfig:
    path: Path | None
    preset: str
    output: Path
    data: DataConfig
    search: SearchConfig
    train: TrainConfig
    random: RandomConfig
    trainer: TrainerConfig
    raw: dict  # the merged mapping, written next to the results

    def in_window(self, gflops: float) -> bool | None:
        """Whether ``gflops`` lies in the FLOPs window (``None`` without one)."""
        if self.search.flops_window is None:
            return None
        lo, hi = self.search.flops_window
        return lo <= gflops <= hi


def _merge(base: dict, update: Mapping, where: str, path: str) -> dict:
    """``update`` over ``base``; a key unknown to the defaults is an error naming it."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in base:
            raise ConfigError(f"{path}: unknown key '{dotted}' (known: {', '.join(sorted(map(str, base)))})")
        if isinstance(value, Mapping) and value and all(str(k).isdigit() for k in value) \
                and not isinstance(base[key], dict):
            items = list(base[key] or [])  # ``key.0=x``: one element of a list value
            for index, item in value.items():
                items.extend([None] * (int(index) + 1 - len(items)))
                items[int(index)] = item
            out[key] = items
        elif isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path}: key '{dotted}' must be a mapping, got {value!r}")
            out[key] = _merge(base[key], value, dotted, path)
        else:
            out[key] = value
    return out


def parse_overrides(items: Sequence[str] | Mapping[str, Any]) -> dict:
    """``["search.beta=0.1", ...]`` (values parsed as YAML) or ``{dotted key: value}`` as a nested dict.

    A trailing index sets one element of a list value: ``search.flops_window.0=1.37``.
    """
    pairs = items.items() if isinstance(items, Mapping) else []
    if not isinstance(items, Mapping):
        parsed = []
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"override {item!r}: expected key.sub=value")
            parsed.append((key.strip(), yaml.safe_load(value)))
        pairs = parsed
    nested: dict = {}
    for key, value in pairs:
        key = NNI_PARAMETER_KEYS.get(key, key)
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: '{part}' is not a mapping")
        node[parts[-1]] = value
    return nested


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A config file as a mapping; ``base: other.yaml`` (beside it) is read first and overridden key by key."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: key 'base': expected the file name of another config, got {base!r}")
    parent = (path.parent / base).resolve()
    if parent in seen:
        raise ConfigError(f"{path}: key 'base': {base!r} includes itself")
    return _overlay(_read_yaml(parent, (*seen, path.resolve())), data)


def _overlay(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: str | Path | None = None, overrides: Sequence[str] | Mapping[str, Any] = ()) -> ExperimentConfig:
    """Load ``path`` (or the defaults alone), apply ``overrides`` and validate everything.

    A file may start from another one with ``base: other.yaml`` (a file in the same folder) and
    change only some keys.
    """
    where = str(path) if path is not None else "<defaults>"
    data = _read_yaml(Path(path)) if path is not None else {}
    merged = _merge(DEFAULTS, data, "", where)
    merged = _merge(merged, parse_overrides(overrides), "", f"{where} (override)")
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    return _validate(merged, where, base)


def _path(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _validate(raw: dict, where: str, base: Path) -> ExperimentConfig:
    r = YamlReader(raw, "", where, ConfigError)
    preset_name = r.get("preset", str)
    preset_ref = preset_name if preset_name in PRESET_NAMES else str(_path(preset_name, base))
    try:
        preset = load_preset(preset_ref)
    except PresetError as err:
        raise ConfigError(f"{where}: key 'preset': {err}") from None
    output = _path(r.get("output", str), base)

    d = r.sub("data")
    def opt_path(name: str) -> Path | None:
        return _path(d.get(name, str, None), base)
    data = DataConfig(
        benchmark=opt_path("benchmark"), benchmark_seed=d.get("benchmark_seed", int),
        benchmark_splits=d.get("benchmark_splits", dict, None,
                               check=lambda v: set(v) == {"train", "val", "test"} and all(
                                   isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v.values()),
                               why="{train: n, val: n, test: n}, each an integer >= 1"),
        train=opt_path("train"), val=opt_path("val"), root=opt_path("root"), labels_file=opt_path("labels_file"),
        preset=d.get("preset", str, None) or preset.name,
        batch_size=d.get("batch_size", int, check=lambda v: v > 0, why="must be > 0"),
        num_workers=d.get("num_workers", int, check=lambda v: v >= 0, why="must be >= 0"),
        hflip=_bool(d, "hflip", optional=True), autoaugment=_bool(d, "autoaugment", optional=True),
        val_views=d.get("val_views", (int, str)), cache=opt_path("cache"),
    )
    d.finish()
    if data.train is None and data.benchmark is None:
        raise ConfigError(f"{where}: key 'data.train': missing (or set 'data.benchmark' to use the bundled benchmark)")
    if (data.train is None) != (data.val is None):
        raise ConfigError(f"{where}: key 'data.{'val' if data.val is None else 'train'}': "
                          "give both data.train and data.val, or neither (to use data.benchmark)")
    from nni_autotsnet.data import DATA_PRESETS
    if data.preset not in DATA_PRESETS:
        raise ConfigError(f"{where}: key 'data.preset': {data.preset!r} is not one of {sorted(DATA_PRESETS)} "
                          "(a preset YAML of your own needs data.preset: the clip sizes to train with)")

    s = r.sub("search")
    num_samples = s.get("num_samples", int, check=lambda v: v >= 1, why="K must be >= 1")
    beta = s.get("beta", float, check=lambda v: v >= 0 and math.isfinite(v), why="beta must be >= 0")
    window = _window(s, "flops_window")
    cost = s.get("cost", str, check=lambda v: v in COSTS, why=f"one of {list(COSTS)}")
    latency_window = _window(s, "latency_window", "ms")
    latency_table = _path(s.get("latency_table", str, None), base)
    if cost == "flops" and beta > 0 and window is None:
        raise s.fail("flops_window", f"missing: beta={beta} needs a window [T_min, T_max] in GFLOPs per view")
    if cost == "flops" and latency_window is not None:
        raise s.fail("latency_window", "set only with search.cost: latency (the cost term bounds one figure)")
    if cost == "latency":
        if beta > 0 and latency_window is None:
            raise s.fail("latency_window", f"missing: beta={beta} with cost: latency needs [T_min, T_max] in ms")
        if latency_table is None:
            raise s.fail("latency_table", "missing: search.cost: latency needs a latency table of this preset "
                                          "(python -m nni_autotsnet.latency profile --preset P --out TABLE.json)")
    if latency_table is not None:
        _check_latency_table(s, latency_table, preset)
    warmup = s.get("warmup", float, check=lambda v: 0 <= v < 1, why="a fraction in [0, 1)")
    epoch_scale = s.get("epoch_scale", float, check=lambda v: v > 0, why="must be > 0")
    lr_scale = s.get("lr_scale", float, None, check=lambda v: v > 0, why="must be > 0")
    parts = s.get("parts", list, check=lambda v: len(v) > 0, why="a non-empty list")
    epochs_override = s.get("epochs", dict, None)
    trainer_devices = raw["trainer"].get("devices", 1)
    total_batch = data.batch_size * (trainer_devices if isinstance(trainer_devices, int) else 1) * \
        (raw["trainer"].get("num_nodes", 1) if isinstance(raw["trainer"].get("num_nodes", 1), int) else 1)
    lr_factor = lr_scale if lr_scale is not None else total_batch / REFERENCE_BATCH
    arch_factor = s.get("arch_lr_scale", float, check=lambda v: v > 0, why="must be > 0")
    part_configs = _parts(parts, epochs_override or {}, epoch_scale, lr_factor, arch_factor, preset, s)
    search = SearchConfig(
        num_samples=num_samples, beta=beta, flops_window=window, warmup=warmup, parts=part_configs,
        seed=s.get("seed", int), metric_samples=s.get("metric_samples", int, check=lambda v: v >= 1, why=">= 1"),
        top_n=s.get("top_n", int, check=lambda v: v >= 1, why=">= 1"),
        gradient_clip_val=s.get("gradient_clip_val", float, None, check=lambda v: v > 0, why="must be > 0"),
        weight_optimizer=s.get("weight_optimizer", str, check=lambda v: v in OPTIMIZERS, why=f"one of {list(OPTIMIZERS)}"),
        weight_decay=s.get("weight_decay", float, check=lambda v: v >= 0, why=">= 0"),
        inherit_weights=_bool(s, "inherit_weights"),
        dropout=s.get("dropout", float, check=lambda v: 0 <= v < 1, why="in [0, 1)"),
        cost=cost, latency_window=latency_window, latency_table=latency_table,
    )
    s.finish()

    train, random = _train_and_random(r, base, total_batch, search)
    t = r.sub("trainer")
    trainer = TrainerConfig(
        accelerator=t.get("accelerator", str), devices=t.get("devices", int, check=lambda v: v >= 1, why=">= 1"),
        num_nodes=t.get("num_nodes", int, check=lambda v: v >= 1, why=">= 1"),
        precision=str(t.get("precision", (str, int))),
        threads=t.get("threads", int, None, check=lambda v: v >= 1, why=">= 1"),
        log_every_n_steps=t.get("log_every_n_steps", int, check=lambda v: v >= 1, why=">= 1"),
        channels_last=_bool(t, "channels_last"),
    )
    t.finish()
    r.finish()
    return ExperimentConfig(Path(where) if where != "<defaults>" else None, preset_ref, output, data, search,
                            train, random, trainer, raw)


def _window(r: YamlReader, name: str, unit: str = "GFLOPs per view") -> tuple[float, float] | None:
    window = r.get(name, list, None, check=lambda v: len(v) == 2, why=f"[T_min, T_max] in {unit}")
    if window is None:
        return None
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in window):
        raise r.fail(name, f"T_min and T_max must be numbers ({unit}), got {window!r}")
    if not 0 < window[0] <= window[1]:
        raise r.fail(name, f"need 0 < T_min <= T_max, got T_min={window[0]} > T_max={window[1]}"
                     if window[0] > window[1] else f"need 0 < T_min <= T_max, got {window!r}")
    return float(window[0]), float(window[1])


def _check_latency_table(s: YamlReader, path: Path, preset) -> None:
    """The latency table is readable, of this preset, and complete (every unit and the glue term measured)."""
    from nni_autotsnet.latency.predict import load_latency_model
    from nni_autotsnet.latency.table import LatencyTableError, load_table

    try:
        num_classes = load_table(path)["meta"]["num_classes"]  # the data's classes are checked by the search
        load_latency_model(path, preset, "all", num_classes)
    except LatencyTableError as err:
        raise s.fail("latency_table", str(err)) from None


def _train_and_random(r: YamlReader, base: Path, total_batch: int, search: SearchConfig
                      ) -> tuple[TrainConfig, RandomConfig]:
    t = r.sub("train")
    scale = t.get("epoch_scale", float, check=lambda v: v > 0, why="must be > 0")
    epochs = max(1, round(t.get("epochs", int, check=lambda v: v >= 1, why=">= 1") * scale))
    warmup = round(t.get("warmup_epochs", int, check=lambda v: v >= 0, why=">= 0") * scale)
    if warmup >= epochs and warmup > 0:
        raise t.fail("warmup_epochs", f"the warm-up ({warmup} epochs after scaling) must be shorter than "
                                      f"training ({epochs} epochs)")
    lr_scale = t.get("lr_scale", float, None, check=lambda v: v > 0, why="must be > 0")
    train = TrainConfig(
        output=_path(t.get("output", str), base), epochs=epochs, warmup_epochs=warmup,
        lr=t.get("lr", float, check=lambda v: v > 0, why="must be > 0") *
        (lr_scale if lr_scale is not None else total_batch / REFERENCE_BATCH),
        weight_decay=t.get("weight_decay", float, check=lambda v: v >= 0, why=">= 0"),
        momentum=t.get("momentum", float, check=lambda v: 0 <= v < 1, why="in [0, 1)"),
        seed=t.get("seed", int), eval_views=t.get("eval_views", (int, str), None),
        optimizer=t.get("optimizer", str, check=lambda v: v in OPTIMIZERS, why=f"one of {list(OPTIMIZERS)}"),
        label_smoothing=t.get("label_smoothing", float, check=lambda v: 0 <= v < 1, why="in [0, 1)"),
        dropout=t.get("dropout", float, check=lambda v: 0 <= v < 1, why="in [0, 1)"),
    )
    t.finish()
    q = r.sub("random")
    window = _window(q, "flops_window") or search.flops_window
    latency_window = _window(q, "latency_window", "ms") or (search.latency_window if search.cost == "latency" else None)
    if latency_window is not None and search.latency_table is None:
        raise q.fail("latency_window", "needs search.latency_table (the table F_lat(A) is read from)")
    parts = q.get("parts", str, check=lambda v: v in PARTS, why=f"one of {list(PARTS)}")
    random = RandomConfig(
        output=_path(q.get("output", str), base),
        num_archs=q.get("num_archs", int, check=lambda v: v >= 1, why=">= 1"), flops_window=window,
        parts=parts, seed=q.get("seed", int), port=q.get("port", int, check=lambda v: 0 < v < 65536, why="a port"),
        latency_window=latency_window,
    )
    q.finish()
    return train, random


def _bool(r: YamlReader, name: str, optional: bool = False) -> bool | None:
    r.used.add(name)
    value = r.data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise r.fail(name, f"expected true or false, got {value!r}")
    return value


def _parts(names: list, epochs: dict, epoch_scale: float, lr_factor: float, arch_factor: float, preset, s: YamlReader
           ) -> tuple[PartConfig, ...]:
    """Check the parts' order and that each adds searched variables; scale Table 2 for each."""
    seen: set[str] = set()
    out = []
    previous = -1
    for i, name in enumerate(names):
        if name not in PARTS:
            raise s.fail("parts", f"element {i}: unknown part {name!r} (parts are {list(PARTS)})")
        if PARTS.index(name) <= previous:
            raise s.fail("parts", f"element {i}: {name!r} must come after {names[i - 1]!r} in the order {list(PARTS)}")
        previous = PARTS.index(name)
        labels = set(make_layout(preset, name).variables())
        new = labels - seen
        if not new:
            raise s.fail("parts", f"part {name!r} names no mutable: preset {preset.name!r} has no searched "
                                  f"variable in it that earlier parts did not search")
        seen |= labels
        table_epochs, weight_lr, arch_lr = TABLE2[name]
        n = epochs.get(name)
        if n is None:
            n = max(1, round(table_epochs * epoch_scale))
        elif not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise s.fail("epochs", f"{name}: expected a positive int, got {n!r}")
        out.append(PartConfig(name, n, weight_lr * lr_factor, arch_lr * arch_factor))
    unknown = sorted(set(epochs) - set(names))
    if unknown:
        raise s.fail("epochs", f"{unknown[0]!r} is not a part of search.parts {names}")
    return tuple(out)
