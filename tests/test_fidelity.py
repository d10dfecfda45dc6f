"""benchmarks/fidelity.py on made-up tables: the short-then-full search's figures follow from the inputs."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from toys import load_script


@pytest.fixture(scope="module")
def fidelity():
    return load_script("fidelity")


def _truth(n: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    means = np.linspace(70, 90, n)
    seeds = means[:, None] + rng.normal(0, 1, (n, 3))
    frame = pd.DataFrame({"arch": [f"a{i}" for i in range(n)], "top1_s0": seeds[:, 0], "top1_s1": seeds[:, 1],
                          "top1_s2": seeds[:, 2], "val_s0": means[::-1]})  # full validation ranks backwards
    frame["mean"] = seeds.mean(axis=1)
    return frame.set_index("arch")


def _short(truth: pd.DataFrame, val, minutes: float) -> pd.DataFrame:
    return pd.DataFrame({"val_s0": val, "train_minutes": minutes}, index=truth.index)


def test_a_short_training_that_ranks_is_credited(fidelity):
    truth = _truth()
    rows = fidelity.fidelity_rows(truth, {"10": _short(truth, truth["mean"].to_numpy(), 1.0)}, random_minutes=80.0)
    full, short = rows.iloc[0], rows.iloc[1]
    assert full["epochs"] == "full" and full["compute (min)"] == pytest.approx(80.0)
    assert full["tau vs 3-seed means"].startswith("-1.00")  # the made-up full validation ranks backwards
    assert full["pick of all N: test mean"] == pytest.approx(truth["mean"].min())
    assert short["tau vs 3-seed means"].startswith("1.00") and short["precision@3"] == 1.0
    assert short["pick of all N: test mean"] == pytest.approx(truth["mean"].max())
    assert short["compute (min)"] == pytest.approx(8 * 1.0 + 80.0 / 8)  # all 8 short, then the pick in full
    assert short["compute / random search"] == pytest.approx(18.0 / 80.0)
    # at 18 min plain random search affords one full training: its pick is a random architecture,
    # the best one in 1 of 8 orders
    assert short["random curve at that compute"] == pytest.approx(truth["mean"].mean(), abs=0.5)
    assert short["share of random orders at least as good"] == pytest.approx(1 / 8, abs=0.03)


def test_short_trainings_must_cover_the_truth(fidelity):
    truth = _truth()
    partial = _short(truth, truth["mean"].to_numpy(), 1.0).iloc[:5]
    with pytest.raises(SystemExit, match="lack 3 architectures"):
        fidelity.fidelity_rows(truth, {"10": partial}, random_minutes=80.0)
    with pytest.raises(SystemExit, match="no train_minutes"):
        fidelity.fidelity_rows(truth, {"10": _short(truth, 1.0, 1.0).drop(columns="train_minutes")}, random_minutes=80.0)


def test_the_best_m_short_runs_trained_in_full_recover_a_pick_the_short_order_missed(fidelity):
    truth = _truth()
    truth["val_s0"] = truth["mean"]  # here the full validation selects perfectly
    short_val = truth["mean"].to_numpy().copy()
    best, second = np.argsort(short_val)[-1], np.argsort(short_val)[-2]
    short_val[[best, second]] = short_val[[second, best]]  # the short runs put the best architecture second
    rows = fidelity.full_top_rows(truth, {"10": _short(truth, short_val, 1.0)}, random_minutes=80.0, tops=[1, 2])
    one, two = rows.iloc[0], rows.iloc[1]
    assert one["test mean"] == pytest.approx(truth["mean"].iloc[second])
    assert one["share of orders picking the best"] == 0.0
    assert two["test mean"] == pytest.approx(truth["mean"].max()) and two["share of orders picking the best"] == 1.0
    assert (one["compute (min)"], two["compute (min)"]) == pytest.approx((8 + 10.0, 8 + 20.0))
    with pytest.raises(SystemExit, match="--full-top 9"):
        fidelity.full_top_rows(truth, {"10": _short(truth, short_val, 1.0)}, random_minutes=80.0, tops=[9])
