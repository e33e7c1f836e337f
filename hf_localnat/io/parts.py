"""The response part that is scored (SPEC §9): the whole response, its thinking block, or the answer after it.

Part of the scoring definition, like the window: `full` scores the response as given; `thinking` the text between
the first opening tag and the next closing tag of the same pair; `answer` the text after that closing tag. The part
is stripped of surrounding whitespace; an answer wrapped in `<|begin_of_solution|>…<|end_of_solution|>` or
`<answer>…</answer>` loses those tags and is stripped again. The `response` column always keeps the full text.
"""

from __future__ import annotations

RESPONSE_PARTS: tuple[str, ...] = ("full", "thinking", "answer")
"""The values of `response_part`."""

THINK_TAGS: tuple[tuple[str, str], ...] = (("<think>", "</think>"), ("<|begin_of_thought|>", "<|end_of_thought|>"))
"""Opening and closing tags of a thinking block (DeepSeek-R1 / Qwen3; Sky-T1 / OpenThoughts / Bespoke-Stratos)."""

ANSWER_TAGS: tuple[tuple[str, str], ...] = (("<|begin_of_solution|>", "<|end_of_solution|>"), ("<answer>", "</answer>"))
"""Tags around an answer that the `answer` part drops."""

NO_THINKING_BLOCK = "no_thinking_block"
"""The `score_error` of a response without a complete tag pair under `thinking` or `answer`."""


def thinking_block(text: str) -> tuple[int, int, int] | None:
    """`(start of the thinking text, its end, end of the closing tag)` for the first opening tag of any pair and the
    next closing tag of that pair; `None` when there is no complete pair."""
    found = [(text.find(opening), opening, closing) for opening, closing in THINK_TAGS]
    found = sorted((at, opening, closing) for at, opening, closing in found if at >= 0)
    for at, opening, closing in found:
        start = at + len(opening)
        end = text.find(closing, start)
        if end >= 0:
            return start, end, end + len(closing)
    return None


def response_part(text: str, part: str) -> tuple[str | None, str | None]:
    """The text of `part` of the response `text`, or `(None, "no_thinking_block")`.

    Example:
        ```python
        >>> response_part("<think> Try 2. </think>\\n\\n<answer>2</answer>", "thinking")
        ('Try 2.', None)
        >>> response_part("<think> Try 2. </think>\\n\\n<answer>2</answer>", "answer")
        ('2', None)
        >>> response_part("Just 2.", "answer")
        (None, 'no_thinking_block')

        ```
    """
    if part == "full":
        return text, None
    block = thinking_block(text)
    if block is None:
        return None, NO_THINKING_BLOCK
    start, end, after = block
    if part == "thinking":
        return text[start:end].strip(), None
    answer = text[after:].strip()
    for opening, closing in ANSWER_TAGS:
        if answer.startswith(opening) and answer.endswith(closing) and len(answer) >= len(opening) + len(closing):
            return answer[len(opening):len(answer) - len(closing)].strip(), None
    return answer, None
