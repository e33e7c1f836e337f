"""Model inputs: one window per step (P + the k preceding steps + the step) and one GALP pass per row (SPEC §4–5).

Every input ends with the tokens it scores, so a window is fully described by its ids and how many trailing tokens
are scored. Windows are plain data: building them needs no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """One model input.

    Attributes:
        row (`int`): index of the response in the call.
        step (`int | None`): index of the scored step, or `None` for the GALP pass over the whole response.
        input_ids (`list[int]`): P followed by a slice of the response ids.
        num_scored (`int`): how many trailing tokens of `input_ids` are scored.
        first_token (`int`): response-token index of the first scored token.
        truncated (`bool`): context was dropped or the scored tokens were cut to fit `max_length`.
    """

    row: int
    step: int | None
    input_ids: list[int]
    num_scored: int
    first_token: int
    truncated: bool

    def __len__(self) -> int:
        return len(self.input_ids)


def galp_window(row: int, prefix: Sequence[int], response_ids: Sequence[int], max_length: int) -> Window:
    """The GALP input `P + R[0:cover]`, with `cover = min(len(R), max_length - len(P))` (SPEC §4–5).

    The first response token is unscored when P is empty (nothing precedes it).

    Example:
        >>> w = galp_window(0, [1, 2], [10, 11, 12, 13], max_length=5)
        >>> w.input_ids, w.num_scored, w.first_token, w.truncated
        ([1, 2, 10, 11, 12], 3, 0, True)
    """
    cover = min(len(response_ids), max_length - len(prefix))
    first = 0 if prefix else 1
    return Window(
        row=row,
        step=None,
        input_ids=list(prefix) + list(response_ids[:cover]),
        num_scored=max(0, cover - first),
        first_token=first,
        truncated=cover < len(response_ids),
    )


def step_window(
    row: int,
    step: int,
    prefix: Sequence[int],
    response_ids: Sequence[int],
    token_ranges: Sequence[tuple[int, int]],
    window: int,
    max_length: int,
) -> Window:
    """The input for step `step`: `P + R[a_w : e_i]`, `w = max(0, step - window)`, cut to `max_length` per SPEC §5.

    Context is dropped from the left (oldest first, P kept); if P plus the step alone is too long, only the step's
    first `max_length - len(P)` tokens are scored. A token at input position 0 has no context and is not scored.

    Example (steps own tokens [0,2), [2,3), [3,6); window 1; no length limit):
        >>> ranges = [(0, 2), (2, 3), (3, 6)]
        >>> step_window(0, 2, [1], [10, 11, 12, 13, 14, 15], ranges, window=1, max_length=100).input_ids
        [1, 12, 13, 14, 15]
        >>> w = step_window(0, 2, [1], [10, 11, 12, 13, 14, 15], ranges, window=1, max_length=3)
        >>> w.input_ids, w.num_scored, w.truncated
        ([1, 13, 14], 2, True)
    """
    budget = max_length - len(prefix)
    a_i, e_i = token_ranges[step]
    a_w = token_ranges[max(0, step - window)][0]
    end = min(e_i, a_i + budget)
    start = max(a_w, end - budget)
    first = a_i if (prefix or start < a_i) else a_i + 1
    return Window(
        row=row,
        step=step,
        input_ids=list(prefix) + list(response_ids[start:end]),
        num_scored=max(0, end - first),
        first_token=first,
        truncated=end < e_i or start > a_w,
    )


def row_windows(
    row: int,
    prefix: Sequence[int],
    response_ids: Sequence[int],
    token_ranges: Sequence[tuple[int, int]],
    window: int,
    max_length: int,
    reuse_galp: bool = True,
) -> tuple[Window, list[Window]]:
    """The GALP window of a row and the step windows it still needs.

    With `reuse_galp`, a step whose window starts at the first response token and ends inside the GALP input is a
    prefix of the GALP input: its log-probs are read from the GALP pass and it gets no window of its own.
    """
    galp = galp_window(row, prefix, response_ids, max_length)
    galp_cover = len(galp.input_ids) - len(prefix)
    steps = []
    for step, (a_i, e_i) in enumerate(token_ranges):
        if a_i == e_i:
            continue
        if reuse_galp and step <= window and e_i <= galp_cover:
            continue
        steps.append(step_window(row, step, prefix, response_ids, token_ranges, window, max_length))
    return galp, steps
