"""`localnat score`: add LALP/GALP columns to a dataset through `Dataset.map`, so the `datasets` cache applies."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ._signals import catch_signals, raise_if_signalled
from ._options import (handle_errors, input_options, model_option, model_revision_option, overwrite_option,
                       prompt_format_option, response_part_option, segmenter_option, shape_options, storage_options_option,
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


def summarize(scored, seconds: float, *, reused: int = 0, window: int | str | None = None) -> str:
    """The end-of-run summary: rows, scored rows, tokens, rows without a score by reason, time, tokens per second,
    how many rows an earlier run had scored (`reused`), the rows' mean whole-prefix share under `window` (SPEC §12)
    and how many rows have LLM steps that fell back to sentences (`localnat segment`)."""
    from ..scoring.prepare.windows import scored_whole_prefix_lines
    from ..scoring.prepare.llm_steps import fallback_line

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
    lines += scored_whole_prefix_lines(scored, window)[:1] + list(filter(None, [fallback_line(scored)]))
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
@sample_questions_options
@input_options
@storage_options_option
@overwrite_option
@handle_errors
def score(inputs: tuple[str, ...], output: str, model: str | None, window: int | str, segmenter: str, prompt_format: str,
          batch_tokens: int, max_length: int | None, map_batch_size: int, checkpoint_rows: int, dtype: str,
          device: str | None, model_revision: str | None, attn_implementation: str | None, device_map: str | None, adapter: str | None,
          question_column: str | None, response_columns: tuple[str, ...], messages_column: str | None,
          teacher_column: str | None, teacher_name: str | None, explode_with: tuple[str, ...], response_part: str,
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
    from ..io import check_output, load_input, read_inputs, require_columns, save_output
    from ..scoring.estimate import Projection
    from ..scoring.scorer import LocalNaturalnessScorer
    from ._checkpoints import Progress, score_resumable
    from ..scoring.prepare.windows import whole_prefix_warning
    from ..scoring.prepare.segment_llm import inputs_steps_provenance
    from .estimate import device_rate, sampled_estimate, summary_line

    progress, stats, written = Progress(), {}, []  # how far the run got, for an interruption's report
    existed = output_exists(output, storage_options)
    with catch_signals(), reported_interruption(output, progress, stats, written, existed=existed,
                                                checkpoint_rows=checkpoint_rows, shard_rows=shard_rows):
        remote = dict(storage_options=storage_options)
        check_output(output, overwrite=overwrite, **remote)
        scorer = LocalNaturalnessScorer(
            model, window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length, dtype=dtype,
            device=device, batch_tokens=batch_tokens, steps_column=steps_column, response_part=response_part,
            revision=model_revision, adapter=adapter, scores=scores, drop_tokens=drop_tokens,
            steps_provenance=inputs_steps_provenance(inputs, storage_options) if segmenter == "given" else None,
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
        sample = None
        if sample_size is not None:
            from ..io.questions import sample_questions

            if engine == "ray":
                raise click.UsageError("--sample-questions is recorded with --engine local only; score the sample "
                                       "without --engine ray (it is small).")
            dataset, sample = sample_questions(dataset, sample_size, sample_seed)
            click.echo(sample.describe(), err=True)
        needed = [steps_column if segmenter == "given" else "response"]
        if prompt_format != "none":
            needed.append("question")
        require_columns(dataset, needed, what="scoring")
        counts, params, sampled = sampled_estimate(dataset, model=model, revision=model_revision, window=window,
                                                   segmenter=segmenter, prompt_format=prompt_format,
                                                   max_length=max_length, response_part=response_part,
                                                   steps_column=steps_column)
        projection = Projection.of(counts, params)
        if warning := whole_prefix_warning(counts.whole_prefix_share, scorer.config.window):
            click.echo(warning, err=True)
        start = time.perf_counter()
        if engine == "ray":  # the actors' devices are not this machine's: the GPU projection, named as such
            gpus = max(1, round(workers * gpus_per_worker))
            click.echo(summary_line(counts, Projection.of(counts, params, gpus=gpus), sampled=sampled), err=True)
            from ..scoring.ray_engine import score_with_ray

            with RowsBar() as bar:
                path = score_with_ray(scorer, dataset, output, address=ray_address, workers=workers,
                                      gpus_per_worker=gpus_per_worker, batch_size=batch_size, shard_rows=shard_rows,
                                      overwrite=overwrite, stats=stats, warn=lambda line: click.echo(line, err=True),
                                      before_scoring=bar.start, on_rows=bar.update, **remote)
            written.append(path)
            click.echo(summarize(load_input(str(path), **remote), time.perf_counter() - start,
                                 window=scorer.config.window))
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
        parallel, gpu_workers = {}, False
        if num_proc > 1:
            import torch

            gpu_workers = torch.cuda.is_available()
            if gpu_workers:  # a forked child cannot use CUDA
                import multiprocess

                multiprocess.set_start_method("spawn", force=True)
            parallel = dict(with_rank=True, num_proc=num_proc)
        # Finished chunks are checkpointed (keyed by the scorer's fingerprint and what the chunk's rows hold in question
        # and response): a rerun after a kill or after success, or one that changes only other columns, scores only
        # the rest, and never loads the model when nothing is left.
        # One bar over the rows left, moved after every forward batch by the scorer's callback (in this process; with
        # --num-proc the workers cannot call back, and `datasets`' bar counts finished map batches instead).
        def announce(rows_left: int) -> None:
            """The estimate line, once the checkpoints are read: the time on this run's device for the rows left
            (measured on the CPU: the student loads here, as scoring is about to load it anyway)."""
            rate = None
            if rows_left:
                # no student on a GPU here when each worker loads one there (an unknown GPU: the projection)
                rate = device_rate(scorer.device_arg, params, counts, batch_tokens=batch_tokens,
                                   load=None if gpu_workers else (lambda _: scorer.model),
                                   gpus=num_proc if parallel else 1)
            click.echo(summary_line(counts, projection, rate, rows_left=rows_left, sampled=sampled), err=True)
            bar.start(rows_left)

        with RowsBar(own=not parallel) as bar:
            resumed = score_resumable(scorer, dataset, checkpoint_rows=checkpoint_rows, map_batch_size=map_batch_size,
                                      echo=lambda line: click.echo(line, err=True), progress=progress,
                                      between_chunks=raise_if_signalled, before_scoring=announce,
                                      on_rows=bar.update if not parallel else None, **parallel)
        raise_if_signalled()  # one a library swallowed while the last chunk was scored
        scored = resumed.dataset
        seconds = time.perf_counter() - start
        provenance = scorer.provenance()
        if sample is not None:
            provenance = dataclasses.replace(provenance, sample=sample.to_dict())
        path = save_output(scored, output, overwrite=overwrite, provenance=provenance, **remote)
        written.append(path)
        click.echo(summarize(scored, seconds, reused=resumed.reused_rows, window=scorer.config.window))
        if scorer.path is not None:  # the model ran in this process
            click.echo(f"Ran {scorer.path} on {scorer.model.device}.")
        click.echo(f"Wrote {path}.")
        click.echo(f"Provenance ({where_recorded(path)}): {provenance.describe()}.")


class RowsBar:
    """`localnat score`'s progress bar: rows scored, to a tenth of a row (a row counts its share of the tokens run,
    `LocalNaturalnessScorer.score`'s `progress_callback`), on stderr, shown whenever `datasets` shows its bars
    (`datasets.disable_progress_bars()` or `HF_DATASETS_DISABLE_PROGRESS_BARS=1` hide it; the command line hides the
    other libraries' bars, `progress.quiet_libraries`, never this one). While it is shown,
    `datasets`' own `map` bar, which moves only when a whole map batch is done, is hidden.

    Args:
        own (`bool`): show this bar (`False`: leave `datasets`' bar, for `--num-proc`).
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar:24}| {n:.1f}/{total:.0f} rows [{elapsed}<{remaining}]"

    def __init__(self, own: bool = True) -> None:
        self.own, self.bar, self._restore, self._show = own, None, False, False

    def __enter__(self) -> RowsBar:
        import datasets

        from ..progress import ours_shown

        self._show = self.own and ours_shown()  # the command line hides other libraries' bars, never this one
        if self._show and datasets.is_progress_bar_enabled():
            datasets.disable_progress_bars()
            self._restore = True
        return self

    def start(self, rows: int) -> None:
        """Scoring starts, with `rows` left to score (none: no bar)."""
        if self._show and rows:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=rows, desc="Scoring", unit="row", bar_format=self.FORMAT, disable=False,
                            file=sys.stderr)

    def update(self, rows: float) -> None:
        """`rows` more rows' worth of work is done (floating-point shares can sum a hair past the total: capped)."""
        if self.bar is not None:
            self.bar.update(max(0.0, min(rows, self.bar.total - self.bar.n)))

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._restore:
            import datasets

            datasets.enable_progress_bars()


