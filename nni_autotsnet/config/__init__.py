"""Experiment configs (``experiments/*.yaml``): each key declared once, in :data:`KEYS`, and checked on load.

A key's default, YAML type, check, meaning and whether it is a path are one :class:`Key`; :data:`DEFAULTS` and
the section dataclasses are made from them, and a YAML file holds only what changes. :func:`load_config` merges
the file and ``key.sub=value`` overrides over the defaults, checks every key, then every cross-field rule
(T_min <= T_max, a part that adds no searched variable, ...), raising :class:`ConfigError` with the file and the
dotted key before anything trains. Relative paths resolve against the config file's folder, so a config runs
the same from any working directory (and from an NNI trial).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields, make_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from nni_autotsnet.errors import UserError
from nni_autotsnet.search_space.layout import PARTS, make_layout
from nni_autotsnet.search_space.presets import PRESET_NAMES, Preset, PresetError, load_preset
from nni_autotsnet.yamlcheck import YamlReader

__all__ = ["ConfigError", "KEYS", "Key", "Window", "DEFAULTS", "TABLE2", "DataConfig", "PartConfig", "SearchConfig",
           "TrainConfig", "RandomConfig", "TrainerConfig", "ExperimentConfig", "DERIVED", "load_config", "parse_overrides",
           "portable_raw", "with_train", "PATH_KEYS", "NNI_PARAMETER_KEYS"]


class ConfigError(UserError):
    """A config key is unknown, missing, of the wrong type or inconsistent; the message names file and key."""


# Supplement Table 2: epochs, weight learning rate (total batch 256) and alpha learning rate per part.
TABLE2 = {"sparse": (800, 0.4, 0.015), "fusion": (400, 0.2, 0.015), "all": (200, 0.2, 0.010)}
OPTIMIZERS = ("sgd", "adamw")  # train.optimizer, search.weight_optimizer
COSTS = ("flops", "latency")  # search.cost: what PARSEC's cost window bounds
# search.supernet: strategies.paths.SUPERNET_MODES, repeated so that loading a config imports no torch (a test checks)
SUPERNET_MODES = ("parsec", "uniform", "sandwich")
REFERENCE_BATCH = 256  # the supplement's total batch (8 clips x 32 GPUs) for Table 2's learning rates


@dataclass(frozen=True)
class Window:
    """The kind of a ``[T_min, T_max]`` key: two numbers with 0 < T_min <= T_max, in ``unit``; null: no window."""

    unit: str


Check = tuple[Callable[[Any], bool], str]  # (test, why): the why is quoted when the test fails


@dataclass(frozen=True)
class Key:
    """One key of an experiment config: its default, YAML type, check and meaning, said once.

    ``kind``: the YAML type (a float key takes an int too, a bool key only true or false); a ``default``
    of None allows null. ``path``: a file or folder, resolved against the config file's folder (and made
    absolute in :func:`portable_raw`). ``field``: False for a key that only feeds a derived field
    (``search.epoch_scale`` scales the parts' epochs); ``field_type``: that field's type where it is not
    the one ``kind``, ``path`` and ``default`` give.
    """

    default: Any
    kind: type | tuple[type, ...] | Window
    doc: str
    check: Check | None = None
    path: bool = False
    field: bool = True
    field_type: str = ""

    def read(self, r: YamlReader, name: str, base: Path) -> Any:
        """The checked value of ``name`` in ``r``'s mapping; a path key's is an absolute Path."""
        if isinstance(self.kind, Window):
            return _window(r, name, self.kind.unit)
        test, why = self.check or (None, "")
        value = r.get(name, self.kind, None if self.default is None else ..., check=test, why=why)
        return _path(value, base) if self.path else value

    def annotation(self) -> str:
        """The type of the key's dataclass field, as an annotation string."""
        if self.field_type:
            return self.field_type
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        name = "tuple[float, float]" if isinstance(self.kind, Window) else "Path" if self.path else \
            " | ".join(k.__name__ for k in kinds)
        return f"{name} | None" if self.default is None else name


def _one_of(choices: Sequence[str]) -> Check:
    return lambda v: v in choices, f"one of {list(choices)}"


def _splits_ok(splits: dict) -> bool:
    return set(splits) == {"train", "val", "test"} and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in splits.values())


