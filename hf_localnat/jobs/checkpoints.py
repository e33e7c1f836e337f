"""Resumable scoring for `hf_localnat.score` and `localnat score`: finished chunks of rows are checkpointed, so a
killed run resumes, and a rerun that changes only columns the scores do not depend on reuses every score.

The rows are scored in chunks of `checkpoint_rows`. Each finished chunk's output columns (`records.SCHEMA`) are written
as one Parquet file, through `io.atomic_output`, under the `datasets` cache:

```
$HF_DATASETS_CACHE/localnat-score/{scorer}/chunk-{i}-{content}.parquet
```

`scorer` digests the scorer's fingerprint (definition, model identity, package version, columns read); `content`
digests that fingerprint and what the scorer reads in the chunk's rows: each row's question, response (or steps) and
input error (`LocalNaturalnessScorer.content_digests`), not the rest of the row. So the same command on the same input
finds the chunks of an earlier run, whether it was killed or finished, and scores only the rest; and so does a
command that changes only other columns (`--teacher`, a correctness column, an extra column), or only a speed knob.
A remote INPUT (an fsspec URL) is read from a local copy named by its sha256 (`hf_localnat.io.remote.fetch`), so
new bytes at the same URL are read afresh. A chunk being written when the run was killed is left as a hidden
temporary file, which the next write of that chunk removes (`io.clean_stale`).
A checkpoint is never trusted blindly: each records its rows and a checksum (`io.checked`), and one that cannot be
read or does not match them is discarded with one warning line and scored again.
Nothing is written through `Dataset.map`'s own cache, so no orphan `tmp*` file is left there either.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..io import translated_os_errors
from ..io.checked import discard, read_checked, write_checked
from ..records import ALL_OUTPUT_COLUMNS, schema_for

#: Folder under the `datasets` cache that holds the checkpoints.
CHECKPOINT_DIR = "localnat-score"


@dataclass
class Progress:
    """Where `score_resumable` keeps its checkpoints, known once it starts (read when a run is interrupted).

    Attributes:
        folder (`Path`, *optional*): the checkpoint folder, once known.
        chunks (`int`): how many chunks the input makes (0 until known).
        paths (`list[Path]`): the checkpoint of each chunk, once known.
    """

    folder: Path | None = None
    chunks: int = 0
    paths: list = field(default_factory=list)

    def checkpointed(self) -> int:
        """Chunks checkpointed so far, counted on disk (so a signal between a write and any bookkeeping cannot
        make the count wrong)."""
        return sum(path.is_file() for path in self.paths)


@dataclass
class ScoreRun:
    """How far a score job got, for the report of an interruption: the caller makes it, passes it down
    (`hf_localnat.score(..., run=...)`), and reads it when a signal stops the job.

    Attributes:
        progress (`Progress`): the checkpoints (`--engine local`).
        stats (`dict`): the shards (`--engine ray`: shards, shards_done, shards_reused, nodes).
        written (`list`): the output, once written.
        existed (`bool`): an output was there before the run.
        checkpoint_rows, shard_rows (`int`): rows per checkpoint and per shard.
    """

    progress: Progress = field(default_factory=Progress)
    stats: dict = field(default_factory=dict)
    written: list = field(default_factory=list)
    existed: bool = False
    checkpoint_rows: int = 1024
    shard_rows: int = 1024

    def interruption(self, output: str, command: str) -> str:
        """What was kept when the run stopped, and what rerunning `command` does with it (resumes after the last
        checkpoint or shard, or starts over, naming the option that checkpoints sooner); an old OUTPUT is named only
        when one was there."""
        ray = "shards" in self.stats
        done = self.stats.get("shards_done", 0) if ray else self.progress.checkpointed()
        total = self.stats["shards"] if ray else self.progress.chunks
        unit, option, size = (("shards", "--shard-rows", self.shard_rows) if ray
                              else ("chunks", "--checkpoint-rows", self.checkpoint_rows))
        old = " (the old one is intact)" if self.existed else ""
        if self.written:
            return f"{self.written[0]} was already written in full; nothing is left to do."
        if done:
            return (f"checkpointed {done} of {total} {unit} ({size} rows each); nothing was written to {output}{old}. "
                    f"Resume with the same command, which scores only the rest: {command}")
        return (f"nothing checkpointed yet (a checkpoint is written every {size} rows; a smaller {option} "
                f"checkpoints sooner); nothing was written to {output}{old}. Rerunning starts over: {command}")


@dataclass(frozen=True)
class Resumed:
    """The scored dataset and how many of its rows were read back from checkpoints instead of being scored."""

    dataset: object
    reused_rows: int
    folder: Path


def checkpoint_folder(scorer) -> Path:
    """Where the checkpoints of `scorer` live (one folder per scorer fingerprint)."""
    import datasets

    digest = hashlib.sha256(json.dumps({"scorer": scorer.fingerprint()}).encode()).hexdigest()[:24]
    return Path(datasets.config.HF_DATASETS_CACHE) / CHECKPOINT_DIR / digest


def score_resumable(scorer, dataset, *, checkpoint_rows: int, map_batch_size: int,
                    echo: Callable[[str], None] = print, progress: Progress | None = None,
                    between_chunks: Callable[[], None] | None = None,
                    before_scoring: Callable[[int], None] | None = None,
                    on_rows: Callable[[float], None] | None = None, **map_kwargs) -> Resumed:
    """Score `dataset` with `scorer.map`, chunk by chunk, reusing the chunks an earlier run finished.

    `progress`, if given, gets the checkpoint folder and the chunks as soon as they are known; `between_chunks`, if
    given, is called before each chunk is scored (the CLI raises a signal there that a library swallowed, see
    `cli._signals`); `before_scoring`, if given, once the checkpoints are read, with the number of rows left to score
    (before any is scored, also when it is 0); `on_rows`, if given, with the rows' worth of work each forward batch
    finished (`LocalNaturalnessScorer.score`'s `progress_callback`; only without `num_proc`).

    Returns:
        `Resumed`: the input columns (any old score columns replaced) followed by `records.output_columns(scores)`,
        equal to `scorer.map(dataset)` (SPEC §6: scores do not depend on batch composition).
    """
    import pyarrow as pa
    from datasets import Dataset, concatenate_datasets

    folder = checkpoint_folder(scorer)
    schema = schema_for(scorer.config.scores, scorer.config.segmenter)  # the SPEC §7 columns and the other scores asked for
    if os.path.lexists(folder) and not folder.is_dir():
        echo(f"Warning: the checkpoint folder {folder} is not a folder; discarded, every row is scored.")
        discard(folder)
    with translated_os_errors(folder, what="the checkpoint folder", places=[folder.parent.parent]):
        folder.mkdir(parents=True, exist_ok=True)
    ranges = [(start, min(dataset.num_rows, start + checkpoint_rows))
              for start in range(0, dataset.num_rows, checkpoint_rows)]
    paths = [folder / f"chunk-{i:05d}-{digest}.parquet"
             for i, digest in enumerate(scorer.content_digests(dataset, ranges))]
    progress = progress if progress is not None else Progress()
    progress.folder, progress.chunks, progress.paths = folder, len(ranges), paths
    tables, reused = {}, 0
    for i, ((start, stop), path) in enumerate(zip(ranges, paths, strict=True)):
        if os.path.lexists(path):
            table, damage = read_checked(path, schema, start=start, stop=stop)
            if table is not None:
                tables[i] = table
                reused += stop - start
                continue
            echo(f"Warning: checkpoint {path} is unusable ({damage}); discarded, its {stop - start} rows are scored "
                 "again.")
            discard(path)
    if before_scoring is not None:
        before_scoring(dataset.num_rows - reused)
    previous, scorer.progress_callback = scorer.progress_callback, on_rows
    try:
        for i, ((start, stop), path) in enumerate(zip(ranges, paths, strict=True)):
            if i in tables:
                continue
            if between_chunks is not None:
                between_chunks()
            chunk = dataset.select(range(start, stop))
            scored = scorer.map(chunk, batch_size=map_batch_size, keep_in_memory=True, **map_kwargs,
                                desc=f"Scoring (LALP/GALP) {i + 1}/{len(ranges)}" if len(ranges) > 1
                                else "Scoring (LALP/GALP)")
            table = scored.select_columns(schema.names).with_format("arrow")[:].cast(schema)
            write_checked(table, path, start=start, stop=stop)
            tables[i] = table
    finally:
        scorer.progress_callback = previous
    if reused:
        echo(f"Resumed: reused {reused} of {dataset.num_rows} rows scored by an earlier run "
             f"(checkpoints in {folder}).")
    columns = (Dataset(pa.concat_tables([tables[i] for i in range(len(ranges))])) if tables
               else Dataset(schema.empty_table()))
    base = dataset.remove_columns([c for c in ALL_OUTPUT_COLUMNS if c in dataset.column_names])
    return Resumed(concatenate_datasets([base, columns], axis=1), reused, folder)
