"""Model inputs: one window per step (P + the k preceding steps + the step) and one GALP pass per row (SPEC §4–5).

Every input ends with the tokens it scores, so a window is fully described by its ids and how many trailing tokens
are scored. Windows are plain data: building them needs no model.

The window is `k` preceding steps (an `int`) or a share of the preceding steps (`"P%"`, SPEC §12: step `i` sees
`ceil(P·i/100)` of its `i` preceding steps). `window_start` is the one place that turns either into the first step
of a step's input; the windows, the blockmask, the SPEC §10 counts and `whole_prefix_share` all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ConfigError

WindowSpec = int | str
"""A window: `k` preceding steps (`int >= 0`), or a share of the preceding steps (`"P%"`, `P` in 1..100)."""

_SHARE = re.compile(r"([0-9]+)%")


def parse_window(value: object) -> WindowSpec:
    """The window `value` as the definition records it: an `int >= 0`, or a share `"P%"` (`P` an integer 1..100).

    Text that holds a whole number (`"4"`, from a command line) becomes that `int`; a share keeps its text.

    Raises:
        ConfigError: `value` is neither.

    Example:
        >>> parse_window(4), parse_window("4"), parse_window("10%")
        (4, 4, '10%')
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        match = _SHARE.fullmatch(text)
        if match and 1 <= int(match.group(1)) <= 100:
            return f"{int(match.group(1))}%"
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ConfigError(f"`window` must be a whole number >= 0 (preceding steps) or a share of the preceding steps "
                      f"such as '10%' (1% to 100%), got {value!r}.")


def preceding_steps(step, window: WindowSpec):
    """`k_i`: how many preceding steps step `step` (0-based) sees: `window` itself, or for a share `"P%"`
    `ceil(P·step/100)` in integers (SPEC §12). `step` may be an `int` or an integer tensor.

    Example:
        >>> [preceding_steps(i, "10%") for i in (0, 1, 10, 11)], preceding_steps(7, 4)
        ([0, 1, 1, 2], 4)
    """
    if isinstance(window, str):
        share = int(window[:-1])
        return (share * step + 99) // 100
    return window


def window_start(step: int, window: WindowSpec) -> int:
    """The first step of step `step`'s input: `max(0, step - k_i)` (SPEC §4, §12).

    Example:
        >>> [window_start(i, 4) for i in range(7)], [window_start(i, "50%") for i in range(7)]
        ([0, 0, 0, 0, 0, 1, 2], [0, 0, 1, 1, 2, 2, 3])
    """
    return max(0, step - preceding_steps(step, window))


def whole_prefix_share(scored: Sequence[bool], window: WindowSpec) -> float | None:
    """The share of a row's scored steps whose window starts at step 0, so that (untruncated) they score exactly as
    in GALP's pass (SPEC §12); `None` for a row without a scored step. Needs no model.

    Args:
        scored (`Sequence[bool]`): per step, whether it is scored (owns tokens; `lalp_steps[i] is not None`).
        window (`int` or `str`): the window (`4`, `"10%"`).

    Example (6 steps, k = 4: steps 0-4 see their whole prefix):
        >>> whole_prefix_share([True] * 6, 4), whole_prefix_share([True] * 6, "10%")
        (0.8333333333333334, 0.3333333333333333)
    """
    steps = [i for i, is_scored in enumerate(scored) if is_scored]
    if not steps:
        return None
    return sum(window_start(i, window) == 0 for i in steps) / len(steps)


def mean_whole_prefix_share(lalp_steps: Sequence[Sequence[float | None] | None], window: WindowSpec) -> float | None:
    """The mean `whole_prefix_share` over scored rows, from their `lalp_steps` (a step is scored when its score is
    not `None`); rows with no scored step are left out. `None` when no row has one.

    Example:
        >>> round(mean_whole_prefix_share([[-1.0] * 6, [-1.0, None], []], 4), 4)  # 5/6 and 1/1; the empty row is left out
        0.9167
    """
    shares = [whole_prefix_share([v is not None for v in steps], window) for steps in lalp_steps if steps]
    shares = [s for s in shares if s is not None]
    return sum(shares) / len(shares) if shares else None