POSITIVE: Check = (lambda v: v > 0, "must be > 0")
AT_LEAST_1: Check = (lambda v: v >= 1, ">= 1")
NON_NEGATIVE: Check = (lambda v: v >= 0, ">= 0")
BELOW_1: Check = (lambda v: 0 <= v < 1, "in [0, 1)")
GFLOPS, MS = Window("GFLOPs per view"), Window("ms")

# Every key of an experiment config: the one place its default, type, check and meaning are said.
KEYS: dict[str, Key | dict[str, Key]] = {
    "preset": Key("tiny", str, "search-space preset: tiny, S, M, L or a preset YAML path (resolved like a path)"),
    "output": Key("runs/search", str, "search directory (in an NNI trial: the trial's own directory)", path=True),
    "data": {
        "benchmark": Key(None, str, "folder of the bundled temporal benchmark, built there if missing", path=True),
        "benchmark_seed": Key(0, int, "its seed (same seed, same bytes)"),
        "benchmark_splits": Key(None, dict, "{train: n, val: n, test: n} videos a class when it is built; null: "
                                "60 / 20 / 50", (_splits_ok, "{train: n, val: n, test: n}, each an integer >= 1")),
        "train": Key(None, str, "training list (CSV path,label or SlowFast 'path label'); overrides benchmark",
                     path=True),
        "val": Key(None, str, "validation list (the search's val accuracy of the most likely arch)", path=True),
        "root": Key(None, str, "folder of relative video paths (default: each list's folder)", path=True),
        "labels_file": Key(None, str, "class names, one a line; default: collected from the training list",
                           path=True),
        "preset": Key(None, str, "data preset (sizes, frames, stride); default: the space preset's name",
                      field_type="str"),
        "batch_size": Key(8, int, "clips per device and step (supplement: 8 per GPU)", POSITIVE),
        "num_workers": Key(2, int, "DataLoader worker processes per device", (lambda v: v >= 0, "must be >= 0")),
        "hflip": Key(None, bool, "random horizontal flip (off for direction-sensitive classes); null: the data "
                     "preset's"),
        "autoaugment": Key(None, bool, "AutoAugment, same parameters on every frame of a clip; null: the data "
                           "preset's"),
        "val_views": Key(1, (int, str), "temporal views per validation video during the search"),
        "cache": Key(None, str, "folder of the decoded-frame cache (decode each video once); null: decode every clip",
                     path=True),
        # A data set as it ships (docs/data.md): SSv2, UCF101, HMDB51 or a folder per class.
        "format": Key(None, str, "csv, kinetics, ssv2, ucf101, hmdb51 or folders; null: csv with data.train, else "
                      "told from data.annotations' files"),
        "annotations": Key(None, str, "the data set's folder in the formats ssv2 (its JSON files), ucf101 "
                           "(classInd.txt and the lists), hmdb51 (the split files), folders (the class folders); "
                           "replaces data.train / data.val; videos under data.root (default: this folder)", path=True),
        "split_number": Key(1, int, "ucf101 / hmdb51: which of the three official splits",
                            (lambda v: v in (1, 2, 3), "1, 2 or 3")),
        "val_fraction": Key(0.1, float, "ucf101 / hmdb51 / folders: fraction of each class's training videos held "
                            "out for validation (whole recordings), drawn by split_seed",
                            (lambda v: 0 < v < 1, "in (0, 1)")),
        "test_fraction": Key(0.1, float, "folders: fraction of each class's videos for the test split", BELOW_1),
        "split_seed": Key(0, int, "seeds the held-out draw: same files, fractions and seed, same split"),
    },
    "search": {
        "num_samples": Key(13, int, "K, architectures sampled per step (supplement: 13)",
                           (lambda v: v >= 1, "K must be >= 1")),
        "beta": Key(0.0, float, "weight of beta * log C(alpha); 0 searches without a FLOPs constraint",
                    (lambda v: v >= 0 and math.isfinite(v), "beta must be >= 0")),
        "flops_window": Key(None, GFLOPS, "[T_min, T_max] in GFLOPs (multiply-adds) per view; needed when beta > 0 "
                            "(cost: flops)"),
        "cost": Key("flops", str, "what the window bounds: flops (F(A)) or latency (F_lat(A) from latency_table)",
                    _one_of(COSTS)),
        "latency_window": Key(None, MS, "[T_min, T_max] in ms on the table's device; needed when beta > 0 "
                              "(cost: latency)"),
        "latency_table": Key(None, str, "python -m nni_autotsnet.latency profile's table for this preset; cost: "
                             "latency", path=True),
        "warmup": Key(0.25, float, "fraction of each part's epochs with alpha frozen (1: a supernet only)",
                      (lambda v: 0 <= v <= 1, "a fraction in [0, 1]")),
        "supernet": Key("parsec", str, "how the weights train while alpha is frozen: parsec (K paths from alpha, "
                        "importance-weighted), uniform (K uniform paths) or sandwich (largest + smallest + K-2 "
                        "uniform); then PARSEC", _one_of(SUPERNET_MODES)),
        "distill": Key(0.0, float, "sandwich: weight in [0, 1] of in-place distillation from the largest path",
                       (lambda v: 0 <= v <= 1, "a weight in [0, 1]")),
        "in_window": Key(False, bool, "uniform / sandwich: draw the random paths inside the cost window"),
        "attention_init": Key("default", str, "searched SE candidates start as in training (default) or near the "
                              "identity (identity: gate 0.95), so alpha does not pick fresh blocks on noise",
                              _one_of(("default", "identity"))),
        "epoch_scale": Key(1.0, float, "Table 2 epochs (800 / 400 / 200) times this, at least 1 each", POSITIVE,
                           field=False),
        "lr_scale": Key(None, float, "Table 2 weight learning rates times this; null: total batch / 256 (linear "
                        "rule)", POSITIVE, field=False),
        "arch_lr_scale": Key(1.0, float, "Table 2 alpha learning rates (0.015 / 0.015 / 0.010) times this",
                             POSITIVE, field=False),
        "parts": Key(list(PARTS), list, "progressive search parts, in order: sparse, fusion, all",
                     (lambda v: len(v) > 0, "a non-empty list"), field_type="tuple[PartConfig, ...]"),
        "epochs": Key(None, dict, "{part: epochs} overriding the scaled Table 2 figure for a part", field=False),
        "seed": Key(0, int, "seeds weights, data order and architecture sampling"),
        "metric_samples": Key(256, int, "architectures drawn per epoch to estimate E[GFLOPs] and C(alpha)",
                              AT_LEAST_1),
        "top_n": Key(5, int, "most likely architectures listed in alpha.json", AT_LEAST_1),
        "gradient_clip_val": Key(None, float, "clip the weight gradients' norm", POSITIVE),
        "weight_optimizer": Key("sgd", str, "sgd (supplement: momentum 0.9, cosine) or adamw (constant lr), for "
                                "the supernet's weights", _one_of(OPTIMIZERS)),
        "weight_decay": Key(5.0e-5, float, "of the supernet's weights (supplement: 5e-5)", NON_NEGATIVE),
        "inherit_weights": Key(True, bool, "a part starts from the previous part's supernet (its chosen "
                               "architecture's slice)"),
        "dropout": Key(0.5, float, "before the supernet's classifier (supplement: 0.5)", BELOW_1),
        "rank_candidates": Key(200, int, "distinct in-window architectures drawn from the last part's alpha, scored "
                               "on its supernet into the search's ranking.csv; 0: none", NON_NEGATIVE),
        "rank_calibration_batches": Key(10, int, "training batches that recalibrate batch norm for each candidate",
                                        AT_LEAST_1),
        "shortlist": Key(0, int, "train the top k of ranking.csv from scratch and keep the best by validation "
                         "accuracy as the search's arch.json; 0: the most likely architecture", NON_NEGATIVE),
        "shortlist_epochs": Key(None, int, "epochs of a shortlist training; null: train.epochs", AT_LEAST_1),
        "shortlist_train": Key(None, dict, "further train keys of the shortlist's trainings, e.g. {ema_decay: null} "
                               "for runs shorter than the average's horizon; epochs: search.shortlist_epochs",
                               field_type="dict | None"),
        "shortlist_full": Key(0, int, "retrain the shortlist's best m with the full train recipe and keep the best "
                              "by that validation accuracy (multi-fidelity: many short trainings, a few full); 0: "
                              "none", NON_NEGATIVE),
        "rank_scope": Key("last", str, "the labels the ranking's candidates vary: last (the last part's, the "
                          "earlier parts' pinned; all scored on its supernet) or all (every part's, each drawn from "
                          "the alpha of the part that searched it; ordered by P(arch | alpha), scored where the last "
                          "supernet holds them)", _one_of(("last", "all"))),
        "rank_temperature": Key(1.0, float, "the ranking draws from alpha's probabilities to the power 1 / T: T > 1 "
                                "spreads the candidates over a concentrated alpha (large T: nearly uniform)",
                                POSITIVE),
    },
    "train": {  # training an architecture from scratch (supplement section 3.2)
        "output": Key("runs/train", str, "run directory of python -m nni_autotsnet.train", path=True),
        "epochs": Key(300, int, "supplement: 300 (256 for L), times epoch_scale, at least 1", AT_LEAST_1),
        "epoch_scale": Key(1.0, float, "scales epochs and warmup_epochs", POSITIVE, field=False),
        "warmup_epochs": Key(34, int, "linear warm-up (supplement: 34 of 300), times epoch_scale", NON_NEGATIVE),
        "lr": Key(0.4, float, "at total batch 256 (supplement); half-period cosine after the warm-up", POSITIVE),
        "lr_scale": Key(None, float, "lr times this; null: total batch / 256 (linear scaling rule)", POSITIVE,
                        field=False),
        "optimizer": Key("sgd", str, "sgd (supplement: momentum, weight decay) or adamw (lr and weight_decay as "
                         "given)", _one_of(OPTIMIZERS)),
        "weight_decay": Key(5.0e-5, float, "supplement: 5e-5", NON_NEGATIVE),
        "momentum": Key(0.9, float, "of sgd", BELOW_1),
        "label_smoothing": Key(0.0, float, "cross-entropy label smoothing", BELOW_1),
        "dropout": Key(0.5, float, "before the classifier (supplement: 0.5)", BELOW_1),
        "seed": Key(0, int, "seeds initialisation and data order"),
        "ema_decay": Key(None, float, "exponential moving average of the weights (Lightning's EMAWeightAveraging), "
                         "per step, used for validation and kept as the trained model; null: off", BELOW_1),
        "gradient_clip_val": Key(None, float, "clip the gradients' global norm to this; null: no clipping", POSITIVE),
        "eval_views": Key(None, (int, str), "test protocol of evaluate (e.g. 10-LeftCenterRight); null: the data "
                          "preset's"),
    },
    "random": {  # the random-search baseline (supplement section 5)
        "output": Key("runs/random", str, "its experiment folder: one run directory per architecture", path=True),
        "num_archs": Key(16, int, "distinct architectures trained from scratch (supplement: 16)", AT_LEAST_1),
        "flops_window": Key(None, GFLOPS, "[lo, hi] GFLOPs per view they must lie in; null: search.flops_window"),
        "latency_window": Key(None, MS, "[lo, hi] ms (search.latency_table) they must lie in too; null: search's "
                              "with cost: latency"),
        "parts": Key("all", str, "which part's space they are drawn from (all: the whole space)", _one_of(PARTS)),
        "seed": Key(0, int, "seeds the sampling of architectures"),
        "port": Key(8081, int, "NNI web UI port of the random-search experiment", (lambda v: 0 < v < 65536, "a port")),
    },
    "trainer": {
        "accelerator": Key("auto", str, "cpu, gpu or auto (Lightning)"),
        "devices": Key(1, int, "devices per node (more than one: DDP)", AT_LEAST_1),
        "num_nodes": Key(1, int, "nodes", AT_LEAST_1),
        "precision": Key("32-true", (str, int), "Lightning precision: 32-true, bf16-mixed, 16-mixed (search, train "
                         "and evaluate); 16 reads as '16'", field_type="str"),
        "threads": Key(None, int, "torch intra-op threads per process; null: torch's default", AT_LEAST_1),
        "log_every_n_steps": Key(10, int, "Lightning's logging interval", AT_LEAST_1),
        "channels_last": Key(False, bool, "5-D weights and clips in channels_last_3d (docs/gpu.md; off: not "
                             "measured faster)"),
    },
}
SECTIONS = tuple(name for name, keys in KEYS.items() if isinstance(keys, dict))
PATH_KEYS = tuple(f"{section}.{name}" if section else name  # files and folders: Key.path
                  for section, keys in [("", KEYS), *((s, KEYS[s]) for s in SECTIONS)]
                  for name, key in keys.items() if isinstance(key, Key) and key.path)


