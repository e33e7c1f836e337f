"""Preparation in worker processes: segmentation (pysbd, pure Python) and window assembly hold the GIL, so one
preparing thread cannot keep up with a GPU. A `PreparePool` runs `rows.prepare_row` in `workers` spawned processes,
each holding the tokenizer and the configuration (sent once) and its own cache of prompts.

Spawned, not forked: the parent may hold CUDA state and threads, which a forked child must not touch.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from ..config import ScoringConfig
from .rows import PreparedRow, prepare_row
from .turns import PreparedTrace, prepare_trace

#: One row to prepare: (index in its call, response, question, steps, the input layer's error).
RowInput = tuple[int, object, object, object, "str | None"]

_WORKER: dict = {}  # in a worker: the tokenizer, configuration, max_length and prompt cache


def usable_cpus() -> int:
    """The cores this process may use: its CPU affinity, and inside a Ray actor the CPUs Ray gave it (several
    actors share one node, so each must not size its pool by the whole machine)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            given = ray.get_runtime_context().get_assigned_resources().get("CPU")
        except Exception:  # pragma: no cover - outside a task or actor (the driver) nothing is assigned
            given = None
        if given:
            cpus = min(cpus, max(1, int(given)))
    return cpus


def auto_workers(device_type: str) -> int:
    """`prepare_workers="auto"`: none on the CPU (the model needs the cores), else half the usable cores
    (`usable_cpus`), at least 1 and at most 8."""
    if device_type == "cpu":
        return 0
    return max(1, min(8, usable_cpus() // 2))


def prepare_any(tokenizer, config: ScoringConfig, max_length: int, index: int, response, question, steps,
                cache: dict) -> PreparedRow:
    """`rows.prepare_row`, or for agent traces (`segmenter="turns"`) `turns.prepare_trace` (`response` is then the
    row's `io.turns.RawTrace`)."""
    if config.segmenter == "turns":
        return prepare_trace(tokenizer, config, max_length, index, response, cache)
    return prepare_row(tokenizer, config, max_length, index, response, question, steps, cache)


def prepare_rows(tokenizer, config: ScoringConfig, max_length: int, rows: Sequence[RowInput], prefix_cache: dict) -> list[PreparedRow]:
    """`prepare_any` on each row; a row the input layer could not read gets its reason."""
    unread = PreparedTrace if config.segmenter == "turns" else PreparedRow  # a trace's record has its columns, null
    return [unread(error=error) if error is not None
            else prepare_any(tokenizer, config, max_length, index, response, question, steps, prefix_cache)
            for index, response, question, steps, error in rows]


def _start_worker(tokenizer, config: ScoringConfig, max_length: int) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the pool is the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent reports it, once
    _WORKER.update(tokenizer=tokenizer, config=config, max_length=max_length, prefix_cache={})


def _prepare_in_worker(rows: Sequence[RowInput]) -> list[PreparedRow]:
    w = _WORKER
    return prepare_rows(w["tokenizer"], w["config"], w["max_length"], rows, w["prefix_cache"])


class PreparePool:
    """`workers` processes preparing chunks of rows for one tokenizer, configuration and `max_length`.

    Example:
        ```python
        >>> pool = PreparePool(tokenizer, config, max_length=8192, workers=4)  # doctest: +SKIP
        >>> future = pool.submit([(0, "First. Then.", "Q?", None, None)])  # doctest: +SKIP
        >>> [row] = future.result()  # doctest: +SKIP
        ```
    """

    def __init__(self, tokenizer, config: ScoringConfig, max_length: int, workers: int) -> None:
        self.key = (id(tokenizer), config, max_length)
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(tokenizer, config, max_length),
        )

    def submit(self, rows: Sequence[RowInput]) -> Future:
        """Prepare `rows` in a worker; the future's result is their `PreparedRow`s, in order."""
        return self._executor.submit(_prepare_in_worker, list(rows))

    def close(self) -> None:
        """Stop the workers (also when the pool is garbage-collected or the interpreter exits)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
