"""`hf_localnat.score`: the job of `localnat score`, LALP/GALP columns for every response of the inputs, written with
their provenance.

Reading the inputs (any shape, `{teacher: source}`, a `Dataset`), the question sample, the estimate line, checkpoints
and resume (`jobs.checkpoints`), the Ray engine, atomic writes and the provenance all happen here, for the command and
for Python alike. Lines on how the run goes go to `echo` (stderr by default); the end-of-run text is the result's
`str()`. Signals are the caller's: `between_chunks` is called between chunks (the command raises a signal there that
a library swallowed), and `run` (a `ScoreRun`) says how far the job got when one stops it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence

from ._inputs import Inputs, named_inputs, read_named, sample, shape_options, stderr_echo
from .results import ScoreResult


def score(inputs: Inputs, output: str | None, *, model: str | None = None, window: int | str = 4,
          segmenter: str = "sentence", prompt_format: str = "auto", batch_tokens: int = 16384,
          max_length: int | None = None, map_batch_size: int = 256, checkpoint_rows: int = 1024, dtype: str = "auto",
          device: str | None = None, model_revision: str | None = None, attn_implementation: str | None = None,
          device_map: str | None = None, adapter: str | None = None, question_column: str | None = None,
          response_column: str | Sequence[str] | None = None, messages_column: str | None = None,
          teacher_column: str | None = None, teacher: str | None = None,
          explode_with: str | Sequence[str] | None = None, response_part: str = "full",
          scores: str | Sequence[str] = "lalp,galp", drop_tokens: int = 2, steps_column: str = "steps",
          num_proc: int = 1, engine: str = "local", ray_address: str | None = None, workers: int = 1,
          gpus_per_worker: float = 0, batch_size: int = 64, shard_rows: int = 1024,
          sample_questions: int | None = None, seed: int = 0, config: str | None = None, split: str | None = None,
          storage_options: dict | None = None, overwrite: bool = False, progress: bool = True,
          echo: Callable[[str], None] = stderr_echo, between_chunks: Callable[[], None] | None = None,
          run=None, max_observation_tokens: int = 1024, tools_column: str = "tools") -> ScoreResult:
    """Score every response of `inputs` by LALP and GALP with a student model and write `output`.

    The same job as `localnat score` (its options, with Python names: `--revision` is `model_revision`,
    `--response-column` is `response_column`, `--teacher` is `teacher`, `--sample-questions N --seed S` are
    `sample_questions`, `seed`), with the same checkpoints: rerunning it, in Python or as the command, reads back
    the rows an earlier run scored. See `localnat score --help` for every option.

    Args:
        inputs: a path, URL or Hub id (`NAME=INPUT` names its teacher), a `datasets.Dataset`, a list of them, or
            `{teacher: source}`; any shape of SPEC §9. Their rows are scored as one dataset, in the order given.
        output (`str`, *optional*): a `.jsonl`/`.json`/`.parquet`/`.csv` file, a folder, or an fsspec URL; the
            provenance goes into it (Parquet) or beside it. `None`: nothing is written (`engine="local"` only).
        scores (`str` or `list[str]`): the score columns (`"lalp,galp"`, `["lalp", "galp", "rsr"]`, `"all"`).
        segmenter (`str`): `"turns"` scores agent traces turn by turn (SPEC §14): a conversation column
            (`messages_column`, else `messages`, `conversations` or `trajectory`), its `tools_column`, the
            observation cap `max_observation_tokens`; the trace columns are written beside the scores.
        progress (`bool`): show the rows bar (`tqdm.auto`: a widget in a notebook).
        echo (`Callable[[str], None]`): where the lines on how the run goes are said (default: stderr).
        between_chunks (`Callable[[], None]`, *optional*): called before every chunk is scored.
        run (`ScoreRun`, *optional*): filled as the job goes, for the report of an interruption.

    Returns:
        `ScoreResult`: the scored `Dataset` (carrying its provenance), the path written, the `Provenance`; `str()`
        is the command's summary.

    Example:
        ```python
        >>> import hf_localnat
        >>> result = hf_localnat.score({"r1": "r1.jsonl", "qwq": "qwq.jsonl"}, "scored.parquet")  # doctest: +SKIP
        >>> result.dataset, result.provenance.describe()  # doctest: +SKIP
        ```
    """
    from ..errors import ConfigError
    from ..io import check_output, output_exists, require_columns
    from ..scoring.prepare.segment_llm import inputs_steps_provenance
    from ..scoring.scorer import LocalNaturalnessScorer
    from . import checkpoints

    if engine not in ("local", "ray"):
        raise ConfigError(f"Unknown engine {engine!r}; use local or ray.")
    if output is None and engine == "ray":
        raise ConfigError("engine='ray' writes its output shard by shard: pass an output.")
    remote = dict(storage_options=storage_options or {})
    run = run if run is not None else checkpoints.ScoreRun()
    run.checkpoint_rows, run.shard_rows = checkpoint_rows, shard_rows
    run.existed = output is not None and output_exists(output, remote["storage_options"])
    if output is not None:
        check_output(output, overwrite=overwrite, **remote)
    named = named_inputs(inputs)
    given = segmenter == "given"
    steps_sources = [item.source for item in named if not item.is_dataset]
    scorer = LocalNaturalnessScorer(
        model, window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length, dtype=dtype,
        device=device, batch_tokens=batch_tokens, steps_column=steps_column, response_part=response_part,
        revision=model_revision, adapter=adapter, scores=scores if isinstance(scores, str) else ",".join(scores),
        drop_tokens=drop_tokens, max_observation_tokens=max_observation_tokens, tools_column=tools_column,
        messages_column=messages_column if segmenter == "turns" else None,
        steps_provenance=inputs_steps_provenance(steps_sources, remote["storage_options"]) if given else None,
        model_kwargs={k: v for k, v in (("attn_implementation", attn_implementation), ("device_map", device_map))
                      if v is not None},
    )
    dataset = read_named(named, config=config, split=split, teacher=teacher, echo=echo,
                         steps_column=steps_column if given else None, turns=segmenter == "turns",
                         **shape_options(question_column, response_column, messages_column, teacher_column,
                                         explode_with), **remote)
    if sample_questions is not None and engine == "ray":
        raise ConfigError("--sample-questions (sample_questions=) is recorded with the local engine only; score the "
                          "sample without --engine ray (it is small).")
    dataset, drawn = sample(dataset, sample_questions, seed, echo)
    needed = [steps_column if given else "response"] + (["question"] if prompt_format != "none" else [])
    require_columns(dataset, needed if segmenter != "turns" else [], what="scoring")  # traces: to_long checked
    estimate = _estimate(scorer, dataset, echo, model=model, revision=model_revision, window=window,
                         segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
                         response_part=response_part, steps_column=steps_column, messages_column=messages_column,
                         max_observation_tokens=max_observation_tokens, tools_column=tools_column)
    if engine == "ray":
        return _score_with_ray(scorer, dataset, output, estimate, run, echo=echo, progress=progress,
                               ray_address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                               batch_size=batch_size, shard_rows=shard_rows, overwrite=overwrite, **remote)
    labels = [item.label for item in named]
    echo(f"Scoring {dataset.num_rows} rows of {', '.join(labels) if len(labels) <= 3 else f'{len(labels)} inputs'}"
         f" with {model or 'the embedded smollm2-135m-instruct'} (dtype {dtype}), window {window}, {segmenter} steps"
         f"{'' if response_part == 'full' else f', the {response_part} part'}"
         f"; columns {', '.join(scorer.config.scores)}.")
    return _score_locally(scorer, dataset, output, estimate, run, echo=echo, progress=progress, drawn=drawn,
                          num_proc=num_proc, batch_tokens=batch_tokens, checkpoint_rows=checkpoint_rows,
                          map_batch_size=map_batch_size, between_chunks=between_chunks, overwrite=overwrite, **remote)


def _estimate(scorer, dataset, echo: Callable[[str], None], **options):
    """`(counts, params, sampled, projection)` of the rows (`scoring.estimate.sampled_estimate`), warning through
    `echo` when the window sees mostly whole prefixes (SPEC §12)."""
    from ..scoring.estimate import Projection, sampled_estimate
    from ..scoring.prepare.windows import whole_prefix_warning

    counts, params, sampled = sampled_estimate(dataset, **options)
    if warning := whole_prefix_warning(counts.whole_prefix_share, scorer.config.window):
        echo(warning)
    return counts, params, sampled, Projection.of(counts, params)


def _score_locally(scorer, dataset, output, estimate: tuple, run, *, echo, progress: bool, drawn, num_proc: int,
                   batch_tokens: int, checkpoint_rows: int, map_batch_size: int, between_chunks, overwrite: bool,
                   storage_options: dict) -> ScoreResult:
    """`engine="local"`: `Dataset.map` in this process (or `num_proc` workers), chunk by chunk through the
    checkpoints; the estimate line once the checkpoints are read, with the time on this run's device."""
    from ..io import save_output
    from ..scoring.estimate import device_rate, estimate_line
    from . import checkpoints
    from .progress import RowsBar

    counts, params, sampled, projection = estimate
    start = time.perf_counter()
    # The scorer's fingerprint (configuration, model identity, package version) keys the datasets cache; the model
    # loads only when a batch actually needs scoring, so a rerun never loads it.
    parallel, gpu_workers = {}, False
    if num_proc > 1:
        import torch

        gpu_workers = torch.cuda.is_available()
        if gpu_workers:  # a forked child cannot use CUDA
            import multiprocess

            multiprocess.set_start_method("spawn", force=True)
        parallel = dict(with_rank=True, num_proc=num_proc)

    def announce(rows_left: int) -> None:
        """The estimate line, once the checkpoints are read: the time on this run's device for the rows left
        (measured on the CPU: the student loads here, as scoring is about to load it anyway)."""
        rate = None
        if rows_left:
            # no student on a GPU here when each worker loads one there (an unknown GPU: the projection)
            rate = device_rate(scorer.device_arg, params, counts, batch_tokens=batch_tokens,
                               load=None if gpu_workers else (lambda _: scorer.model), gpus=num_proc if parallel else 1)
        echo(estimate_line(counts, projection, rate, rows_left=rows_left, sampled=sampled))
        bar.start(rows_left)

    # Finished chunks are checkpointed (keyed by the scorer's fingerprint and what the chunk's rows hold in question
    # and response): a rerun after a kill or after success, or one that changes only other columns, scores only the
    # rest. One bar over the rows left, moved after every forward batch by the scorer's callback (in this process;
    # with num_proc the workers cannot call back, and `datasets`' bar counts finished map batches instead).
    with RowsBar(own=progress and not parallel) as bar:
        resumed = checkpoints.score_resumable(scorer, dataset, checkpoint_rows=checkpoint_rows,
                                              map_batch_size=map_batch_size, echo=echo, progress=run.progress,
                                              between_chunks=between_chunks, before_scoring=announce,
                                              on_rows=bar.update if not parallel else None, **parallel)
    if between_chunks is not None:
        between_chunks()  # a signal a library swallowed while the last chunk was scored
    scored, seconds = resumed.dataset, time.perf_counter() - start
    provenance = scorer.provenance()
    if drawn is not None:
        provenance = dataclasses.replace(provenance, sample=drawn.to_dict())
    path = None
    if output is not None:
        path = save_output(scored, output, overwrite=overwrite, provenance=provenance, storage_options=storage_options)
        run.written.append(path)
    summary = summarize(scored, seconds, reused=resumed.reused_rows)
    lines = [summary_text(summary, window=scorer.config.window, scored=scored)]
    if scorer.path is not None:  # the model ran in this process
        lines.append(f"Ran {scorer.path} on {scorer.model.device}.")
    if path is not None:
        lines += [f"Wrote {path}.", f"Provenance ({where_recorded(path)}): {provenance.describe()}."]
    return ScoreResult(carrying(scored, provenance), path, provenance, summary, lines)


