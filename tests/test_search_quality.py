"""The search-quality scripts end to end at toy size: ground truth, supernet modes' ranking, the comparison.

``benchmarks/ground_truth.py`` (the random search's architectures, two seeds, EMA on so the raw
weights are evaluated too), ``benchmarks/supernet_ranking.py`` (two modes) on its table, and
``benchmarks/compare_search.py`` (one search with a shortlist) against it. The figures are noise
at this size; the tests check what runs, what is written and that a second run recomputes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from toys import load_script

pytestmark = pytest.mark.slow

CONFIG = "experiments/random_tiny32.yaml"


@pytest.fixture(scope="module")
def quick(small_bench):
    bench = small_bench
    return [f"data.benchmark={bench}", "data.cache=null", "data.batch_size=4", "data.num_workers=0",
            "trainer.threads=1", "train.epochs=1", "train.warmup_epochs=0", "train.eval_views=1",
            "train.ema_decay=0.9", "search.num_samples=2", "search.metric_samples=8", "search.rank_candidates=3",
            "search.rank_calibration_batches=1"]


@pytest.fixture(scope="module")
def truth(quick, tmp_path_factory):
    out = tmp_path_factory.mktemp("truth")
    assert load_script("ground_truth").main(["--config", CONFIG, "--out", str(out), "--archs", "3", "--x3d",
                                         "--train-seeds", "0,1", *quick]) == 0
    return out


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.name in ("result.json", "metrics.json")}


def test_ground_truth_trains_every_architecture_with_every_seed(truth, quick):
    table = pd.read_csv(truth / "archs.csv", dtype={"arch": str})
    assert list(table["arch"])[0] == "x3d" and len(table) == 4
    for column in ("top1_s0", "top1_s1", "raw_top1_s0", "mean", "std", "val_s0", "gflops"):
        assert table[column].notna().all(), column
    assert ((table["mean"] - (table["top1_s0"] + table["top1_s1"]) / 2).abs() < 1e-9).all()
    assert (table["train_minutes"] > 0).all()
    assert sorted(p.stem for p in (truth / "archs").glob("*.json")) == sorted(table["arch"])
    figures = dict(pd.read_csv(truth / "figures.csv").itertuples(index=False))
    assert {"seed_tau", "seed_tau_low", "seed_tau_high", "max_seed_std_points"} <= set(figures)
    before = _mtimes(truth)
    with contextlib.redirect_stdout(io.StringIO()):
        assert load_script("ground_truth").main(["--config", CONFIG, "--out", str(truth), "--archs", "3", "--x3d",
                                             "--train-seeds", "0,1", *quick]) == 0
    assert _mtimes(truth) == before  # nothing retrained or re-evaluated


def test_the_lanes_split_the_units(quick, tmp_path):
    # lane 1 of 2 of one seed x 2 architectures trains only the second; no summary until both lanes are done
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_script("ground_truth").main(["--config", CONFIG, "--out", str(tmp_path), "--archs", "2",
                                      "--train-seeds", "0", "--lane", "1/2", *quick])
    assert len(list((tmp_path / "runs").glob("*/seed0/result.json"))) == 1 and not (tmp_path / "archs.csv").exists()
    assert "1 of 2 units left" in out.getvalue()


def test_supernet_modes_are_ranked_against_the_seed_means(truth, quick, tmp_path):
    summary = tmp_path / "summary"  # the files a results folder keeps, without the runs and checkpoints
    shutil.copytree(truth / "archs", summary / "archs")
    for name in ("archs.csv", "figures.csv"):
        shutil.copy(truth / name, summary / name)
    assert load_script("supernet_ranking").main(["--config", CONFIG, "--truth", str(summary), "--out", str(tmp_path),
                                             "--modes", "uniform,sandwich-distill", "--epochs", "1",
                                             "--calibration-batches", "1", "--score-on", "val", "--score-on", "test",
                                             *quick]) == 0
    modes = pd.read_csv(tmp_path / "modes.csv")
    assert list(modes["mode"]) == ["uniform", "uniform", "sandwich-distill", "sandwich-distill"]
    assert list(modes["scored on"])[:2] == ["the validation split, the config's views", "the test split, the config's test views"]
    on_test = pd.read_csv(tmp_path / "uniform" / "ranking-test-cal1.csv", dtype={"arch": str})
    assert len(on_test) == 3 and on_test["inherited_acc"].between(0, 1).all()
    assert modes["precision@3"].between(0, 1).all() and (modes["supernet minutes"] > 0).all()
    ranking = pd.read_csv(tmp_path / "uniform" / "ranking-cal1.csv", dtype={"arch": str})
    assert len(ranking) == 3 and "x3d" not in set(ranking["arch"])  # the draws of the space only


def test_the_comparison_uses_the_ground_truth_as_random_search(truth, quick, tmp_path):
    args = ["--config", CONFIG, "--truth", str(truth), "--out", str(tmp_path), "--search-seeds", "0",
            "--train-seeds", "0,1", *quick, "search.parts=[all]", "search.epochs={all: 1}", "search.shortlist=1",
            "search.shortlist_epochs=1"]
    assert load_script("compare_search").main(args) == 0
    table = pd.read_csv(tmp_path / "compare.csv")
    assert table["model"].iloc[0] == "searched, search seed 0" and table["n"].iloc[0] == 2
    assert "random, selected by validation accuracy" in set(table["model"])
    curve = pd.read_csv(tmp_path / "anytime.csv")
    assert list(curve["n"]) == [1, 2, 3] and (tmp_path / "anytime.png").is_file()
    assert (tmp_path / "fig2_accuracy_vs_gflops.png").stat().st_size > 10_000  # the supplement's Figure 2 analog
    shortlists = pd.read_csv(tmp_path / "shortlists.csv", dtype={"arch": str})
    assert set(shortlists["search seed"]) == {0} and shortlists["searched"].sum() == 1 and "arch_json" not in shortlists
    (searched,) = (tmp_path / "archs").iterdir()  # the searched architecture, kept beside the table
    assert searched.read_bytes() == (tmp_path / "searches" / "seed0" / "arch.json").read_bytes()
    assert searched.stem == table["architecture"].iloc[0]
    figures = dict(pd.read_csv(tmp_path / "figures.csv").itertuples(index=False))
    assert 0 <= figures["p_random_curve"] <= 1 and figures["search_min_each"] > 0
    assert figures["random_minutes_from_ground_truth"] == 1.0
    before = _mtimes(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert load_script("compare_search").main(args) == 0
    assert _mtimes(tmp_path) == before
    # a summary copied without its runs, from before archs.csv had the minutes: this comparison's own trainings
    bare = tmp_path / "bare"
    bare.mkdir()
    pd.read_csv(truth / "archs.csv").drop(columns="train_minutes").to_csv(bare / "archs.csv", index=False)
    module = load_script("compare_search")
    c = module.SearchComparison(CONFIG, quick, tmp_path, bare, [0], [0, 1])
    _, random, seeds = c.truth_tables()
    minutes, source = c.random_minutes(random, seeds[0])
    assert source.startswith("this comparison") and len(minutes) == 3 and len(set(minutes)) == 1 and minutes[0] > 0


def test_the_shortlists_full_training_of_the_winner_is_its_train_seed_0(truth, quick, tmp_path):
    args = ["--config", CONFIG, "--truth", str(truth), "--out", str(tmp_path), "--search-seeds", "0",
            "--train-seeds", "0,1", *quick, "search.parts=[all]", "search.epochs={all: 1}", "search.shortlist=2",
            "search.shortlist_epochs=1", "search.shortlist_full=1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert load_script("compare_search").main(args) == 0
    (winner,) = (tmp_path / "searches" / "seed0" / "shortlist" / "full").iterdir()
    seed0, seed1 = (tmp_path / "train" / f"searched-s0-seed{t}" for t in (0, 1))
    assert (seed0 / "model.pt").read_bytes() == (winner / "model.pt").read_bytes()  # copied, the same run
    assert json.loads((seed0 / "result.json").read_text())["label"].startswith("full-")
    assert json.loads((seed1 / "result.json").read_text())["label"] == "searched-s0"  # another seed: trained
    assert any(seed0.glob("eval_*/metrics.json"))  # and evaluated as the others are
