"""Character spans of steps -> token ranges, from the fast tokenizer's offsets (SPEC §2).

The response is tokenized once, on its own; a token belongs to the step that contains its last character (a token
with an empty span: the step containing its start). Step strings are never re-tokenized.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from ...errors import TokenizerError


def tokenize_response(tokenizer, response: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of `response`, tokenized on its own without special tokens.

    Raises:
        TokenizerError: the tokenizer is not a fast tokenizer (no offsets).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TokenizerError(
            f"{type(tokenizer).__name__} is a slow tokenizer and gives no character offsets; "
            "load a fast one (AutoTokenizer.from_pretrained(..., use_fast=True))."
        )
    encoding = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    return list(encoding["input_ids"]), [tuple(span) for span in encoding["offset_mapping"]]


def align_steps(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token range `[a_i, e_i)` of each step, given token character offsets and step character spans.

    Args:
        offsets (`Sequence[tuple[int, int]]`): character span `[a, b)` of each response token.
        spans (`Sequence[tuple[int, int]]`): character spans of the steps; they partition the response.

    Returns:
        `list[tuple[int, int]]`: one contiguous token range per step (empty when the step owns no token).

    Example:
        >>> align_steps([(0, 5), (5, 11), (11, 12), (12, 16)], [(0, 12), (12, 16)])
        [(0, 3), (3, 4)]
    """
    starts = [start for start, _ in spans]
    owner = []
    for a, b in offsets:
        char = b - 1 if b > a else a
        owner.append(max(0, bisect_right(starts, char) - 1))
    ranges = []
    token = 0
    for step in range(len(spans)):
        begin = token
        while token < len(owner) and owner[token] == step:
            token += 1
        ranges.append((begin, token))
    if token != len(owner):
        raise TokenizerError(
            f"Token offsets are not monotonic (token {token} maps to step {owner[token]} after a later step); "
            "the tokenizer's offset_mapping cannot be aligned with the steps."
        )
    return ranges
