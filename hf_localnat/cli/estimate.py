"""`localnat estimate`: the SPEC §10 token counts of an input, its FLOPs and a projected GPU time, without scoring."""

from __future__ import annotations

import json

import click

from ..scoring.estimate import GPU_PEAK_TFLOPS
from ._options import (_compose, handle_errors, input_options, json_option, model_option, model_revision_option,
                       prompt_format_option, response_part_option, segmenter_option, shape_options,
                       storage_options_option, trace_options, window_option)

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
@trace_options
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
                     max_observation_tokens: int, tools_column: str, steps_column: str, gpu: str, gpus: int, mfu: float | None, device: str | None,
                     sample_size: int | None, sample_seed: int, as_json: bool,
                     config_name: str | None, split: str | None, storage_options: dict) -> None:
    """Count what scoring the INPUTs will cost (SPEC §10), exactly, with the student's tokenizer only; never scores.

    Prints rows, steps, response_tokens, window_tokens (the tokens the exact LALP windows hold), model_tokens (the
    same with each question's prefix computed once) and galp_tokens, then the FLOPs (2 x N x tokens, N = the
    student's parameters without embeddings; attention not counted) and the projected time on --gpus x --gpu at
    --mfu, for exact LALP, LALP with the prefix computed once, the blockmask approximation (two passes over each
    response) and GALP alone. --device adds the same four times on a device: on the CPU measured here (a few
    forward passes of the student, a few seconds), on a known GPU its projection. INPUTs and the shape options are
    those of `localnat score`; with --segmenter turns (agent traces) the counts use each trace's inputs (SPEC
    §14) and a table gives the trace columns' means per teacher; --sample-questions N
    --seed S prices the sample `localnat score` would score with the same options.
    """
    from ..jobs.estimate import estimate

    result = estimate(inputs, model=model, model_revision=model_revision, window=window, segmenter=segmenter,
                      prompt_format=prompt_format, response_part=response_part, max_length=max_length,
                      question_column=question_column, response_column=response_columns,
                      messages_column=messages_column, teacher_column=teacher_column, teacher=teacher_name,
                      explode_with=explode_with, steps_column=steps_column, gpu=gpu, gpus=gpus, mfu=mfu,
                      device=device, sample_questions=sample_size, seed=sample_seed, config=config_name, split=split,
                      storage_options=storage_options, progress=not as_json,
                      echo=lambda line: click.echo(line, err=True), max_observation_tokens=max_observation_tokens,
                      tools_column=tools_column)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else str(result))
