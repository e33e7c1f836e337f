"""CPU work off the critical path: prepare the next chunks of rows while the model scores the current one.

Preparation (segmentation, tokenization, windows) runs in one background thread, or in a pool of processes
(`prepare.pool.PreparePool`) with several chunks in flight. The model's matrix products release the GIL, so the
thread and the model proceed at once on a CPU; on a GPU host the model side is mostly kernel launches, and the pool's
chunks hide behind the scoring of the current one. `Prefetched.waited` says how long the model side waited.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Prefetched(Generic[R]):
    """The results of `submit(item)` for each item, in order, with up to `depth` items submitted ahead.

    An exception raised by the work is raised where its result would have been yielded.

    Attributes:
        waited (`float`): seconds spent waiting for a result that was not ready (the first one included).

    Example:
        >>> with in_thread(lambda x: x * x) as submit:
        ...     list(Prefetched(submit, [1, 2, 3]))
        [1, 4, 9]
    """

    def __init__(self, submit: Callable[[T], Future], items: Sequence[T], depth: int = 1) -> None:
        self.submit, self.items, self.depth = submit, items, max(1, depth)
        self.waited = 0.0

    def __iter__(self) -> Iterator[R]:
        upcoming = iter(self.items)
        pending: deque[Future] = deque(self.submit(item) for _, item in zip(range(self.depth), upcoming))
        while pending:
            start = time.perf_counter()
            result = pending.popleft().result()
            self.waited += time.perf_counter() - start
            for item in upcoming:  # one more in flight, before the caller works on this one
                pending.append(self.submit(item))
                break
            yield result


@contextmanager
def in_thread(fn: Callable[[T], R]) -> Iterator[Callable[[T], Future]]:
    """A `submit` for `Prefetched` that runs `fn` in one background thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf_localnat-prepare") as pool:
        yield lambda item: pool.submit(fn, item)
