"""The one resampling module: the paired bootstrap over questions that the teacher ranking (`rank`), the ranking
evidence (`evidence`, SPEC §13) and the proxy calibration (`calibrate`) share.

Every draw of question indices takes one uniform double per index from the generator (`index = floor(u * Q)`), row
by row, so a draw never depends on how the work is chunked, and a test can redraw the same indices with
`draw_indices`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

#: Drawn question indices a chunk of resamples may hold at once (about 20 bytes each while it is summed).
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


class _Draws:
    """`draw_indices` into buffers reused from chunk to chunk (the same indices, as int32 for the sparse sums)."""

    def __init__(self, rng: np.random.Generator, num_questions: int, largest: int) -> None:
        self.rng, self.num_questions = rng, num_questions
        self.uniform = np.empty(largest)
        self.indices = np.empty(largest, dtype=np.int32)
        self.ones = np.ones(largest)

    def draw(self, num_draws: int, size: int) -> np.ndarray:
        """`(num_draws, size)` indices, as `draw_indices(rng, num_draws, size, Q)` gives them."""
        uniform = self.uniform[:num_draws * size].reshape(num_draws, size)
        self.rng.random(out=uniform)
        np.multiply(uniform, self.num_questions, out=uniform)
        draws = self.indices[:num_draws * size].reshape(num_draws, size)
        np.copyto(draws, uniform, casting="unsafe")  # truncation, as astype
        np.minimum(draws, self.num_questions - 1, out=draws)
        return draws

    def segment_sums(self, values: np.ndarray, draws: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """For every row of `draws` (`(D, L)` question indices), the sums of `values` (questions x columns) over
        its segments `[bounds[k], bounds[k + 1])`: shape `(D, segments, columns)`.

        Each segment sum adds the drawn rows one after another in draw order (a sparse product with one entry per
        drawn index, `scipy.sparse`), so a sum never depends on how the draws are chunked nor on which columns come
        along; no `D x L x columns` gather is made.
        """
        from scipy import sparse

        num_draws, length = draws.shape
        segments = len(bounds) - 1
        indptr = np.empty(num_draws * segments + 1, dtype=np.int32 if draws.size < 2**31 else np.int64)
        indptr[:-1] = (np.arange(num_draws, dtype=np.int64)[:, None] * length + bounds[None, :-1]).ravel()
        indptr[-1] = num_draws * length
        picks = sparse.csr_matrix((self.ones[:draws.size], draws.ravel(), indptr),
                                  shape=(num_draws * segments, len(values)))
        return (picks @ values).reshape(num_draws, segments, values.shape[1])


@dataclass(frozen=True)
class Resamples:
    """Paired resamples of the questions (`resample`): per resample, the sums of every column over its `Q` drawn
    questions and over its first `n` drawn questions for each `n` of `prefixes`.

    Attributes:
        sums (`np.ndarray`): `(B, columns)`, over each resample's `Q` questions.
        prefixes (`tuple[int, ...]`): the prefix lengths (ascending, each at most `Q`).
        prefix_sums (`np.ndarray`): `(len(prefixes), B, columns)`, over each resample's first `n` questions.
        num_questions (`int`): `Q`.
    """

    sums: np.ndarray
    prefixes: tuple[int, ...]
    prefix_sums: np.ndarray
    num_questions: int

    @property
    def means(self) -> np.ndarray:
        """`(B, columns)`: each resample's means."""
        return self.sums / self.num_questions

    @property
    def prefix_means(self) -> np.ndarray:
        """`(len(prefixes), B, columns)`: the means of each resample's first `n` questions."""
        return self.prefix_sums / np.asarray(self.prefixes, dtype=float).reshape(-1, 1, 1)

    def columns(self, columns: slice | np.ndarray) -> Resamples:
        """The same resamples, for some columns only."""
        return Resamples(self.sums[:, columns], self.prefixes, self.prefix_sums[:, :, columns], self.num_questions)

    def times(self, factors: np.ndarray) -> Resamples:
        """The same resamples of the columns multiplied by `factors` (one per column; +-1 keeps every sum exact)."""
        return Resamples(self.sums * factors, self.prefixes, self.prefix_sums * factors, self.num_questions)


