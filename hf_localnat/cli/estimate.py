"""`localnat estimate`: the SPEC §10 token counts of an input, its FLOPs and a projected GPU time, without scoring."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from ..errors import ConfigError
from ..scoring.estimate import GPU_PEAK_TFLOPS, Rate, known_gpu, measured_rate, pass_shape, projected_rate
from ._options import (_compose, handle_errors, input_options, json_option, model_option, model_revision_option,
                       prompt_format_option, response_part_option, segmenter_option, shape_options,
                       storage_options_option, window_option)

EXAMPLES = """
\b
Examples:
  localnat estimate traces.jsonl
  localnat estimate openr1.parquet --question-column problem --response-column generations --model Qwen/Qwen2.5-7B-Instruct
  localnat estimate r1=r1.jsonl qwq=qwq.jsonl --model ./my-student --gpu h200 --gpus 8 --mfu 0.4
  localnat estimate traces.parquet --json
  localnat estimate traces.jsonl --device cpu      # also the time on this machine, from a few timed forward passes
  localnat estimate r1=r1.jsonl qwq=qwq.jsonl --sample-questions 300 --seed 0   # what a pilot sample costs
"""

sample_questions_options = _compose(
    click.option("--sample-questions", "sample_size", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Only every response to N questions, drawn by question text and --seed: the same questions for "
                      "every teacher and every run  [default: every question]."),
    click.option("--seed", "sample_seed", type=int, default=0, show_default=True,
                 help="Seed of the --sample-questions draw."),
)
"""`--sample-questions N --seed S` (`localnat score`, `localnat estimate`) -> `sample_size`, `sample_seed`, for
`hf_localnat.io.questions.sample_questions`."""


def estimate_rows(dataset, *, model: str | None, revision: str | None, window: int | str, segmenter: str,
                  prompt_format: str, max_length: int | None, response_part: str, steps_column: str = "steps",
                  progress: bool = True):
    """`(TokenCounts, N)` of long rows: the SPEC §10 counts with the student's tokenizer, and its non-embedding
    parameter count from its config. Reads no weights (the embedded student is converted once if it never was)."""
    from transformers import AutoConfig

    from ..io.shapes import batch_texts
    from ..scoring.config import ScoringConfig
    from ..scoring.estimate import TokenCounts, count_tokens, non_embedding_parameters
    from ..scoring.models import _check_supported as check_supported
    from ..scoring.models import load_tokenizer, resolve_model

    source = resolve_model(model, revision)
    tokenizer = load_tokenizer(source.path, revision)
    try:
        model_config = AutoConfig.from_pretrained(source.path, revision=revision, trust_remote_code=False)
    except ValueError as e:  # a model that ships its own code: refused in one line, never run, never prompted for
        check_supported(source.path, e)
        raise
    limit = max_length or getattr(model_config.get_text_config(), "max_position_embeddings", None)
    if limit is None:
        raise click.UsageError(f"{source.model_id!r} does not say its maximum input length; pass --max-length.")
    config = ScoringConfig(window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
                           response_part=response_part)
    totals = TokenCounts()
    arrow = dataset.with_format("arrow")
    chunk = 4096
    with click.progressbar(length=dataset.num_rows, label="Counting tokens", file=sys.stderr,
                           show_eta=True, hidden=not progress) as bar:
        for start in range(0, dataset.num_rows, chunk):
            table = arrow[start:start + chunk]
            texts = batch_texts(lambda name: table.column(name) if name in table.column_names else None,
                                table.column_names, question_column="question", response_column="response",
                                steps_column=steps_column if segmenter == "given" else None)
            responses, questions, errors, steps = texts.responses, texts.questions, texts.errors, texts.steps
            totals.add(count_tokens(tokenizer, config, int(limit), responses, questions or [None] * len(responses),
                                    steps, errors))
            bar.update(table.num_rows)
    return totals, non_embedding_parameters(model_config)


#: `localnat score` counts at most this many rows for its estimate line (evenly spaced), and scales the counts up:
#: counting every row of 10^6 long traces would cost as much as the preparation of the scoring itself.
SCORE_SAMPLE_ROWS = 2000


def sampled_estimate(dataset, **options):
    """`(TokenCounts, N, sampled)`: `estimate_rows` of at most `SCORE_SAMPLE_ROWS` evenly spaced rows, its counts
    scaled to the whole dataset (`sampled`: whether it was a sample)."""
    import numpy as np

    from ..scoring.estimate import COUNT_KEYS

    if dataset.num_rows <= SCORE_SAMPLE_ROWS:
        return (*estimate_rows(dataset, progress=False, **options), False)
    picked = np.linspace(0, dataset.num_rows - 1, SCORE_SAMPLE_ROWS).round().astype(int)
    counts, params = estimate_rows(dataset.select(picked), progress=False, **options)
    scale = dataset.num_rows / SCORE_SAMPLE_ROWS
    for key in COUNT_KEYS:
        setattr(counts, key, round(getattr(counts, key) * scale))
    counts.rows = dataset.num_rows
    counts.errors = type(counts.errors)({reason: round(n * scale) for reason, n in counts.errors.items()})
    return counts, params, True


def summary_line(counts, projection, rate=None, *, rows_left: int | None = None, sampled: bool = False) -> str:
    """The one line `localnat score` prints before it starts: the counts, the FLOPs, and the time on the device of
    the run (`rate`, see `device_rate`) for the `rows_left` rows not yet checkpointed (default: all)."""
    about = f" (counted on {SCORE_SAMPLE_ROWS} evenly spaced rows, scaled)" if sampled else ""
    rows_left = counts.rows if rows_left is None else rows_left
    line = (f"Estimate{about}: {counts.rows} rows, {counts.steps} steps, {counts.response_tokens} response tokens; "
            f"{counts.window_tokens} window tokens ({counts.model_tokens} with each question computed once), "
            f"{counts.galp_tokens} GALP tokens; {projection.flops['lalp_shared_prefix']:.2g} FLOPs (each question "
            "once, as the default paths run it)")
    if counts.whole_prefix_share is not None:
        line += f"; whole-prefix share {counts.whole_prefix_share:.2f} (SPEC §12)"
    if rows_left == 0:
        return f"{line}; every row is checkpointed already: nothing to score."
    if rate is None:
        rate = projected_rate(projection.params, gpu=projection.gpu, gpus=projection.gpus, mfu=projection.mfu)
    tokens = counts.model_tokens * rows_left / max(1, counts.rows)
    left = f"{rows_left} of the {counts.rows} rows left to score: " if rows_left < counts.rows else ""
    return f"{line}; {left}{rate.describe(tokens)}."


def device_rate(device: str | None, params: int, counts, *, load: Callable[[str], object] | None,
                batch_tokens: int = 16384, gpus: int = 1) -> Rate | None:
    """How fast the student runs on `device`, for an estimate: on the CPU (and any device but CUDA) a measured rate
    (`measured_rate`, a few seconds at most, on the model `load(device)` returns); on a CUDA GPU whose peak is known
    (`GPU_PEAK_TFLOPS`), the FLOP projection for it; on another GPU, measured too. A GPU name (`h100`, ...) is
    that GPU's projection, with nothing loaded.

    Args:
        device (`str`, *optional*): `cpu`, `cuda`, `cuda:N`, a name of `GPU_PEAK_TFLOPS`; `None`: cuda when a GPU
            is visible, else cpu.
        params (`int`): the student's non-embedding parameters. `counts`: the input's `TokenCounts`.
        load (`Callable[[str], model]`, *optional*): loads the student on a torch device (called only to measure);
            `None`: do not measure, return `None` where a measurement would be needed.
        gpus (`int`): GPUs of the projection on CUDA.
    """
    import torch

    if device is not None and device.lower() in GPU_PEAK_TFLOPS:
        return projected_rate(params, gpu=device.lower(), gpus=gpus)
    from ..scoring.compute.forward import resolve_device

    try:
        resolved = resolve_device(device)
    except RuntimeError:
        raise ConfigError(f"Unknown device {device!r}; use cpu, cuda, cuda:N or a GPU name "
                          f"({', '.join(sorted(GPU_PEAK_TFLOPS))}).") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Device {device!r}: no CUDA GPU is visible here; use --device cpu, or a GPU name "
                          f"({', '.join(sorted(GPU_PEAK_TFLOPS))}) for its projection.")
    if resolved.type == "cuda":
        gpu = known_gpu(torch.cuda.get_device_name(resolved))
        if gpu is not None:
            return projected_rate(params, gpu=gpu, gpus=gpus)
    if load is None:
        return None
    model = load(str(resolved))
    return measured_rate(model, pass_shape(counts, next(model.parameters()).device.type, batch_tokens))


@click.command("estimate", epilog=EXAMPLES)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@model_option()
@model_revision_option("--revision")
@window_option()
@segmenter_option()
@prompt_format_option()
@response_part_option()
@click.option("--max-length", type=click.IntRange(min=2), default=None,
              help="Bound on every model input in tokens  [default: the model's maximum].")
@shape_options
@click.option("--steps-column", default="steps", show_default=True, help="List-of-steps column for --segmenter given.")
@click.option("--gpu", type=click.Choice(sorted(GPU_PEAK_TFLOPS)), default="h100", show_default=True,
              help="The GPU of the projection (its published dense bf16 peak).")
@click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, help="GPUs scoring in parallel.")
@click.option("--mfu", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Share of the published peak reached  [default: 0.27, this project's measured CUDA default on an H100].")
@click.option("--device", default=None, metavar="DEVICE",
              help="Also the time on this device: cpu (a few forward passes of the student, measured here, a few "
                   "seconds), cuda / cuda:N (its FLOP projection if its peak is known, else measured), or a GPU of "
                   "--gpu (projected).")
@sample_questions_options
@json_option
@input_options
@storage_options_option
@handle_errors
def estimate_command(inputs: tuple[str, ...], model: str | None, model_revision: str | None, window: int | str,
                     segmenter: str, prompt_format: str, response_part: str, max_length: int | None,
                     question_column: str | None, response_columns: tuple[str, ...], messages_column: str | None,
                     teacher_column: str | None, teacher_name: str | None, explode_with: tuple[str, ...],
                     steps_column: str, gpu: str, gpus: int, mfu: float | None, device: str | None,
                     sample_size: int | None, sample_seed: int, as_json: bool,
                     config_name: str | None, split: str | None, storage_options: dict) -> None:
    """Count what scoring the INPUTs will cost (SPEC §10), exactly, with the student's tokenizer only; never scores.

    Prints rows, steps, response_tokens, window_tokens (the tokens the exact LALP windows hold), model_tokens (the
    same with each question's prefix computed once) and galp_tokens, then the FLOPs (2 x N x tokens, N = the
    student's parameters without embeddings; attention not counted) and the projected time on --gpus x --gpu at
    --mfu, for exact LALP, LALP with the prefix computed once, the blockmask approximation (two passes over each
    response) and GALP alone. --device adds the same four times on a device: on the CPU measured here (a few
    forward passes of the student, a few seconds), on a known GPU its projection. INPUTs and the shape options are
    those of `localnat score`; --sample-questions N
    --seed S prices the sample `localnat score` would score with the same options.
    """
    from ..io import load_input, read_inputs
    from ..scoring.estimate import MEASURED_MFU, Projection, duration_phrase, method_tokens
    from ..scoring.prepare.windows import whole_prefix_line, whole_prefix_warning

    dataset, lines = read_inputs(inputs, lambda s: load_input(s, config=config_name, split=split,
                                                                storage_options=storage_options),
                                 teacher=teacher_name, question_column=question_column,
                                 response_columns=response_columns or None, messages_column=messages_column,
                                 teacher_column=teacher_column, explode_with=explode_with,
                                 steps_column=steps_column if segmenter == "given" else None)
    for line in lines:
        click.echo(line, err=True)
    sample = None
    if sample_size is not None:
        from ..io.questions import sample_questions

        dataset, sample = sample_questions(dataset, sample_size, sample_seed)
        click.echo(sample.describe(), err=True)
    counts, params = estimate_rows(dataset, model=model, revision=model_revision, window=window, segmenter=segmenter,
                                   prompt_format=prompt_format, max_length=max_length, response_part=response_part,
                                   steps_column=steps_column, progress=not as_json)
    projection = Projection.of(counts, params, gpu=gpu, gpus=gpus, mfu=mfu or MEASURED_MFU)
    if warning := whole_prefix_warning(counts.whole_prefix_share, window):
        click.echo(warning, err=True)
    rate = None
    if device is not None:
        from ..scoring.models import load_student

        rate = device_rate(device, params, counts, gpus=gpus,
                           load=lambda where: load_student(model, revision=model_revision, device=where)[0])
    tokens = method_tokens(counts)
    if as_json:
        measured = {} if rate is None else {"device": {
            "where": rate.where, "how": rate.how, "tokens_per_second": rate.tokens_per_second,
            "seconds": {key: rate.seconds(n) for key, n in tokens.items()}}}
        click.echo(json.dumps({**counts.to_dict(), "params": params, "flops": projection.flops,
                               "projection": projection.to_dict(), "sample": sample and sample.to_dict(), **measured}, indent=2))
        return
    width = max(len(k) for k in counts.to_dict())
    for key, value in counts.to_dict().items():
        if key not in ("errors", "whole_prefix_share"):
            click.echo(f"{key:<{width}}  {value:>16,}")
    click.echo(whole_prefix_line(counts.whole_prefix_share, window))
    if counts.errors:
        click.echo("rows without a score: " + ", ".join(f"{n} {e}" for e, n in counts.errors.items()))
    click.echo(f"\nStudent: {params:,} parameters without embeddings. FLOPs = 2 x N x tokens (attention not counted); "
               f"projected time on {gpus} x {gpu.upper()} ({projection.peak_tflops:g} TFLOP/s bf16 each) at "
               f"{projection.mfu:.0%} MFU{' (measured: the CUDA default on an H100)' if mfu is None else ''}:")
    names = {"lalp": "exact LALP (every window)", "lalp_shared_prefix": "exact LALP, question computed once",
             "blockmask": "blockmask approximation", "galp": "GALP alone"}
    for key, label in names.items():
        click.echo(f"  {label:<36} {projection.flops[key]:>10.3g} FLOPs  {duration_phrase(projection.hours[key] * 3600):>15}")
    if rate is not None:
        click.echo(f"\nOn {rate.where} ({rate.how}: {rate.tokens_per_second:,.0f} tokens/s):")
        for key, label in names.items():
            click.echo(f"  {label:<36} {tokens[key]:>10,} tokens  {duration_phrase(rate.seconds(tokens[key])):>15}")
    click.echo("The other scores (rsr, galp_drop, lalp_drop; `localnat score --scores all`) come from the same passes: "
               "no extra model tokens.")