def carrying(dataset, provenance):
    """`dataset` carrying `provenance` in its schema metadata (`provenance.of_dataset`), so whatever is written
    from it later (`save_output`, `hf_localnat.select`) keeps it."""
    from ..provenance import with_provenance

    if dataset._indices is not None:  # the metadata goes on the table the rows are read from
        dataset = dataset.flatten_indices()
    return type(dataset)(with_provenance(dataset.data, provenance), info=dataset.info, split=dataset.split)


def _score_with_ray(scorer, dataset, output, estimate: tuple, run, *, echo, progress: bool, ray_address, workers: int,
                    gpus_per_worker: float, batch_size: int, shard_rows: int, overwrite: bool,
                    storage_options: dict) -> ScoreResult:
    """`engine="ray"`: one scorer actor per worker, resumable shards; the actors' devices are not this machine's,
    so the estimate line is the GPU projection, named as such."""
    from ..io import load_input
    from ..scoring.estimate import Projection, estimate_line
    from ..scoring.ray_engine import score_with_ray
    from .progress import RowsBar

    counts, params, sampled, _ = estimate
    start = time.perf_counter()
    gpus = max(1, round(workers * gpus_per_worker))
    echo(estimate_line(counts, Projection.of(counts, params, gpus=gpus), sampled=sampled))
    with RowsBar(own=progress) as bar:
        path = score_with_ray(scorer, dataset, output, address=ray_address, workers=workers,
                              gpus_per_worker=gpus_per_worker, batch_size=batch_size, shard_rows=shard_rows,
                              overwrite=overwrite, stats=run.stats, warn=echo, before_scoring=bar.start,
                              on_rows=bar.update, storage_options=storage_options)
    run.written.append(path)
    scored = load_input(str(path), storage_options=storage_options)
    stats, provenance = run.stats, scorer.provenance()
    summary = summarize(scored, time.perf_counter() - start) | {
        "shards": stats["shards"], "shards_reused": stats["shards_reused"],
        "rows_per_node": sorted(stats["nodes"].values(), reverse=True)}
    lines = [summary_text(summary, window=scorer.config.window, scored=scored),
             f"Shards: {stats['shards']} ({stats['shards_reused']} from an earlier run); rows per node: "
             f"{summary['rows_per_node']}.",
             f"Wrote {path}.", f"Provenance ({where_recorded(path)}): {provenance.describe()}."]
    return ScoreResult(carrying(scored, provenance), path, provenance, summary, lines)


