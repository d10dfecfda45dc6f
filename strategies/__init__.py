"""PARSEC and other search strategies for NNI 3.0 model spaces.

``from nni_autotsnet.strategies import Parsec`` is the entry point; the other names are its
building blocks, public so that tests, benchmarks and other strategies can reuse them.
"""

# NNI's strategy package first: importing nni.nas.oneshot.pytorch.strategy before it (as our modules
# do) trips a circular import inside NNI that leaves nni.nas.strategy.RandomOneShot, DARTS, ENAS...
# as ImportFailedStrategy placeholders for the rest of the process.
import nni.nas.strategy  # noqa: F401  isort: skip

from .cost import CostEstimate, FlopsWindowCost, LatencyWindowCost, WindowCost
from .distribution import ArchDistribution
from .estimator import (
    ImportanceResult, OnlineImportanceWeighting, accumulate_importance_weighted, architecture_gradient,
    effective_sample_size,
)
from .flops import ArchFlops, ArchMetric
from .health import SearchHealth, check_health
from .lightning import ParsecLightningModule
from .parsec import Parsec

__all__ = [
    'Parsec', 'ParsecLightningModule', 'ArchDistribution', 'ArchFlops', 'ArchMetric', 'FlopsWindowCost', 'LatencyWindowCost', 'WindowCost',
    'CostEstimate',
    'OnlineImportanceWeighting', 'ImportanceResult', 'accumulate_importance_weighted', 'architecture_gradient',
    'effective_sample_size', 'SearchHealth', 'check_health',
]