def _defaults(keys: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _defaults(key) if isinstance(key, dict) else copy.deepcopy(key.default) for name, key in keys.items()}


DEFAULTS: dict[str, Any] = _defaults(KEYS)  # what a YAML file is merged over

# Short names an NNI trial's parameters may use (any dotted config key works too).
NNI_PARAMETER_KEYS = {"beta": "search.beta", "t_min": "search.flops_window.0", "t_max": "search.flops_window.1",
                      "num_samples": "search.num_samples", "seed": "search.seed"}


@dataclass(frozen=True)
class PartConfig:
    """One part of the progressive search (a row of supplement Table 2, scaled)."""

    name: str
    epochs: int
    weight_lr: float
    arch_lr: float


# Fields computed from a section's keys, under names of their own, so that a key's field holds what the YAML
# says: (name, annotation) per section, after the keys' fields.
DERIVED: dict[str, tuple[tuple[str, str], ...]] = {
    # effective_lr: train.lr times train.lr_scale, or total batch / 256 (the rate trained at);
    # scaled_epochs / scaled_warmup_epochs: train.epochs / warmup_epochs times epoch_scale (the schedule trained)
    "train": (("effective_lr", "float"), ("scaled_epochs", "int"), ("scaled_warmup_epochs", "int")),
}


