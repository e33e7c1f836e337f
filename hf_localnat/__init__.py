"""hf_localnat: choose reasoning traces for distillation by local naturalness (LALP, arXiv 2510.03988)."""

from .scoring.config import ScoringConfig
from .errors import ColumnError, ConfigError, LocalNatError, ModelNotFoundError, TokenizerError
from .records import OUTPUT_COLUMNS, output_features
from .scoring.scorer import LocalNaturalnessScorer

__version__ = "0.1.0"

__all__ = [
    "OUTPUT_COLUMNS",
    "ColumnError",
    "ConfigError",
    "LocalNatError",
    "LocalNaturalnessScorer",
    "ModelNotFoundError",
    "ScoringConfig",
    "TokenizerError",
    "__version__",
    "output_features",
]
