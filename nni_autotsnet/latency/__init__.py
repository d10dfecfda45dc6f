"""Latency budgets: per-unit latency tables measured on the target device, and F_lat(A) from them.

``python -m nni_autotsnet.latency profile`` writes a table (:mod:`.measure`, :mod:`.table`);
:class:`LatencyModel` predicts an architecture's latency from it as fast as F(A) (:mod:`.predict`);
PARSEC's cost term and the random baseline's filter take it through ``search.cost: latency``.
The command itself is :mod:`.cli` (``__main__`` runs it); the package imports no command.
"""

from .measure import model_ms, profile
from .predict import LatencyModel, load_latency_model
from .table import LatencyTableError, check_meta, load_table, make_meta
from .units import build_unit, layout_terms, preset_units

__all__ = ["profile", "model_ms", "LatencyModel", "load_latency_model",
           "LatencyTableError", "check_meta",
           "load_table", "make_meta", "build_unit", "layout_terms", "preset_units"]