def _section_class(name: str, section: str, doc: str) -> type:
    """A frozen dataclass with a field per key of ``section``, typed by ``Key.annotation``, then :data:`DERIVED`'s.

    Made from :data:`KEYS` rather than written out, so that a key is declared once: a written class
    would list every key and its type a second time (the old ones repeated some defaults, too), a
    place that can drift from KEYS. The cost, static type checkers seeing no fields, this project does
    not pay: it runs none.
    """
    columns = [(key, spec.annotation()) for key, spec in KEYS[section].items() if spec.field] + list(DERIVED.get(section, ()))
    cls = make_dataclass(name, columns, frozen=True, namespace={"__doc__": doc})
    cls.__module__ = __name__  # pickles by name
    return cls


DataConfig = _section_class("DataConfig", "data", "The data keys; paths absolute, preset the space's by default.")
SearchConfig = _section_class("SearchConfig", "search", "The search keys; parts are Table 2 scaled (PartConfig).")
TrainConfig = _section_class("TrainConfig", "train", "The train keys as given, then what training runs at: "
                             "effective_lr (lr times lr_scale or the linear rule), scaled_epochs and "
                             "scaled_warmup_epochs (times epoch_scale).")
RandomConfig = _section_class("RandomConfig", "random", "The random keys; null windows are search's.")
TrainerConfig = _section_class("TrainerConfig", "trainer", "The trainer keys.")


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


