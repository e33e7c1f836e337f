"""Token-budget batches of windows, sorted by length (longest first), with out-of-memory back-off.

Longest first: an out-of-memory error shows up on the first batch rather than after an hour, the progress ETA errs
long rather than short, and neighbours have similar lengths, so dense padded batches waste little. A batch also
closes when the next window is shorter than `bucket_ratio` x its longest (tight length buckets), so every dense
batch keeps at least that share of real tokens. Windows of different `groups` (for instance different prefixes
whose keys/values are reused) never share a batch, except in packs that hold each group's `shared` tokens (its P)
once: a pack may hold several groups, and it is topped up from the next `PACK_LOOKAHEAD` windows with any that still
fit, so that a pack padded to a fixed length is nearly all real tokens.

Everything here is plain Python on lengths: no model, no torch import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# How many windows ahead a pack looks for one that still fits its budget.
PACK_LOOKAHEAD = 256


def batch_cost(
    lengths: Sequence[int],
    batch: Sequence[int],
    packed: bool = False,
    *,
    groups: Sequence[int] | None = None,
    shared: Mapping[int, int] | None = None,
) -> int:
    """Tokens a batch computes: rows x longest row (dense, padded), or the sum of lengths (packed), plus, with
    `shared`, the shared tokens of each group the pack holds, once."""
    if not batch:
        return 0
    if packed:
        held = sum(shared.get(g, 0) for g in {groups[i] for i in batch}) if shared and groups is not None else 0
        return sum(lengths[i] for i in batch) + held
    return len(batch) * max(lengths[i] for i in batch)


def length_order(lengths: Sequence[int], groups: Sequence[int] | None = None) -> list[int]:
    """Indices sorted longest first; with `groups`, group by group (the group with the longest window first)."""
    if groups is None:
        return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    longest: dict[int, int] = {}
    for i, g in enumerate(groups):
        longest[g] = max(longest.get(g, 0), lengths[i])
    rank = {g: r for r, g in enumerate(sorted(longest, key=lambda g: (-longest[g], g)))}
    return sorted(range(len(lengths)), key=lambda i: (rank[groups[i]], -lengths[i], i))


def take_batch(
    order: Sequence[int],
    start: int,
    lengths: Sequence[int],
    batch_tokens: int,
    *,
    groups: Sequence[int] | None = None,
    bucket_ratio: float = 0.0,
    packed: bool = False,
    shared: Mapping[int, int] | None = None,
) -> list[int]:
    """The next batch: `order[start:]` taken while the batch fits `batch_tokens`, stays in one group and (dense
    batches) its shortest window is at least `bucket_ratio` x its longest. Always takes at least one window.

    With `shared` (packed only), see `take_pack`: the batch may then not be a contiguous slice of `order`, which is
    reordered in place so that it is (`order[start:start + len(batch)]`)."""
    if packed and shared is not None and groups is not None:
        return take_pack(order, start, lengths, batch_tokens, groups, shared)
    first = order[start]
    batch = [first]
    total = lengths[first]
    for index in order[start + 1 :]:
        if groups is not None and groups[index] != groups[first]:
            break
        if packed:
            if total + lengths[index] > batch_tokens:
                break
        elif lengths[first] * (len(batch) + 1) > batch_tokens or lengths[index] < bucket_ratio * lengths[first]:
            break
        batch.append(index)
        total += lengths[index]
    return batch


def take_pack(
    order: list[int],
    start: int,
    lengths: Sequence[int],
    batch_tokens: int,
    groups: Sequence[int],
    shared: Mapping[int, int],
) -> list[int]:
    """The next pack: windows from `order[start:]` in order while they fit `batch_tokens` (each group's `shared`
    tokens counted once), then any of the next `PACK_LOOKAHEAD` that still fit. `order[start:]` is reordered in place
    so the pack comes first, the others keeping their order. Always takes at least one window."""
    ahead = order[start : start + PACK_LOOKAHEAD]
    held: set[int] = set()
    total = 0
    chosen: list[int] = []
    shortest = min(lengths[i] for i in ahead)
    for index in ahead:
        cost = lengths[index] + (0 if groups[index] in held else shared.get(groups[index], 0))
        if chosen and total + cost > batch_tokens:
            if total + shortest > batch_tokens:
                break  # nothing ahead can fit any more
            continue
        chosen.append(index)
        held.add(groups[index])
        total += cost
    taken = set(chosen)
    order[start : start + len(ahead)] = chosen + [i for i in ahead if i not in taken]
    return chosen


def token_budget_batches(
    lengths: Sequence[int],
    batch_tokens: int,
    *,
    groups: Sequence[int] | None = None,
    bucket_ratio: float = 0.0,
    packed: bool = False,
    shared: Mapping[int, int] | None = None,
) -> Iterator[list[int]]:
    """Indices of `lengths` grouped into batches whose cost (`batch_cost`) fits `batch_tokens`.

    Every index appears in exactly one batch; a window longer than the budget gets a batch of its own.

    Example:
        >>> list(token_budget_batches([3, 8, 2, 8, 5], batch_tokens=16))
        [[1, 3], [4, 0, 2]]
        >>> list(token_budget_batches([3, 8, 2, 8, 5], batch_tokens=16, bucket_ratio=0.6))
        [[1, 3], [4, 0], [2]]
    """
    order = length_order(lengths, groups)
    start = 0
    while start < len(order):
        batch = take_batch(order, start, lengths, batch_tokens, groups=groups, bucket_ratio=bucket_ratio, packed=packed,
                           shared=shared)
        start += len(batch)
        yield batch


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / tokens computed (rows x longest, summed over batches); 1.0 means no padding."""
    computed = sum(batch_cost(lengths, b) for b in batches)
    return sum(lengths) / computed if computed else 1.0


