"""The progressive search command on the tiny preset and real generated videos; configs refused before training."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from nni_autotsnet.config import ConfigError, load_config
from nni_autotsnet.search import main
from nni_autotsnet.search_space import PRESET_NAMES, check_arch, load_arch, make_layout, load_preset
from nni_autotsnet.search_space.presets import PRESET_DIR

QUICK = ["search.num_samples=2", "search.rank_candidates=3", "search.epochs={sparse: 1, fusion: 1, all: 1}", "search.metric_samples=8",
         "data.batch_size=4", "data.num_workers=0", "trainer.threads=1"]


@pytest.fixture(scope="module")
def bench(small_bench):
    return small_bench


@pytest.fixture(scope="module")
def search_dir(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    assert main(["--config", "experiments/tiny.yaml", "--out", str(out), f"data.benchmark={bench}", *QUICK]) == 0
    return out


def test_each_part_writes_its_files_and_inherits_the_previous_one(search_dir):
    preset = load_preset("tiny")
    parts = [search_dir / "part1_sparse", search_dir / "part2_fusion", search_dir / "part3_all"]
    fixed: dict = {}
    for part_dir, name in zip(parts, ("sparse", "fusion", "all")):
        for file in ("part.json", "arch.json", "alpha.json", "supernet.pt", "last.ckpt", "metrics.csv",
                     "alpha_history.jsonl"):
            assert (part_dir / file).is_file(), part_dir / file
        info = json.loads((part_dir / "part.json").read_text())
        assert info["parts"] == name and info["fixed"] == fixed  # part i+1 starts from part i's architecture
        arch, preset_name, parts_name = load_arch(part_dir / "arch.json")
        assert (preset_name, parts_name) == ("tiny", name)
        assert {k: arch[k] for k in fixed} == fixed
        check_arch(make_layout(preset, name), arch)  # a full point of this part's space
        searched = set(make_layout(preset, name, fixed).variables())
        alpha = json.loads((part_dir / "alpha.json").read_text())
        assert set(alpha["alpha"]) == searched and searched.isdisjoint(fixed)
        state = torch.load(part_dir / "supernet.pt", weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())
        epochs = [json.loads(line) for line in (part_dir / "alpha_history.jsonl").read_text().splitlines()]
        assert [e["epoch"] for e in epochs] == [0] and set(epochs[0]["probs"]) == searched
        assert all(abs(sum(p for _, p in probs) - 1) < 1e-5 for probs in epochs[0]["probs"].values())
        rows = (part_dir / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("part,epoch") and len(rows) == 2  # one epoch
        assert "health" in rows[0].split(",") and "ess_ratio" in rows[0].split(",")
        fixed = arch
    final, _, _ = load_arch(search_dir / "arch.json")
    assert final == fixed
    result = json.loads((search_dir / "result.json").read_text())
    from nni_autotsnet.search_space import TwoStreamSpace
    space = TwoStreamSpace.from_preset("tiny", parts="all", num_classes=10)
    assert result["gflops"] == pytest.approx(space.flops(final) / 1e9)
    lo, hi = result["flops_window"]
    assert result["in_window"] == (lo <= result["gflops"] <= hi)
    assert 0.0 <= result["accuracy"] <= 1.0
    # each part's health verdict at its last epoch: 'ok' or the problems (one short epoch: not above chance)
    assert list(result["health"]) == ["sparse", "fusion", "all"]
    assert all(flag == "ok" or set(flag.split(",")) <= {"chance", "flat_weights", "alpha_still", "nonfinite"}
               for flag in result["health"].values())
    assert result["healthy"] == all(flag == "ok" for flag in result["health"].values())


def test_a_rerun_reuses_finished_parts(search_dir, bench, capsys):
    before = (search_dir / "arch.json").read_text()
    stamp = (search_dir / "part2_fusion" / "supernet.pt").stat().st_mtime_ns
    assert main(["--config", "experiments/tiny.yaml", "--out", str(search_dir), f"data.benchmark={bench}", *QUICK]) == 0
    out = capsys.readouterr().out
    assert out.count("already finished") == 3
    assert "search health" in out  # read back from the parts' metrics.csv
    assert (search_dir / "arch.json").read_text() == before
    assert (search_dir / "part2_fusion" / "supernet.pt").stat().st_mtime_ns == stamp


def test_a_folder_of_another_preset_is_refused(search_dir, bench, capsys):
    code = main(["--config", "experiments/tiny.yaml", "--out", str(search_dir), f"data.benchmark={bench}",
                 f"preset={PRESET_DIR / 'tiny.yaml'}", *QUICK])
    assert code == 2 and "Use another output folder" in capsys.readouterr().err


def _no_attention_preset(tmp_path):
    data = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())
    data["attention"]["stages"] = []
    path = tmp_path / "noatt.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("override, key", [
    ("search.betta=0.1", "search.betta"),
    ("search.flops_window=[0.009, 0.006]", "search.flops_window"),
    ("search.beta=-0.1", "search.beta"),
    ("search.num_samples=0", "search.num_samples"),
    ("search.num_samples=two", "search.num_samples"),
    ("search.parts=[sparse, fusion, fusion]", "search.parts"),
    ("search.parts=[attention]", "search.parts"),
    ("data.batch_size=0", "data.batch_size"),
    ("trainer.devicez=2", "trainer.devicez"),
])
def test_a_bad_config_fails_before_training_naming_the_key(override, key, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--config", "experiments/tiny.yaml", "--out", str(out), override]) == 2
    err = capsys.readouterr().err
    assert f"'{key}'" in err and "experiments/tiny.yaml" in err
    assert not out.exists()  # nothing ran


def test_a_part_that_names_no_mutable_is_refused(tmp_path):
    preset = _no_attention_preset(tmp_path)
    with pytest.raises(ConfigError, match=r"'search.parts'.*'all' names no mutable"):
        load_config("experiments/tiny.yaml", [f"preset={preset}", "data.preset=tiny"])
    config = load_config("experiments/tiny.yaml", [f"preset={preset}", "data.preset=tiny", "search.parts=[sparse, fusion]"])
    assert [p.name for p in config.search.parts] == ["sparse", "fusion"]


def test_a_config_file_with_an_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("preset: tiny\ndata: {benchmark: b, batchsize: 4}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'data.batchsize'"):
        load_config(path)


@pytest.mark.parametrize("name", ["tiny", "random_tiny", *[n for n in PRESET_NAMES if n != "tiny"]])
def test_shipped_configs_load_and_scale_table2(name):
    config = load_config(f"experiments/{name}.yaml")
    assert [p.name for p in config.search.parts] == ["sparse", "fusion", "all"]
    epochs = [p.epochs for p in config.search.parts]
    assert epochs[0] >= epochs[1] >= epochs[2] >= 1  # Table 2's 800 / 400 / 200, scaled by one factor
    assert config.search.parts[2].arch_lr < config.search.parts[0].arch_lr  # 0.010 vs 0.015
    assert config.data.benchmark is not None or config.data.train is not None


def test_the_search_command_keeps_the_supplements_sgd_recipe():
    """Parsec defaults to the evaluator's optimiser; the search command passes Table 2's SGD explicitly."""
    from nni_autotsnet.search import make_strategy

    config = load_config("experiments/tiny.yaml")
    for index, part in enumerate(config.search.parts, start=1):
        kwargs = make_strategy(config, part, index, {}, num_classes=10)._module_kwargs
        assert kwargs["weight_optimizer"] == "sgd" and kwargs["weight_lr"] == part.weight_lr
        assert kwargs["num_classes"] == 10


def test_search_weight_optimizer_adamw_uses_the_evaluators():
    """search.weight_optimizer=adamw: Parsec takes the evaluator's optimiser, which is AdamW at the part's rate."""
    from nni_autotsnet.module import VideoClassifier
    from nni_autotsnet.search import make_strategy

    config = load_config("experiments/tiny32.yaml")
    assert (config.search.weight_optimizer, config.search.weight_decay) == ("adamw", 0.05)
    part = config.search.parts[0]
    kwargs = make_strategy(config, part, 1, {}, num_classes=10)._module_kwargs
    assert kwargs["weight_optimizer"] == "evaluator" and kwargs.get("weight_lr") is None
    classifier = VideoClassifier(learning_rate=part.weight_lr, weight_decay=0.05, optimizer="adamw")
    classifier.model = torch.nn.Linear(2, 2)
    optimizer = classifier.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["lr"] == pytest.approx(0.003)
    with pytest.raises(ConfigError, match=r"search\.weight_optimizer"):
        load_config("experiments/tiny32.yaml", ["search.weight_optimizer=adam"])


def test_a_config_extends_its_base_key_by_key(tmp_path):
    (tmp_path / "a.yaml").write_text("preset: tiny\ndata: {benchmark: bench, batch_size: 4}\nsearch: {beta: 0.1, "
                                     "flops_window: [0.006, 0.008]}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\ndata: {batch_size: 2}\nrandom: {num_archs: 3}\n")
    config = load_config(tmp_path / "b.yaml")
    assert config.data.batch_size == 2 and config.data.benchmark == tmp_path / "bench"  # kept from the base
    assert config.search.beta == 0.1 and config.random.num_archs == 3
    assert config.random.flops_window == (0.006, 0.008)  # the random baseline shares the search's window
    (tmp_path / "c.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(tmp_path / "c.yaml")


def test_a_part_starts_from_the_previous_parts_supernet(search_dir):
    from nni_autotsnet.strategies import Parsec
    from nni_autotsnet.search_space import TwoStreamSpace
    from nni_autotsnet.supernet import carry_over, inherit_weights, read_part

    part1 = read_part(search_dir / "part1_sparse")
    arch1, _, _ = load_arch(search_dir / "part1_sparse" / "arch.json")
    sliced = inherit_weights(part1, [arch1])[0]
    torch.manual_seed(0)
    space = TwoStreamSpace.from_preset("tiny", parts="fusion", num_classes=10, fixed=arch1)
    Parsec().mutate_model(space)
    fresh = {k: v.clone() for k, v in space.state_dict().items()}
    copied, total = carry_over(part1, arch1, space)
    state = space.state_dict()
    same = [k for k, v in sliced.items() if k in fresh and fresh[k].shape == v.shape]
    assert copied == len(same) and 0 < copied < total
    for key in same:  # the pinned sparse stream goes on with the weights part 1 trained
        assert torch.equal(state[key], sliced[key]), key
    assert any(not torch.equal(fresh[k], sliced[k]) for k in same if sliced[k].is_floating_point())
    for key in set(state) - set(same):  # new blocks (the dense stream, fusion) and reshaped tensors start afresh
        assert torch.equal(state[key], fresh[key]), key
