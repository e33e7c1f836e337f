"""The chunked scoring loop of one `score` call: prepare rows (`prepare.rows`) chunk by chunk, the next chunks on a
background thread or in worker processes (`prefetch`, `prepare.pool`) while the model runs the windows of this one
(`engine`), then turn log-probs into records (`aggregate`). A progress bar counts window tokens."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from .aggregate import aggregate_rows
from ..config import ScoringConfig
from .engine import WindowRun, merge_runs, run_blockmask, run_windows
from .prefetch import Prefetched, in_thread
from ..prepare.pool import PreparePool, RowInput
from ..prepare.rows import PreparedRow


def pad_token_id(tokenizer) -> int:
    """The id that pads a batch: the tokenizer's pad token, else its end-of-sequence token, else 0."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


def score_prepared(
    model,
    rows: Sequence[RowInput],
    prepare: Callable[[Sequence[RowInput]], list[PreparedRow]],
    pad_id: int,
    config: ScoringConfig,
    *,
    pool: PreparePool | None = None,
    progress: bool | None = None,
    on_rows: Callable[[float], None] | None = None,
) -> tuple[list[dict], WindowRun]:
    """Score `rows`, `config.prefetch_rows` at a time (all at once with `0`).

    Args:
        model: the loaded student.
        rows (`Sequence[RowInput]`): the rows of the call, as `prepare.pool.RowInput` tuples.
        prepare (`Callable`): prepares a chunk of rows (called on a background thread when there is no `pool`).
        pad_id (`int`): the padding token id.
        config (`ScoringConfig`): the definition, `mode` and the speed knobs.
        pool (`PreparePool`, *optional*): prepare chunks in its worker processes instead, one more than it has
            workers in flight.
        progress (`bool`, *optional*): show a progress bar (default: only on a terminal).
        on_rows (`Callable[[float], None]`, *optional*): called after every batch with the rows' worth of work it
            finished (a row's share is its tokens run over all its tokens; a row without a score counts 1 at once);
            each chunk adds up to exactly its row count.

    Returns:
        `tuple[list[dict], WindowRun]`: the SPEC §7 record of each row in order, and what the whole call took
        (`prepare_wait_seconds`: how long the model side waited for prepared rows).
    """
    size = config.prefetch_rows or max(len(rows), 1)
    chunks = [rows[s : s + size] for s in range(0, len(rows), size)]
    results: list[dict] = []
    runs: list[WindowRun] = []
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=0, unit="tok", unit_scale=True, desc="Scoring",
                                       disable=None if progress is None else not progress))
        if pool is not None:
            prepared = Prefetched(pool.submit, chunks, depth=pool.workers + 1)
        else:
            prepared = Prefetched(stack.enter_context(in_thread(prepare)), chunks)
        for chunk in prepared:  # the next chunks are prepared while this one is scored
            if config.mode == "blockmask":
                for row in chunk:
                    row.steps = []  # steps are read from one block-masked pass per row
            todo = [row for row in chunk if row.error is None]
            windows = [w for row in todo for w in (row.galp, *row.steps)]
            prefix_lengths = [row.prefix_length for row in todo for _ in (row.galp, *row.steps)]
            bar.total += sum(len(w) for w in windows)
            bar.refresh()
            rows_done = RowsDone(on_rows, len(chunk), len(todo), windows, config.mode == "blockmask")
            runs.append(run_windows(model, windows, prefix_lengths, pad_id, config,
                                    lambda tokens: (bar.update(tokens), rows_done.add(tokens))))
            blocks = (_blockmask(model, todo, pad_id, config, rows_done.add) if config.mode == "blockmask"
                      else None)
            rows_done.finish()
            results.extend(aggregate_rows(chunk, runs[-1], blocks, scores=config.scores,
                                          drop_tokens=config.drop_tokens))
            runs.extend([blocks] if blocks is not None else [])
    merged = merge_runs(runs)
    merged.prepare_wait_seconds = prepared.waited if chunks else 0.0
    return results, merged


class RowsDone:
    """Turns the tokens of each finished batch of a chunk into rows' worth of work for `on_rows`: the chunk's rows
    without an error share its tokens (rows with one count 1 each, at once); `finish` sends what rounding left, so
    that the chunk adds up to exactly its row count."""

    def __init__(self, on_rows: Callable[[float], None] | None, rows: int, scored: int, windows, blockmask: bool):
        self.on_rows = on_rows
        self.left = float(rows)
        # blockmask runs the GALP windows twice: once in `run_windows`, once block-masked
        tokens = sum(len(w) for w in windows) * (2 if blockmask else 1)
        self.per_token = scored / tokens if tokens else 0.0
        self._send(rows - scored)

    def _send(self, rows: float) -> None:
        rows = min(rows, self.left)
        if self.on_rows is not None and rows > 0:
            self.left -= rows
            self.on_rows(rows)

    def add(self, tokens: int) -> None:
        """A batch of `tokens` window tokens finished."""
        self._send(tokens * self.per_token)

    def finish(self) -> None:
        """The chunk is done: send the rest (float rounding)."""
        self._send(self.left)


def _blockmask(model, rows: Sequence[PreparedRow], pad_id: int, config: ScoringConfig,
               on_batch: Callable[[int], None] | None = None) -> WindowRun:
    """`mode="blockmask"`: the block-masked pass of the GALP window of each row (rows without an error)."""
    return run_blockmask(
        model, [row.galp for row in rows], [row.prefix_length for row in rows], [row.token_ranges for row in rows],
        pad_id, config, on_batch,
    )
