"""Percentile-bootstrap helpers shared by the teacher ranking (`rank`) and the proxy calibration (`calibrate`)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def check_bootstrap(num_resamples: int, confidence: float) -> None:
    """Raise a one-line `ConfigError` unless `num_resamples` is a positive integer and `0 < confidence < 1`."""
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, int) or num_resamples < 1:
        raise ConfigError(f"`num_resamples` must be a positive integer, got {num_resamples!r}.")
    if not 0 < confidence < 1:
        raise ConfigError(f"`confidence` must be strictly between 0 and 1 (e.g. 0.95), got {confidence!r}.")


def percentile_interval(samples: np.ndarray, confidence: float, axis: int | None = None) -> np.ndarray:
    """The central `confidence` interval of bootstrap `samples`: their `(1 - confidence) / 2` and
    `(1 + confidence) / 2` quantiles (along `axis`), stacked as `[low, high]`."""
    alpha = (1 - confidence) / 2
    return np.quantile(samples, [alpha, 1 - alpha], axis=axis)
