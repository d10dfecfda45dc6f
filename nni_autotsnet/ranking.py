"""How well a weight-sharing supernet ranks architectures (issue 11 part 3; Yu et al., ICLR 2020).

A one-shot search trusts that an architecture which does well on the supernet's shared weights
also does well when trained from scratch. This module measures that trust:

* :func:`inherited_accuracy`: the accuracy each architecture gets with weights inherited from a
  trained supernet (sliced out by :mod:`nni_autotsnet.supernet`, as the export command does), after
  recalibrating its batch-norm statistics on a few training batches;
* :func:`kendall_tau`: the rank correlation between those accuracies and the from-scratch ones;
* the ranking table (:data:`RANKING_FILE`, one row per architecture) that the comparison script
  writes and ``python -m nni_autotsnet.report`` reads, prints the tau of and plots.

The ranking table is a CSV with the columns :data:`RANKING_COLUMNS`::

    arch            the architecture's digest (nni_autotsnet.search_space.arch.arch_digest: its run folder's name)
    gflops          GFLOPs per view (multiply-adds), closed form
    inherited_acc   accuracy on the supernet's inherited weights, a fraction in [0, 1]
    scratch_acc     test top-1 after training from scratch, a fraction in [0, 1]

and optionally ``scratch_run`` (the training run folder) and ``supernet`` (the part folder).
The module imports no command (search, train, evaluate, export, ...) and imports torch and scipy
only in the functions that need them, so the report reads tables without them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple, Sequence

import pandas as pd

from nni_autotsnet.errors import UserError
from nni_autotsnet.rundir import PART_FILE, RANKING_FILE, part_dirs

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["RANKING_FILE", "RANKING_COLUMNS", "OPTIONAL_COLUMNS", "RankingError", "KendallTau", "kendall_tau",
           "NoiseCeiling", "noise_ceiling", "inherited_accuracy", "recalibrate_batchnorm", "resolve_part", "write_ranking_table",
           "read_ranking_table", "ranking_tau", "Interval", "tau_interval", "precision_at_k", "seed_tau", "bootstrap_interval"]

RANKING_COLUMNS = ("arch", "gflops", "inherited_acc", "scratch_acc")
# scratch_run, supernet: a comparison's; rank, params, probability, latency_ms, arch_json, full_acc (the full
# recipe's validation accuracy of a shortlist's best, search.shortlist_full): a search's shortlist
OPTIONAL_COLUMNS = ("scratch_run", "supernet", "rank", "params", "probability", "latency_ms", "full_acc", "arch_json")


class RankingError(UserError):
    """A ranking table or a supernet source is missing or malformed; the message names the file and column."""


class KendallTau(NamedTuple):
    """Kendall's tau-b and the two-sided p-value of "no association" (NaN where undefined)."""

    tau: float
    pvalue: float

    def __str__(self) -> str:
        if math.isnan(self.tau):
            return "undefined (fewer than two architectures, or one side gives them all the same value)"
        return f"{self.tau:.3f} (p = {self.pvalue:.3g})"


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> KendallTau:
    """Kendall's rank correlation of ``x`` and ``y`` (``scipy.stats.kendalltau``, tau-b: ties allowed).

    1 when the two orderings agree on every pair, -1 when they disagree on every pair. Pairs
    with a missing value (NaN) are dropped; fewer than two pairs, or a constant sequence, give
    NaN for both figures.
    """
    from scipy.stats import kendalltau

    if len(x) != len(y):
        raise ValueError(f"kendall_tau: {len(x)} values against {len(y)}")
    pairs = [(float(a), float(b)) for a, b in zip(x, y) if not (math.isnan(float(a)) or math.isnan(float(b)))]
    if len(pairs) < 2 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return KendallTau(float("nan"), float("nan"))
    result = kendalltau([a for a, _ in pairs], [b for _, b in pairs])
    return KendallTau(float(result.statistic), float(result.pvalue))


class Interval(NamedTuple):
    """A statistic and its bootstrap confidence interval (percentile method)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def bootstrap_interval(samples: Sequence[Sequence[float]], statistic, *, confidence: float = 0.95,
                       n_resamples: int = 2000, seed: int = 0) -> Interval:
    """``statistic(*samples)`` with a bootstrap interval, the architectures resampled (``samples`` paired by index).

    ``scipy.stats.bootstrap`` with ``paired=True`` and the percentile method; resamples whose
    statistic is undefined (NaN: e.g. one side constant) are left out, as scipy does.
    """
    import numpy as np
    from scipy.stats import bootstrap

    arrays = tuple(np.asarray(sample, float) for sample in samples)
    point = float(statistic(*arrays))
    if math.isnan(point):
        return Interval(point, point, point)
    with np.errstate(invalid="ignore"):
        result = bootstrap(arrays, lambda *a: statistic(*a), paired=True, vectorized=False,
                           confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                           rng=np.random.default_rng(seed))
    return Interval(point, float(result.confidence_interval.low), float(result.confidence_interval.high))


def tau_interval(x: Sequence[float], y: Sequence[float], **options: Any) -> Interval:
    """Kendall's tau of ``x`` and ``y`` with its bootstrap interval (:func:`bootstrap_interval`)."""
    return bootstrap_interval((x, y), lambda a, b: kendall_tau(a, b).tau, **options)


