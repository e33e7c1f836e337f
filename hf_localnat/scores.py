"""The score columns a run can write (SPEC §7, §11): each one small function over a row's token statistics and the
direction in which it is better, declared once here (`SCORES`).

Ranking, selection, calibration, cards and publishing read a score's direction from this module (or from the
direction a user declared for a column of their own); none of them assumes "higher is better". The engine computes
the columns a run asks for (`scores=`) from `TokenStats`, which its forward passes already hold: adding a score is
one function and one `SCORES` entry.

Imports only the standard library, numpy and `hf_localnat.errors`, so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from .errors import ColumnError, ConfigError

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class TokenStats:
    """What the forward passes of one row hold (SPEC §4, §11), for the score functions.

    Attributes:
        logprobs (`np.ndarray`): float32 `log p_t` of the response tokens GALP's pass scores, in order.
        first (`int`): the response-token index of the first of them (1 when P is empty, else 0).
        ranks (`np.ndarray`, *optional*): `rank_t` of the same tokens (`None` unless a score that needs them was asked).
        token_ranges (`Sequence[tuple[int, int]]`): each step's response-token range `[a_i, e_i)` (SPEC §2).
        steps (`Sequence[tuple[int, np.ndarray] | None]`): per step, the response-token index of its first scored
            token and the log-probs of its scored tokens in its own window (SPEC §4); `None` for an unscored step.
        drop_tokens (`int`): `m`, the tokens left out at the start of every step by the drop scores.
    """

    logprobs: np.ndarray
    first: int
    ranks: np.ndarray | None
    token_ranges: Sequence[tuple[int, int]]
    steps: Sequence[tuple[int, np.ndarray] | None]
    drop_tokens: int = 2

    @cached_property
    def step_scores(self) -> list[float | None]:
        """`l_i` of every step (`step_means`), computed once: LALP and the `lalp_steps` column both read it."""
        return step_means(self)


def _mean(values: np.ndarray) -> float | None:
    """The mean in float64 as a Python float; `None` for no value."""
    return float(values.astype(np.float64).mean()) if len(values) else None


def step_means(stats: TokenStats, drop: int = 0) -> list[float | None]:
    """`l_i` of every step (SPEC §4), leaving out the step's first `drop` tokens (SPEC §11; `None` when none is left).

    Example:
        >>> s = TokenStats(np.zeros(0), 0, None, [(0, 3), (3, 4)], [(0, np.array([-1.0, -2.0, -3.0])), (3, np.array([-4.0]))])
        >>> step_means(s), step_means(s, drop=1)
        ([-2.0, -4.0], [-2.5, None])
    """
    means: list[float | None] = []
    for (a_i, _), scored in zip(stats.token_ranges, stats.steps, strict=True):
        if scored is None:
            means.append(None)
            continue
        first, logprobs = scored
        means.append(_mean(logprobs[max(0, a_i + drop - first):]))
    return means


def lalp(stats: TokenStats) -> float | None:
    """LALP (SPEC §4): the unweighted mean of the scored steps' `l_i`."""
    return _mean(np.array([s for s in stats.step_scores if s is not None]))


def galp(stats: TokenStats) -> float | None:
    """GALP (SPEC §4): the mean log-prob of the response tokens of GALP's pass."""
    return _mean(stats.logprobs)


def lalp_drop(stats: TokenStats) -> float | None:
    """LALP where each step's score leaves out its first `drop_tokens` tokens (SPEC §11)."""
    return _mean(np.array([s for s in step_means(stats, stats.drop_tokens) if s is not None]))