def resample(values: np.ndarray, num_resamples: int, rng: np.random.Generator, prefixes: Sequence[int] = (),
             budget: int = BUDGET) -> Resamples:
    """`num_resamples` resamples of the questions (rows of `values`, questions x columns), each `Q` questions drawn
    with replacement (`draw_indices`, row after row: the same draws in any chunking), the same draw for every column
    (paired); with each resample's sums over all its questions and over its first `n` questions for every `n` of
    `prefixes` (ascending, at most `Q`: a resample's first `n` indices are a uniform draw of `n` questions, and the
    draws of different `n` are nested).

    The sums add each segment between consecutive prefixes in draw order, then the segments in order
    (`_Draws.segment_sums`), so they do not depend on the chunking either; chunks keep about `budget` drawn indices.
    """
    num_questions, num_columns = values.shape
    prefixes = tuple(int(n) for n in prefixes)
    if any(n < 1 or n > num_questions for n in prefixes) or list(prefixes) != sorted(set(prefixes)):
        raise ValueError(f"prefixes must be ascending and within 1..{num_questions}, got {prefixes}")
    bounds = np.array([0, *[n for n in prefixes if n < num_questions], num_questions], dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    sums = np.empty((num_resamples, num_columns))
    prefix_sums = np.empty((len(prefixes), num_resamples, num_columns))
    per_chunk = max(1, budget // num_questions)
    draws = _Draws(rng, num_questions, min(per_chunk, num_resamples) * num_questions)
    for start, size in _chunks(num_resamples, per_chunk):
        running = np.cumsum(draws.segment_sums(values, draws.draw(size, num_questions), bounds),
                            axis=1)  # (size, segments, C): sums over the first bounds[k + 1] questions
        sums[start:start + size] = running[:, -1]
        prefix_sums[:, start:start + size] = running[:, :len(prefixes)].transpose(1, 0, 2)
    return Resamples(sums, prefixes, prefix_sums, num_questions)


def extend(values: np.ndarray, resamples: Resamples, sizes: Sequence[int], rng: np.random.Generator,
           budget: int = BUDGET) -> np.ndarray:
    """Means of draws of `n` questions for every `n` of `sizes` (ascending, each above `Q`): draw `b` is resample `b`
    of `resamples` (over these `values`' columns) followed by `max(sizes) - Q` more questions drawn with replacement
    from the `Q` (`draw_indices`, resample after resample, after the resamples' own draws), so each is a uniform
    draw of `n` questions and the draws are nested.

    Returns:
        `np.ndarray` of shape `(len(sizes), B, columns)`.
    """
    num_questions, num_columns = values.shape
    num_draws = len(resamples.sums)
    extra = [int(n) - num_questions for n in sizes]
    if not extra:
        return np.empty((0, num_draws, num_columns))
    if extra[0] < 1 or extra != sorted(set(extra)):
        raise ValueError(f"sizes must be ascending and above {num_questions}, got {list(sizes)}")
    bounds = np.array([0, *extra], dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty((len(extra), num_draws, num_columns))
    per_chunk = max(1, budget // extra[-1])
    draws = _Draws(rng, num_questions, min(per_chunk, num_draws) * extra[-1])
    for start, size in _chunks(num_draws, per_chunk):
        running = np.cumsum(draws.segment_sums(values, draws.draw(size, extra[-1]), bounds), axis=1)
        out[:, start:start + size] = (resamples.sums[start:start + size, None] + running).transpose(1, 0, 2)
    return out / np.asarray(sizes, dtype=float).reshape(-1, 1, 1)


def bootstrap_means(values: np.ndarray, num_resamples: int, rng: np.random.Generator,
                    budget: int = BUDGET) -> np.ndarray:
    """Means of `values` (questions x columns) over `num_resamples` resamples of the questions (`resample`): shape
    `(num_resamples, columns)`."""
    return resample(values, num_resamples, rng, budget=budget).means
