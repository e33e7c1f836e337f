"""hf_localnat: choose reasoning traces for distillation by local naturalness (LALP, arXiv 2510.03988).

The job of every `localnat` command is one function here, loaded on first use (`import hf_localnat` stays light):
`hf_localnat.score`, `estimate`, `segment`, `rank_teachers`, `select`, `inspect`, `calibrate`, `publish`, `pull`
(`hf_localnat.jobs`). Each returns a result object (`hf_localnat.jobs.results`).
"""

from .scoring.config import ComputeOptions, ScoringConfig, ScoringDefinition
from .errors import ColumnError, ConfigError, LocalNatError, ModelNotFoundError, ProvenanceError, TokenizerError
from .provenance import Provenance
from .records import OUTPUT_COLUMNS, output_features
from .scoring.scorer import LocalNaturalnessScorer

__version__ = "0.1.0"

#: The job functions and result classes, by name -> the `hf_localnat.jobs` module that defines them (loaded lazily).
_LAZY = {
    "score": "score", "estimate": "estimate", "segment": "segment", "rank_teachers": "rank", "select": "select",
    "inspect": "inspect", "calibrate": "calibrate", "publish": "publish", "pull": "pull",
    "Result": "results", "ScoreResult": "results", "Estimate": "results", "SegmentResult": "results",
    "TeacherRanking": "results", "Selection": "results",
}


def __getattr__(name: str):
    """`hf_localnat.score` and the other jobs: imported on first use, so `import hf_localnat` loads no torch."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    try:
        value = getattr(importlib.import_module(f"{__name__}.jobs.{module}"), name, None)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.jobs.{module}":
            raise
        value = None
    if value is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (not in hf_localnat.jobs.{module})")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Estimate",
    "OUTPUT_COLUMNS",
    "ColumnError",
    "ComputeOptions",
    "ConfigError",
    "LocalNatError",
    "LocalNaturalnessScorer",
    "ModelNotFoundError",
    "Provenance",
    "ProvenanceError",
    "ScoreResult",
    "ScoringConfig",
    "ScoringDefinition",
    "SegmentResult",
    "TokenizerError",
    "__version__",
    "estimate",
    "output_features",
    "score",
    "segment",
]
