"""Cutting a response into steps (SPEC §1).

A response `R` is cut into steps `s_0 … s_{n-1}` that partition it: concatenated they give `R` back, character for
character. Steps are returned as character spans `[start, end)` into `R`.

Segmenters:

- `"sentence"` (default): pysbd (English, `clean=False`, `char_span=True`) run on pieces of `R`: chunks cut right
  after every whitespace run containing a blank line (regex `\\n\\s*\\n`), a chunk longer than `PIECE_LENGTH` (5000)
  characters cut further by [`piece_starts`] (so pysbd's superlinear time never sees more than 5000 characters, and
  segmentation is linear in `len(R)`); every span start, shifted by its piece's offset, is a boundary, and so is
  position 0. Whitespace between sentences stays with the step before it. Thread-safe (one pysbd object per thread).
- `"line"`: a boundary after every `\\n` that is followed by a character other than `\\n` or `\\r`.
- `"paragraph"`: a boundary after every `\\n\\s*\\n` run.
- `"given"`: the caller supplies the steps; use [`join_steps`].

After cutting, a step made only of whitespace is merged into the step before it (into the next one if it is the
first). Only this module decides where steps are; it needs neither a tokenizer nor torch.
"""

from __future__ import annotations

import re
import threading
from typing import Literal

import pysbd

__all__ = ["PIECE_LENGTH", "SEGMENTERS", "Segmenter", "is_text", "join_steps", "merge_whitespace_steps", "piece_starts",
           "segment"]

Segmenter = Literal["sentence", "line", "paragraph", "given"]
SEGMENTERS: tuple[str, ...] = ("sentence", "line", "paragraph", "given", "turns")

# A whitespace run that contains a blank line. `\s*` is greedy, so a match runs to the last `\n` of the run;
# the cut is at `match.end()`, and whitespace after that last `\n` (indentation) starts the next piece.
_BLANK_LINE_RUN = re.compile(r"\n\s*\n")
# A newline followed by a character that is not itself a line break. `\r` counts as a line break so that CRLF text
# ("a\r\n\r\nb") is cut like LF text ("a\n\nb"): blank lines stay with the line before them.
_LINE_START = re.compile(r"\n(?=[^\r\n])")


# pysbd never sees more than this many characters at once (SPEC §1): its time grows faster than linearly with length.
PIECE_LENGTH = 5000
_AFTER_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")  # a whitespace run that follows `.`, `!` or `?`
_WHITESPACE_RUN = re.compile(r"\s+")

# A pysbd Segmenter keeps the text it is segmenting as an attribute, so one shared by two threads mixes their texts up
# (wrong steps, silently). Building one is slow, so each thread builds its own once.
_thread_local = threading.local()


def _sentence_splitter() -> pysbd.Segmenter:
    splitter = getattr(_thread_local, "splitter", None)
    if splitter is None:
        splitter = _thread_local.splitter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return splitter


def is_text(value: object) -> bool:
    """Whether `value` is text a tokenizer can take: a `str` that UTF-8 can encode (so no lone surrogate).

    Example:

    ```python
    >>> is_text("Hi."), is_text("Hi \\ud800."), is_text(b"Hi."), is_text(None)
    (True, False, False, False)

    ```
    """
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _chunk_starts(response: str) -> list[int]:
    """Starts of the chunks of `response`, cut right after every `\\n\\s*\\n` run (the first chunk starts at 0)."""
    return [0] + [m.end() for m in _BLANK_LINE_RUN.finditer(response)]


def _last_end(pattern: re.Pattern, text: str) -> int | None:
    """End of the last match of `pattern` in `text`, or `None`."""
    end = None
    for match in pattern.finditer(text):
        end = match.end()
    return end


