"""Score a dataset on a Ray cluster: Ray Data streams the rows to one scorer actor per worker (the model loads once
per actor), and finished shards are kept on disk so an interrupted run resumes where it stopped.

The numbers are those of `LocalNaturalnessScorer` in one process (each actor runs a copy of the same scorer); the
output has the same rows in the same order, the same columns and the same provenance, written by the same
`io.save_output`.

How a run goes:

1. The input is read like the single-process CLI reads it (`io.load_input`) and cut into contiguous shards of
   `shard_rows` rows. A shard's file name is derived from the scorer's fingerprint, what it reads in the input's
   rows (`shard_key`: questions and responses, not the other columns) and its row range, so a rerun of the same
   command, or of one that changes only other columns, finds the shards it already wrote.
2. The rows of the shards still missing (only the columns the scorer reads, plus the row number) go to Ray Data as
   one block per shard; `map_batches` runs them through a pool of `workers` scorer actors. Ray restarts an actor
   that dies and retries its batch.
3. The driver collects the score columns by row number (a row seen twice, from a retried batch, is kept once) and
   writes each shard as soon as all its rows are in: `{output}.localnat-shards/part-{i}-of-{n}-{key}.parquet`,
   with its row range and a checksum (`io.checked`); a rerun checks them and scores a damaged shard again.
4. When every shard is there, the score columns are joined to the input in order and written to `output`; the
   shard folder is then removed.

Requires the `ray` extra (`pip install 'ray[data]'`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io.checked import discard, read_checked, write_checked
from ..records import ALL_OUTPUT_COLUMNS, output_features, schema_for

logger = logging.getLogger(__name__)

ROW_COLUMN = "__localnat_row__"
WORKER_COLUMN = "__localnat_worker__"  # "{node id}:{pid}" of the actor that scored the row
SHARDS_SUFFIX = ".localnat-shards"


def shard_folder(output: str | os.PathLike) -> Path:
    """Where the finished shards of a run writing `output` are kept until the output is written: beside a local
    `output`; for a URL, under `$HF_DATASETS_CACHE/localnat-ray-shards/` in a folder named by the URL's digest."""
    from ..io.remote import is_url, local_path

    if is_url(output):
        import datasets

        digest = hashlib.sha256(str(output).encode()).hexdigest()[:24]
        return Path(datasets.config.HF_DATASETS_CACHE) / "localnat-ray-shards" / f"{digest}{SHARDS_SUFFIX}"
    output = Path(local_path(output)).expanduser()
    return output.with_name(output.name + SHARDS_SUFFIX)


def shard_names(num_rows: int, shard_rows: int, key: str) -> list[tuple[int, int, str]]:
    """`(start, stop, file name)` of every shard: contiguous row ranges, names derived from `key` and the range."""
    ranges = [(start, min(num_rows, start + shard_rows)) for start in range(0, num_rows, shard_rows)]
    names = []
    for index, (start, stop) in enumerate(ranges):
        digest = hashlib.sha256(f"{key}:{start}:{stop}".encode()).hexdigest()[:16]
        names.append((start, stop, f"part-{index:05d}-of-{len(ranges):05d}-{digest}.parquet"))
    return names


def shard_key(scorer, dataset) -> str:
    """What names the shards of scoring `dataset` with `scorer`: the scorer's fingerprint and a digest of what it
    reads in every row (`content_digests`), so a rerun that changes only other columns (a teacher) finds them."""
    [content] = scorer.content_digests(dataset, [(0, dataset.num_rows)])
    return f"{scorer.fingerprint()}:{content}:{dataset.num_rows}"


class _ScorerActor:
    """One Ray actor: a copy of the scorer (configuration only when pickled; the model loads on the first batch)."""

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.node = None

    def __call__(self, batch):
        import pyarrow as pa
        import ray

        if self.node is None:
            self.node = f"{ray.get_runtime_context().get_node_id()}:{os.getpid()}"
        rows = batch.num_rows
        from ..io.turns import python_values

        columns = self.scorer({name: python_values(batch.column(name)) for name in batch.column_names
                               if name != ROW_COLUMN})
        schema = schema_for(self.scorer.config.scores, self.scorer.config.segmenter)
        table = pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)
        table = table.append_column(ROW_COLUMN, batch.column(ROW_COLUMN))
        return table.append_column(WORKER_COLUMN, pa.array([self.node] * rows, pa.string()))


