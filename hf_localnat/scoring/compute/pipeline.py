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
            runs.append(run_windows(model, windows, prefix_lengths, pad_id, config, bar.update))
            blocks = _blockmask(model, todo, pad_id, config) if config.mode == "blockmask" else None
            results.extend(aggregate_rows(chunk, runs[-1], blocks, scores=config.scores, drop_tokens=config.drop_tokens))
            runs.extend([blocks] if blocks is not None else [])
    merged = merge_runs(runs)
    merged.prepare_wait_seconds = prepared.waited if chunks else 0.0
    return results, merged


def _blockmask(model, rows: Sequence[PreparedRow], pad_id: int, config: ScoringConfig) -> WindowRun:
    """`mode="blockmask"`: the block-masked pass of the GALP window of each row (rows without an error)."""
    return run_blockmask(
        model, [row.galp for row in rows], [row.prefix_length for row in rows], [row.token_ranges for row in rows],
        pad_id, config,
    )
