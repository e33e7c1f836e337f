"""Recover the steps a row was scored with (SPEC §1), from its response and the scoring segmenter; for an agent trace
(SPEC §14), its turns from its conversation column."""

from __future__ import annotations

from collections.abc import Callable
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


# --------------------------------------------------------------------------------------- agent traces (SPEC §14)
@dataclass(frozen=True)
class TraceBlock:
    """One turn of an agent trace as the report shows it.

    Attributes:
        kind (`str`): `"head"` (before the first assistant turn: system prompt, task), `"observation"` (a
            non-assistant turn after the head), `"assistant"` (a scored turn) or `"after"` (after the last assistant
            turn: not scored).
        role (`str`): the turn's role as read (SPEC §14 names: `system`, `user`, `assistant`, `tool`, ...).
        text (`str`): its content; an assistant turn's tool calls follow as `<tool_call>` lines.
        turn (`int | None`): for an assistant turn, its index `i` (0-based): its score is `lalp_steps[i]`.
        score (`float | None`): that score (`None`: unscored, or the scores do not match the turns).
        tokens (`int | None`): an observation's tokens (the student's tokenizer), when a counter was given.
        capped (`bool | None`): an observation over the cap (`max_observation_tokens`): the student saw only its
            first ⌈c/2⌉ and last ⌊c/2⌋ tokens; `None` when that cannot be told without the tokenizer.
    """

    kind: str
    role: str
    text: str
    turn: int | None = None
    score: float | None = None
    tokens: int | None = None
    capped: bool | None = False


@dataclass(frozen=True)
class RecoveredTrace:
    """A row's conversation cut into the turns that were scored (SPEC §14).

    Attributes:
        blocks (`list[TraceBlock]`): every turn, in order.
        scores (`list[float | None]`): the row's `lalp_steps`.
        matches (`bool`): the assistant turns are as many as `num_steps` and `lalp_steps` (the shading is theirs).
        cap (`int`): the observation cap the row was scored with (0: none).
        note (`str | None`): why the turns are shown without shading.
    """

    blocks: list[TraceBlock]
    scores: list[float | None]
    matches: bool
    cap: int
    note: str | None = None

    def unit(self, turn: int) -> list[TraceBlock]:
        """The blocks of unit `turn`: the observations before assistant turn `turn`, then that turn."""
        out: list[TraceBlock] = []
        for block in self.blocks:
            if block.kind == "assistant" and block.turn == turn:
                return out + [block]
            out = [] if block.kind in ("assistant", "head") else out + [block]
        return []


def recover_trace(row: dict, conversation_column: str, *, cap: int,
                  count_tokens: Callable[[str], int] | None = None) -> RecoveredTrace:
    """Cut `row[conversation_column]` into head, observations and assistant turns as SPEC §14 does
    (`hf_localnat.io.turns.read_turns`), give assistant turn `i` the score `lalp_steps[i]`, and mark the observations
    over the cap `cap`.

    Without `count_tokens` an observation's tokens are not known; it is then marked as not capped when its UTF-8
    bytes are at most `cap` (a token holds at least one byte), else as possibly capped (`capped=None`).
    """
    from ..io.turns import TraceError, read_turns

    scores = list(row.get("lalp_steps") or [])
    try:
        turns = read_turns(row.get(conversation_column))
    except TraceError as e:
        return RecoveredTrace([], scores, False, cap, f"the conversation cannot be read: {e}")
    starts = [i for i, t in enumerate(turns) if t.role == "assistant"]
    head_end, last = (starts[0], starts[-1]) if starts else (len(turns), -1)
    blocks: list[TraceBlock] = []
    matches = bool(starts) and len(starts) == len(scores) == row.get("num_steps") and not row.get("score_error")
    for k, t in enumerate(turns):
        if k < head_end:
            blocks.append(TraceBlock("head", t.role, t.content))
        elif t.role == "assistant":
            i = len([b for b in blocks if b.kind == "assistant"])
            text = t.content + "".join(f"\n<tool_call>\n{c.as_json()}\n</tool_call>" for c in t.tool_calls)
            blocks.append(TraceBlock("assistant", t.role, text, i, scores[i] if matches else None))
        elif k > last:
            blocks.append(TraceBlock("after", t.role, t.content))
        else:
            tokens = count_tokens(t.content) if count_tokens is not None and t.content else None
            if cap <= 0 or not t.content:
                capped: bool | None = False
            elif tokens is not None:
                capped = tokens > cap
            else:
                capped = False if len(t.content.encode("utf-8")) <= cap else None
            blocks.append(TraceBlock("observation", t.role, t.content, tokens=tokens, capped=capped))
    note = None
    if row.get("score_error"):
        note = f"not scored: {row['score_error']}"
    elif not matches:
        note = (f"the conversation has {len(starts)} assistant turns but the row was scored with "
                f"num_steps={row.get('num_steps')} ({len(scores)} turn scores): scored with another segmenter or "
                "another conversation column? Shown without shading.")
    return RecoveredTrace(blocks, scores, matches, cap, note)