def is_out_of_memory(error: BaseException) -> bool:
    """`torch.OutOfMemoryError` (CUDA and other accelerators) or the CPU allocator's "can't allocate memory"."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    if isinstance(error, (RuntimeError, MemoryError)):
        text = str(error)
        return "can't allocate memory" in text or "out of memory" in text.lower() or isinstance(error, MemoryError)
    return False


@dataclass
class BatchRun:
    """What `run_batches` did.

    Attributes:
        batches (`list[list[int]]`): the batches that ran, in order.
        retries (`int`): batches retried after an out-of-memory error.
        failed (`list[int]`): windows that ran out of memory even alone.
        computed_tokens (`int`): tokens computed, padding included.
    """

    batches: list[list[int]] = field(default_factory=list)
    retries: int = 0
    failed: list[int] = field(default_factory=list)
    computed_tokens: int = 0


def run_batches(
    lengths: Sequence[int],
    batch_tokens: int,
    run: Callable[[list[int]], None],
    *,
    groups: Sequence[int] | None = None,
    bucket_ratio: float = 0.0,
    packed: bool = False,
    shared: Mapping[int, int] | None = None,
    backoff: bool = True,
    on_oom: Callable[[], None] | None = None,
) -> BatchRun:
    """Call `run(batch)` on token-budget batches of `lengths`, backing off when a batch runs out of memory.

    On an out-of-memory error the budget is halved (below the failed batch's cost) and the same windows are tried
    again in smaller batches; a window that fails alone is recorded in `failed` and skipped. Once the windows ahead
    are at most half as long as the one that failed, the budget doubles again (up to `batch_tokens`): it re-probes.

    Args:
        lengths (`Sequence[int]`): tokens of each window (what a batch computes per row).
        batch_tokens (`int`): the starting (and largest) budget.
        run (`Callable`): runs one batch of indices; may raise an out-of-memory error.
        groups, bucket_ratio, packed, shared: as in `token_budget_batches`; with `shared`, a budget that backs off
            stays `batch_tokens / 2^k`, the lengths packs are padded to (`packing.pack_length`).
        backoff (`bool`, *optional*, defaults to `True`): `False` re-raises the first out-of-memory error.
        on_oom (`Callable`, *optional*): called after each out-of-memory error (e.g. to empty a GPU cache).
    """
    order = length_order(lengths, groups)
    result = BatchRun()
    budget = batch_tokens
    reprobe_at: int | None = None
    start = 0
    while start < len(order):
        head = lengths[order[start]]
        if reprobe_at is not None and head <= reprobe_at and budget < batch_tokens:
            budget = min(batch_tokens, budget * 2)
            reprobe_at = head // 2
            logger.info("Window lengths fell to %d tokens: raising the batch budget to %d tokens.", head, budget)
        batch = take_batch(order, start, lengths, budget, groups=groups, bucket_ratio=bucket_ratio, packed=packed,
                           shared=shared)
        try:
            run(batch)
        except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
            if not backoff or not is_out_of_memory(error):
                raise
            if on_oom is not None:
                on_oom()
            result.retries += 1
            if len(batch) == 1:
                logger.warning("A %d-token window ran out of memory on its own; its row gets no score.", head)
                result.failed.append(batch[0])
                start += 1
                continue
            cost = batch_cost(lengths, batch, packed, groups=groups, shared=shared)
            budget = max(1, min(budget, cost) // 2)
            if shared is not None:  # the largest batch_tokens / 2^k below the failed pack
                budget = next((b for b in (batch_tokens >> k for k in range(batch_tokens.bit_length())) if b < cost), 1)
            reprobe_at = head // 2
            logger.warning("Out of memory on a %d-token batch; retrying it with a budget of %d tokens.", cost, budget)
            continue
        result.batches.append(batch)
        result.computed_tokens += batch_cost(lengths, batch, packed, groups=groups, shared=shared)
        start += len(batch)
    return result
