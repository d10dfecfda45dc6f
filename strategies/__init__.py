"""PARSEC and other search strategies for NNI 3.0 model spaces.

``from nni_autotsnet.strategies import Parsec`` is the entry point; the other names are its
building blocks, public so that tests, benchmarks and other strategies can reuse them.
"""

from .cost import CostEstimate, FlopsWindowCost
from .distribution import ArchDistribution
from .estimator import (
    ImportanceResult, OnlineImportanceWeighting, accumulate_importance_weighted, architecture_gradient,
    effective_sample_size,
)
from .flops import ArchFlops
from .lightning import ParsecLightningModule
from .parsec import Parsec

__all__ = [
    'Parsec', 'ParsecLightningModule', 'ArchDistribution', 'ArchFlops', 'FlopsWindowCost', 'CostEstimate',
    'OnlineImportanceWeighting', 'ImportanceResult', 'accumulate_importance_weighted', 'architecture_gradient',
    'effective_sample_size',
]