def whole_prefix_line(share: float | None, window: WindowSpec) -> str:
    """The report line of a mean `whole_prefix_share` (`estimate`, `score`, `rank-teachers`).

    Example:
        >>> whole_prefix_line(0.25, "10%")
        'Whole-prefix share: 0.25 of the scored steps see their whole prefix with window 10% (SPEC §12).'
    """
    if share is None:
        return f"Whole-prefix share: none (no scored step) with window {window}."
    return f"Whole-prefix share: {share:.2f} of the scored steps see their whole prefix with window {window} (SPEC §12)."


#: Above this mean `whole_prefix_share`, LALP has mostly become GALP and the commands say so (SPEC §12).
WHOLE_PREFIX_WARNING_SHARE = 0.5


def whole_prefix_warning(share: float | None, window: WindowSpec) -> str | None:
    """The one-line warning for a mean `whole_prefix_share` above `WHOLE_PREFIX_WARNING_SHARE`, else `None`.

    Example:
        >>> whole_prefix_warning(5 / 6, 4)
        'Warning: 83% of the scored steps see their whole prefix with window 4, so LALP is mostly GALP here (too few steps per response for this window); use a smaller window or a share window such as --window 10%.'
    """
    if share is None or share <= WHOLE_PREFIX_WARNING_SHARE:
        return None
    return (f"Warning: {share:.0%} of the scored steps see their whole prefix with window {window}, so LALP is mostly "
            "GALP here (too few steps per response for this window); use a smaller window or a share window such "
            "as --window 10%.")


def scored_whole_prefix_lines(scored, window: WindowSpec | None) -> list[str]:
    """The report of scored rows (a `datasets.Dataset` with `lalp_steps`, as `localnat score` writes it): the line
    of their mean `whole_prefix_share` under `window`, and its warning when there is one. Nothing when the window
    is not known (no provenance) or the rows have no `lalp_steps`."""
    if window is None or "lalp_steps" not in scored.column_names:
        return []
    share = mean_whole_prefix_share(scored["lalp_steps"], window)
    return [whole_prefix_line(share, window), *filter(None, [whole_prefix_warning(share, window)])]


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
        spans (`tuple[tuple[int, int], ...]`, *optional*): the scored tokens as input index ranges `[start, end)`,
            in order, when they are not the trailing `num_scored` ones (an agent trace's single pass scores every
            assistant turn of one rendering, SPEC §14); `num_scored` is their total.
    """

    row: int
    step: int | None
    input_ids: list[int]
    num_scored: int
    first_token: int
    truncated: bool
    spans: tuple[tuple[int, int], ...] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def scored_positions(self) -> range | list[int]:
        """The input indices of the scored tokens, in order (each predicted by the state of the index before it).

        Example:
            >>> Window(0, None, [5, 6, 7, 8], 2, 0, False).scored_positions()
            range(2, 4)
            >>> Window(0, None, [5, 6, 7, 8], 2, 0, False, spans=((1, 2), (3, 4))).scored_positions()
            [1, 3]
        """
        if self.spans is None:
            return range(len(self.input_ids) - self.num_scored, len(self.input_ids))
        return [j for start, end in self.spans for j in range(start, end)]


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
    window: WindowSpec,
    max_length: int,
) -> Window:
    """The input for step `step`: `P + R[a_w : e_i]`, `w = window_start(step, window)`, cut to `max_length` per SPEC §5.

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
    a_w = token_ranges[window_start(step, window)][0]
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
    window: WindowSpec,
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
        if reuse_galp and window_start(step, window) == 0 and e_i <= galp_cover:
            continue
        steps.append(step_window(row, step, prefix, response_ids, token_ranges, window, max_length))
    return galp, steps
