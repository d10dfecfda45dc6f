"""A search's ranked shortlist: candidates drawn from alpha, ranking.csv, the shortlist's winner, export --rank."""

from __future__ import annotations

import json
import math

import pytest

from nni_autotsnet import export as export_cli
from nni_autotsnet.ranking import read_ranking_table
from nni_autotsnet.search import main as search_main
from nni_autotsnet.search_space import load_arch
from nni_autotsnet.shortlist import draw_candidates, ranked_arch

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
                        "search.shortlist=2", "search.shortlist_epochs=1", "data.batch_size=4",
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


def test_the_shortlist_trains_the_top_k_and_its_winner_is_the_search_arch(search_dir):
    table = read_ranking_table(search_dir / "ranking.csv")
    trained = table[table["scratch_acc"].notna()]
    assert list(trained["rank"]) == [1, 2]  # the top 2, trained from scratch
    for digest in trained["arch"]:
        assert (search_dir / "shortlist" / digest / "result.json").is_file()
    result = json.loads((search_dir / "result.json").read_text())
    best = trained.sort_values("scratch_acc", ascending=False, kind="stable").iloc[0]
    assert result["shortlist"]["winner_rank"] == int(best["rank"]) and result["shortlist"]["trained"] == 2
    assert result["shortlist"]["winner_val_acc"] == pytest.approx(best["scratch_acc"])
    arch, _, _ = load_arch(search_dir / "arch.json")
    assert arch == json.loads(best["arch_json"])
    assert result["gflops"] == pytest.approx(best["gflops"])
    assert result["shortlist"]["seconds"] > 0 and not math.isnan(result["seconds"])


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
