"""The chunked scoring loop of one `score` call: prepare rows (`rows`) chunk by chunk, the next chunk on a background
thread (`prefetch`) while the model runs the windows of this one (`engine`), then turn log-probs into records
(`aggregate`). A progress bar counts window tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from .aggregate import aggregate_rows
from ..config import ScoringConfig
from .engine import WindowRun, merge_runs, run_blockmask, run_windows
from .prefetch import prefetched
from ..prepare.rows import PreparedRow


def pad_token_id(tokenizer) -> int:
    """The id that pads a batch: the tokenizer's pad token, else its end-of-sequence token, else 0."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


def score_prepared(
    model,
    prepare: Callable[[int], PreparedRow],
    count: int,
    pad_id: int,
    config: ScoringConfig,
    *,
    progress: bool | None = None,
) -> tuple[list[dict], WindowRun]:
    """Score rows `0 .. count-1`, `config.prefetch_rows` at a time (all at once with `0`).

    Args:
        model: the loaded student.
        prepare (`Callable[[int], PreparedRow]`): prepares row `i` (called on a background thread).
        count (`int`): how many rows.
        pad_id (`int`): the padding token id.
        config (`ScoringConfig`): the definition, `mode` and the speed knobs.
        progress (`bool`, *optional*): show a progress bar (default: only on a terminal).

    Returns:
        `tuple[list[dict], WindowRun]`: the SPEC §7 record of each row in order, and what the whole call took.
    """

    def prepare_chunk(chunk: range) -> list[PreparedRow]:
        return [prepare(i) for i in chunk]

    size = config.prefetch_rows or max(count, 1)
    chunks = [range(s, min(s + size, count)) for s in range(0, count, size)]
    results: list[dict] = []
    runs: list[WindowRun] = []
    with tqdm(total=0, unit="tok", unit_scale=True, desc="Scoring", disable=None if progress is None else not progress) as bar:
        for rows in prefetched(prepare_chunk, chunks):  # chunk i+1 is prepared while chunk i is scored
            if config.mode == "blockmask":
                for row in rows:
                    row.steps = []  # steps are read from one block-masked pass per row
            todo = [row for row in rows if row.error is None]
            windows = [w for row in todo for w in (row.galp, *row.steps)]
            prefix_lengths = [row.prefix_length for row in todo for _ in (row.galp, *row.steps)]
            bar.total += sum(len(w) for w in windows)
            bar.refresh()
            runs.append(run_windows(model, windows, prefix_lengths, pad_id, config, bar.update))
            blocks = _blockmask(model, todo, pad_id, config) if config.mode == "blockmask" else None
            results.extend(aggregate_rows(rows, runs[-1], blocks))
            runs.extend([blocks] if blocks is not None else [])
    return results, merge_runs(runs)


def _blockmask(model, rows: Sequence[PreparedRow], pad_id: int, config: ScoringConfig) -> WindowRun:
    """`mode="blockmask"`: the block-masked pass of the GALP window of each row (rows without an error)."""
    return run_blockmask(
        model, [row.galp for row in rows], [row.prefix_length for row in rows], [row.token_ranges for row in rows],
        pad_id, config,
    )
