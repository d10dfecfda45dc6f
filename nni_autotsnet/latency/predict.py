"""F_lat(A): an architecture's latency in milliseconds as a sum of table entries, as fast as F(A).

The same closed-form lookup as :class:`search_space.flops.CostModel`: compiled once per layout
into one table per block (from the values of the labels the block depends on to its measured
milliseconds), so F_lat(A) is one ``itemgetter`` and one dict lookup per block. Each entry is the
unit's measured time less the cost of a call (``call_ms``: timing an empty module), which the
whole network pays once; ``glue_ms`` adds what the units do not cover (the network's own forward).
"""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path
from typing import Any, Mapping

from nni_autotsnet.search_space.layout import Layout, make_layout
from nni_autotsnet.search_space.presets import Preset, load_preset

from .table import LatencyTableError, check_meta, load_table, preset_digest
from .units import _values, glue_kind, layout_terms, unit_key

__all__ = ["LatencyModel", "load_latency_model"]


class LatencyModel:
    """Predicted latency (ms) of every architecture of a layout, from a latency table.

    Raises ``LatencyTableError`` when the table lacks a unit of the layout (an unfinished profile).
    ``glue=False`` leaves out the measured end-to-end term (the profiler's own calibration uses it).
    """

    def __init__(self, layout: Layout, table: Mapping[str, Any], num_classes: int | None = None,
                 glue: bool = True, source: str = "latency table"):
        units, call = table["units"], table.get("call_ms") or 0.0
        self.meta = dict(table["meta"])
        self.source = source
        self._const = call
        if glue:
            kind = glue_kind(layout.parts)
            if kind not in table.get("glue_ms", {}):
                raise LatencyTableError(f"{source}: field 'glue_ms.{kind}' missing: the profile did not finish; "
                                        "run the same profile command again to complete it")
            self._const += table["glue_ms"][kind]
        self._terms = []
        for variables, fn in layout_terms(layout, num_classes):
            labels = tuple(dict.fromkeys(v.label for v in variables if v.searched))
            lookup: dict[Any, float] = {}
            for values in _values(variables):
                key = unit_key(fn(*values))
                if key not in units:
                    raise LatencyTableError(f"{source}: unit {key!r} missing: the profile did not finish; "
                                            "run the same profile command again to complete it")
                chosen = dict(zip((v.label for v in variables), values))
                index = tuple(chosen[label] for label in labels)
                lookup[index[0] if len(index) == 1 else index] = units[key] - call
            if labels:
                self._terms.append((itemgetter(*labels), lookup))
            else:
                self._const += lookup[()]

    def latency(self, arch: Mapping[str, Any]) -> float:
        """Predicted ms of one forward at the table's batch; ``KeyError`` for a label or value not of the space."""
        total = self._const
        for get, lookup in self._terms:
            total += lookup[get(arch)]
        return total

    __call__ = latency


def load_latency_model(path: str | Path, preset: str | Path | Preset, parts: str = "all",
                       num_classes: int | None = None, fixed: Mapping[str, Any] | None = None,
                       expect: Mapping[str, Any] | None = None) -> LatencyModel:
    """The predictor of ``preset``'s space for ``parts`` from the table at ``path``.

    The table must be of this preset (name and content) and ``num_classes``; ``expect`` adds fields
    it must match too (``{"device": "cpu", "threads": 1}``...), else ``LatencyTableError`` names the field.
    """
    preset = load_preset(preset)
    table = load_table(path)
    wanted = {"preset": preset.name, "preset_digest": preset_digest(preset),
              "num_classes": int(num_classes or preset.num_classes), **(expect or {})}
    check_meta(table, wanted, path, why=f"preset {preset.name!r}")
    return LatencyModel(make_layout(preset, parts, fixed), table, num_classes, source=str(path))
