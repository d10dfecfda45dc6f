"""The experiment config's one declaration (config.KEYS): the defaults, the section dataclasses, the path keys and
the per-key errors all follow from it."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import typing

import pytest
import yaml

from nni_autotsnet import config as cfg
from nni_autotsnet.config import DEFAULTS, KEYS, PATH_KEYS, ConfigError, Key, load_config, portable_raw
from nni_autotsnet.search_space import load_preset
from nni_autotsnet.search_space.presets import PRESET_DIR
from nni_autotsnet.training import portable_config

from toys import synthetic_table

SECTION_CLASSES = {"data": cfg.DataConfig, "search": cfg.SearchConfig, "train": cfg.TrainConfig,
                   "random": cfg.RandomConfig, "trainer": cfg.TrainerConfig}


def test_every_declared_key_is_a_default_and_a_field():
    assert set(KEYS) == set(DEFAULTS) == {"preset", "output", *SECTION_CLASSES}
    config = load_config(None, ["data.benchmark=bench"])
    for section, cls in SECTION_CLASSES.items():
        keys = KEYS[section]
        assert list(DEFAULTS[section]) == list(keys)
        assert all(DEFAULTS[section][name] == key.default for name, key in keys.items())
        assert [f.name for f in dataclasses.fields(cls)] == [name for name, key in keys.items() if key.field] + \
            [name for name, _ in cfg.DERIVED.get(section, ())]
        assert typing.get_type_hints(cls)  # every annotation names a real type
        for name, key in keys.items():
            assert isinstance(key, Key) and key.doc, name
            assert hasattr(getattr(config, section), name) == key.field, name
    assert typing.get_type_hints(cfg.SearchConfig)["parts"] == tuple[cfg.PartConfig, ...]
    assert typing.get_type_hints(cfg.DataConfig)["benchmark"] == typing.Optional[cfg.Path]
    assert pickle.loads(pickle.dumps(config)) == config  # the made classes pickle by name (DDP, spawn)


def test_the_defaults_are_not_shared_between_loads():
    load_config(None, ["data.benchmark=bench"]).raw["search"]["parts"].append("x")
    assert DEFAULTS["search"]["parts"] == ["sparse", "fusion", "all"]


def test_the_path_keys_are_declared():
    assert KEYS["output"].path and not KEYS["preset"].path  # a preset name stays a name
    assert set(PATH_KEYS) == {"output", "data.benchmark", "data.train", "data.val", "data.root", "data.labels_file",
                              "data.cache", "data.annotations", "search.latency_table", "train.output", "random.output"}


def test_a_portable_copy_loads_the_same_from_another_folder(tmp_path):
    """Every path key (latency_table included), the output and a preset file are absolute in portable_raw."""
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    shutil.copy(PRESET_DIR / "tiny.yaml", here / "mine.yaml")
    synthetic_table(load_preset(here / "mine.yaml"), here / "table.json")
    raw = {"preset": "mine.yaml", "output": "out/search",
           "data": {name: f"rel/{name}" for name in ("benchmark", "train", "val", "root", "labels_file", "cache")},
           "search": {"latency_table": "table.json"}, "train": {"output": "out/train"},
           "random": {"output": "out/random"}}
    raw["data"]["preset"] = "tiny"
    (here / "c.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(here / "c.yaml")
    portable = portable_raw(config)
    assert portable == portable_config(config)
    assert portable["preset"] == str(here / "mine.yaml")
    for dotted in set(PATH_KEYS) - {"data.annotations"}:  # annotations: a folder format, without lists (below)
        *section, name = dotted.split(".")
        written, made = (raw[section[0]], portable[section[0]]) if section else (raw, portable)
        assert made[name] == str(here / written[name]), dotted
    (here / "rel" / "annotations").mkdir(parents=True)
    (here / "f.yaml").write_text(yaml.safe_dump({"preset": "tiny", "data": {"format": "folders",
                                                                            "annotations": "rel/annotations"}}))
    assert portable_raw(load_config(here / "f.yaml"))["data"]["annotations"] == str(here / "rel" / "annotations")
    assert config.raw["search"]["latency_table"] == "table.json"  # the loaded mapping itself is left as written
    (elsewhere / "config.yaml").write_text(yaml.safe_dump(portable, sort_keys=False))
    copied = load_config(elsewhere / "config.yaml")
    for field in ("preset", "output", *SECTION_CLASSES):
        assert getattr(copied, field) == getattr(config, field), field
    assert copied.search.latency_table == here / "table.json"


@pytest.mark.parametrize("key, value, message", [
    ("preset", 3, "expected str, got 3"),
    ("output", ["a"], "expected str, got ['a']"),
    ("data.benchmark", 5, "expected str, got 5"),
    ("data.batch_size", "eight", "expected int, got 'eight'"),
    ("data.hflip", 1, "expected true or false, got 1"),
    ("data.benchmark_splits", {"train": 1}, "bad value {'train': 1} ({train: n, val: n, test: n}, each an integer"),
    ("search.beta", "high", "expected float, got 'high'"),
    ("search.num_samples", 1.5, "expected int, got 1.5"),
    ("search.flops_window", [1], "bad value [1] ([T_min, T_max] in GFLOPs per view)"),
    ("search.inherit_weights", "no way", "expected true or false, got 'no way'"),
    ("search.epochs", [3], "expected dict, got [3]"),
    ("train.lr", "fast", "expected float, got 'fast'"),
    ("train.epochs", True, "expected int, got True"),
    ("train.output", None, "expected str, got None"),
    ("random.port", "x", "expected int, got 'x'"),
    ("random.parts", 3, "expected str, got 3"),
    ("random.latency_window", [6, 5], "need 0 < T_min <= T_max, got T_min=6 > T_max=5"),
    ("trainer.devices", True, "expected int, got True"),
    ("trainer.channels_last", 2, "expected true or false, got 2"),
    ("trainer.precision", 16.5, "expected (<class 'str'>, <class 'int'>), got 16.5"),
])
def test_a_wrong_value_names_the_file_and_the_key(tmp_path, key, value, message):
    path = tmp_path / "bad.yaml"
    raw: dict = {"data": {"benchmark": "bench"}}
    *section, name = key.split(".")
    (raw.setdefault(section[0], {}) if section else raw)[name] = value
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: key '{key}': {message}"), str(err.value)


def test_precision_reads_an_int_as_its_name():
    assert load_config(None, ["data.benchmark=b", "trainer.precision=16"]).trainer.precision == "16"


def test_a_data_preset_of_other_clips_than_the_space_takes_is_refused():
    """The S space's dense stream takes 52 frames at 160 px; tiny's 8-frame 64 px clips would run, wrongly."""
    with pytest.raises(ConfigError, match=r"key 'data.preset': 'tiny' gives clips of 8 frames at 64 px, but the "
                                          r"space preset 'S' takes 52 frames"):
        load_config("experiments/S.yaml", ["data.preset=tiny"])
    assert load_config("experiments/S.yaml").data.preset == "S"
