"""`localnat score`: add LALP/GALP columns to a dataset through `Dataset.map`, so the `datasets` cache applies."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ._signals import catch_signals, raise_if_signalled
from ._options import (handle_errors, input_options, model_option, model_revision_option, overwrite_option,
                       prompt_format_option, response_part_option, segmenter_option, shape_options, storage_options_option,
                       window_option)

EXAMPLES = """
\b
Examples:
  localnat score traces.jsonl -o scored.parquet
  localnat score r1=r1.jsonl qwq=qwq.parquet -o scored.parquet          # one input per teacher
  localnat score openthoughts.parquet -o scored.parquet --response-part thinking   # conversations, <think> blocks
  localnat score openr1.parquet -o scored.parquet --question-column problem --response-column generations
  localnat score deepmath.parquet -o scored.parquet --response-column r1_solution_1 --response-column r1_solution_2
  localnat score traces.parquet -o scored.jsonl --model Qwen/Qwen2.5-1.5B-Instruct --window 4
  localnat score my-org/traces --config math --split train -o scored_folder
  localnat score traces.csv -o scored.parquet --model ./my-student --batch-tokens 8192 --overwrite
  localnat score hf://datasets/my-org/traces/train.jsonl -o s3://bucket/scored.parquet --storage-options '{"anon": false}'
  localnat score traces.parquet -o scored.parquet --engine ray --ray-address auto --workers 8 --gpus-per-worker 1
