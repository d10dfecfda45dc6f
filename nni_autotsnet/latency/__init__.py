"""Latency budgets: per-unit latency tables measured on the target device, and F_lat(A) from them.

``python -m nni_autotsnet.latency profile`` writes a table (:mod:`.measure`, :mod:`.table`);
:class:`LatencyModel` predicts an architecture's latency from it as fast as F(A) (:mod:`.predict`);
PARSEC's cost term and the random baseline's filter take it through ``search.cost: latency``.
"""

from .cli import main
from .measure import model_ms, profile
from .predict import LatencyModel, load_latency_model, search_latency_fn
from .table import LatencyTableError, check_meta, load_table, make_meta
from .units import build_unit, layout_terms, preset_units

__all__ = ["main", "profile", "model_ms", "LatencyModel", "load_latency_model", "search_latency_fn",
           "LatencyTableError", "check_meta",
           "load_table", "make_meta", "build_unit", "layout_terms", "preset_units"]
