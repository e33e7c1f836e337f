"""The one resampling module: the paired bootstrap over questions that the teacher ranking (`rank`), the ranking
evidence (`evidence`, SPEC §13) and the proxy calibration (`calibrate`) share.

Every draw of question indices takes one uniform double per index from the generator (`index = floor(u * Q)`), row
by row, so a draw never depends on how the work is chunked, and a test can redraw the same indices with
`draw_indices`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

#: Numbers a chunk of resamples may hold at once (8 bytes each).
BUDGET = 4_000_000


@dataclass(frozen=True)
class Estimate:
    """A statistic and its percentile bootstrap interval.

    Attributes:
        value (`float`): the statistic on all questions.
        ci (`tuple[float, float]`): its percentile bootstrap interval.
    """

    value: float
    ci: tuple[float, float]

    def format(self) -> str:
        """`"+0.123 [+0.050, +0.200]"`."""
        return f"{self.value:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"


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


def interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """`percentile_interval` of the non-NaN `samples` as a pair of floats (NaNs when none is left)."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    if not len(samples):
        return float("nan"), float("nan")
    lo, hi = percentile_interval(samples, confidence)
    return float(lo), float(hi)


def draw_indices(rng: np.random.Generator, num_draws: int, size: int, num_questions: int) -> np.ndarray:
    """`num_draws` draws of `size` question indices in `[0, num_questions)`, with replacement, shape
    `(num_draws, size)`: one uniform double per index, `floor(u * num_questions)`, row after row."""
    uniform = rng.random((num_draws, size))
    draws = np.multiply(uniform, num_questions, out=uniform).astype(np.int64)
    np.minimum(draws, num_questions - 1, out=draws)
    return draws


def _chunks(num_draws: int, per_chunk: int) -> Iterator[tuple[int, int]]:
    for start in range(0, num_draws, per_chunk):
        yield start, min(num_draws, start + per_chunk) - start


def bootstrap_means(values: np.ndarray, num_resamples: int, rng: np.random.Generator,
                    budget: int = BUDGET) -> np.ndarray:
    """Means of `values` (questions x columns) over `num_resamples` resamples of the questions (rows), drawn with
    replacement (`draw_indices`, `size` = the number of questions); the same draw for every column (paired).

    Resamples go in chunks that keep memory under `budget` numbers, and the result does not depend on the chunking:
    each resample's means are computed on their own, as (times each question was drawn) . values (a matrix product
    over a chunk of resamples would round differently for different chunk shapes; a gather of the drawn rows costs
    B x Q x C).

    Returns:
        `np.ndarray` of shape `(num_resamples, columns)`.
    """
    num_questions, num_columns = values.shape
    per_chunk = max(1, budget // (num_questions * num_columns))
    by_column = np.ascontiguousarray(values.T)  # (C, Q)
    out = np.empty((num_resamples, num_columns))
    for start, size in _chunks(num_resamples, per_chunk):
        draws = draw_indices(rng, size, num_questions, num_questions)
        for b in range(size):  # each resample alone (a fresh count vector), so chunking never changes a rounding
            counts = np.bincount(draws[b], minlength=num_questions).astype(np.float64)  # times each question drawn
            out[start + b] = by_column @ counts / num_questions
    return out


def nested_means(values: np.ndarray, sizes: list[int], num_draws: int, rng: np.random.Generator,
                 budget: int = BUDGET) -> np.ndarray:
    """Means of `values` (questions x columns) over `num_draws` draws of `n` questions each, for every `n` in
    `sizes` (ascending; any `n`, also more than the questions), with replacement; the same draws for every column.

    Draw `b` is one row of `draw_indices(rng, num_draws, max(sizes), Q)`; its first `n` indices are its draw of `n`
    questions (each a uniform draw of `n` questions; the draws for different `n` are nested, not independent).

    Returns:
        `np.ndarray` of shape `(len(sizes), num_draws, columns)`.
    """
    num_questions, num_columns = values.shape
    largest = sizes[-1]
    per_chunk = max(1, budget // (largest * num_columns))
    out = np.empty((len(sizes), num_draws, num_columns))
    starts = np.array([0, *sizes[:-1]])
    for start, size in _chunks(num_draws, per_chunk):
        draws = draw_indices(rng, size, largest, num_questions)
        segment_sums = np.add.reduceat(values[draws], starts, axis=1)  # (size, len(sizes), C)
        out[:, start:start + size] = np.cumsum(segment_sums, axis=1).transpose(1, 0, 2)
    return out / np.asarray(sizes, dtype=float)[:, None, None]