def precision_at_k(predicted: Sequence[float], truth: Sequence[float], k: int = 3) -> float:
    """The share of the true top ``k`` (by ``truth``) that ``predicted`` also puts in its top ``k``.

    Ties are broken by position, the same way on both sides, so the figure is reproducible.
    """
    if len(predicted) != len(truth):
        raise ValueError(f"precision_at_k: {len(predicted)} values against {len(truth)}")
    if not 1 <= k <= len(truth):
        raise ValueError(f"precision_at_k: k = {k} with {len(truth)} architectures")

    def top(values: Sequence[float]) -> set[int]:
        return set(sorted(range(len(values)), key=lambda i: (-float(values[i]), i))[:k])

    return len(top(predicted) & top(truth)) / k


def seed_tau(*accuracies: Sequence[float]) -> float:
    """The mean Kendall tau between two training seeds' accuracies over the same architectures.

    ``accuracies[s][a]`` (one argument a seed) is seed ``s``'s accuracy of architecture ``a``. The mean over every pair of
    seeds is how well one training run ranks the architectures as another does: the ceiling that a
    ranking judged against one-seed labels can reach.
    """
    from itertools import combinations

    taus = [kendall_tau(a, b).tau for a, b in combinations(accuracies, 2)]
    taus = [t for t in taus if not math.isnan(t)]
    return sum(taus) / len(taus) if taus else float("nan")


class NoiseCeiling(NamedTuple):
    """What a perfect predictor (the architectures' true means) scores against ``seeds``-seed means."""

    tau: float             #: expected Kendall tau
    low: float             #: its 5th percentile over draws of the seed noise
    high: float            #: its 95th percentile
    precision_at_3: float  #: expected precision@3
    within_std: float      #: the pooled seed-to-seed standard deviation (points)
    between_std: float     #: the standard deviation of the true means over the architectures (points)


def noise_ceiling(*accuracies: Sequence[float], draws: int = 4000, seed: int = 0) -> NoiseCeiling:
    """The best tau and precision@3 any ranking can expect against the seed means of ``accuracies[s][a]``.

    A one-way random-effects model (each seed's accuracy = the architecture's true mean + normal
    seed noise): the pooled within-architecture variance and the between-architecture variance of
    the true means (the variance of the means less the noise that averaging keeps) are estimated
    from the table; then ``draws`` synthetic tables of the same size are drawn and the true means
    ranked against their noisy means. The seed-vs-seed tau (:func:`seed_tau`) compares one seed with
    one seed; this is the figure for the labels a ranking is actually judged against.
    """
    import numpy as np

    table = np.asarray(accuracies, float).T  # architectures x seeds
    table = table[~np.isnan(table).any(axis=1)]
    n, seeds = table.shape
    if n < 3 or seeds < 2:
        raise ValueError(f"noise_ceiling: {n} complete architectures x {seeds} seeds (need >= 3 x 2)")
    within = float(table.var(axis=1, ddof=1).mean())
    between = max(float(table.mean(axis=1).var(ddof=1)) - within / seeds, 0.0)
    rng = np.random.default_rng(seed)
    taus, hits = [], []
    for _ in range(draws):
        true = rng.normal(0.0, math.sqrt(between), n)
        noisy = true + rng.normal(0.0, math.sqrt(within / seeds), n)
        taus.append(kendall_tau(true, noisy).tau)
        hits.append(precision_at_k(noisy, true, min(3, n)))
    return NoiseCeiling(float(np.nanmean(taus)), float(np.nanpercentile(taus, 5)), float(np.nanpercentile(taus, 95)),
                        float(np.mean(hits)), math.sqrt(within), math.sqrt(between))


# ------------------------------------------------------------------------------------------------
# Inherited accuracy
# ------------------------------------------------------------------------------------------------
def resolve_part(source: str | Path) -> Path:
    """The part folder of ``source``: itself when it holds ``part.json``, else a search directory's last part."""
    source = Path(source)
    if (source / PART_FILE).is_file():
        return source
    parts = part_dirs(source)
    if not parts:
        raise RankingError(f"{source}: neither a search part (part.json, supernet.pt) nor a search directory "
                           "with part<i>_<parts>/ folders")
    return parts[-1][2]


