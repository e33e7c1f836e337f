"""`localnat inspect`: the step report of a scored file, one self-contained HTML page."""

from __future__ import annotations

import click

from ._options import (handle_errors, ignore_provenance_option, input_options, overwrite_option, scored_inputs_argument,
                       segmenter_option, storage_options_option, teacher_columns_options)

EXAMPLES = """
\b
Examples:
  localnat inspect scored.parquet -o report.html --correct-column correct
  localnat inspect a.parquet b.parquet -o report.html        # teachers scored separately, pooled
  localnat inspect scored.parquet -o report.html --question P_Combinatorics_1 --question P_Sequence_3
  localnat inspect scored.parquet -o report.html --segmenter given --steps-column steps
  localnat inspect agents.parquet -o traces.html          # agent traces turn by turn (scored --segmenter turns)
"""


@click.command("inspect", epilog=EXAMPLES)
@scored_inputs_argument
@click.option("-o", "--output", required=True, metavar="REPORT.html", help="The HTML file to write.")
@click.option("--question", "questions", multiple=True, metavar="ID",
              help="Question id to show step by step (repeatable)  [default: where LALP and GALP picks differ most].")
@click.option("--num-questions", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many questions to show when --question is not given.")
@click.option("--least-natural", type=click.IntRange(min=0), default=5, show_default=True,
              help="Lowest-scoring steps quoted per teacher.")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column; the LALP and GALP selections keep only rows where it is true.")
@segmenter_option(default=None, help="The segmenter SCORED was scored with, for a file that does not record it  "
                                     "[default: the recorded one, else sentence].")
@click.option("--steps-column", default="steps", show_default=True, help="Column of the steps for --segmenter given.")
@click.option("--response-column", default="response", show_default=True, help="Column with the response text.")
@click.option("--max-observation-tokens", type=click.IntRange(min=0), default=None, metavar="N",
              help="Agent traces (--segmenter turns): the observation cap they were scored with, for a file that "
                   "does not record it  [default: the recorded one, else 1024].")
@click.option("--max-mb", type=click.FloatRange(min=0.1), default=8.0, show_default=True,
              help="Upper bound of the file size; longer responses are cut (and the report says so) to fit.")
@click.option("--title", default=None, help="Page title.")
@teacher_columns_options
@input_options
@storage_options_option
@ignore_provenance_option
@overwrite_option
@handle_errors
def inspect_command(scored: tuple[str, ...], output: str, questions: tuple[str, ...], num_questions: int,
                    least_natural: int, correct_column: str | None, segmenter: str | None, steps_column: str,
                    response_column: str, max_observation_tokens: int | None, max_mb: float, title: str | None,
                    teacher_column: str, question_column: str,
                    question_id_column: str, config_name: str | None, split: str | None, storage_options: dict,
                    ignore_provenance: bool, overwrite: bool) -> None:
    """Write a self-contained HTML report of SCORED (the output of `localnat score`).

    It holds the teacher ranking with intervals and the score distributions, the chosen questions with every step
    of every teacher's response shaded by its step score (exact score on hover), each teacher's least natural steps
    with context (agent traces scored with --segmenter turns: each trace turn by turn, the task and observations
    grey, observations over the cap marked, every assistant turn shaded by its score), and the mix under LALP and
    under GALP (and under every other score the file holds, rsr or a drop score, each selecting in its own
    direction). Inline CSS and SVG only: no script, no network request.
    Several SCORED inputs are pooled (rows in the order given; equal question texts are one question); inputs scored
    under different definitions or students are refused.

    The job is `hf_localnat.inspect(...)`, with these options as keyword arguments.
    """
    from ..jobs import inspect as job

    result = job.inspect(scored, output, questions=questions, num_questions=num_questions, least_natural=least_natural,
                     correct_column=correct_column, segmenter=segmenter, steps_column=steps_column,
                     response_column=response_column, max_observation_tokens=max_observation_tokens, max_mb=max_mb, title=title, teacher_column=teacher_column,
                     question_column=question_column, question_id_column=question_id_column, config=config_name,
                     split=split, storage_options=storage_options, ignore_provenance=ignore_provenance,
                     overwrite=overwrite)
    click.echo(str(result))
