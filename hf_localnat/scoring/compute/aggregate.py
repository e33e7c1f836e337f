"""Token statistics -> the score columns a run asks for (SPEC §4, §11), and the SPEC §7 record of each row
(`aggregate_rows`). Each score is a function of `hf_localnat.scores` over a row's `TokenStats`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...scores import DEFAULT_DROP_TOKENS, DEFAULT_SCORES, SCORES, TokenStats, extra_scores
from ..prepare.rows import PreparedRow
from ..prepare.windows import Window


def _columns(stats: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """A window's log-probs and ranks (`None` when the head computed none) as numpy arrays."""
    array = stats.numpy()
    return (array[:, 0], array[:, 1]) if array.ndim == 2 else (array, None)


def token_stats(
    token_ranges: Sequence[tuple[int, int]],
    galp: Window,
    galp_stats: torch.Tensor,
    step_stats: Mapping[int, tuple[int, torch.Tensor]],
    drop_tokens: int = DEFAULT_DROP_TOKENS,
    step_source: torch.Tensor | None = None,
) -> TokenStats:
    """The `TokenStats` of a row: GALP's log-probs (and ranks), and each step's scored tokens in its own window or,
    for steps without a window of their own (their window is a prefix of the GALP input), in the GALP pass.

    Args:
        token_ranges (`Sequence[tuple[int, int]]`): the row's step token ranges.
        galp (`Window`): the row's GALP window; `galp_stats` its head output (`forward.head_logprobs`).
        step_stats (`Mapping[int, tuple[int, torch.Tensor]]`): for each step that has a window of its own, the
            response index of the window's first scored token (`Window.first_token`) and the window's head output.
        drop_tokens (`int`, *optional*, defaults to 2): `m` of the drop scores.
        step_source (`torch.Tensor`, *optional*): where the other steps are read instead of the GALP pass
            (`mode="blockmask"`: the block-masked pass over the GALP window).
    """
    logprobs, ranks = _columns(galp_stats)
    source = logprobs if step_source is None else _columns(step_source)[0]
    steps: list[tuple[int, np.ndarray] | None] = []
    for step, (a_i, e_i) in enumerate(token_ranges):
        if step in step_stats:
            first, stats = step_stats[step]
            steps.append((first, _columns(stats)[0]))
        elif a_i == e_i:
            steps.append(None)
        else:
            lo = max(0, a_i - galp.first_token)
            steps.append((galp.first_token + lo, source[lo : e_i - galp.first_token]))
    return TokenStats(logprobs, galp.first_token, ranks, token_ranges, steps, drop_tokens)


def aggregate_rows(rows: Sequence[PreparedRow], run, blocks=None, *, scores: Sequence[str] = DEFAULT_SCORES,
                   drop_tokens: int = DEFAULT_DROP_TOKENS) -> list[dict]:
    """The record of each row: the SPEC §7 columns and the other score columns in `scores` (SPEC §11).

    Args:
        rows (`Sequence[PreparedRow]`): prepared rows; the windows of those without an error, in order, are `run`'s.
        run (`engine.WindowRun`): head output of every window (the GALP window of a row, then its step windows).
        blocks (`engine.WindowRun`, *optional*): with `mode="blockmask"` (one window per row), each row's
            block-masked pass, which gives the step scores instead.
        scores (`Sequence[str]`, *optional*): the score columns asked for (`ScoringDefinition.scores`).
        drop_tokens (`int`, *optional*, defaults to 2): `m` of the drop scores.

    Returns:
        `list[dict]`: one record per row; a row with a window that ran out of memory even alone gets
        `out_of_memory`, one without any scored token `no_scored_tokens`; the extra score columns of a row without a
        score are `None`.
    """
    extras = extra_scores(scores)
    results = []
    cursor = 0
    for row in rows:
        if row.error is not None:
            results.append({**row.error_result(), **dict.fromkeys(extras)})
            continue
        mine = range(cursor, cursor + 1 + len(row.steps))
        cursor += 1 + len(row.steps)
        if any(i in run.failed for i in mine) or (blocks is not None and mine[0] in blocks.failed):
            row.error = "out_of_memory"  # a window of this row did not fit in memory even alone
            results.append({**row.error_result(), **dict.fromkeys(extras)})
            continue
        if hasattr(row, "token_stats"):  # an agent trace reads its turns from its own windows (prepare.turns)
            stats = row.token_stats([run.logprobs[i] for i in mine], drop_tokens)
        else:
            own = {w.step: (w.first_token, run.logprobs[i]) for i, w in zip(mine[1:], row.steps, strict=True)}
            stats = token_stats(row.token_ranges, row.galp, run.logprobs[mine[0]], own, drop_tokens,
                                None if blocks is None else blocks.logprobs[mine[0]])
        result = {
            "lalp": SCORES["lalp"].compute(stats),
            "galp": SCORES["galp"].compute(stats),
            "lalp_steps": stats.step_scores,
            "num_steps": row.num_steps,
            "num_tokens": row.num_tokens,
            "truncated": row.galp.truncated or any(w.truncated for w in row.steps) or getattr(row, "cut", False),
            "score_error": None,
            **{name: SCORES[name].compute(stats) for name in extras},
            **row.extra_columns(),
        }
        if result["lalp"] is None and result["galp"] is None:
            row.error = "no_scored_tokens"
            result = {**row.error_result(), **dict.fromkeys(extras)}  # SPEC §4: such rows have lalp_steps = []
        results.append(result)
    return results
