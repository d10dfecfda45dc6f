"""nni-autotsnet: the Auto-TSNet two-stream video search space and the PARSEC strategy for NNI 3.0.

Subpackages: ``search_space`` (the NNI model space, presets, exact FLOPs), ``strategies`` (PARSEC),
``models`` (plain PyTorch builders that import no NNI), ``data`` (PyAV video loading, samplers,
transforms and the synthetic temporal benchmark).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
