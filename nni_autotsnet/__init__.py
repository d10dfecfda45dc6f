"""nni-autotsnet: the Auto-TSNet two-stream video search space and the PARSEC strategy for NNI 3.0.

Subpackages: ``search_space`` (the NNI model space, presets, exact FLOPs), ``strategies`` (PARSEC),
``models`` (plain PyTorch builders that import no NNI), ``data`` (PyAV video loading, samplers,
transforms and the synthetic temporal benchmark), ``latency`` (per-device latency tables).
``search_space`` and ``strategies`` live at the top of the repository (``search_space/``,
``strategies/``) and are installed as ``nni_autotsnet.search_space`` / ``nni_autotsnet.strategies``.

Layers, lowest first (``tests/test_layers.py`` checks that no import goes upwards or round in a circle):
``errors``, ``atomic``, ``config`` -> ``search_space`` (spec: presets, layout, FLOPs), ``models``,
``data``, ``strategies``, ``latency`` -> the libraries the commands share (``runtime``, ``supernet``,
``ranking``, ``results``, ``module``, ``training``, ``speed``, ``nnictl``, ``report_plots``) -> the
commands (``search``, ``train``, ``evaluate``, ``export``, ``random_search``, ``report``, ``demo``,
``data``, ``latency``), which import no other command except the main job (``demo``).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
