"""A search's ranked shortlist: candidates drawn from alpha, ranking.csv, the shortlist's winner, export --rank."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from nni_autotsnet import export as export_cli
from nni_autotsnet.config import ConfigError, load_config
from nni_autotsnet.ranking import read_ranking_table
from nni_autotsnet.search import main as search_main
from nni_autotsnet.search_space import load_arch
from nni_autotsnet.shortlist import _shortlist_config, draw_candidates, ranked_arch

ALPHA = {"a": {"values": [1, 2, 3], "probs": [0.7, 0.2, 0.1]}, "b": {"values": ["x", "y"], "probs": [0.5, 0.5]}}


def test_candidates_are_distinct_complete_filtered_and_carry_their_probability():
    drawn = draw_candidates(ALPHA, {"fixed": 7}, n=4, seed=0, accept=lambda arch: arch["a"] != 3)
    archs = [arch for arch, _ in drawn]
    assert len(archs) == 4 and len({json.dumps(a, sort_keys=True) for a in archs}) == 4
    assert all(a["fixed"] == 7 and a["a"] != 3 for a in archs)
    for arch, prob in drawn:
        assert prob == pytest.approx(ALPHA["a"]["probs"][arch["a"] - 1] * 0.5)
    # only 4 architectures pass the filter: asking for more ends after max_draws with those
    assert len(draw_candidates(ALPHA, {}, n=10, seed=0, accept=lambda arch: arch["a"] != 3, max_draws=500)) == 4
    assert draw_candidates(ALPHA, {}, n=3, seed=1) == draw_candidates(ALPHA, {}, n=3, seed=1)  # seeded


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory, small_bench):
    bench = small_bench
    out = tmp_path_factory.mktemp("shortlist")
    assert search_main(["--config", "experiments/tiny.yaml", "--out", str(out), f"data.benchmark={bench}",
                        "search.parts=[all]", "search.epochs={all: 1}", "search.num_samples=2",
                        "search.metric_samples=8", "search.rank_candidates=4", "search.rank_calibration_batches=1",
                        "search.shortlist=2", "search.shortlist_epochs=1", "search.shortlist_full=1",
                        "search.shortlist_train={ema_decay: null}", "train.epochs=2", "train.epoch_scale=1.0",
                        "train.warmup_epochs=0", "train.ema_decay=0.9", "data.batch_size=4",
                        "data.num_workers=0", "trainer.threads=1"]) == 0
    return out


def test_ranking_csv_lists_in_window_candidates_best_first(search_dir):
    table = read_ranking_table(search_dir / "ranking.csv")  # a ranking table the report reads
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert list(table["inherited_acc"]) == sorted(table["inherited_acc"], reverse=True)
    window = json.loads((search_dir / "result.json").read_text())["flops_window"]
    assert all(window[0] <= g <= window[1] for g in table["gflops"])
    assert table["probability"].between(0, 1).all() and (table["params"] > 0).all()
    assert len(set(table["arch"])) == 4


def test_the_shortlist_trains_the_top_k_short_then_its_best_in_full_and_that_is_the_search_arch(search_dir):
    table = read_ranking_table(search_dir / "ranking.csv")
    trained = table[table["scratch_acc"].notna()]
    assert list(trained["rank"]) == [1, 2]  # the top 2, trained from scratch
    for digest in trained["arch"]:
        run = search_dir / "shortlist" / digest
        assert (run / "result.json").is_file()
        short = yaml.safe_load((run / "config.yaml").read_text())["train"]
        assert short["epochs"] == 1 and short["ema_decay"] is None  # search.shortlist_epochs and shortlist_train
    best_short = trained.sort_values("scratch_acc", ascending=False, kind="stable").iloc[0]
    full = table[table["full_acc"].notna()]
    assert list(full["arch"]) == [best_short["arch"]]  # shortlist_full: 1, the best short run
    full_run = search_dir / "shortlist" / "full" / best_short["arch"]
    recipe = yaml.safe_load((full_run / "config.yaml").read_text())["train"]
    assert recipe["epochs"] == 2 and recipe["ema_decay"] == 0.9  # the full recipe, untouched
    assert json.loads((full_run / "result.json").read_text())["val_acc"] == pytest.approx(full["full_acc"].iloc[0])
    result = json.loads((search_dir / "result.json").read_text())
    assert result["shortlist"]["winner_rank"] == int(best_short["rank"]) and result["shortlist"]["trained"] == 2
    assert result["shortlist"]["trained_full"] == 1
    assert result["shortlist"]["winner_val_acc"] == pytest.approx(full["full_acc"].iloc[0])
    arch, _, _ = load_arch(search_dir / "arch.json")
    assert arch == json.loads(best_short["arch_json"])
    assert result["gflops"] == pytest.approx(best_short["gflops"])
    short_seconds = sum(json.loads((search_dir / "shortlist" / d / "result.json").read_text())["seconds"]
                        for d in trained["arch"])
    assert result["shortlist"]["seconds"] > short_seconds  # the full retraining counts in the search's compute
    assert not math.isnan(result["seconds"])


def test_a_temperature_spreads_the_draws_over_a_concentrated_alpha():
    peaked = {"a": {"values": [1, 2, 3], "probs": [0.998, 0.001, 0.001]}}
    cold = draw_candidates(peaked, {}, n=3, seed=0, max_draws=30)
    hot = draw_candidates(peaked, {}, n=3, seed=0, max_draws=30, temperature=1e6)
    assert len(cold) < 3 and len(hot) == 3  # 30 draws of alpha rarely leave its 0.998; nearly uniform ones do
    for arch, prob in hot:  # the probability stays P(arch | alpha), untempered
        assert prob == pytest.approx(peaked["a"]["probs"][arch["a"] - 1])
    assert draw_candidates(ALPHA, {}, n=3, seed=1, temperature=1.0) == draw_candidates(ALPHA, {}, n=3, seed=1)
    with pytest.raises(ValueError, match="temperature"):
        draw_candidates(ALPHA, {}, n=3, temperature=0.0)


@pytest.mark.parametrize("overrides, key, message", [
    (["search.shortlist=2", "search.shortlist_full=3"], "search.shortlist_full", "exceeds search.shortlist"),
    (["search.shortlist_train={ema_decya: null}"], "search.shortlist_train.ema_decya", "not a train key"),
    (["search.shortlist_train={epochs: 5}"], "search.shortlist_train.epochs", "search.shortlist_epochs"),
    (["search.shortlist_train={ema_decay: fast}"], "search.shortlist_train.ema_decay", "expected float"),
    (["search.rank_temperature=0"], "search.rank_temperature", "must be > 0"),
])
def test_bad_shortlist_keys_are_named(overrides, key, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config("experiments/tiny.yaml", overrides)
    assert f"'{key}'" in str(err.value)


def test_the_shortlist_recipe_is_the_train_recipe_with_its_own_keys():
    config = load_config("experiments/tiny.yaml", ["train.ema_decay=0.99", "search.shortlist=1",
                                                   "search.shortlist_epochs=4",
                                                   "search.shortlist_train={ema_decay: null, lr: 0.2}"])
    short = _shortlist_config(config)
    assert short.train.scaled_epochs == 4 and short.train.scaled_warmup_epochs == 3  # warm-up kept shorter
    assert short.train.ema_decay is None and short.train.lr == 0.2
    assert short.data == config.data and short.train.gradient_clip_val == config.train.gradient_clip_val
    assert _shortlist_config(load_config("experiments/tiny.yaml")).train == load_config("experiments/tiny.yaml").train


def test_export_rank_exports_that_row(search_dir, tmp_path):
    arch, row = ranked_arch(search_dir, 3)
    assert export_cli.main([str(search_dir), "--rank", "3", "--weights", "--out", str(tmp_path / "e"),
                            "--latency-runs", "0"]) == 0
    exported, _, _ = load_arch(tmp_path / "e" / "arch.json")
    assert exported == arch and row["rank"] == 3
    assert (tmp_path / "e" / "model.pt").is_file()


def test_export_rank_errors_name_the_file(search_dir, tmp_path, capsys):
    assert export_cli.main([str(search_dir), "--rank", "9", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert str(search_dir / "ranking.csv") in err and "rank 9" in err
    assert export_cli.main([str(tmp_path), "--rank", "1", "--out", str(tmp_path / "f")]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_a_search_whose_alpha_draws_nothing_in_the_window_ends_with_an_empty_ranking(small_bench, tmp_path, capsys):
    # beta 0 (no cost term) and a window no architecture of the space reaches: every draw is rejected
    out = tmp_path / "search"
    assert search_main(["--config", "experiments/tiny.yaml", "--out", str(out), f"data.benchmark={small_bench}",
                        "search.parts=[all]", "search.epochs={all: 1}", "search.num_samples=2", "search.beta=0",
                        "search.flops_window=[0.0001, 0.0002]", "search.metric_samples=8", "search.rank_candidates=4",
                        "search.shortlist=2", "search.shortlist_epochs=1", "data.batch_size=4", "data.num_workers=0",
                        "trainer.threads=1"]) == 0
    table = read_ranking_table(out / "ranking.csv")
    assert table.empty and {"rank", "arch", "inherited_acc", "arch_json"} <= set(table.columns)
    assert "none of the architectures drawn" in capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert result["shortlist"] is None and not result["in_window"]
    assert load_arch(out / "arch.json")[0] == load_arch(out / "part1_all" / "arch.json")[0]  # the most likely one
    assert not (out / "shortlist").exists()


def test_rank_scope_all_draws_every_parts_labels_and_scores_only_what_the_last_supernet_holds(small_bench, tmp_path):
    out = tmp_path / "search"
    assert search_main(["--config", "experiments/tiny.yaml", "--out", str(out), f"data.benchmark={small_bench}",
                        "search.parts=[sparse, all]", "search.epochs={sparse: 1, all: 1}", "search.num_samples=2",
                        "search.metric_samples=8", "search.rank_candidates=12", "search.rank_scope=all",
                        "search.rank_temperature=1000", "search.rank_calibration_batches=1", "search.flops_window=null",
                        "search.beta=0", "data.batch_size=4", "data.num_workers=0", "trainer.threads=1"]) == 0
    table = read_ranking_table(out / "ranking.csv")
    pinned = json.loads((out / "part2_all" / "part.json").read_text())["fixed"]  # part 1's sparse choices
    assert pinned and len(table) == 12
    archs = [json.loads(a) for a in table["arch_json"]]
    held = [all(arch[k] == v for k, v in pinned.items()) for arch in archs]
    assert not all(held)  # candidates vary part 1's labels too
    assert table["inherited_acc"][[not h for h in held]].isna().all()  # no supernet of the search holds those
    assert table["inherited_acc"][held].notna().all()
    assert list(table["probability"]) == sorted(table["probability"], reverse=True)  # ordered by P(arch | alpha)
    part1 = json.loads((out / "part1_sparse" / "alpha.json").read_text())["alpha"]
    assert set(part1) <= set(archs[0])
