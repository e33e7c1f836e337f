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

#: The job of every `localnat` command, one function each (`hf_localnat.jobs`), imported on first use.
JOBS = {
    "score": "score", "estimate": "estimate", "segment": "segment", "rank_teachers": "rank", "select": "select",
    "inspect": "inspect", "calibrate": "calibrate", "publish": "publish", "pull": "pull",
}

#: Their result classes (`hf_localnat.jobs.results`).
RESULTS = ("ScoreResult", "Estimate", "SegmentResult", "TeacherRanking", "Selection", "Slice", "Report", "Calibration",
           "Publication", "Pulled")


def __getattr__(name: str):
    """`hf_localnat.rank_teachers`, `hf_localnat.TeacherRanking`, ...: the jobs layer, loaded when first named."""
    import importlib

    if name in JOBS:
        return getattr(importlib.import_module(f".jobs.{JOBS[name]}", __name__), name)
    if name in RESULTS:
        return getattr(importlib.import_module(".jobs.results", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(JOBS) | set(RESULTS))


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
    *JOBS,
    *RESULTS,
]