"""


def summarize(scored, seconds: float, *, reused: int = 0) -> str:
    """The end-of-run summary: rows, scored rows, tokens, rows without a score by reason, time, tokens per second,
    and how many rows an earlier run had scored (`reused`)."""
    errors = Counter(e for e in scored["score_error"] if e is not None)
    tokens = sum(scored["num_tokens"])
    truncated = sum(bool(t) for t in scored["truncated"])
    lines = [
        f"Rows: {scored.num_rows}; scored: {scored.num_rows - sum(errors.values())}; response tokens: {tokens}.",
        "Rows without a score: " + (", ".join(f"{n} {reason}" for reason, n in errors.most_common()) or "none") + ".",
    ]
    if truncated:
        lines.append(f"Truncated rows (inputs cut to fit max_length): {truncated}.")
    if reused == scored.num_rows:
        lines.append(f"All {reused} rows reused from an earlier run's checkpoints in {seconds:.1f} s (no model call).")
    else:
        if reused:
            lines.append(f"Reused {reused} rows scored by an earlier run; scored the other {scored.num_rows - reused}.")
        lines.append(f"Time: {seconds:.1f} s; {tokens / seconds if seconds > 0 else 0:.0f} response tokens/s.")
    return "\n".join(lines)


@click.command("score", epilog=EXAMPLES)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="OUTPUT",
              help="A .jsonl/.json/.parquet/.csv file, or a folder (no suffix) for save_to_disk.")
@model_option()
@window_option()
@segmenter_option()
@prompt_format_option()
@click.option("--batch-tokens", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Token budget of one forward batch (rows x longest row).")
@click.option("--max-length", type=click.IntRange(min=2), default=None,
              help="Bound on every model input in tokens  [default: the model's maximum].")
@click.option("--map-batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Rows per Dataset.map batch (larger batches pack forward batches better).")
@click.option("--checkpoint-rows", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Rows per checkpoint: a killed run, rerun, resumes after the last finished checkpoint.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
              show_default=True, help="auto = bfloat16 on GPU, float32 on CPU.")
@click.option("--device", default=None, help="torch device  [default: cuda when available, else cpu].")
@model_revision_option("--revision")
@click.option("--attn-implementation", default=None, metavar="NAME",
              help="transformers attention (sdpa, eager, flash_attention_2, flex_attention); packing on GPU needs "
                   "flash_attention_2 or flex_attention.")
@click.option("--device-map", default=None, metavar="MAP",
              help="transformers device_map (e.g. auto) to spread a student larger than one GPU over several.")
@click.option("--adapter", default=None, metavar="PATH_OR_ID",
              help="A PEFT adapter (folder or Hub id) merged into the student; needs hf-localnat[peft].")
@shape_options
@response_part_option()
@click.option("--scores", default="lalp,galp", show_default=True, metavar="LIST",
              help="Score columns to write, comma-separated: lalp, galp, lalp_drop, galp_drop, rsr, or all (SPEC §11; "
                   "lalp and galp are always written). All come from the same forward passes.")
@click.option("--drop-tokens", type=click.IntRange(min=0), default=2, show_default=True,
              help="Tokens at the start of every step that lalp_drop and galp_drop leave out.")
@click.option("--steps-column", default="steps", show_default=True, help="List-of-steps column for --segmenter given.")
@click.option("--num-proc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes, each with its own model: one per GPU when GPUs exist (rank r on cuda:r), else N CPU "
                   "processes (Dataset.map with_rank/num_proc).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process (Dataset.map); ray: a Ray cluster, one scorer actor per worker.")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="With --engine ray: the cluster to join (auto, HOST:6379, ray://HOST:10001)  [default: a running "
                   "cluster, else a local one].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --engine ray: scorer actors (each loads the model once).")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0, show_default=True,
              help="With --engine ray: GPUs each actor reserves (1 = one model per GPU).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="With --engine ray: rows per map_batches call.")
@click.option("--shard-rows", type=click.IntRange(min=1), default=1024, show_default=True,
              help="With --engine ray: rows per resumable shard (a rerun skips finished shards).")
@input_options
@storage_options_option
@overwrite_option
@handle_errors
def score(inputs: tuple[str, ...], output: str, model: str | None, window: int, segmenter: str, prompt_format: str,
          batch_tokens: int, max_length: int | None, map_batch_size: int, checkpoint_rows: int, dtype: str,
          device: str | None, model_revision: str | None, attn_implementation: str | None, device_map: str | None, adapter: str | None,
          question_column: str | None, response_columns: tuple[str, ...], messages_column: str | None,
          teacher_column: str | None, teacher_name: str | None, explode_with: tuple[str, ...], response_part: str,
          scores: str, drop_tokens: int, steps_column: str, num_proc: int, engine: str, ray_address: str | None,
          workers: int, gpus_per_worker: float, batch_size: int, shard_rows: int, config_name: str | None,
          split: str | None, storage_options: dict, overwrite: bool) -> None:
    """Score every response of the INPUTs by LALP and GALP with a student model and write OUTPUT.

    Each INPUT is a .jsonl, .json, .parquet or .csv file, a save_to_disk folder, or a Hub dataset id, in any shape
    of SPEC §9: flat rows (question, response), conversations (a messages or conversations column), lists of
    responses, or one column per response; `NAME=INPUT` makes NAME the teacher of that input's rows (a path that
    itself contains `=` is written with a folder part, ./a=b.jsonl: a value is NAME=INPUT only when no `/` comes
    before its first `=`). The rows of all INPUTs are scored as one dataset, in the order given; one line before
    scoring says how each was read. --response-part thinking/answer scores only the <think> block or what follows
    it (the response column keeps the full text). INPUT and OUTPUT may be fsspec URLs of such files (hf://datasets/...,
    s3://..., gs://..., memory://...; --storage-options for credentials). OUTPUT gets every input column plus lalp, galp, lalp_steps,
    num_steps, num_tokens, truncated and score_error (and the other --scores columns: rsr, galp_drop, lalp_drop), and
    records how it was scored (student, window, segmenter, prompt format, max length, mode, scores and their
    directions, dtype, version): in a .parquet file's schema metadata, else in the file
    OUTPUT.hf_localnat.json beside it (hf_localnat.json inside a folder). Later commands read it. Results are cached
    by `datasets`: rerunning the same command, or changing only --batch-tokens, reads them back.
    """
    from ..io import check_output, load_input, read_inputs, require_columns, save_output
    from ..scoring.estimate import Projection
    from ..scoring.scorer import LocalNaturalnessScorer
    from ._checkpoints import Progress, score_resumable
    from .estimate import sampled_estimate, summary_line

    progress, stats, written = Progress(), {}, []  # how far the run got, for an interruption's report
    with catch_signals(), reported_interruption(output, progress, stats, written):
        remote = dict(storage_options=storage_options)
        check_output(output, overwrite=overwrite, **remote)
        scorer = LocalNaturalnessScorer(
            model, window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length, dtype=dtype,
            device=device, batch_tokens=batch_tokens, steps_column=steps_column, response_part=response_part,
            revision=model_revision, adapter=adapter, scores=scores, drop_tokens=drop_tokens,
            model_kwargs={k: v for k, v in (("attn_implementation", attn_implementation), ("device_map", device_map))
                          if v is not None},
        )
        shape = dict(question_column=question_column, response_columns=response_columns or None,
                     messages_column=messages_column, teacher_column=teacher_column, explode_with=explode_with,
                     steps_column=steps_column if segmenter == "given" else None)
        dataset, lines = read_inputs(inputs, lambda source: load_input(source, config=config_name, split=split,
                                                                       **remote), teacher=teacher_name, **shape)
        for line in lines:
            click.echo(line, err=True)
        needed = [steps_column if segmenter == "given" else "response"]
        if prompt_format != "none":
            needed.append("question")
        require_columns(dataset, needed, what="scoring")
        counts, params, sampled = sampled_estimate(dataset, model=model, revision=model_revision, window=window,
                                                   segmenter=segmenter, prompt_format=prompt_format,
                                                   max_length=max_length, response_part=response_part,
                                                   steps_column=steps_column)
        click.echo(summary_line(counts, Projection.of(counts, params), sampled=sampled), err=True)
        start = time.perf_counter()
        if engine == "ray":
            from ..scoring.ray_engine import score_with_ray

            path = score_with_ray(scorer, dataset, output, address=ray_address, workers=workers,
                                  gpus_per_worker=gpus_per_worker, batch_size=batch_size, shard_rows=shard_rows,
                                  overwrite=overwrite, stats=stats, warn=lambda line: click.echo(line, err=True),
                                  **remote)
            written.append(path)
            click.echo(summarize(load_input(str(path), **remote), time.perf_counter() - start))
            click.echo(f"Shards: {stats['shards']} ({stats['shards_reused']} from an earlier run); rows per node: "
                       f"{sorted(stats['nodes'].values(), reverse=True)}.")
            click.echo(f"Wrote {path}.")
            click.echo(f"Provenance ({where_recorded(path)}): {scorer.provenance().describe()}.")
            return
        names = ", ".join(inputs) if len(inputs) <= 3 else f"{len(inputs)} inputs"
        click.echo(f"Scoring {dataset.num_rows} rows of {names} with {model or 'the embedded smollm2-135m-instruct'}"
                   f" (dtype {dtype}), window {window}, {segmenter} steps"
                   f"{'' if response_part == 'full' else f', the {response_part} part'}"
                   f"; columns {', '.join(scorer.config.scores)}.", err=True)
        # The scorer's fingerprint (configuration, model identity, package version) keys the datasets cache; the model
        # loads only when a batch actually needs scoring, so a rerun never loads it.
        parallel = {}
        if num_proc > 1:
            import torch

            if torch.cuda.is_available():  # a forked child cannot use CUDA
                import multiprocess

                multiprocess.set_start_method("spawn", force=True)
            parallel = dict(with_rank=True, num_proc=num_proc)
        # Finished chunks are checkpointed (keyed by the scorer's fingerprint and the input's): a rerun after a kill or
        # after success scores only the rest, and never loads the model when nothing is left.
        resumed = score_resumable(scorer, dataset, checkpoint_rows=checkpoint_rows, map_batch_size=map_batch_size,
                                  echo=lambda line: click.echo(line, err=True), progress=progress,
                                  between_chunks=raise_if_signalled, **parallel)
        raise_if_signalled()  # one a library swallowed while the last chunk was scored
        scored = resumed.dataset
        seconds = time.perf_counter() - start
        provenance = scorer.provenance()
        path = save_output(scored, output, overwrite=overwrite, provenance=provenance, **remote)
        written.append(path)
        click.echo(summarize(scored, seconds, reused=resumed.reused_rows))
        if scorer.path is not None:  # the model ran in this process
            click.echo(f"Ran {scorer.path} on {scorer.model.device}.")
        click.echo(f"Wrote {path}.")
        click.echo(f"Provenance ({where_recorded(path)}): {provenance.describe()}.")


@contextmanager
def reported_interruption(output: str, progress, stats: dict, written: list) -> Iterator[None]:
    """On Ctrl-C or SIGTERM inside the block: one line (what was checkpointed, that OUTPUT was not written, the
    command that resumes) and exit 130 / 143. The checkpoints stay; every temporary file is already gone (each
    `atomic_output` removes its own)."""
    from ._signals import Terminated, exit_code, same_command, signal_of

    try:
        yield
    except (KeyboardInterrupt, Terminated) as e:
        signum = signal_of(e)
        if "shards" in stats:  # --engine ray
            kept = f"checkpointed {stats.get('shards_done', 0)} of {stats['shards']} shards"
        elif progress.chunks:
            kept = f"checkpointed {progress.checkpointed()} of {progress.chunks} chunks"
        else:
            kept = "nothing checkpointed yet"
        if written:
            outcome = f"{written[0]} was already written in full"
        else:
            outcome = f"nothing was written to {output} (an old one is intact)"
        click.echo(f"Interrupted by {signal.Signals(signum).name}: {kept}; {outcome}. Resume with the same command: "
                   f"{same_command(click.get_current_context())}", err=True)
        raise click.exceptions.Exit(exit_code(signum)) from None


def where_recorded(path) -> str:
    """Where `save_output` put the provenance of `path` (a local path or a URL), for the summary."""
    from ..provenance import sidecar_path
    from ..io.remote import is_url, sidecar_url, suffix_of

    suffix = suffix_of(path) if is_url(path) else path.suffix.lower()
    if suffix == ".parquet":
        return "in the Parquet schema metadata, key hf_localnat"
    sidecar = sidecar_url(path) if is_url(path) else sidecar_path(path)
    return f"in {sidecar}; {suffix or 'a folder'} cannot hold it, keep the two together"