def _batchnorms(model: nn.Module) -> list:
    from torch.nn.modules.batchnorm import _BatchNorm

    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recalibrate_batchnorm(models: Sequence[nn.Module], batches: Iterable[torch.Tensor]) -> int:
    """Replace every batch-norm layer's running statistics by their plain average over ``batches``.

    Weights inherited from a supernet come with batch-norm statistics accumulated over many
    different sampled architectures, which fit none of them; re-estimating them on a few
    training batches per architecture is the standard step before evaluating a weight-sharing
    network (Guo et al., Single Path One-Shot; Yu et al., ICLR 2020). Every model sees the same
    batches (forward passes only, no gradient); returns the number of batches used.
    """
    import torch

    layers = [bn for model in models for bn in _batchnorms(model)]
    momenta = [bn.momentum for bn in layers]
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches, not an exponential one
    count = 0
    modes = [model.training for model in models]
    try:
        # only the batch norms in training mode: dropout and drop-path stay off, so the statistics are those of
        # the activations the model sees at evaluation, and the models draw no random numbers
        for model in models:
            model.eval()
        for bn in layers:
            bn.train()
        with torch.no_grad():
            for clips in batches:
                # forked: whatever the models draw leaves the generator that crops the next batch alone, so the
                # batches (and an architecture's figure) do not depend on how many models are calibrated together
                with torch.random.fork_rng(devices=[]):
                    for model in models:
                        model(clips)
                count += 1
    finally:
        for bn, momentum in zip(layers, momenta):
            bn.momentum = momentum
        for model, mode in zip(models, modes):
            model.train(mode)
    return count


def inherited_accuracy(source: Any, archs: Sequence[Mapping[str, Any]], train_data, eval_data, *,
                       calibration_batches: int = 10, batch_size: int = 8, num_workers: int = 0, seed: int = 0,
                       device: str | torch.device = "cpu") -> list[float]:
    """Video-level accuracy of each architecture of ``archs`` on a trained supernet's inherited weights.

    Parameters
    ----------
    source
        The supernet: a search part folder (``part.json`` + ``supernet.pt``, as the search
        command writes it), a search directory (its last part), a
        :class:`nni_autotsnet.supernet.Part`, or a supernet already loaded
        (:func:`nni_autotsnet.supernet.load_supernet`). Every architecture must agree with the
        labels that part pinned; labels beyond the part's space are ignored.
    archs
        Architectures (``{label: value}``), e.g. those of the random search.
    train_data
        A training dataset (items ``(clip [C,T,H,W], label, ...)``): ``calibration_batches``
        batches of it, drawn once from ``seed``, recalibrate every architecture's batch-norm
        statistics (:func:`recalibrate_batchnorm`). The supernet's own running statistics
        mix every sampled architecture, so they are not used.
    eval_data
        The dataset to score on, usually the validation split (the search's own signal) or the
        test split: items ``(views [V,C,T,H,W], label, index)`` (or plain clips). Each video's
        softmax is averaged over its views (:func:`~nni_autotsnet.data.callbacks.average_views`),
        as in evaluation after training from scratch.
    calibration_batches, batch_size, num_workers, seed, device
        Batch-norm recalibration and loading; every architecture sees the same batches, and the
        caller's random state is left as it was.

    Returns
    -------
    list of float
        The accuracy (a fraction) of each architecture, in the order of ``archs``. The data are
        read once: every batch goes through all the models, so the cost is one pass over the
        calibration batches and one over ``eval_data`` however many architectures there are.
    """
    import torch

    from nni_autotsnet.models import build_model
    from nni_autotsnet.search_space import check_arch, load_preset, make_layout
    from nni_autotsnet.supernet import Part, check_pinned, load_supernet, read_part, slice_weights

    if not archs:
        return []
    # building the supernet and the models (their initialisation), the loaders and the datasets draw random
    # numbers: from ``seed``, not from the caller's state
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(source, torch.nn.Module):  # a supernet already loaded (load_supernet, or a search's own)
            supernet, where = source, "the supernet"
            preset, parts, fixed, num_classes = source.preset, source.parts, source.fixed, source.num_classes
        else:
            part = source if isinstance(source, Part) else read_part(resolve_part(source))
            where, preset, parts, fixed, num_classes = (part.path / PART_FILE, part.preset, part.parts, part.fixed,
                                                        part.num_classes)
            for arch in archs:  # every architecture checked before the supernet is built
                check_pinned(fixed, arch, where)
            supernet = load_supernet(part)
        layout = make_layout(load_preset(preset), parts)
        device = torch.device(device)
        models = []
        for i, arch in enumerate(archs):
            full = check_arch(layout, {label: arch.get(label, fixed.get(label)) for label in layout.variables()},
                              source=f"archs[{i}]")
            model = build_model(preset, full, parts=parts, num_classes=num_classes)
            model.load_state_dict(slice_weights(supernet, arch, where))  # copies the slices: the supernet is untouched
            models.append(model.to(device))
        del supernet
        # the calibration clips' random crops and clip starts follow torch's global generator: re-seeded here
        # so they do not depend on how many models were built (one architecture scores alike alone or in a list)
        torch.manual_seed(seed)
        return _score(models, train_data, eval_data, calibration_batches, batch_size, num_workers, seed, device)


