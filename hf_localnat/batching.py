"""Token-budget batches of windows, sorted by length (longest first), in a way that restores input order.

Longest first: an out-of-memory error shows up on the first batch rather than after an hour, the progress ETA errs
long rather than short, and neighbours have similar lengths, so dense padded batches waste little.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def token_budget_batches(lengths: Sequence[int], batch_tokens: int) -> Iterator[list[int]]:
    """Indices of `lengths` grouped into batches whose padded size (rows x longest) fits `batch_tokens`.

    Every index appears in exactly one batch; a window longer than the budget gets a batch of its own.

    Example:
        >>> list(token_budget_batches([3, 8, 2, 8, 5], batch_tokens=16))
        [[1, 3], [4, 0, 2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batch: list[int] = []
    for index in order:
        longest = lengths[batch[0]] if batch else lengths[index]
        if batch and longest * (len(batch) + 1) > batch_tokens:
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / tokens computed (rows x longest, summed over batches); 1.0 means no padding."""
    computed = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return sum(lengths) / computed if computed else 1.0
