"""hf_localnat: choose reasoning traces for distillation by local naturalness (LALP, arXiv 2510.03988)."""

from .scoring.config import ComputeOptions, ScoringConfig, ScoringDefinition
from .errors import ColumnError, ConfigError, LocalNatError, ModelNotFoundError, ProvenanceError, TokenizerError
from .provenance import Provenance
from .records import OUTPUT_COLUMNS, output_features
from .scoring.scorer import LocalNaturalnessScorer

__version__ = "0.1.0"

__all__ = [
    "OUTPUT_COLUMNS",
    "ColumnError",
    "ComputeOptions",
    "ConfigError",
    "LocalNatError",
    "LocalNaturalnessScorer",
    "ModelNotFoundError",
    "Provenance",
    "ProvenanceError",
    "ScoringConfig",
    "ScoringDefinition",
    "TokenizerError",
    "__version__",
    "output_features",
]
