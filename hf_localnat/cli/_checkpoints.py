"""Resumable scoring for `localnat score`: finished chunks of rows are checkpointed, so a killed run resumes.

The rows are scored in chunks of `checkpoint_rows`. Each finished chunk's output columns (`records.SCHEMA`) are written
as one Parquet file, through `io.atomic_output`, under the `datasets` cache:

```
$HF_DATASETS_CACHE/localnat-score/{key}/chunk-{i}-of-{n}.parquet
```

`key` digests the scorer's fingerprint (definition, model identity, package version), the input's `datasets`
fingerprint (its content), its columns, its row count and the chunk size: the same command on the same input finds
the chunks of an earlier run, whether it was killed or finished, and scores only the rest. A remote INPUT (an fsspec
URL) is read from a local copy named by its sha256 (`hf_localnat.io.remote.fetch`), so its fingerprint is that of its
bytes: the same bytes at any URL resume, new bytes at the same URL are scored afresh (an ETag or mtime would not do:
`memory://` reports neither, and `hf://` paths name a branch, not a commit). A chunk being written when
the run was killed is left as a hidden temporary file, which the next write of that chunk removes (`io.clean_stale`).
A checkpoint is never trusted blindly: each records its rows and a checksum (`io.checked`), and one that cannot be
read or does not match them is discarded with one warning line and scored again.
Nothing is written through `Dataset.map`'s own cache, so no orphan `tmp*` file is left there either.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
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
    """

    folder: Path | None = None
    chunks: int = 0

    def checkpointed(self) -> int:
        """Chunks checkpointed so far, counted on disk (so a signal between a write and any bookkeeping cannot
        make the count wrong)."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        return sum(p.is_file() for p in self.folder.glob(f"chunk-*-of-{self.chunks:05d}.parquet"))


@dataclass(frozen=True)
class Resumed:
    """The scored dataset and how many of its rows were read back from checkpoints instead of being scored."""

    dataset: object
    reused_rows: int
    folder: Path


def checkpoint_folder(scorer, dataset, checkpoint_rows: int) -> Path:
    """Where the checkpoints of scoring `dataset` with `scorer` in chunks of `checkpoint_rows` live."""
    import datasets

    key = json.dumps({"scorer": scorer.fingerprint(), "input": dataset._fingerprint, "rows": dataset.num_rows,
                      "columns": dataset.column_names, "checkpoint_rows": checkpoint_rows}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(datasets.config.HF_DATASETS_CACHE) / CHECKPOINT_DIR / digest


def score_resumable(scorer, dataset, *, checkpoint_rows: int, map_batch_size: int,
                    echo: Callable[[str], None] = print, progress: Progress | None = None,
                    between_chunks: Callable[[], None] | None = None, **map_kwargs) -> Resumed:
    """Score `dataset` with `scorer.map`, chunk by chunk, reusing the chunks an earlier run finished.

    `progress`, if given, gets the checkpoint folder and the chunk count as soon as they are known;
    `between_chunks`, if given, is called before each chunk is scored (the CLI raises a signal there that a library
    swallowed, see `cli._signals`).

    Returns:
        `Resumed`: the input columns (any old score columns replaced) followed by `records.output_columns(scores)`,
        equal to `scorer.map(dataset)` (SPEC §6: scores do not depend on batch composition).
    """
    import pyarrow as pa
    from datasets import Dataset, concatenate_datasets

    folder = checkpoint_folder(scorer, dataset, checkpoint_rows)
    schema = schema_for(scorer.config.scores)  # the SPEC §7 columns and the other scores asked for
    if os.path.lexists(folder) and not folder.is_dir():
        echo(f"Warning: the checkpoint folder {folder} is not a folder; discarded, every row is scored.")
        discard(folder)
    with translated_os_errors(folder, what="the checkpoint folder", places=[folder.parent.parent]):
        folder.mkdir(parents=True, exist_ok=True)
    num_chunks = max(1, -(-dataset.num_rows // checkpoint_rows))
    progress = progress if progress is not None else Progress()
    progress.folder, progress.chunks = folder, num_chunks
    tables, reused = [], 0
    for i in range(num_chunks):
        path = folder / f"chunk-{i:05d}-of-{num_chunks:05d}.parquet"
        start, stop = i * checkpoint_rows, min(dataset.num_rows, (i + 1) * checkpoint_rows)
        if os.path.lexists(path):
            table, damage = read_checked(path, schema, start=start, stop=stop)
            if table is not None:
                tables.append(table)
                reused += stop - start
                continue
            echo(f"Warning: checkpoint {path} is unusable ({damage}); discarded, its {stop - start} rows are scored "
                 "again.")
            discard(path)
        if between_chunks is not None:
            between_chunks()
        chunk = dataset.select(range(start, stop))
        scored = scorer.map(chunk, batch_size=map_batch_size, keep_in_memory=True, **map_kwargs,
                            desc=f"Scoring (LALP/GALP) {i + 1}/{num_chunks}" if num_chunks > 1 else "Scoring (LALP/GALP)")
        table = scored.select_columns(schema.names).with_format("arrow")[:].cast(schema)
        write_checked(table, path, start=start, stop=stop)
        tables.append(table)
    if reused:
        echo(f"Resumed: reused {reused} of {dataset.num_rows} rows scored by an earlier run of this command "
             f"(checkpoints in {folder}).")
    columns = Dataset(pa.concat_tables(tables)) if tables else Dataset(schema.empty_table())
    base = dataset.remove_columns([c for c in ALL_OUTPUT_COLUMNS if c in dataset.column_names])
    return Resumed(concatenate_datasets([base, columns], axis=1), reused, folder)