def score_with_ray(
    scorer,
    input_path,
    output: str | os.PathLike,
    *,
    address: str | None = None,
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    batch_size: int = 64,
    shard_rows: int = 1024,
    config: str | None = None,
    split: str | None = None,
    overwrite: bool = False,
    ray_init: dict[str, Any] | None = None,
    stats: dict | None = None,
    storage_options: dict | None = None,
    warn: Callable[[str], None] = logger.warning,
    before_scoring: Callable[[int], None] | None = None,
    on_rows: Callable[[float], None] | None = None,
) -> Path | str:
    """Score `input_path` with `scorer` on a Ray cluster and write `output` (as `localnat score` would).

    Args:
        scorer (`LocalNaturalnessScorer`): the scorer; each actor gets a copy (its configuration, or the model
            object if one was passed in).
        input_path (`str` or `datasets.Dataset`): anything `io.load_input` reads (a file, a `save_to_disk` folder, a
            Hub dataset id), made long by `io.to_long` (SPEC §9; a conversation column, a column of lists, ...), or a
            dataset already in long rows (what `localnat score` passes).
        output (`str` or `os.PathLike`): anything `io.save_output` writes.
        address (`str`, *optional*): the cluster (`"auto"`, `"ray://host:10001"`, `"host:6379"`); `None` connects to
            an already-initialised Ray, else to a cluster started with `ray start`, else starts a local one.
        workers (`int`, *optional*, defaults to 1): scorer actors (each loads the model once).
        gpus_per_worker, cpus_per_worker (`float`): resources each actor reserves.
        batch_size (`int`, *optional*, defaults to 64): rows per `map_batches` call.
        shard_rows (`int`, *optional*, defaults to 1024): rows per resumable shard.
        config, split: as in `io.load_input`.
        overwrite (`bool`): replace an existing `output`.
        ray_init (`dict`, *optional*): extra `ray.init` keyword arguments when this call starts or joins Ray.
        stats (`dict`, *optional*): filled as the run goes with `shards`, `shards_reused`, `rows_scored`, `nodes`
            (node id -> rows it scored) and `workers` (actor process id -> rows).
        storage_options (`dict`, *optional*): options for the filesystem of a URL `input_path` or `output` (the
            shards of a URL output are kept under the `datasets` cache, see `shard_folder`).
        warn (`Callable[[str], None]`, *optional*): gets the one line said about each shard found unusable (it is
            discarded and scored again; shards record their rows and a checksum, see `io.checked`).
        before_scoring (`Callable[[int], None]`, *optional*): called once the shards are read, with the rows left to
            score (also when it is 0).
        on_rows (`Callable[[float], None]`, *optional*): called with the rows each batch that comes back from the
            actors adds (`batch_size` rows at most: a smaller `batch_size` moves it more often).

    Returns:
        `Path`: the output written.

    Raises:
        ConfigError: `ray` is not installed, or a bad option.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'ray[data]' (hf-localnat's `ray` extra).") \
            from None
    import pyarrow as pa

    from ..io import check_output, load_input, require_columns, save_output, to_long, translated_os_errors
    from ..io.shapes import INPUT_ERROR_COLUMN
    from ..io.turns import CONVERSATION_COLUMNS

    for name, value in (("workers", workers), ("batch_size", batch_size), ("shard_rows", shard_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"`{name}` must be a whole number >= 1, got {value!r}.")
    check_output(output, overwrite=overwrite, storage_options=storage_options)
    turns = scorer.config.segmenter == "turns"
    if isinstance(input_path, str):
        dataset = to_long(load_input(input_path, config=config, split=split, storage_options=storage_options),
                          turns=turns, messages_column=scorer.messages_column if turns else None).dataset
    else:
        dataset = input_path
    needed = [scorer.steps_column if scorer.config.segmenter == "given" else scorer.response_column]
    if scorer.config.prompt_format != "none":
        needed.append(scorer.question_column)
    require_columns(dataset, [] if turns else needed, what="scoring")
    read = (scorer.question_column, scorer.response_column, scorer.steps_column, scorer.messages_column,
            INPUT_ERROR_COLUMN, *((*CONVERSATION_COLUMNS, scorer.tools_column) if turns else ()))
    columns = list(dict.fromkeys(c for c in read if c in dataset.column_names))
    shards = shard_names(dataset.num_rows, shard_rows, shard_key(scorer, dataset))
    schema = schema_for(scorer.config.scores, scorer.config.segmenter)  # the SPEC §7 columns and the other scores asked for
    folder = shard_folder(output)
    with translated_os_errors(folder, what="the shard folder", places=[folder.parent]):
        folder.mkdir(parents=True, exist_ok=True)
    tables = {}  # name -> the shard's score columns, once written (or found and checked)
    for start, stop, name in shards:
        if os.path.lexists(folder / name):
            tables[name], damage = read_checked(folder / name, schema, start=start, stop=stop)
            if damage is not None:
                warn(f"Warning: shard {folder / name} is unusable ({damage}); discarded, its {stop - start} rows are "
                     "scored again.")
                del tables[name]
                discard(folder / name)
    done = set(tables)
    stats = {} if stats is None else stats
    stats["shards"], stats["shards_done"] = len(shards), len(done)
    pending = [(start, stop, name) for start, stop, name in shards if name not in done]
    stats.update(shards=len(shards), shards_reused=len(shards) - len(pending),
                 rows_scored=sum(stop - start for start, stop, _ in pending), nodes={}, workers={})
    if before_scoring is not None:
        before_scoring(stats["rows_scored"])
    if pending:
        if not ray.is_initialized():
            ray.init(address=address, **{"include_dashboard": False, "log_to_driver": False, **(ray_init or {})})
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        rows = dataset.select_columns(columns).with_format("arrow")
        blocks = [rows[start:stop].append_column(ROW_COLUMN, pa.array(range(start, stop), pa.int64()))
                  for start, stop, _ in pending]
        resources = {"num_cpus": cpus_per_worker, **({"num_gpus": gpus_per_worker} if gpus_per_worker else {})}
        scored = ray.data.from_arrow(blocks).map_batches(
            _ScorerActor, fn_constructor_kwargs={"scorer": scorer}, batch_size=batch_size, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers), **resources,
        )
        owner = {}
        for index, (start, stop, _) in enumerate(pending):
            owner.update(dict.fromkeys(range(start, stop), index))
        received: list[dict[int, dict]] = [{} for _ in pending]
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            workers = batch.column(WORKER_COLUMN).to_pylist()
            new = 0
            for row, record, worker in zip(batch.column(ROW_COLUMN).to_pylist(),
                                           batch.select(schema.names).to_pylist(), workers, strict=True):
                index = owner[row]
                if row not in received[index]:
                    node, _, pid = worker.rpartition(":")
                    stats["nodes"][node] = stats["nodes"].get(node, 0) + 1
                    stats["workers"][int(pid)] = stats["workers"].get(int(pid), 0) + 1
                    new += 1
                received[index][row] = record  # a retried batch's rows replace, never add
            if on_rows is not None and new:
                on_rows(new)
            for index, (start, stop, name) in enumerate(pending):
                if name not in done and len(received[index]) == stop - start:
                    table = pa.Table.from_pylist([received[index][r] for r in range(start, stop)], schema=schema)
                    write_checked(table, folder / name, start=start, stop=stop)
                    tables[name] = table
                    done.add(name)
                    stats["shards_done"] = len(done)
                    received[index] = {}
    missing = [name for _, _, name in shards if name not in tables]
    if missing:  # pragma: no cover - Ray returned fewer rows than it was given
        raise RuntimeError(f"Ray returned no scores for {len(missing)} shard(s); rerun the command to finish them.")
    table = pa.concat_tables([tables[name] for _, _, name in shards]) if shards else schema.empty_table()
    features = output_features(scorer.config.scores, scorer.config.segmenter)
    out = dataset.remove_columns([c for c in ALL_OUTPUT_COLUMNS if c in dataset.column_names])
    for name in schema.names:
        out = out.add_column(name, table.column(name), feature=features[name])
    path = save_output(out, output, overwrite=overwrite, provenance=scorer.provenance(),
                       storage_options=storage_options)
    for _, _, name in shards:
        (folder / name).unlink()
    try:
        folder.rmdir()
    except OSError:
        pass  # something else is in it: not ours to delete
    return path
