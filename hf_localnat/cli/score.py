"""`localnat score`: the flags of `hf_localnat.score` (`jobs.score`), one call, its summary printed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ._signals import catch_signals, raise_if_signalled
from ._options import (handle_errors, input_options, model_option, model_revision_option, overwrite_option,
                       prompt_format_option, response_part_option, segmenter_option, shape_options, storage_options_option,
                       trace_options,
                       window_option)
from .estimate import sample_questions_options

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
  localnat score r1=r1.jsonl qwq=qwq.jsonl -o pilot.parquet --sample-questions 300 --seed 0   # score a sample first
"""


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
@trace_options
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
@sample_questions_options
@input_options
@storage_options_option
@overwrite_option
@handle_errors
def score(inputs: tuple[str, ...], output: str, model: str | None, window: int | str, segmenter: str, prompt_format: str,
          batch_tokens: int, max_length: int | None, map_batch_size: int, checkpoint_rows: int, dtype: str,
          device: str | None, model_revision: str | None, attn_implementation: str | None, device_map: str | None, adapter: str | None,
          question_column: str | None, response_columns: tuple[str, ...], messages_column: str | None,
          teacher_column: str | None, teacher_name: str | None, explode_with: tuple[str, ...],
          max_observation_tokens: int, tools_column: str, response_part: str,
          scores: str, drop_tokens: int, steps_column: str, num_proc: int, engine: str, ray_address: str | None,
          workers: int, gpus_per_worker: float, batch_size: int, shard_rows: int, sample_size: int | None,
          sample_seed: int, config_name: str | None,
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
    OUTPUT.hf_localnat.json beside it (hf_localnat.json inside a folder). Later commands read it. Scores are
    checkpointed every --checkpoint-rows rows, keyed by the definition, the student and each row's question and
    response: rerunning the same command, or one that changes only --batch-tokens, --teacher or other columns, reads
    them back instead of scoring.

    --sample-questions N scores every response to N questions drawn by their text and --seed (the same questions
    for every teacher, in any run over inputs that hold them; `hf_localnat.io.questions`); N and the seed are
    recorded in the provenance. Read `localnat rank-teachers`'s stable_n on it before scoring the rest.
    """
    from ..jobs.checkpoints import ScoreRun
    from ..jobs import score as job

    run = ScoreRun()  # how far the job got, for an interruption's report
    with catch_signals(), reported_interruption(output, run):
        result = job.score(
            inputs, output, model=model, window=window, segmenter=segmenter, prompt_format=prompt_format,
            batch_tokens=batch_tokens, max_length=max_length, map_batch_size=map_batch_size,
            checkpoint_rows=checkpoint_rows, dtype=dtype, device=device, model_revision=model_revision,
            attn_implementation=attn_implementation, device_map=device_map, adapter=adapter,
            question_column=question_column, response_column=response_columns, messages_column=messages_column,
            teacher_column=teacher_column, teacher=teacher_name, explode_with=explode_with,
            response_part=response_part, scores=scores, drop_tokens=drop_tokens, steps_column=steps_column,
            num_proc=num_proc, engine=engine, ray_address=ray_address, workers=workers,
            gpus_per_worker=gpus_per_worker, batch_size=batch_size, shard_rows=shard_rows,
            sample_questions=sample_size, seed=sample_seed, config=config_name, split=split,
            storage_options=storage_options, overwrite=overwrite, echo=lambda line: click.echo(line, err=True),
            between_chunks=raise_if_signalled, run=run, max_observation_tokens=max_observation_tokens,
            tools_column=tools_column)
    click.echo(str(result))


@contextmanager
def reported_interruption(output: str, run) -> Iterator[None]:
    """On Ctrl-C or SIGTERM inside the block: one line (`ScoreRun.interruption`: what was checkpointed and what a
    rerun of the same command does with it) and exit 130 / 143. The checkpoints stay; every temporary file is
    already gone (each `atomic_output` removes its own)."""
    from ._signals import Terminated, exit_code, same_command, signal_of

    try:
        yield
    except (KeyboardInterrupt, Terminated) as e:
        signum = signal_of(e)
        line = run.interruption(output, same_command(click.get_current_context()))
        click.echo(f"Interrupted by {signal.Signals(signum).name}: {line}", err=True)
        raise click.exceptions.Exit(exit_code(signum)) from None
