"""CPU work off the critical path: prepare the next chunk of rows while the model scores the current one.

Segmentation (pysbd, pure Python) and tokenization run in one background thread; the model's matrix products
release the GIL, so both proceed at once. On a GPU host the model side is mostly kernel launches and waiting, and
the preparation of chunk i+1 hides behind the scoring of chunk i.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """Yield `fn(item)` for each item in order, computing the next one in a background thread meanwhile.

    An exception raised by `fn` is raised where its result would have been yielded.

    Example:
        >>> list(prefetched(lambda x: x * x, [1, 2, 3]))
        [1, 4, 9]
    """
    if len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf_localnat-prepare") as pool:
        future = pool.submit(fn, items[0])
        for item in items[1:]:
            result = future.result()
            future = pool.submit(fn, item)
            yield result
        yield future.result()