def piece_starts(text: str, start: int = 0, stop: int | None = None, limit: int = PIECE_LENGTH) -> list[int]:
    """Starts of the pieces of `text[start:stop]`, each at most `limit` characters (SPEC §1), the first at `start`.

    From the start, each cut goes within the next `limit` characters of what remains: right after its last `\\n`;
    if it has none, right after its last whitespace run that follows `.`, `!` or `?`; if none, right after its last
    whitespace run; if none, at `limit`. Linear in the length.

    Example:

    ```python
    >>> piece_starts("ab. cd\\nef gh. ij kl", limit=8)
    [0, 7, 14]

    ```
    """
    stop = len(text) if stop is None else stop
    starts = [start]
    while stop - starts[-1] > limit:
        window = text[starts[-1]:starts[-1] + limit]
        newline = window.rfind("\n")
        if newline >= 0:
            cut = newline + 1
        else:
            cut = _last_end(_AFTER_SENTENCE_END, window) or _last_end(_WHITESPACE_RUN, window) or limit
        starts.append(starts[-1] + cut)
    return starts


def _sentence_boundaries(response: str, piece_length: int | None = PIECE_LENGTH) -> list[int]:
    """Boundaries of the `sentence` segmenter: 0 and every pysbd span start, in increasing order.

    `piece_length=None` leaves long chunks whole (what this project did before SPEC §1 bounded them; superlinear
    time): only for `benchmarks/segmentation.py`'s side-by-side table.
    """
    splitter = _sentence_splitter()
    chunk_starts = _chunk_starts(response)
    chunk_stops = chunk_starts[1:] + [len(response)]
    if piece_length is None:
        starts = chunk_starts
    else:
        starts = [s for a, b in zip(chunk_starts, chunk_stops) for s in piece_starts(response, a, b, piece_length)]
    ends = starts[1:] + [len(response)]
    boundaries = [0]
    for offset, stop in zip(starts, ends):
        chunk = response[offset:stop]
        if not chunk:
            continue
        # pysbd 0.3.4 finds each sentence's span by searching the chunk for the sentence's text and taking the first
        # match that ends after the previous span's end. Repeated sentences ("Yes. Yes. Yes.") come out right, but a
        # match can start *before* the previous span's end (e.g. "The cat sat. . ." gives spans (0, 13) and
        # (11, 15)), and text pysbd drops (a trailing "?!", a chunk of only punctuation) gets no span at all.
        # So a span start is clamped up to the furthest end seen so far (never cut inside an earlier sentence), and
        # kept only if it is strictly after the last boundary and inside the chunk. Text without a span simply stays
        # with the step before it, so the steps still partition `response`.
        furthest_end = 0
        for span in splitter.segment(chunk):
            start = max(span.start, furthest_end)
            furthest_end = max(furthest_end, span.end)
            if 0 <= start < len(chunk) and offset + start > boundaries[-1]:
                boundaries.append(offset + start)
    return boundaries


def _line_boundaries(response: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_START.finditer(response)]


def _paragraph_boundaries(response: str) -> list[int]:
    return [0] + [m.end() for m in _BLANK_LINE_RUN.finditer(response) if m.end() < len(response)]


_BOUNDARY_FUNCTIONS = {
    "sentence": _sentence_boundaries,
    "line": _line_boundaries,
    "paragraph": _paragraph_boundaries,
}


def merge_whitespace_steps(response: str, boundaries: list[int]) -> list[tuple[int, int]]:
    """Turn sorted boundaries (starting at 0) into spans, merging whitespace-only steps.

    Step `j` runs from `boundaries[j]` to `boundaries[j + 1]` (the last one to `len(response)`). A step made only of
    whitespace (`step.strip() == ""`) is merged into the step before it, or into the next one if it is the first.
    When all of `response` is whitespace, the result is one span covering it.

    Args:
        response (`str`): the text being cut.
        boundaries (`list[int]`): strictly increasing step starts in `[0, len(response))`, the first one 0; empty
            only when `response` is empty.

    Returns:
        `list[tuple[int, int]]`: the spans `[start, end)` of the steps, contiguous and non-empty, covering
        `response`; `[]` when `response` is `""`.

    Raises:
        ValueError: `boundaries` does not start at 0, is not strictly increasing, or reaches `len(response)`.

    Example:

    ```python
    >>> merge_whitespace_steps("  Hi. \\n\\n Yo.", [0, 2, 6, 9])
    [(0, 9), (9, 12)]

    ```
    """
    if not response:
        if boundaries:
            raise ValueError(f"boundaries must be [] for an empty response; got {list(boundaries)!r}.")
        return []
    if not boundaries or boundaries[0] != 0:
        raise ValueError(f"boundaries must start at 0; got {list(boundaries)[:5]!r}.")
    for previous, current in zip(boundaries, boundaries[1:]):
        if not previous < current < len(response):
            raise ValueError(
                f"boundaries must be strictly increasing and below len(response)={len(response)}; "
                f"got {previous} then {current}."
            )
    stops = list(boundaries[1:]) + [len(response)]
    spans: list[tuple[int, int]] = []
    for start, end in zip(boundaries, stops):
        if response[start:end].strip():
            # A pending whitespace-only first step is absorbed here: this span starts at the last span's end or 0.
            spans.append((spans[-1][1] if spans else 0, end))
        elif spans:
            spans[-1] = (spans[-1][0], end)
    if not spans:  # all of `response` is whitespace
        return [(0, len(response))]
    # Whitespace-only steps after the last kept step were merged into it above; the last span ends at len(response).
    return spans


