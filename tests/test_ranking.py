"""How well a supernet ranks architectures: Kendall's tau, batch-norm recalibration, the ranking table, the report.

The tau and the table are checked on hand-made numbers whose answer is known; one real run (a
1-epoch PARSEC part over parts=all on a small generated benchmark, three random architectures)
checks that inherited accuracies come out as fractions and the report reads what is written.
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from nni_autotsnet.ranking import (RANKING_COLUMNS, RankingError, inherited_accuracy, kendall_tau,
                                   read_ranking_table, recalibrate_batchnorm, resolve_part, write_ranking_table)
from nni_autotsnet.report import main as report_main
from nni_autotsnet.results import find_all

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMMANDS = ("search", "train", "evaluate", "export", "random_search", "report", "report_plots", "demo")


def test_the_library_modules_import_no_command():
    """ranking and supernet are libraries: no import of a command module, at the top or inside a function."""
    package = Path(__file__).resolve().parents[1] / "nni_autotsnet"
    for name in ("ranking.py", "supernet.py"):
        tree = ast.parse((package / name).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {f"nni_autotsnet.{c}" for c in COMMANDS} & imported, (name, imported)


# ------------------------------------------------------------------------------------------------
# Kendall's tau on known orderings
# ------------------------------------------------------------------------------------------------
def test_tau_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    x = [0.1, 0.4, 0.2, 0.8, 0.5]
    assert kendall_tau(x, x).tau == pytest.approx(1.0)
    assert kendall_tau(x, [2 * v + 3 for v in x]).tau == pytest.approx(1.0)  # only the order counts
    assert kendall_tau(x, [-v for v in x]).tau == pytest.approx(-1.0)
    tau, p = kendall_tau(list(range(8)), list(range(8)))
    assert tau == pytest.approx(1.0) and p < 0.001  # 8 in agreement: 1/8! by chance, two-sided


def test_tau_counts_concordant_minus_discordant_pairs():
    # one swapped neighbour pair among 4 items: 5 concordant, 1 discordant of 6 pairs -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]).tau == pytest.approx(4 / 6)


def test_tau_drops_missing_values_and_is_nan_when_undefined():
    assert kendall_tau([1, 2, float("nan"), 3], [1, 2, 0, 3]).tau == pytest.approx(1.0)
    assert all(math.isnan(v) for v in kendall_tau([1.0], [2.0]))
    undefined = kendall_tau([1, 2, 3], [5, 5, 5])  # a constant side has no order
    assert all(math.isnan(v) for v in undefined) and str(undefined).startswith("undefined (")
    assert str(kendall_tau([1, 2, 3], [1, 2, 3])) == "1.000 (p = 0.333)"
    with pytest.raises(ValueError, match="3 values against 2"):
        kendall_tau([1, 2, 3], [1, 2])


# ------------------------------------------------------------------------------------------------
# Batch-norm recalibration
# ------------------------------------------------------------------------------------------------
def test_recalibration_replaces_running_statistics_by_the_batches_average():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(2, 3, 1), nn.BatchNorm3d(3))
    model[1].running_mean.fill_(50.0)  # stale statistics, as a supernet's are for one architecture
    model[1].running_var.fill_(50.0)
    model.eval()
    batches = [torch.randn(4, 2, 2, 3, 3) + i for i in range(3)]
    assert recalibrate_batchnorm([model], batches) == 3
    with torch.no_grad():
        features = [model[0](b) for b in batches]
    means = torch.stack([f.mean(dim=(0, 2, 3, 4)) for f in features]).mean(0)
    variances = torch.stack([f.var(dim=(0, 2, 3, 4), unbiased=True) for f in features]).mean(0)
    assert torch.allclose(model[1].running_mean, means, atol=1e-5)
    assert torch.allclose(model[1].running_var, variances, atol=1e-4)
    assert model[1].momentum == 0.1 and not model.training  # settings and mode restored


# ------------------------------------------------------------------------------------------------
# The ranking table and the report
# ------------------------------------------------------------------------------------------------
def _table(inherited, scratch):
    return [{"arch": f"{i:010x}", "gflops": 0.007 + 0.0001 * i, "inherited_acc": a, "scratch_acc": b,
             "scratch_run": f"/runs/{i}"} for i, (a, b) in enumerate(zip(inherited, scratch))]


def test_table_round_trip_and_bad_tables_name_file_and_column(tmp_path):
    path = tmp_path / "ranking.csv"
    write_ranking_table(_table([0.2, 0.5, 0.3], [0.4, 0.9, 0.1]), path)
    frame = read_ranking_table(path)
    assert list(frame.columns) == [*RANKING_COLUMNS, "scratch_run"]
    assert frame["arch"].tolist() == ["0000000000", "0000000001", "0000000002"]  # digests stay text
    assert frame["inherited_acc"].tolist() == [0.2, 0.5, 0.3]
    pd.DataFrame({"arch": ["a"], "gflops": [0.007], "inherited_acc": [0.5]}).to_csv(path, index=False)
    with pytest.raises(RankingError, match="ranking.csv: no column 'scratch_acc'"):
        read_ranking_table(path)
    pd.DataFrame({"arch": ["a"], "gflops": [0.007], "inherited_acc": [0.5], "scratch_acc": [45.0]}).to_csv(
        path, index=False)
    with pytest.raises(RankingError, match="'scratch_acc', row 2: an accuracy must be a fraction"):
        read_ranking_table(path)
    with pytest.raises(RankingError, match="lack the column 'inherited_acc'"):
        write_ranking_table([{"arch": "a", "gflops": 0.1, "scratch_acc": 0.2}], path)


@pytest.mark.parametrize("scratch, tau", [([0.1, 0.2, 0.3, 0.4], 1.0), ([0.4, 0.3, 0.2, 0.1], -1.0)])
def test_report_prints_tau_and_plots_the_scatter(tmp_path, scratch, tau):
    folder = tmp_path / "compare" / "ranking"
    write_ranking_table(_table([0.15, 0.25, 0.35, 0.45], scratch), folder / "ranking.csv")
    out = tmp_path / "report"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert report_main([str(tmp_path / "compare"), "--out", str(out)]) == 0
    printed = buffer.getvalue()
    assert f"Kendall tau {tau:.3f}" in printed and "over 4 architectures" in printed, printed
    png = out / "ranking_ranking.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    page = (out / "report.md").read_text()
    assert "## How well the supernet ranks architectures" in page and f"**{tau:.3f} (p = " in page
    assert "GFLOPs per view (multiply-adds)" in (out / "ranking_ranking.md").read_text()
    # a ranking table given as a file works too, next to other runs
    _, _, rankings = find_all([str(folder / "ranking.csv")])
    assert len(rankings) == 1 and len(rankings[0].frame) == 4


# ------------------------------------------------------------------------------------------------
# One real run: inherited accuracies on a 1-epoch supernet over the whole space
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet(tmp_path_factory, small_bench):
    from nni_autotsnet.config import load_config
    from nni_autotsnet.runtime import build_datasets
    from nni_autotsnet.search import run_search

    bench = small_bench
    config = load_config("experiments/tiny.yaml", [
        f"data.benchmark={bench}", "search.parts=[all]", "search.epochs={all: 1}", "search.num_samples=2", "search.rank_candidates=3",
        "search.metric_samples=8", "data.batch_size=4", "data.num_workers=0", "trainer.threads=1"])
    out = tmp_path_factory.mktemp("ranking_search")
    threads = torch.get_num_threads()
    try:
        run_search(config, out)
    finally:
        torch.set_num_threads(threads)
    return out, build_datasets(config)


def test_inherited_accuracies_of_random_architectures_are_fractions(supernet, tmp_path):
    from nni_autotsnet.search_space import TwoStreamSpace

    search_dir, (train_ds, val_ds) = supernet
    assert resolve_part(search_dir) == search_dir / "part1_all"
    space = TwoStreamSpace.from_preset("tiny", parts="all", num_classes=10)
    archs = []
    for _ in range(3):
        memo: dict = {}
        space.random(memo=memo)
        archs.append(memo)
    state = torch.random.get_rng_state()
    acc = inherited_accuracy(search_dir / "part1_all", archs, train_ds, val_ds, calibration_batches=2, batch_size=4)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state is left alone
    assert len(acc) == 3 and all(0.0 <= a <= 1.0 for a in acc), acc
    assert all(round(a * len(val_ds)) == pytest.approx(a * len(val_ds)) for a in acc)  # per video, not per view
    again = inherited_accuracy(search_dir, archs[:1], train_ds, val_ds, calibration_batches=2, batch_size=4)
    assert again == acc[:1]  # the same calibration batches for every call: a deterministic figure
    path = tmp_path / "ranking.csv"
    write_ranking_table([{"arch": str(i), "gflops": space.flops(a) / 1e9, "inherited_acc": x, "scratch_acc": 0.1 * i}
                         for i, (a, x) in enumerate(zip(archs, acc))], path)
    assert path.is_file() and len(read_ranking_table(path)) == 3
    with pytest.raises(RankingError, match="neither a search part"):
        inherited_accuracy(tmp_path, archs, train_ds, val_ds)
