"""Token log-probs -> step scores -> LALP and GALP (SPEC §4), and the SPEC §7 record of each row (`aggregate_rows`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..prepare.rows import PreparedRow
from ..prepare.windows import Window


def mean_or_none(values: Sequence[float] | torch.Tensor) -> float | None:
    """Arithmetic mean as a Python float, `None` for an empty sequence."""
    if len(values) == 0:
        return None
    if isinstance(values, torch.Tensor):
        return float(values.double().mean())
    return float(sum(values) / len(values))


def step_scores(
    token_ranges: Sequence[tuple[int, int]],
    galp: Window,
    galp_logprobs: torch.Tensor,
    step_logprobs: Mapping[int, torch.Tensor],
) -> list[float | None]:
    """`l_i` for every step: the mean log-prob of its tokens in its own window, or, for steps without a window of
    their own (their window is a prefix of the GALP input), in the GALP pass. `None` for a step with no scored token.
    """
    scores: list[float | None] = []
    for step, (a_i, e_i) in enumerate(token_ranges):
        if step in step_logprobs:
            scores.append(mean_or_none(step_logprobs[step]))
        elif a_i == e_i:
            scores.append(None)
        else:
            lo = max(0, a_i - galp.first_token)
            scores.append(mean_or_none(galp_logprobs[lo : e_i - galp.first_token]))
    return scores


def lalp(scores: Sequence[float | None]) -> float | None:
    """Unweighted mean of the scored steps' `l_i` (every step counts the same, whatever its length)."""
    return mean_or_none([s for s in scores if s is not None])


def aggregate_rows(rows: Sequence[PreparedRow], run, blocks=None) -> list[dict]:
    """The SPEC §7 record of each row, from the log-probs of its windows.

    Args:
        rows (`Sequence[PreparedRow]`): prepared rows; the windows of those without an error, in order, are `run`'s.
        run (`engine.WindowRun`): log-probs of every window (the GALP window of a row, then its step windows).
        blocks (`engine.WindowRun`, *optional*): with `mode="blockmask"` (one window per row), each row's
            block-masked pass, which gives the step scores instead.

    Returns:
        `list[dict]`: one record per row; a row with a window that ran out of memory even alone gets
        `out_of_memory`, one without any scored token `no_scored_tokens`.
    """
    results = []
    cursor = 0
    for row in rows:
        if row.error is not None:
            results.append(row.error_result())
            continue
        mine = range(cursor, cursor + 1 + len(row.steps))
        cursor += 1 + len(row.steps)
        if any(i in run.failed for i in mine) or (blocks is not None and mine[0] in blocks.failed):
            row.error = "out_of_memory"  # a window of this row did not fit in memory even alone
            results.append(row.error_result())
            continue
        galp_lp = run.logprobs[mine[0]]
        own = {w.step: run.logprobs[i] for i, w in zip(mine[1:], row.steps, strict=True)}
        scores = step_scores(row.token_ranges, row.galp, galp_lp if blocks is None else blocks.logprobs[mine[0]], own)
        result = {
            "lalp": lalp(scores),
            "galp": mean_or_none(galp_lp),
            "lalp_steps": scores,
            "num_steps": row.num_steps,
            "num_tokens": row.num_tokens,
            "truncated": row.galp.truncated or any(w.truncated for w in row.steps),
            "score_error": None,
        }
        if result["lalp"] is None and result["galp"] is None:
            row.error = "no_scored_tokens"
            result = row.error_result()  # SPEC §4: such rows have lalp_steps = []
        results.append(result)
    return results