def segment(response: str, segmenter: str = "sentence") -> list[tuple[int, int]]:
    """Character spans [start, end) of the steps of `response`; they partition it.

    Args:
        response (`str`): the text to cut.
        segmenter (`str`, *optional*, defaults to `"sentence"`): `"sentence"`, `"line"` or `"paragraph"` (see the
            module docstring). For `"given"` steps, use [`join_steps`].

    Returns:
        `list[tuple[int, int]]`: contiguous, non-empty spans covering `response`, so that
        `"".join(response[a:b] for a, b in spans) == response`. No span is whitespace-only unless all of `response`
        is whitespace, in which case there is one span; `[]` when `response` is `""`.

    Raises:
        TypeError: `response` is not a `str`.
        ValueError: `segmenter` is unknown, or is `"given"` (which needs the steps themselves: use `join_steps`).

    Example:

    ```python
    >>> text = "Hello world. The cat sat.\\n\\nNew para."
    >>> [text[a:b] for a, b in segment(text)]
    ['Hello world. ', 'The cat sat.\\n\\n', 'New para.']
    >>> [text[a:b] for a, b in segment(text, "paragraph")]
    ['Hello world. The cat sat.\\n\\n', 'New para.']

    ```
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a str; got {type(response).__name__}.")
    if segmenter == "given":
        raise ValueError(
            "segmenter 'given' needs the steps themselves; call join_steps(steps) instead of segment(response)."
        )
    boundary_function = _BOUNDARY_FUNCTIONS.get(segmenter)
    if boundary_function is None:
        raise ValueError(f"Unknown segmenter {segmenter!r}; use one of {', '.join(SEGMENTERS)}.")
    if not response:
        return []
    return merge_whitespace_steps(response, boundary_function(response))


def join_steps(steps: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """For the `given` segmenter: R = "".join(steps) and the spans, after the whitespace merge.

    Empty and whitespace-only items are merged like any whitespace-only step: into the step before them, or into
    the next one if they come first.

    Args:
        steps (`list[str]` or `tuple[str, ...]`): the steps, in order.

    Returns:
        `tuple[str, list[tuple[int, int]]]`: the response `R` and the spans `[start, end)` of its steps.

    Raises:
        TypeError: `steps` is not a list or tuple, or one of its items is not a `str`.

    Example:

    ```python
    >>> join_steps(["First. ", "", "  ", "Second."])
    ('First.   Second.', [(0, 9), (9, 16)])

    ```
    """
    if not isinstance(steps, (list, tuple)):
        raise TypeError(f"steps must be a list or tuple of str; got {type(steps).__name__}.")
    for index, step in enumerate(steps):
        if not isinstance(step, str):
            raise TypeError(f"steps must be a list or tuple of str; steps[{index}] is {type(step).__name__}.")
    response = "".join(steps)
    boundaries: list[int] = []
    position = 0
    for step in steps:
        if step:  # empty items add no boundary: they simply vanish
            boundaries.append(position)
            position += len(step)
    return response, merge_whitespace_steps(response, boundaries)
