"""Random search's anytime curve (Li and Talwalkar 2019): the expected best after n trainings, with a band over orders.

A random search trains architectures one after another and keeps the one with the best
validation accuracy; what it delivers after n trainings is that one's test accuracy. Over random
orders of the trained architectures, :func:`anytime_curve` gives, for n = 1..N, the mean of that
test accuracy and a percentile band, against the compute spent (the first n trainings' minutes),
so a searched model's accuracy at its own compute can be put on the same axes. Pure pandas and
numpy: the comparison script and the tests call it on tables.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["anytime_curve", "curve_at"]


def anytime_curve(val_acc: Sequence[float], test_acc: Sequence[float], minutes: Sequence[float], *,
                  orders: int = 2000, band: float = 0.95, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """The validation-selected best's test accuracy after n = 1..N random trainings, over ``orders`` random orders.

    Parameters
    ----------
    val_acc, test_acc, minutes
        Per architecture: the validation accuracy a random search selects on (one training's),
        the test accuracy it is judged on (e.g. the mean over training seeds) and one training's minutes.
    orders, band, seed
        Random orders drawn (seeded), and the central share of them the band covers.

    Returns
    -------
    (DataFrame, ndarray)
        Columns ``n``, ``minutes`` (mean compute of the first n trainings), ``mean``, ``low``,
        ``high`` (the band); and the ``[orders, N]`` selected test accuracies, for tests at one n.
        Ties in validation accuracy go to the architecture trained first, as a search keeping the
        first best would.
    """
    val, test, cost = (np.asarray(a, dtype=float) for a in (val_acc, test_acc, minutes))
    if not len(val) == len(test) == len(cost) or len(val) == 0:
        raise ValueError(f"anytime_curve: {len(val)}, {len(test)} and {len(cost)} values; need the same number > 0")
    rng = np.random.default_rng(seed)
    count = len(val)
    picks = np.empty((orders, count))
    spent = np.empty((orders, count))
    for i in range(orders):
        order = rng.permutation(count)
        best = -np.inf
        chosen = order[0]
        for n, arch in enumerate(order):
            if val[arch] > best:  # strictly better: the first of equals stays
                best, chosen = val[arch], arch
            picks[i, n] = test[chosen]
        spent[i] = np.cumsum(cost[order])
    tail = (1 - band) / 2
    frame = pd.DataFrame({"n": np.arange(1, count + 1), "minutes": spent.mean(axis=0), "mean": picks.mean(axis=0),
                          "low": np.quantile(picks, tail, axis=0), "high": np.quantile(picks, 1 - tail, axis=0)})
    return frame, picks


def curve_at(curve: pd.DataFrame, minutes: float) -> int:
    """The largest n whose mean compute does not exceed ``minutes`` (at least 1): random search at equal compute."""
    within = curve[curve["minutes"] <= minutes]
    return int(within["n"].max()) if not within.empty else 1
