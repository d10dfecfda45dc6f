"""``benchmarks/compare_tiny.py`` end to end at toy size, then again: every unit is skipped, the table comes back.

Toy size: one search seed, two train seeds (so the retraining of the selected random architecture
and every mean ± std, Welch p and spread runs), three random architectures, one epoch everywhere,
one test view, the small generated benchmark. The figures are noise at this size; the test checks
the plumbing: what runs, what is written, what a second run recomputes (nothing).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from nni_autotsnet.ranking import RANKING_COLUMNS, read_ranking_table

from toys import load_script

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["search.num_samples=2", "search.rank_candidates=3", "search.epochs={sparse: 1, fusion: 1, all: 1}", "search.metric_samples=8",
         "train.epochs=1", "train.epoch_scale=1.0", "train.warmup_epochs=0", "train.eval_views=1",
         "data.batch_size=4", "data.num_workers=0", "trainer.threads=1", "random.port=18778"]
RESULT_FILES = ("result.json", "metrics.json", "model.pt", "supernet.pt", "random.csv", "ranking.csv", "arch.json")


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.name in RESULT_FILES}


@pytest.fixture(scope="module")
def compare(tmp_path_factory, small_bench):
    script = load_script("compare_tiny")
    bench = small_bench
    out = tmp_path_factory.mktemp("compare") / "out"
    argv = ["--config", str(ROOT / "experiments" / "random_tiny.yaml"), "--search-seeds", "0", "--train-seeds", "0,1",
            "--random", "3", "--out", str(out), f"data.benchmark={bench}", *QUICK]
    threads = torch.get_num_threads()
    runs = []
    try:
        # first in two lanes as two processes would share the work (--only), then the whole again
        for lanes in ([["--only", "parsec,x3d"], ["--only", "random,ranking"]], [[]]):
            before = _mtimes(out) if out.exists() else {}
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                for lane in lanes:
                    assert script.main([*lane, *argv]) == 0
            runs.append({"printed": buffer.getvalue(), "before": before, "after": _mtimes(out)})
    finally:
        torch.set_num_threads(threads)
    return script, out, runs


def test_every_model_is_trained_and_evaluated_with_its_seeds(compare):
    _, out, _ = compare
    assert (out / "searches" / "seed0" / "result.json").is_file()
    assert (out / "ranking" / "supernet" / "part1_all" / "supernet.pt").is_file()  # one part over the whole space
    assert json.loads((out / "ranking" / "supernet" / "part1_all" / "part.json").read_text())["parts"] == "all"
    train = sorted(p.name for p in (out / "train").iterdir())
    # the selected random architecture's seed 0 is its random-search run, so only seed 1 is retrained
    assert train == ["random-seed1", "searched-s0-seed0", "searched-s0-seed1", "x3d-seed0", "x3d-seed1"]
    random_runs = sorted((out / "random" / "runs").iterdir())
    assert len(random_runs) == 3
    for run in [*(out / "train").iterdir(), *random_runs]:
        assert (run / "eval_1-Center" / "metrics.json").is_file(), run
    for t in (0, 1):
        assert json.loads((out / "train" / f"x3d-seed{t}" / "result.json").read_text())["seed"] == t


def test_the_table_has_one_row_per_model_and_the_issue_s_columns(compare):
    script, out, _ = compare
    table = pd.read_csv(out / "compare.csv")
    assert list(table.columns) == script.TABLE_COLUMNS
    assert "GFLOPs per view (multiply-adds)" in table.columns
    rows = {model: row for model, row in zip(table["model"], table.to_dict("records"))}
    assert list(rows) == ["PARSEC searched, search seed 0", "PARSEC searched, all 1 searches",
                          "random, selected by validation accuracy", "X3D-like (in the space)",
                          "random, best by test accuracy (an oracle, for scale)",
                          "random, all 3 architectures (one seed each; std across architectures)"]
    assert [rows[m]["n"] for m in rows] == [2, 2, 2, 2, 1, 3]
    assert rows["random, selected by validation accuracy"]["seeds"] == "0 1"
    for model in ("PARSEC searched, search seed 0", "X3D-like (in the space)"):
        assert 0 <= rows[model]["Welch p vs selected random"] <= 1 or pd.isna(rows[model]["Welch p vs selected random"])
        assert 1 <= rows[model]["rank among random"] <= 4
    assert rows["PARSEC searched, all 1 searches"]["compute (min)"] > 0
    assert rows["random, selected by validation accuracy"]["compute (min)"] > 0

    # the spread figures, recomputed from the evaluations
    random_top1 = [100 * json.loads((run / "eval_1-Center" / "metrics.json").read_text())["top1"]
                   for run in (out / "random" / "runs").iterdir()]
    figures = dict(pd.read_csv(out / "compare_figures.csv").itertuples(index=False))
    assert figures["random_span_points"] == pytest.approx(max(random_top1) - min(random_top1))
    x3d = [100 * json.loads((out / "train" / f"x3d-seed{t}" / "eval_1-Center" / "metrics.json").read_text())["top1"]
           for t in (0, 1)]
    assert figures["x3d_seed_std_points"] == pytest.approx(pd.Series(x3d).std(ddof=1))
    assert figures["parsec_search_min"] > 0 and figures["random_search_min"] > 0
    assert figures["goal_met"] in (0.0, 1.0) and figures["ranking_archs"] == 3

    page = (out / "compare.md").read_text()
    assert "| model | architecture | GFLOPs per view (multiply-adds) |" in page
    assert "Kendall tau" in page and "span" in page and "report/fig2_accuracy_vs_gflops.png" in page
    assert (out / "report" / "fig2_accuracy_vs_gflops.png").is_file()
    assert (out / "report" / "ranking_ranking.png").is_file()


def test_the_ranking_table_covers_every_random_architecture(compare):
    _, out, runs = compare
    ranking = read_ranking_table(out / "ranking" / "ranking.csv")
    assert list(ranking.columns[:4]) == list(RANKING_COLUMNS)
    assert sorted(ranking["arch"]) == sorted(p.name for p in (out / "random" / "runs").iterdir())
    assert ranking["inherited_acc"].between(0, 1).all() and ranking["scratch_acc"].between(0, 1).all()
    # paths relative to the table's folder: a committed table names no machine
    assert not any(Path(p).is_absolute() for p in [*ranking["scratch_run"], *ranking["supernet"]])
    assert all((out / "ranking" / p / "arch.json").is_file() for p in ranking["scratch_run"])
    assert all((out / "ranking" / p / "supernet.pt").is_file() for p in ranking["supernet"])
    assert "Kendall tau" in runs[-1]["printed"]  # the report printed it (the table needs every lane: the full run)


def test_a_second_run_recomputes_nothing(compare):
    _, out, runs = compare
    first, second = runs
    assert first["after"] and second["before"] == first["after"]
    assert second["after"] == second["before"]  # no result file rewritten
    progress = [line for line in second["printed"].splitlines() if line.startswith("[compare ")]
    total = int(progress[0].split("/")[1].split("]")[0])
    assert total == 17 and len(progress) == total
    assert all("done before, skipped" in line for line in progress)
    assert "(0.0 min elapsed)" in progress[0]
    first_progress = [line for line in first["printed"].splitlines() if line.startswith("[compare ")]
    assert not any("skipped" in line for line in first_progress)
    assert len(first_progress) == total  # the lanes' groups split the units: each ran once, in one lane
    assert first["printed"].count("run again without --only for the table") == 2
