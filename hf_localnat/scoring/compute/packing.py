"""Packs: the windows of a batch laid out in one row without padding between them, each prefix P held once.

A pack holds, for each distinct P among its windows (in order of first appearance), P's tokens and then the tokens
after P of each window that starts with it. Each token sees, causally, the tokens of its own segment and (a window's
tokens) the P segment its window starts with. So every window sees exactly `P ⊕ its own tokens`, at the positions it
has on its own (P at 0..|P|-1, the window's tokens after it): the numbers are the dense path's (SPEC §4), and P is
computed once per pack instead of once per window (SPEC §10 `model_tokens`). Several teachers' responses to one
question share one P.

Packs are padded to a fixed length (`pack_length`: the budget, or a power-of-two fraction of it), so a compiled
attention kernel sees a handful of shapes instead of one per batch.

Plain Python on token ids: no model, no torch import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..prepare.windows import Window

# The segment of padding tokens, and the prefix segment of tokens that see no prefix (never a real segment).
PADDING_SEGMENT = -1
NO_PREFIX = -2
# The smallest padded pack, and the step by which a window longer than the budget is padded.
MIN_PACK_TOKENS = 128


@dataclass(frozen=True)
class PackLayout:
    """One packed model input and where its scored tokens are.

    Attributes:
        input_ids (`list[int]`): the pack's tokens, padding included.
        positions (`list[int]`): each token's position in its own window (P from 0, the window's tokens after P).
        segments (`list[int]`): each token's segment (one per P, one per window; `PADDING_SEGMENT` for padding).
        prefix_segments (`list[int]`): the P segment a window's token also sees (`NO_PREFIX` for P and padding).
        predictors (`list[int]`): for each scored token, window by window, the column whose state predicts it.
        targets (`list[int]`): the scored tokens' ids, in the same order.
        counts (`list[int]`): how many scored tokens each window has (`num_scored`), in the order given.
        real_tokens (`int`): tokens before padding (P tokens counted once).
        prefix_tokens (`int`): tokens of the P segments.
    """

    input_ids: list[int]
    positions: list[int]
    segments: list[int]
    prefix_segments: list[int]
    predictors: list[int]
    targets: list[int]
    counts: list[int]
    real_tokens: int
    prefix_tokens: int

    def __len__(self) -> int:
        return len(self.input_ids)

    def allowed(self, query: int, key: int) -> bool:
        """Whether the token at column `query` attends to column `key` (the mask every attention path builds)."""
        return key <= query and (
            self.segments[query] == self.segments[key] or self.prefix_segments[query] == self.segments[key]
        )


def pack_length(tokens: int, budget: int) -> int:
    """The padded length of a pack of `tokens` under `budget`: the smallest `budget / 2^k` (at least
    `MIN_PACK_TOKENS`) that holds it, or, for a window longer than the budget, `tokens` rounded up to a multiple of
    `budget / 8`.

    Example:
        >>> pack_length(16000, 16384), pack_length(5000, 16384), pack_length(3, 16384), pack_length(20000, 16384)
        (16384, 8192, 128, 20480)
    """
    if tokens > budget:
        step = max(MIN_PACK_TOKENS, budget // 8)
        return -(-tokens // step) * step
    length = budget
    while length // 2 >= max(tokens, MIN_PACK_TOKENS) and length // 2 * 2 == length:
        length //= 2
    return max(length, min(budget, MIN_PACK_TOKENS))


def pack_layout(
    windows: Sequence[Window],
    prefix_lengths: Sequence[int],
    *,
    share_prefix: bool = True,
    length: int | None = None,
    pad_id: int = 0,
) -> PackLayout:
    """Lay out `windows` (whose first `prefix_lengths[i]` ids are their P) as one pack.

    Args:
        share_prefix (`bool`, *optional*, defaults to `True`): hold each distinct P once; `False` lays every window
            out whole, its P included (for varlen kernels, which take only position ids and no mask).
        length (`int`, *optional*): pad to this many tokens (at least the pack's own length).
        pad_id (`int`, *optional*, defaults to 0): the id written in padding.

    Example (two windows with the same P `[1, 2]`, one of them scoring its last 2 tokens):
        >>> w = [Window(0, None, [1, 2, 7, 8], 2, 0, False), Window(1, None, [1, 2, 9], 1, 0, False)]
        >>> layout = pack_layout(w, [2, 2])
        >>> layout.input_ids, layout.positions, layout.predictors, layout.targets
        ([1, 2, 7, 8, 9], [0, 1, 2, 3, 2], [1, 2, 1], [7, 8, 9])
    """
    ids: list[int] = []
    positions: list[int] = []
    segments: list[int] = []
    prefix_segments: list[int] = []
    prefix_columns: dict[tuple[int, ...], tuple[int, int]] = {}  # P -> (its segment, its first column)
    columns: list[int] = [0] * len(windows)  # where each window's own tokens start
    order = _grouped_order(windows, prefix_lengths) if share_prefix else range(len(windows))
    prefix_tokens = 0
    segment = 0
    for i in order:
        window, p = windows[i], (prefix_lengths[i] if share_prefix else 0)
        seen = NO_PREFIX
        if p:
            key = tuple(window.input_ids[:p])
            if key not in prefix_columns:
                prefix_columns[key] = (segment, len(ids))
                ids.extend(key)
                positions.extend(range(p))
                segments.extend([segment] * p)
                prefix_segments.extend([NO_PREFIX] * p)
                prefix_tokens += p
                segment += 1
            seen = prefix_columns[key][0]
        columns[i] = len(ids)
        body = window.input_ids[p:]
        ids.extend(body)
        positions.extend(range(p, p + len(body)))
        segments.extend([segment] * len(body))
        prefix_segments.extend([seen] * len(body))
        segment += 1
    predictors: list[int] = []
    targets: list[int] = []
    for i, window in enumerate(windows):
        p = prefix_lengths[i] if share_prefix else 0
        first_prefix_column = prefix_columns[tuple(window.input_ids[:p])][1] if p else 0
        for j in window.scored_positions():
            before = j - 1  # the input index whose state predicts index j
            predictors.append(first_prefix_column + before if before < p else columns[i] + before - p)
            targets.append(window.input_ids[j])
    real = len(ids)
    pad = max(0, (length or real) - real)
    return PackLayout(
        input_ids=ids + [pad_id] * pad,
        positions=positions + list(range(pad)),
        segments=segments + [PADDING_SEGMENT] * pad,
        prefix_segments=prefix_segments + [NO_PREFIX] * pad,
        predictors=predictors,
        targets=targets,
        counts=[w.num_scored for w in windows],
        real_tokens=real,
        prefix_tokens=prefix_tokens,
    )


def _grouped_order(windows: Sequence[Window], prefix_lengths: Sequence[int]) -> list[int]:
    """Window indices with the windows of each P together, P by P in order of first appearance (stable)."""
    first: dict[tuple[int, ...], int] = {}
    keys = [first.setdefault(tuple(w.input_ids[:p]), len(first)) for w, p in zip(windows, prefix_lengths, strict=True)]
    return sorted(range(len(windows)), key=lambda i: keys[i])