def galp_drop(stats: TokenStats) -> float | None:
    """The mean of GALP's token log-probs leaving out the first `drop_tokens` tokens of every step (SPEC §11; ASLEC's
    drop score, arXiv 2604.06834).

    Example (steps of 3 and 2 tokens, the first two of each left out):
        >>> galp_drop(TokenStats(np.array([-1.0, -2.0, -3.0, -4.0, -5.0]), 0, None, [(0, 3), (3, 5)], []))
        -3.0
    """
    positions = stats.first + np.arange(len(stats.logprobs))
    starts = np.array([a for a, _ in stats.token_ranges], dtype=np.int64)
    # a step's start is the last start <= the token (steps with the same start before it own no token)
    owner_start = starts[np.searchsorted(starts, positions, side="right") - 1] if len(starts) else positions
    return _mean(stats.logprobs[positions - owner_start >= stats.drop_tokens])


#: The rank above which a token counts as 100 in the rank-surprisal ratio (arXiv 2601.14249).
RSR_RANK_CLIP = 100


def rsr(stats: TokenStats) -> float | None:
    """The rank-surprisal ratio (SPEC §11; arXiv 2601.14249) over GALP's scored response tokens:
    `Σ min(rank_t, 100) / max(Σ -log p_t, 1e-12)`. Lower is better.

    Example:
        >>> rsr(TokenStats(np.array([-0.5, -1.5]), 0, np.array([1.0, 300.0]), [(0, 2)], []))
        50.5
    """
    if stats.ranks is None:
        raise ValueError("rsr needs the target ranks of GALP's pass; they were not computed.")
    if not len(stats.logprobs):
        return None
    clipped = np.minimum(stats.ranks.astype(np.float64), RSR_RANK_CLIP).sum()
    return float(clipped / max(float(-stats.logprobs.astype(np.float64).sum()), 1e-12))


@dataclass(frozen=True)
class Score:
    """One score column: its direction, its function over `TokenStats`, and what it needs from the passes.

    Attributes:
        direction (`str`): `"higher"` or `"lower"`: the direction in which the score is better.
        compute (`Callable[[TokenStats], float | None]`): the score of a row (`None`: nothing to score).
        needs_ranks (`bool`): the function reads `TokenStats.ranks` (the head then computes them).
        uses_drop_tokens (`bool`): the function reads `TokenStats.drop_tokens` (recorded in the provenance).
        source (`str`): where the score comes from, for help texts and cards.
    """

    direction: Direction
    compute: Callable[[TokenStats], float | None]
    needs_ranks: bool = False
    uses_drop_tokens: bool = False
    source: str = ""


#: Every score column this project can write, in column order (SPEC §7, §11).
SCORES: dict[str, Score] = {
    "lalp": Score("higher", lalp, source="local average log-prob (arXiv 2510.03988)"),
    "galp": Score("higher", galp, source="global average log-prob (GRAPE, arXiv 2502.04194)"),
    "lalp_drop": Score("higher", lalp_drop, uses_drop_tokens=True,
                       source="LALP without each step's first drop_tokens tokens"),
    "galp_drop": Score("higher", galp_drop, uses_drop_tokens=True,
                       source="GALP without each step's first drop_tokens tokens (ASLEC, arXiv 2604.06834)"),
    "rsr": Score("lower", rsr, needs_ranks=True, source="rank-surprisal ratio (arXiv 2601.14249)"),
}

#: Every score column this project writes, with the direction in which it is better (SPEC §11).
SCORE_DIRECTIONS: dict[str, Direction] = {name: score.direction for name, score in SCORES.items()}

#: The columns every run writes (SPEC §7); `scores=` adds others.
DEFAULT_SCORES: tuple[str, ...] = ("lalp", "galp")

#: The default `drop_tokens` (SPEC §11).
DEFAULT_DROP_TOKENS = 2