def portable_raw(config: ExperimentConfig) -> dict:
    """``config.raw`` with the preset and every key of :data:`PATH_KEYS` absolute, as loaded.

    A copy of it written anywhere (a run directory's ``config.yaml``) loads the same config.
    """
    raw = copy.deepcopy(config.raw)
    raw["preset"] = config.preset  # a name, or the preset file's absolute path
    for dotted in PATH_KEYS:
        *section, name = dotted.split(".")
        owner, mapping = (getattr(config, section[0]), raw[section[0]]) if section else (config, raw)
        value = getattr(owner, name)
        mapping[name] = None if value is None else str(value)
    return raw


def _validate(raw: dict, where: str, base: Path) -> ExperimentConfig:
    r = YamlReader(raw, "", where, ConfigError)
    preset_ref, preset = _preset(r, base)
    output = KEYS["output"].read(r, "output", base)
    trainer = _trainer(r, base)  # first: the total batch scales the learning rates of search and train
    data = _data(r, base, preset)
    total_batch = data.batch_size * trainer.devices * trainer.num_nodes
    search = _search(r, base, preset, total_batch)
    train = _train(r, base, total_batch)
    random = _random(r, base, search)
    r.finish()
    return ExperimentConfig(Path(where) if where != "<defaults>" else None, preset_ref, output, data, search,
                            train, random, trainer, raw)