def output_exists(output: str, storage_options: dict) -> bool:
    """Whether OUTPUT is there before the run (a local path, or a URL on its filesystem); `False` when that cannot
    be told."""
    from ..io.remote import filesystem, is_url, local_path

    try:
        if is_url(output):
            fs, path = filesystem(output, storage_options)
            return bool(fs.exists(path))
        return os.path.lexists(os.path.expanduser(local_path(output)))
    except Exception:  # noqa: BLE001 - only the wording of an interruption depends on it
        return False


@contextmanager
def reported_interruption(output: str, progress, stats: dict, written: list, *, existed: bool = False,
                          checkpoint_rows: int = 1024, shard_rows: int = 1024) -> Iterator[None]:
    """On Ctrl-C or SIGTERM inside the block: one line and exit 130 / 143. The line says what was checkpointed and
    what a rerun of the same command does with it (resumes after it, or starts over, with the option that sets how
    often a checkpoint is written), whether OUTPUT was written, and names an old OUTPUT only when one was there
    (`existed`). The checkpoints stay; every temporary file is already gone (each `atomic_output` removes its own)."""
    from ._signals import Terminated, exit_code, same_command, signal_of

    try:
        yield
    except (KeyboardInterrupt, Terminated) as e:
        signum = signal_of(e)
        ray = "shards" in stats  # --engine ray
        done = stats.get("shards_done", 0) if ray else progress.checkpointed()
        total = stats["shards"] if ray else progress.chunks
        unit, option, size = ("shards", "--shard-rows", shard_rows) if ray else ("chunks", "--checkpoint-rows",
                                                                              checkpoint_rows)
        name = signal.Signals(signum).name
        command = same_command(click.get_current_context())
        old = " (the old one is intact)" if existed else ""
        if written:
            line = f"{written[0]} was already written in full; nothing is left to do."
        elif done:
            line = (f"checkpointed {done} of {total} {unit} ({size} rows each); nothing was written to {output}{old}. "
                    f"Resume with the same command, which scores only the rest: {command}")
        else:
            line = (f"nothing checkpointed yet (a checkpoint is written every {size} rows; a smaller {option} "
                    f"checkpoints sooner); nothing was written to {output}{old}. Rerunning starts over: {command}")
        click.echo(f"Interrupted by {name}: {line}", err=True)
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