def parse_scores(scores: str | Iterable[str] | None) -> tuple[str, ...]:
    """The score columns of `scores` in `SCORES` order, the SPEC §7 ones always included: `"lalp,galp,rsr"`, a
    list of names, `"all"`, or `None` (the default).

    Raises:
        ConfigError: a name is not a score this project computes.

    Example:
        >>> parse_scores("rsr, galp_drop"), parse_scores("all") == tuple(SCORES)
        (('lalp', 'galp', 'galp_drop', 'rsr'), True)
    """
    if scores is None:
        return DEFAULT_SCORES
    names = scores.split(",") if isinstance(scores, str) else list(scores)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    if "all" in names:
        return tuple(SCORES)
    unknown = [n for n in names if n not in SCORES]
    if unknown:
        raise ConfigError(f"Unknown score {unknown[0]!r}; use a comma-separated list of {', '.join(SCORES)}, or all.")
    return tuple(n for n in SCORES if n in names or n in DEFAULT_SCORES)


def extra_scores(scores: Iterable[str]) -> tuple[str, ...]:
    """The columns of `scores` beyond the SPEC §7 ones, in column order."""
    return tuple(n for n in parse_scores(tuple(scores)) if n not in DEFAULT_SCORES)


def needs_ranks(scores: Iterable[str]) -> bool:
    """Whether a score of `scores` reads the target ranks (so the head computes them)."""
    return any(SCORES[n].needs_ranks for n in scores)


def uses_drop_tokens(scores: Iterable[str]) -> bool:
    """Whether a score of `scores` reads `drop_tokens` (it is then part of the definition)."""
    return any(SCORES[n].uses_drop_tokens for n in scores)


def require_score_column(columns: Iterable[str], column: str) -> None:
    """Refuse, in one line that names the fix, a score of this project that the input was not scored with.

    Raises:
        ColumnError: `column` is one of `SCORES` and not among `columns`.
    """
    if column in SCORES and column not in set(columns):
        if column in DEFAULT_SCORES:  # every scored file has these: the input was not scored at all
            raise ColumnError(f"The input has no {column!r} column: it is not scored; run `localnat score INPUT -o "
                              "scored.parquet` first and pass its output.")
        raise ColumnError(f"The input has no {column!r} column: score it with `localnat score --scores {column}` "
                          f"(or scores={column!r} in Python); every score comes from the same forward passes.")


#: The option that declares the direction of a column this project does not know (CLI spelling).
DIRECTION_OPTION = "--direction"


def parse_direction(text: str) -> tuple[str, Direction]:
    """`"COLUMN=higher"` or `"COLUMN=lower"` as `(column, direction)`.

    Raises:
        ConfigError: the text is not of that form.
    """
    column, sep, direction = text.partition("=")
    direction = direction.strip().lower()
    if not sep or not column.strip() or direction not in ("higher", "lower"):
        raise ConfigError(f"{DIRECTION_OPTION} takes COLUMN=higher or COLUMN=lower, got {text!r}.")
    return column.strip(), direction  # type: ignore[return-value]


def score_direction(column: str, declared: Mapping[str, str] | None = None) -> Direction:
    """The direction in which `column` is better: the one declared for it (`declared`, e.g. from
    `--direction COLUMN=lower` or a scored file's provenance), else this project's own (`SCORE_DIRECTIONS`).

    Raises:
        ConfigError: neither knows the column; the message names the option that declares it.
    """
    if declared and column in declared:
        direction = str(declared[column]).lower()
        if direction not in ("higher", "lower"):
            raise ConfigError(f"The direction of {column!r} must be 'higher' or 'lower', got {declared[column]!r}.")
        return direction  # type: ignore[return-value]
    if column in SCORE_DIRECTIONS:
        return SCORE_DIRECTIONS[column]
    raise ConfigError(f"Score column {column!r} has no known direction; declare it with "
                      f"{DIRECTION_OPTION} {column}=higher (or {column}=lower) so nothing is sorted the wrong way.")


def sign(direction: Direction) -> float:
    """`+1.0` for `"higher"`, `-1.0` for `"lower"`: multiply a score by it and higher is always better."""
    return 1.0 if direction == "higher" else -1.0


def better_word(direction: Direction) -> str:
    """`"Higher"` or `"Lower"`, for lines such as "Lower = better"."""
    return direction.capitalize()
