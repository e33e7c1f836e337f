"""Recover the steps a row was scored with (SPEC §1), from its response and the scoring segmenter."""

from __future__ import annotations

from dataclasses import dataclass

from ..io.parts import response_part as part_of
from ..scoring.prepare.segment import join_steps, segment


@dataclass(frozen=True)
class RecoveredSteps:
    """A row's text cut into the steps that were scored.

    Attributes:
        text (`str`): the response `R` (for `given` steps, `"".join(steps)`).
        spans (`list[tuple[int, int]]`): character spans of the steps; they partition `text`.
        scores (`list[float | None]`): the row's `lalp_steps` (one per span when `matches`).
        matches (`bool`): the recovered steps are as many as `num_steps` and `lalp_steps`.
        note (`str | None`): why the steps cannot be shown shaded (a mismatch or an unreadable row).
    """

    text: str
    spans: list[tuple[int, int]]
    scores: list[float | None]
    matches: bool
    note: str | None = None


def recover_steps(row: dict, segmenter: str, *, response_column: str = "response",
                  steps_column: str = "steps", response_part: str = "full") -> RecoveredSteps:
    """Cut `row` exactly as the scorer did: `segment(part of the response, segmenter)` (the scored `response_part`,
    SPEC §9), or `join_steps(row[steps_column])` for `given`; then check that the number of steps equals the row's `num_steps` and `len(lalp_steps)`."""
    scores = list(row.get("lalp_steps") or [])
    if segmenter == "given":
        steps = row.get(steps_column)
        if not isinstance(steps, (list, tuple)) or not all(isinstance(s, str) for s in steps):
            return RecoveredSteps("", [], scores, False, f"no list of steps in column {steps_column!r}")
        text, spans = join_steps(list(steps))
    else:
        text = row.get(response_column)
        if not isinstance(text, str):
            return RecoveredSteps("", [], scores, False, f"no response text in column {response_column!r}")
        part, error = part_of(text, response_part)
        if error is not None:
            return RecoveredSteps(text, [], scores, False, f"not scored: {error}")
        text = part
        spans = segment(text, segmenter)
    num_steps = row.get("num_steps")
    if row.get("score_error"):
        return RecoveredSteps(text, spans, scores, False, f"not scored: {row['score_error']}")
    if len(spans) != num_steps or len(scores) != num_steps:
        return RecoveredSteps(text, spans, scores, False,
                              f"the {segmenter!r} segmenter gives {len(spans)} steps but the row was scored with "
                              f"num_steps={num_steps} ({len(scores)} step scores): scored with another segmenter? "
                              "Shown without shading.")
    return RecoveredSteps(text, spans, scores, True)
