"""Token log-probs -> step scores -> LALP and GALP for one response (SPEC §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .windows import Window


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