def _score(models, train_data, eval_data, calibration_batches, batch_size, num_workers, seed, device) -> list[float]:
    """Recalibrate the models' batch norm on the same training batches, then score each per video."""
    import torch
    from torch.utils.data import DataLoader

    from nni_autotsnet.data.callbacks import VideoLevelAccumulator, average_views

    loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(seed))

    def calibration():
        for i, batch in enumerate(loader):
            if i >= calibration_batches:
                break
            yield batch[0].to(device)

    if recalibrate_batchnorm(models, calibration()) == 0:
        raise RankingError(f"no training batch of {batch_size} clips to recalibrate batch norm: "
                           f"{len(train_data)} training items")
    accumulators = [VideoLevelAccumulator() for _ in models]
    for model in models:
        model.eval()
    start = 0
    with torch.no_grad():
        for batch in DataLoader(eval_data, batch_size=max(1, batch_size), num_workers=num_workers):
            views, labels = batch[0], batch[1]
            indices = batch[2].tolist() if len(batch) > 2 else list(range(start, start + len(labels)))
            start += len(labels)
            if views.dim() == 5:  # plain clips: one view each
                views = views.unsqueeze(1)
            flat = views.flatten(0, 1).to(device)
            for model, accumulator in zip(models, accumulators):
                logits = torch.cat([model(chunk) for chunk in flat.split(batch_size)]).float()
                accumulator.update(average_views(logits, views.shape[1]), labels.tolist(), indices)
    return [accumulator.accuracy() for accumulator in accumulators]


# ------------------------------------------------------------------------------------------------
# The ranking table
# ------------------------------------------------------------------------------------------------
def write_ranking_table(rows: Iterable[Mapping[str, Any]], path: str | Path,
                        columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Write ``rows`` (dicts with :data:`RANKING_COLUMNS`, optionally :data:`OPTIONAL_COLUMNS`) as a ranking CSV.

    ``columns`` names the columns of a table with no rows (its header is still written).
    """
    rows = list(rows)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns or RANKING_COLUMNS))
    missing = [c for c in RANKING_COLUMNS if c not in frame.columns]
    if missing:
        raise RankingError(f"{path}: the rows lack the column {missing[0]!r} (need {list(RANKING_COLUMNS)})")
    frame = frame[[*RANKING_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame.columns)]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)  # whole or not at all: a resumed comparison trusts an existing table
    return frame


def read_ranking_table(path: str | Path) -> pd.DataFrame:
    """A ranking CSV, checked: the columns of :data:`RANKING_COLUMNS`, accuracies in [0, 1] or missing."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"arch": str})
    except (OSError, ValueError) as err:
        raise RankingError(f"{path}: cannot read a ranking table: {err}") from None
    missing = [c for c in RANKING_COLUMNS if c not in frame.columns]
    if missing:
        raise RankingError(f"{path}: no column {missing[0]!r} (a ranking table has {', '.join(RANKING_COLUMNS)})")
    for column in ("gflops", "inherited_acc", "scratch_acc", *(["full_acc"] if "full_acc" in frame.columns else [])):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & values.isna()
        if bad.any():
            raise RankingError(f"{path}: column {column!r}, row {int(bad.idxmax()) + 2}: not a number")
        if column != "gflops" and ((values < 0) | (values > 1)).any():
            row = int(((values < 0) | (values > 1)).idxmax()) + 2
            raise RankingError(f"{path}: column {column!r}, row {row}: an accuracy must be a fraction in [0, 1]")
        frame[column] = values.astype(float)
    return frame


def ranking_tau(frame: pd.DataFrame) -> KendallTau:
    """Kendall's tau of a ranking table: inherited accuracy against from-scratch accuracy."""
    return kendall_tau(list(frame["inherited_acc"]), list(frame["scratch_acc"]))