def _read(r: YamlReader, section: str, base: Path) -> tuple[YamlReader, dict[str, Any]]:
    """Every key of ``section`` as its :class:`Key` says (type, check, path); the cross-field rules are the caller's."""
    s = r.sub(section)
    values = {name: key.read(s, name, base) for name, key in KEYS[section].items()}
    s.finish()
    return s, values


def _build(cls: type, values: dict[str, Any]) -> Any:
    """``cls`` from ``values``, less the keys that only fed a derived field."""
    return cls(**{f.name: values[f.name] for f in fields(cls)})


def _preset(r: YamlReader, base: Path) -> tuple[str, Preset]:
    """The preset's reference (a name, or a YAML file's absolute path) and the preset."""
    name = KEYS["preset"].read(r, "preset", base)
    ref = name if name in PRESET_NAMES else str(_path(name, base))
    try:
        return ref, load_preset(ref)
    except PresetError as err:
        raise r.fail("preset", str(err)) from None


def _lr_factor(lr_scale: float | None, total_batch: int) -> float:
    """``lr_scale``, or the linear scaling rule: total batch / 256."""
    return lr_scale if lr_scale is not None else total_batch / REFERENCE_BATCH


def _trainer(r: YamlReader, base: Path) -> TrainerConfig:
    _, values = _read(r, "trainer", base)
    values["precision"] = str(values["precision"])  # YAML reads precision: 16 as an int
    return _build(TrainerConfig, values)


def _data(r: YamlReader, base: Path, preset: Preset) -> DataConfig:
    """data.train and data.val go together (or data.benchmark); data.preset is a known data preset."""
    from nni_autotsnet.data import DATA_PRESETS

    d, values = _read(r, "data", base)
    values["preset"] = values["preset"] or preset.name
    values["format"] = _data_format(d, values)
    if values["format"] in ("ssv2", "ucf101", "hmdb51", "folders"):
        pass  # the splits come from data.annotations (checked in _data_format)
    elif values["train"] is None and values["benchmark"] is None:
        raise d.fail("train", "missing (or set 'data.benchmark' to use the bundled benchmark)")
    if (values["train"] is None) != (values["val"] is None):
        raise d.fail("val" if values["val"] is None else "train",
                     "give both data.train and data.val, or neither (to use data.benchmark)")
    if values["preset"] not in DATA_PRESETS:
        raise d.fail("preset", f"{values['preset']!r} is not one of {sorted(DATA_PRESETS)} "
                               "(a preset YAML of your own needs data.preset: the clip sizes to train with)")
    clips = DATA_PRESETS[values["preset"]]
    if (clips.num_frames, clips.crop) != (preset.frames, preset.crop):
        raise d.fail("preset", f"{values['preset']!r} gives clips of {clips.num_frames} frames at {clips.crop} px, but the "
                               f"space preset {preset.name!r} takes {preset.frames} frames (T_dense) at {preset.crop} px; "
                               "use a data preset of the same frames and crop")
    return _build(DataConfig, values)


