"""Figures and the report page of ``python -m nni_autotsnet.report`` (matplotlib, no display needed).

Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through ``pyplot``, so no
window opens, no global state is touched and the Agg canvas writes the PNGs. Every GFLOPs axis
says what the number is: multiply-adds of convolutions, linear layers and matrix products per view.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from nni_autotsnet.results import (GFLOPS_LABEL, RankingTable, SearchRun, TrainRun, comparison_table, health_cell,
                                   table1, to_markdown, train_frame)

__all__ = ["write_report", "plot_fig2", "plot_table1", "plot_alpha", "plot_ranking", "timeline", "fig2_window"]

STYLE = {"searched": dict(color="tab:red", marker="*", ms=15), "x3d": dict(color="tab:blue", marker="s", ms=8),
         "random": dict(color="0.45", marker="o", ms=7)}
WINDOW = dict(color="tab:green", alpha=0.15, lw=0)


def fig2_window(given: tuple[float, float] | None, searches: list[SearchRun],
                trains: list[TrainRun]) -> tuple[tuple[float, float] | None, str]:
    """Figure 2's FLOPs window and where it comes from: ``--window``, else a config's random or search window."""
    if given:
        return given, "--window"
    for key, configs in (("random", [r.config for r in trains] + [r.config for r in searches]),
                         ("search", [r.config for r in searches])):
        windows = Counter(tuple(float(v) for v in c[key]["flops_window"]) for c in configs
                          if isinstance(c.get(key), dict) and c[key].get("flops_window"))
        if windows:
            note = f", the most common of {len(windows)}" if len(windows) > 1 else ""
            return windows.most_common(1)[0][0], f"{key}.flops_window of config.yaml{note}"
    return None, "none known (pass --window lo,hi)"


def timeline(run: SearchRun) -> dict:
    """A search's epochs across its parts: metrics on one x axis, part boundaries, most likely values.

    Returns ``metrics`` (with a global ``x``), ``parts`` ((name, first x, epochs) in order),
    ``labels``, ``choice`` (labels x epochs: index of the most likely value, NaN where a label is
    not searched) and ``final`` (label -> "value (p)" at the last epoch it was searched).
    """
    metrics = run.metrics
    has_parts = {"part", "epoch"} <= set(metrics.columns)
    if has_parts:
        metrics = metrics.drop_duplicates(["part", "epoch"], keep="last").copy()
    names = list(dict.fromkeys([p for p, _ in run.alpha] + (list(metrics["part"]) if has_parts else [])))
    alpha = dict(run.alpha)
    parts, start = [], 0
    for name in names:
        rows = metrics[metrics["part"] == name] if has_parts else metrics.iloc[:0]
        epochs = max(len(alpha.get(name, [])), int(rows["epoch"].max()) + 1 if len(rows) else 0)
        parts.append((name, start, epochs))
        start += epochs
    offsets = {name: first for name, first, _ in parts}
    if has_parts:
        metrics["x"] = metrics["part"].map(offsets) + metrics["epoch"]
    labels = list(dict.fromkeys(label for _, records in run.alpha for r in records for label in r["probs"]))
    choice = np.full((len(labels), start), np.nan)
    final = {}
    for name, records in run.alpha:
        for x, record in enumerate(records, start=offsets[name]):
            for label, pairs in record["probs"].items():
                probs = [float(p) for _, p in pairs]
                best = int(np.argmax(probs))
                choice[labels.index(label), x] = best
                final[label] = f"{pairs[best][0]} ({probs[best]:.2f})"
    return {"metrics": metrics, "parts": parts, "labels": labels, "choice": choice, "final": final}


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    return path


def plot_fig2(frame: pd.DataFrame, table: pd.DataFrame, window: tuple[float, float] | None, path: Path) -> Path:
    """Supplement Figure 2's analog: accuracy against GFLOPs per view, mean ± std over seeds, window shaded."""
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    if window:
        ax.axvspan(*window, **WINDOW, label=f"FLOPs window [{window[0]:g}, {window[1]:g}]")
    groups = table[table["label"] != "best of random"]
    labels = sorted(set(groups["label"]), key=lambda l: (l != "random", l))  # random first: drawn underneath
    for i, label in enumerate(labels):
        style = STYLE.get(label, dict(color=f"C{(i + 4) % 10}", marker="D", ms=8))
        g = groups[groups["label"] == label]
        repeated = set(g.loc[g["n"] > 1, "architecture"])
        seeds = frame[(frame["label"] == label) & frame["architecture"].isin(repeated)]
        if not seeds.empty:  # the single seeds, faint, behind their mean
            ax.scatter(seeds["gflops"], seeds["accuracy"], s=14, color=style["color"], alpha=0.35, zorder=2, lw=0)
        lo, hi = int(g["n"].min()), int(g["n"].max())
        text = f"{label} ({len(g)} architectures)" if len(g) > 1 else label
        text += "" if hi == 1 else f", mean ± std over {hi} seeds" if lo == hi else f", mean ± std over {lo}-{hi} seeds"
        ax.errorbar(g[GFLOPS_LABEL], g["top-1 mean (%)"], yerr=g["top-1 std (%)"].fillna(0), ls="none",
                    capsize=4, zorder=3, label=text, mec="black", mew=0.6, **style)
        if label != "random":
            for x, y in zip(g[GFLOPS_LABEL], g["top-1 mean (%)"]):
                ax.annotate(f"{y:.1f}%", (x, y), xytext=(8, 4), textcoords="offset points", fontsize=9,
                            color=style["color"])
    best = table[table["label"] == "best of random"]
    if not best.empty:
        ax.axhline(best["top-1 mean (%)"].iloc[0], color="0.45", ls="--", lw=1,
                   label=f"best of random: {best['top-1 mean (%)'].iloc[0]:.1f}%")
    sources = frame.groupby("source", sort=True)["label"].unique()
    ax.set_ylabel(f"{sources.index[0]} accuracy (%)" if len(sources) == 1 else "accuracy (%)\n" + "\n".join(
        f"{', '.join(labels)}: {source}" for source, labels in sources.items()))
    ax.set_xlabel(GFLOPS_LABEL)
    ax.set_title("Searched vs. random architectures trained from scratch (supplement Fig. 2 analog)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return _save(fig, path)


def plot_table1(table: pd.DataFrame, searches: list[SearchRun], path: Path) -> Path:
    """Supplement Table 1's analog: searched GFLOPs (left) and accuracy (right) against beta, window band."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax_acc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    gcol = "searched, " + GFLOPS_LABEL
    windows = {r.window for r in searches if r.beta > 0 and r.window}
    if len(windows) == 1:
        lo, hi = next(iter(windows))
        ax.axhspan(lo, hi, **WINDOW, label=f"FLOPs window [T_min, T_max] = [{lo:g}, {hi:g}]")
    else:  # windows differ: one bar per search
        for r in searches:
            if r.beta > 0 and r.window:
                ax.vlines(r.beta, *r.window, lw=10, color="tab:green", alpha=0.2)
    inside = table["in window"].eq(True)
    ax.scatter(table.loc[inside, "beta"], table.loc[inside, gcol], s=60, color="tab:red", zorder=3,
               label="searched (most likely) arch, in window")
    ax.scatter(table.loc[~inside, "beta"], table.loc[~inside, gcol], s=60, facecolor="white", edgecolor="tab:red",
               lw=1.5, zorder=3, label="searched arch, outside window (or none)")
    expected = "expected under alpha, " + GFLOPS_LABEL
    ax.scatter(table["beta"], table[expected], marker="x", color="0.4", zorder=3, label="expected under alpha")
    means = table.groupby("beta")[gcol].mean()
    ax.plot(means.index, means.values, color="tab:red", lw=1, alpha=0.6)
    accs = table.groupby("beta")["val acc, most likely arch on the supernet (%)"].mean()
    ax_acc.plot(accs.index, accs.values, color="tab:purple", lw=1, alpha=0.6)
    ax_acc.scatter(table["beta"], table["val acc, most likely arch on the supernet (%)"], color="tab:purple",
                   zorder=3)
    for a in (ax, ax_acc):
        a.set_xticks(sorted(set(table["beta"])))
        a.set_xlabel("cost coefficient beta (0: no FLOPs constraint)")
        a.grid(alpha=0.3)
        if table["beta"].nunique() == 1:
            a.set_xlim(table["beta"].iloc[0] - 0.05, table["beta"].iloc[0] + 0.05)
    ax.set_ylabel(GFLOPS_LABEL)
    ax.set_title("Searched GFLOPs against beta (supplement Table 1 analog)")
    ax.legend(fontsize=8, loc="best")
    ax_acc.set_ylabel("val accuracy (%), most likely arch, supernet weights")
    ax_acc.set_title("Search accuracy against beta")
    return _save(fig, path)


def _spans(xs: Sequence[float]) -> list[tuple[float, float]]:
    """Contiguous runs of integer x as (start, end) edges, for shading epochs."""
    spans: list[list[float]] = []
    for x in sorted(xs):
        if spans and x - spans[-1][1] <= 1.5:
            spans[-1][1] = x + 0.5
        else:
            spans.append([x - 0.5, x + 0.5])
    return [(a, b) for a, b in spans]


def plot_alpha(run: SearchRun, path: Path) -> Path:
    """One search over its parts: entropy; expected and most likely GFLOPs against the window; most likely values."""
    tl = timeline(run)
    m, labels = tl["metrics"], tl["labels"]
    heights = [1.4, 1.8] + ([max(2.0, 0.2 * len(labels))] if labels else [])
    fig = Figure(figsize=(11, sum(heights) + 1.8), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    window, beta = run.window, run.beta
    lines = dict(marker="o", ms=3) if len(m) <= 60 else {}
    has_x = "x" in m.columns
    segments = [m[m["part"] == name] for name, _, _ in tl["parts"]] if has_x else []  # one line per part
    for seg in segments:
        if "entropy" in seg:
            axes[0].plot(seg["x"], seg["entropy"], color="black", **lines)
    axes[0].set_ylabel("entropy of alpha\n(nats, sum over labels)")
    if window:
        axes[1].axhspan(*window, **WINDOW, hatch=None if beta > 0 else "//",
                        label="FLOPs window" if beta > 0 else "window (not enforced: beta = 0)")
    for column, style, text in (("expected_gflops", dict(color="tab:orange"), "expected under alpha"),
                                ("ml_gflops", dict(color="tab:red", ls="--"), "most likely architecture")):
        for i, seg in enumerate(segments):
            if column in seg:
                axes[1].plot(seg["x"], seg[column], label=text if i == 0 else None, **style, **lines)
    axes[1].set_ylabel(GFLOPS_LABEL.replace(" per", "\nper"))
    if has_x and "alpha_frozen" in m:
        for i, (a, b) in enumerate(_spans(m.loc[m["alpha_frozen"] > 0, "x"])):
            for ax in axes[:2]:
                ax.axvspan(a, b, color="0.85", zorder=0, label="alpha frozen (warm-up)" if i == 0 and ax is axes[1]
                           else None)
    axes[1].legend(fontsize=8, loc="best")
    top = blended_transform_factory(axes[0].transData, axes[0].transAxes)
    for index, (name, first, epochs) in enumerate(tl["parts"], start=1):
        for ax in axes:
            if first > 0:
                ax.axvline(first - 0.5, color="black", ls=":", lw=1.2)
        axes[0].text(first + epochs / 2 - 0.5, 1.03, f"part {index}: {name}", transform=top, ha="center",
                     fontsize=9)
    if labels:
        ax = axes[2]
        nmax = max(2, int(np.nanmax(tl["choice"])) + 1 if np.isfinite(tl["choice"]).any() else 2)
        cmap = ListedColormap([f"C{i % 10}" for i in range(nmax)]).with_extremes(bad="0.93")
        n_x = tl["choice"].shape[1]
        image = ax.imshow(np.ma.masked_invalid(tl["choice"]), aspect="auto", interpolation="nearest", cmap=cmap,
                          vmin=-0.5, vmax=nmax - 0.5, extent=(-0.5, n_x - 0.5, len(labels) - 0.5, -0.5))
        size = 8 if len(labels) <= 40 else 6
        ax.set_yticks(range(len(labels)), labels, fontsize=size)
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(range(len(labels)), [tl["final"].get(l, "") for l in labels], fontsize=size)
        ax.hlines(np.arange(len(labels) - 1) + 0.5, -0.5, n_x - 0.5, color="white", lw=0.5)
        ax.set_title("most likely value of each label per epoch; right: the final one (its probability)",
                     fontsize=9)
        fig.colorbar(image, ax=ax, location="bottom", ticks=range(nmax), shrink=0.5, aspect=40,
                     label="index of the most likely value (0 = first candidate); grey: not searched in that part")
    else:
        axes[1].set_title("no alpha_history.jsonl in this search's part folders: no per-label panel", fontsize=9)
    axes[-1].set_xlabel("epoch, parts one after another (dotted: part boundary)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    state = ("no window" if not window else
             f"window [{window[0]:g}, {window[1]:g}], searched {run.result['gflops']:.4g} "
             f"({'in' if run.result.get('in_window') else 'outside'})")
    fig.suptitle(f"{run.name}: PARSEC search, beta = {beta:g}, {state} GFLOPs per view", fontsize=11)
    return _save(fig, path)


def plot_ranking(table: RankingTable, path: Path) -> Path:
    """Inherited (supernet) against from-scratch accuracy, one point per architecture, Kendall's tau in the title.

    Points are coloured by GFLOPs per view, so a ranking that only follows size shows as a colour gradient.
    """
    from nni_autotsnet.ranking import ranking_tau

    frame = table.frame.dropna(subset=["inherited_acc", "scratch_acc"])
    tau, p = ranking_tau(table.frame)
    shown = f"{tau:.3f} (p = {p:.3g})" if not math.isnan(tau) else "undefined"
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    points = ax.scatter(100 * frame["inherited_acc"], 100 * frame["scratch_acc"], c=frame["gflops"], cmap="viridis",
                        s=60, edgecolors="black", linewidths=0.6, zorder=3)
    if frame["gflops"].notna().any():
        fig.colorbar(points, ax=ax, label=GFLOPS_LABEL)
    for _, row in frame.iterrows():
        ax.annotate(str(row["arch"])[:6], (100 * row["inherited_acc"], 100 * row["scratch_acc"]), xytext=(5, 3),
                    textcoords="offset points", fontsize=7, color="0.35")
    ax.set_xlabel("accuracy on the supernet's inherited weights, batch norm recalibrated (%)")
    ax.set_ylabel("test top-1 trained from scratch (%)")
    ax.set_title(f"How well the supernet ranks: Kendall tau = {shown}, {len(frame)} architectures",
                 fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _ranking_section(table: RankingTable, out: Path) -> tuple[str, list[tuple[Path, str]]]:
    """The report's section on one ranking table, its markdown file and its scatter plot."""
    from nni_autotsnet.ranking import ranking_tau

    tau = ranking_tau(table.frame)
    n = int((table.frame["inherited_acc"].notna() & table.frame["scratch_acc"].notna()).sum())
    shown = table.frame.sort_values("inherited_acc", ascending=False, kind="stable").rename(columns={
        "arch": "architecture", "gflops": GFLOPS_LABEL, "inherited_acc": "inherited acc (%)",
        "scratch_acc": "from-scratch test top-1 (%)"})
    for column in ("inherited acc (%)", "from-scratch test top-1 (%)"):
        shown[column] = 100 * shown[column]
    text = (f"Kendall tau between the accuracy of each architecture on the supernet's inherited weights (batch "
            f"norm recalibrated on training batches) and its test top-1 trained from scratch: **{tau}**, "
            f"{n} architectures (1: the supernet orders them as training from scratch does, 0: no relation, "
            f"-1: the reverse). Table: `{table.path}`.\n\n"
            + to_markdown(shown, drop=("path", "scratch_run", "supernet")) + "\n")
    md, png = out / f"ranking_{table.name}.md", out / f"ranking_{table.name}.png"
    md.write_text(text)
    plot_ranking(table, png)
    return text, [(md, f"supernet ranking, Kendall tau {tau.tau:.3f} (markdown)"),
                  (png, "inherited against from-scratch accuracy, one point per architecture")]


def write_report(searches: list[SearchRun], trains: list[TrainRun], out: Path, *,
                 window: tuple[float, float] | None = None, protocol: str | None = None,
                 rankings: Sequence[RankingTable] = ()) -> list[tuple[Path, str]]:
    """Write the tables, figures and ``report.md`` into ``out``; return (path, what it is) for each file."""
    written: list[tuple[Path, str]] = []
    page = ["# Auto-TSNet report", "",
            f"{len(searches)} search directories, {len(trains)} training runs, {len(rankings)} ranking tables. "
            "GFLOPs are multiply-adds of convolutions, linear layers and matrix products per single view; "
            "accuracies in percent.", ""]
    if trains:
        frame = train_frame(trains, protocol)
        table = comparison_table(frame)
        fig_window, source = fig2_window(window, searches, trains)
        table.to_csv(out / "comparison.csv", index=False)
        lines = [f"Trained from scratch: mean ± std (ddof 1) over the seeds of one architecture, n seeds. "
                 f"FLOPs window: {list(fig_window) if fig_window else '-'} ({source})."]
        best, searched = table[table["label"] == "best of random"], table[table["label"] == "searched"]
        if not best.empty:
            lines.append(f"Best of {int((table['label'] == 'random').sum())} random architectures: "
                         f"{best['top-1 (%)'].iloc[0]}% ({best['architecture'].iloc[0]}, n = {best['n'].iloc[0]}).")
            for _, row in searched.iterrows():
                gap = row["top-1 mean (%)"] - best["top-1 mean (%)"].iloc[0]
                lines.append(f"Searched {row['architecture']}: {row['top-1 (%)']}% (n = {row['n']}), "
                             f"{gap:+.2f} points against the best random one.")
        text = "\n\n".join(lines) + "\n\n" + to_markdown(table) + "\n"
        (out / "comparison.md").write_text(text)
        png = plot_fig2(frame, table, fig_window, out / "fig2_accuracy_vs_gflops.png")
        written += [(out / "comparison.md", "comparison table (markdown)"), (out / "comparison.csv", "same, CSV"),
                    (png, "Figure 2 analog: accuracy against GFLOPs per view")]
        page += ["## Searched vs. random architectures (supplement Figure 2)", "", f"![Figure 2]({png.name})", "",
                 text]
    if searches:
        t1 = table1(searches)
        t1.to_csv(out / "table1_beta.csv", index=False)
        text = ("Searched architecture (most likely under alpha) per search. T_min, T_max where beta > 0; at beta = 0 "
                "the window is not enforced, and 'in window' compares with the config's window all the same. "
                "Accuracy: validation accuracy of that architecture on the supernet's weights. Search health: "
                "the search's own check at the last epoch of each part; WARNING names the parts whose supernet had "
                "not learned (chance: accuracy not above chance; flat_weights: flat importance weights; "
                "alpha_still: alpha still uniform; nonfinite: the loss diverged), whose architecture follows "
                "noise rather than the data.\n\n"
                + to_markdown(t1) + "\n")
        (out / "table1_beta.md").write_text(text)
        png = plot_table1(t1, searches, out / "table1_beta_vs_gflops.png")
        written += [(out / "table1_beta.md", "Table 1 analog (markdown)"), (out / "table1_beta.csv", "same, CSV"),
                    (png, "beta against searched GFLOPs per view")]
        page += ["## FLOPs constraint: beta against searched GFLOPs (supplement Table 1)", "", text,
                 f"![Table 1]({png.name})", "", "## Searches epoch by epoch", ""]
        for run in searches:
            png = plot_alpha(run, out / f"alpha_{run.name}.png")
            written.append((png, f"search {run.path}: entropy, GFLOPs, most likely values per epoch"))
            health = health_cell(run.result)
            flag = f", search health {health}" if health != "-" else ""
            page += [f"### {run.name} (beta = {run.beta:g}{flag}, `{run.path}`)", "", f"![{run.name}]({png.name})", ""]
    if rankings:
        page += ["## How well the supernet ranks architectures", ""]
    for table in rankings:
        text, files = _ranking_section(table, out)
        written += files
        page += [f"### {table.name}", "", f"![ranking {table.name}]({files[1][0].name})", "", text]
    (out / "report.md").write_text("\n".join(page))
    written.append((out / "report.md", "everything above on one page"))
    return written