def summarize(scored, seconds: float, *, reused: int = 0) -> dict:
    """The numbers of a run's summary: rows, scored rows, response tokens, rows without a score by reason,
    truncated rows, rows reused from an earlier run's checkpoints, seconds."""
    errors = Counter(e for e in scored["score_error"] if e is not None)
    return {"rows": scored.num_rows, "scored": scored.num_rows - sum(errors.values()),
            "response_tokens": sum(scored["num_tokens"]), "errors": dict(errors.most_common()),
            "truncated": sum(bool(t) for t in scored["truncated"]), "reused_rows": reused, "seconds": seconds}


def summary_text(summary: dict, *, window: int | str | None = None, scored=None) -> str:
    """The end-of-run summary of `summarize`'s numbers: rows, scored rows, tokens, rows without a score by reason,
    time, tokens per second, how many rows an earlier run had scored, the rows' mean whole-prefix share under
    `window` (SPEC §12) and how many rows have LLM steps that fell back to sentences (`localnat segment`)."""
    from ..scoring.prepare.llm_steps import fallback_line
    from ..scoring.prepare.windows import scored_whole_prefix_lines

    rows, tokens, seconds = summary["rows"], summary["response_tokens"], summary["seconds"]
    reused, errors = summary["reused_rows"], summary["errors"]
    lines = [
        f"Rows: {rows}; scored: {summary['scored']}; response tokens: {tokens}.",
        "Rows without a score: " + (", ".join(f"{n} {reason}" for reason, n in errors.items()) or "none") + ".",
    ]
    if summary["truncated"]:
        lines.append(f"Truncated rows (inputs cut to fit max_length): {summary['truncated']}.")
    if reused == rows:
        lines.append(f"All {reused} rows reused from an earlier run's checkpoints in {seconds:.1f} s (no model call).")
    else:
        if reused:
            lines.append(f"Reused {reused} rows scored by an earlier run; scored the other {rows - reused}.")
        lines.append(f"Time: {seconds:.1f} s; {tokens / seconds if seconds > 0 else 0:.0f} response tokens/s.")
    if scored is not None:
        lines += scored_whole_prefix_lines(scored, window)[:1] + list(filter(None, [fallback_line(scored)]))
    return "\n".join(lines)


def where_recorded(path) -> str:
    """Where `save_output` put the provenance of `path` (a local path or a URL), for the summary."""
    from ..io.remote import is_url, sidecar_url, suffix_of
    from ..provenance import sidecar_path

    suffix = suffix_of(path) if is_url(path) else path.suffix.lower()
    if suffix == ".parquet":
        return "in the Parquet schema metadata, key hf_localnat"
    sidecar = sidecar_url(path) if is_url(path) else sidecar_path(path)
    return f"in {sidecar}; {suffix or 'a folder'} cannot hold it, keep the two together"