def _data_format(d: YamlReader, values: dict[str, Any]) -> str:
    """data.format, detected when null; a folder format needs data.annotations and no lists, a list format no folder."""
    from nni_autotsnet.data.errors import AnnotationError
    from nni_autotsnet.data.formats import FORMATS, SPLIT_FORMATS, detect_format

    fmt, folder = values["format"], values["annotations"]
    if fmt is not None and fmt not in FORMATS:
        raise d.fail("format", f"{fmt!r} is not one of {list(FORMATS)}")
    if fmt is None and folder is not None:
        try:
            fmt = detect_format(folder)
        except AnnotationError as err:
            raise d.fail("annotations", str(err)) from None
        if fmt not in SPLIT_FORMATS:
            raise d.fail("annotations", f"{folder} is a file; a list goes in data.train / data.val, a data set's "
                                        f"folder in data.annotations")
    fmt = fmt or "csv"
    if fmt in SPLIT_FORMATS:
        if folder is None:
            raise d.fail("annotations", f"missing: data.format {fmt} reads its splits from the data set's folder")
        if not folder.is_dir():
            raise d.fail("annotations", f"{folder}: no such folder (data.format {fmt})")
        for key in ("train", "val", "labels_file"):
            if values[key] is not None:
                raise d.fail(key, f"not used with data.format {fmt}: its splits and classes come from data.annotations")
    elif folder is not None:
        raise d.fail("annotations", f"read by the formats {list(SPLIT_FORMATS)}; a {fmt} data set gives data.train "
                                    "and data.val")
    return fmt


def _search(r: YamlReader, base: Path, preset: Preset, total_batch: int) -> SearchConfig:
    """The cost rules, then the parts: Table 2 scaled by epoch_scale, the total batch and arch_lr_scale."""
    s, values = _read(r, "search", base)
    _check_cost(s, values, preset)
    _check_supernet(s, values)
    _check_shortlist(s, values, base)
    values["parts"] = _parts(values["parts"], values["epochs"] or {}, values["epoch_scale"],
                             _lr_factor(values["lr_scale"], total_batch), values["arch_lr_scale"], preset, s)
    return _build(SearchConfig, values)


def _check_shortlist(s: YamlReader, values: dict[str, Any], base: Path) -> None:
    """The shortlist is the top of ranking.csv, its full retrainings the top of the shortlist; shortlist_train
    holds train keys (each checked as train's own, named search.shortlist_train.KEY in an error)."""
    if values["shortlist"] > values["rank_candidates"]:
        raise s.fail("shortlist", f"{values['shortlist']} exceeds search.rank_candidates "
                                  f"({values['rank_candidates']}): the shortlist is the top of ranking.csv")
    if values["shortlist_full"] > values["shortlist"]:
        raise s.fail("shortlist_full", f"{values['shortlist_full']} exceeds search.shortlist ({values['shortlist']}): "
                                       "the full retrainings are the shortlist's best")
    extra = values["shortlist_train"]
    if extra is None:
        return
    t = s.sub("shortlist_train")
    for name in extra:
        if name in ("epochs", "epoch_scale", "output"):
            raise t.fail(name, "set by the search (search.shortlist_epochs; a shortlist run's folder is "
                               "<search>/shortlist/<digest>)")
        if name not in KEYS["train"]:
            raise t.fail(name, f"not a train key (known: {', '.join(sorted(KEYS['train']))})")
        KEYS["train"][name].read(t, name, base)


