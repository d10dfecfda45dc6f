"""Plain PyTorch models of the two-stream space: builders and modules that import no NNI."""

from .builder import build_model
from .exported import load_exported
from .network import TwoStreamNet

__all__ = ["build_model", "load_exported", "TwoStreamNet"]
