"""Row preparation: one response -> its steps, tokens, step token ranges and windows (SPEC §1–3), or the reason
it cannot be scored (`score_error`). A bad row gets a reason, never an exception that would fail its batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...errors import ConfigError
from ...io.parts import response_part
from ...records import error_record
from .align import align_steps, tokenize_response
from ..config import ScoringConfig
from .prefix import build_prefix
from .segment import is_text, join_steps, segment
from .windows import Window, row_windows


@dataclass
class PreparedRow:
    """A response on its way through the pipeline.

    Attributes:
        num_steps (`int`), num_tokens (`int`): its step and response-token counts (SPEC §7).
        token_ranges (`list[tuple[int, int]]`): each step's response-token range.
        prefix_length (`int`): |P|, the tokens of its question prompt.
        galp (`Window | None`): the GALP window (P + the whole response, bounded by `max_length`).
        steps (`list[Window]`): the step windows that are not a prefix of the GALP window.
        error (`str | None`): the `score_error` reason, if the row cannot be scored.
    """

    num_steps: int = 0
    num_tokens: int = 0
    token_ranges: list[tuple[int, int]] = field(default_factory=list)
    prefix_length: int = 0
    galp: Window | None = None
    steps: list[Window] = field(default_factory=list)
    error: str | None = None

    def error_result(self) -> dict:
        """The SPEC §7 record of this row with its `error` as `score_error`."""
        return error_record(self.error, num_steps=self.num_steps, num_tokens=self.num_tokens)

    def extra_columns(self) -> dict:
        """Columns of this row beyond the scores (an agent trace's trace columns, SPEC §14); none here."""
        return {}


def check_inputs(
    responses: Sequence[str | None] | None,
    questions: Sequence[str | None] | None,
    steps: Sequence[Sequence[str] | None] | None,
    segmenter: str,
) -> tuple[list, list, list]:
    """The arguments of `LocalNaturalnessScorer.score` as three lists of one entry per row (`None` where absent).

    Raises:
        ConfigError: steps missing with `segmenter="given"`, responses not a list, or a question count that differs.
    """
    if segmenter == "given":
        if steps is None:
            raise ConfigError("segmenter='given' reads the steps: pass steps=[[step, ...], ...].")
        count = len(steps)
    else:
        if responses is None or isinstance(responses, str):
            raise ConfigError("Pass responses as a list of strings (wrap a single response in a list).")
        count = len(responses)
    questions = [None] * count if questions is None else list(questions)
    if len(questions) != count:
        raise ConfigError(f"Got {count} responses but {len(questions)} questions; pass one question per response.")
    responses = [None] * count if responses is None else list(responses)
    steps = [None] * count if steps is None else list(steps)
    return responses, questions, steps


def prepare_row(
    tokenizer,
    config: ScoringConfig,
    max_length: int,
    index: int,
    response: str | None,
    question: str | None,
    steps: Sequence[str] | None,
    prefix_cache: dict,
) -> PreparedRow:
    """Segment, tokenize, align and window one response (row `index` of its call).

    Args:
        tokenizer: the student's fast tokenizer.
        config (`ScoringConfig`): `segmenter`, `prompt_format`, `window`, `reuse_galp`.
        max_length (`int`): the bound on every model input.
        response (`str`, *optional*): the response (ignored with `segmenter="given"`); its `config.response_part`
            is what is cut into steps and scored. (Agent traces, `segmenter="turns"`, are prepared by
            `prepare.turns.prepare_trace`; `prepare.pool.prepare_any` picks the one a configuration needs.)
        question (`str`, *optional*): its question; `None` means no question.
        steps (`Sequence[str]`, *optional*): its steps, with `segmenter="given"`.
        prefix_cache (`dict`): question -> its prompt's token ids (P), shared by the rows of a call.

    Returns:
        `PreparedRow`: with `error` set (`missing_steps`, `invalid_steps`, `missing_response`, `invalid_response`,
        `empty_response`, `invalid_question`, `prompt_too_long`, `no_thinking_block`) instead of windows when the row cannot be scored.
    """
    row = PreparedRow()
    if config.segmenter == "given":
        if steps is None:
            row.error = "missing_steps"
            return row
        if not isinstance(steps, (list, tuple)) or not all(is_text(s) for s in steps):
            row.error = "invalid_steps"
            return row
        response, spans = join_steps(list(steps))
    else:
        if response is None:
            row.error = "missing_response"
            return row
        if not is_text(response):
            row.error = "invalid_response"
            return row
        response, row.error = response_part(response, config.response_part)
        if row.error is not None:
            return row
        spans = segment(response, config.segmenter)
    row.num_steps = len(spans)
    if not response.strip():
        row.error = "empty_response"
        return row
    if question is not None and not is_text(question):
        row.error = "invalid_question"
        return row
    ids, offsets = tokenize_response(tokenizer, response)
    row.num_tokens = len(ids)
    row.token_ranges = align_steps(offsets, spans)
    if question not in prefix_cache:
        prefix_cache[question] = build_prefix(tokenizer, question, config.prompt_format)
    prefix = prefix_cache[question]
    row.prefix_length = len(prefix)
    if len(prefix) >= max_length:
        row.error = "prompt_too_long"
        return row
    row.galp, row.steps = row_windows(index, prefix, ids, row.token_ranges, config.window, max_length, config.reuse_galp)
    return row