def with_train(config: ExperimentConfig, updates: Mapping[str, Any]) -> ExperimentConfig:
    """``config`` with ``updates`` applied to its train section, validated again (the derived fields follow).

    The raw config is made portable first (paths absolute), so it validates the same from anywhere.
    """
    raw = portable_raw(config)
    raw["train"] = {**raw["train"], **updates}
    return _validate(raw, "<train of search.shortlist_train>", Path.cwd())


def _check_supernet(s: YamlReader, values: dict[str, Any]) -> None:
    """distill needs sandwich's largest path; sandwich needs two paths a step; in_window needs a window."""
    mode = values["supernet"]
    if values["distill"] > 0 and mode != "sandwich":
        raise s.fail("distill", f"the teacher is the sandwich rule's largest path: set search.supernet: sandwich "
                                f"(now {mode})")
    if mode == "sandwich" and values["num_samples"] < 2:
        raise s.fail("num_samples", "the sandwich rule trains the largest and the smallest path: K >= 2")
    window = values["latency_window"] if values["cost"] == "latency" else values["flops_window"]
    if values["in_window"] and window is None:
        raise s.fail("in_window", f"draws paths inside the cost window, but search.{values['cost']}_window is "
                                  "not set")


def _check_cost(s: YamlReader, values: dict[str, Any], preset: Preset) -> None:
    """beta > 0 needs the window of the cost; cost: latency needs a latency table of this preset."""
    cost, beta = values["cost"], values["beta"]
    if cost == "flops" and beta > 0 and values["flops_window"] is None:
        raise s.fail("flops_window", f"missing: beta={beta} needs a window [T_min, T_max] in GFLOPs per view")
    if cost == "flops" and values["latency_window"] is not None:
        raise s.fail("latency_window", "set only with search.cost: latency (the cost term bounds one figure)")
    if cost == "latency":
        if beta > 0 and values["latency_window"] is None:
            raise s.fail("latency_window", f"missing: beta={beta} with cost: latency needs [T_min, T_max] in ms")
        if values["latency_table"] is None:
            raise s.fail("latency_table", "missing: search.cost: latency needs a latency table of this preset "
                                          "(python -m nni_autotsnet.latency profile --preset P --out TABLE.json)")
    if values["latency_table"] is not None:
        _check_latency_table(s, values["latency_table"], preset)


def _train(r: YamlReader, base: Path, total_batch: int) -> TrainConfig:
    """scaled_epochs / scaled_warmup_epochs: epochs and warmup_epochs times epoch_scale (the warm-up shorter);
    effective_lr: lr times lr_scale or the linear rule (epochs, warmup_epochs and lr stay the YAML's)."""
    t, values = _read(r, "train", base)
    epochs = values["scaled_epochs"] = max(1, round(values["epochs"] * values["epoch_scale"]))
    warmup = values["scaled_warmup_epochs"] = round(values["warmup_epochs"] * values["epoch_scale"])
    if warmup >= epochs and warmup > 0:
        raise t.fail("warmup_epochs", f"the warm-up ({warmup} epochs after scaling) must be shorter than "
                                      f"training ({epochs} epochs)")
    values["effective_lr"] = values["lr"] * _lr_factor(values["lr_scale"], total_batch)
    return _build(TrainConfig, values)


def _random(r: YamlReader, base: Path, search: SearchConfig) -> RandomConfig:
    """Null windows fall back to the search's; a latency window needs search.latency_table."""
    q, values = _read(r, "random", base)
    values["flops_window"] = values["flops_window"] or search.flops_window
    if values["latency_window"] is None and search.cost == "latency":
        values["latency_window"] = search.latency_window
    if values["latency_window"] is not None and search.latency_table is None:
        raise q.fail("latency_window", "needs search.latency_table (the table F_lat(A) is read from)")
    return _build(RandomConfig, values)


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
