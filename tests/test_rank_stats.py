"""Rank statistics of the ground truth and the supernet modes: bootstrap intervals, precision@k, seed tau, anytime curve."""

from __future__ import annotations

import numpy as np
import pytest

from nni_autotsnet.anytime import anytime_curve, curve_at
from nni_autotsnet.ranking import bootstrap_interval, kendall_tau, noise_ceiling, precision_at_k, seed_tau, tau_interval


def test_tau_interval_holds_the_point_and_narrows_with_more_architectures():
    rng = np.random.default_rng(0)
    widths = []
    for n in (12, 60):
        x = rng.normal(size=n)
        y = x + rng.normal(scale=0.7, size=n)
        interval = tau_interval(x, y, n_resamples=500)
        assert interval.low <= interval.value <= interval.high
        assert interval.value == pytest.approx(kendall_tau(x, y).tau)
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0]
    assert tau_interval(range(10), range(10), n_resamples=200)[1:] == pytest.approx((1.0, 1.0))  # a perfect ranking: no spread
    assert np.isnan(tau_interval([1, 1, 1], [1, 2, 3]).value)  # undefined, not an error


def test_bootstrap_interval_is_seeded_and_resamples_the_pairs_together():
    x = np.arange(20.0)
    a = bootstrap_interval((x, x), lambda p, q: float(np.mean(p - q)), n_resamples=300, seed=3)
    assert (a.value, a.low, a.high) == (0.0, 0.0, 0.0)  # paired: every resample keeps p == q
    b = bootstrap_interval((x,), lambda p: float(np.mean(p)), n_resamples=300, seed=3)
    assert b == bootstrap_interval((x,), lambda p: float(np.mean(p)), n_resamples=300, seed=3)
    assert b.low < 9.5 < b.high


def test_precision_at_k():
    truth = [0.9, 0.8, 0.7, 0.1, 0.2]
    assert precision_at_k(truth, truth, 3) == 1.0
    assert precision_at_k([0.1, 0.2, 0.9, 0.8, 0.7], truth, 3) == pytest.approx(1 / 3)  # only index 2 shared
    assert precision_at_k([0, 0, 0, 1, 1], truth, 2) == 0.0
    with pytest.raises(ValueError, match="k = 6"):
        precision_at_k(truth, truth, 6)


def test_seed_tau_is_the_mean_over_seed_pairs():
    a, b, c = [1, 2, 3, 4], [1, 2, 4, 3], [4, 3, 2, 1]
    expected = (kendall_tau(a, b).tau + kendall_tau(a, c).tau + kendall_tau(b, c).tau) / 3
    assert seed_tau(a, b, c) == pytest.approx(expected)
    assert seed_tau(a, a) == 1.0


def test_noise_ceiling_falls_as_the_seed_noise_grows_against_the_spread_of_the_means():
    rng = np.random.default_rng(1)
    true = rng.normal(80, 5, 16)
    steady = [true + rng.normal(0, 0.1, 16) for _ in range(3)]  # seeds agree: a perfect predictor ranks all pairs
    noisy = [true + rng.normal(0, 8, 16) for _ in range(3)]     # seed noise above the spread of the means
    a, b = noise_ceiling(*steady, draws=300), noise_ceiling(*noisy, draws=300)
    assert a.tau > 0.95 and a.precision_at_3 > 0.9
    assert b.tau < 0.6 and b.low <= b.tau <= b.high
    assert a.within_std == pytest.approx(0.1, rel=0.5) and b.within_std == pytest.approx(8, rel=0.5)
    assert noise_ceiling(*noisy, draws=300) == b  # seeded
    with pytest.raises(ValueError, match="2 complete architectures"):
        noise_ceiling([1, 2], [1, 2])


def test_anytime_curve_rises_to_the_validation_selected_best():
    val = [0.5, 0.9, 0.6, 0.7]     # a search keeps architecture 1 once it has trained it
    test = [0.55, 0.80, 0.95, 0.70]  # ... although architecture 2 tests better (selection is on validation)
    curve, picks = anytime_curve(val, test, [1.0, 2.0, 3.0, 4.0], orders=400)
    assert list(curve["n"]) == [1, 2, 3, 4]
    assert curve["mean"].iloc[0] == pytest.approx(np.mean(test), abs=0.03)  # one training: any of them
    assert curve["mean"].iloc[-1] == pytest.approx(0.80) and (picks[:, -1] == 0.80).all()
    assert curve["minutes"].iloc[-1] == pytest.approx(10.0) and curve["minutes"].is_monotonic_increasing
    assert (curve["low"] <= curve["mean"] + 1e-12).all() and (curve["mean"] <= curve["high"] + 1e-12).all()
    assert curve_at(curve, 5.5) == int(curve[curve["minutes"] <= 5.5]["n"].max()) and curve_at(curve, 0.1) == 1
    with pytest.raises(ValueError):
        anytime_curve([0.1], [0.1, 0.2], [1.0])
