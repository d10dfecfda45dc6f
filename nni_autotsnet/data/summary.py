"""What ``data check`` says about a split at a glance: counts, classes, codecs, rates, sizes, durations.

:func:`summarize` turns the per-video outcomes of a split (:class:`~.check.CheckResult`) into a
plain dict (the ``--json`` file holds the same), :func:`format_summary` into a few lines, and
:func:`class_warnings` says when validation or test holds a class that training does not.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

__all__ = ["summarize", "format_summary", "class_warnings"]

_LISTED = 3  # files named per problem in the text (the JSON lists them all)


def _range(values: Sequence, key=None, top: int = 3) -> dict[str, Any]:
    """min, max and the ``top`` most common values with their counts (``None`` without values)."""
    if not values:
        return {"min": None, "max": None, "most_common": []}
    ordered = sorted(values, key=key)
    return {"min": ordered[0], "max": ordered[-1], "most_common": [list(p) for p in Counter(values).most_common(top)]}


def summarize(split: str, source: str, results: Sequence, classes: Sequence[str] | None, span: int) -> dict[str, Any]:
    """The summary of one split: ``results`` are its videos' :class:`~.check.CheckResult`, in list order.

    ``span`` is the frames one clip covers (``(num_frames - 1) * stride + 1``): a video with fewer
    frames is counted as shorter than one clip (it still loads, its last frame repeated).
    """
    name = (lambda label: classes[label]) if classes is not None else str
    per_class = Counter(name(r.label) for r in results)
    opened = [r for r in results if r.info is not None]
    sizes = [f"{r.width}x{r.height}" for r in opened]
    return {
        "split": split,
        "source": source,
        "videos": len(results),
        "classes": len(per_class),
        "classes_listed": len(classes) if classes is not None else None,
        "class_names": sorted(per_class),
        "smallest_class": list(min(per_class.items(), key=lambda kv: (kv[1], kv[0]))) if per_class else None,
        "largest_class": list(max(per_class.items(), key=lambda kv: (kv[1], kv[0]))) if per_class else None,
        "codecs": dict(Counter(r.info.codec for r in opened).most_common()),
        "fps": _range([round(r.info.fps, 3) for r in opened]),
        "resolution": _range(sizes, key=lambda s: (int(s.split("x")[0]) * int(s.split("x")[1]), s)),
        "duration_s": _range([round(r.info.duration, 1) for r in opened]),
        "rotated": sum(1 for r in results if r.rotation),
        "unreadable": [[r.path, r.status] for r in results if not r.ok],
        "shorter_than_clip": [r.path for r in results if r.ok and r.info.num_frames < span],
        "clip_frames": span,
    }


def _common(entry: dict[str, Any], unit: str = "") -> str:
    if entry["min"] is None:
        return "-"
    if entry["min"] == entry["max"]:
        return f"{entry['min']:g}{unit} (all)" if isinstance(entry["min"], float) else f"{entry['min']}{unit} (all)"
    show = (lambda v: f"{v:g}{unit}") if isinstance(entry["min"], float) else (lambda v: f"{v}{unit}")
    common = ", ".join(f"{show(value)} ({count})" for value, count in entry["most_common"])
    return f"{show(entry['min'])} .. {show(entry['max'])}; most common {common}"


def _files(paths: Sequence[str]) -> str:
    more = f", and {len(paths) - _LISTED} more" if len(paths) > _LISTED else ""
    return ", ".join(paths[:_LISTED]) + more


def format_summary(summary: dict[str, Any]) -> str:
    """The lines ``data check`` prints for a split."""
    s = summary
    listed = f" of {s['classes_listed']}" if s["classes_listed"] is not None else ""
    extremes = ""
    if s["smallest_class"]:
        extremes = (f"; smallest {s['smallest_class'][0]} ({s['smallest_class'][1]}), "
                    f"largest {s['largest_class'][0]} ({s['largest_class'][1]})")
    lines = [
        f"{s['split']}: {s['source']}",
        f"  videos       {s['videos']} in {s['classes']}{listed} classes{extremes}",
        f"  codecs       {', '.join(f'{c} ({n})' for c, n in s['codecs'].items()) or '-'}",
        f"  frame rates  {_common(s['fps'], ' fps')}",
        f"  resolutions  {_common(s['resolution'])}" + (f"; {s['rotated']} turned upright" if s["rotated"] else ""),
        f"  durations    {_common(s['duration_s'], ' s')}",
        f"  unreadable   {len(s['unreadable'])}" + (": " + _files([f"{p} ({why})" for p, why in s["unreadable"]])
                                                     if s["unreadable"] else ""),
        f"  shorter than one clip ({s['clip_frames']} frames)  {len(s['shorter_than_clip'])}"
        + (": " + _files(s["shorter_than_clip"]) if s["shorter_than_clip"] else ""),
    ]
    return "\n".join(lines) + "\n"


def class_warnings(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """One warning per later split whose classes are not all among the first (training) split's."""
    if len(summaries) < 2:
        return []
    train = set(summaries[0]["class_names"])
    out = []
    for s in summaries[1:]:
        extra = sorted(set(s["class_names"]) - train)
        if extra:
            names = ", ".join(extra[:_LISTED]) + (f", and {len(extra) - _LISTED} more" if len(extra) > _LISTED else "")
            out.append(f"{s['split']} has {len(extra)} class(es) that {summaries[0]['split']} does not: {names} "
                       "(a model cannot learn them)")
    return out
