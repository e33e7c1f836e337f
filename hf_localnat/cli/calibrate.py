"""`localnat calibrate`: can a cheap proxy student stand in for the real one on this data?"""

from __future__ import annotations

import json

import click

from ._options import (bootstrap_options, handle_errors, ignore_provenance_option, json_option, storage_options_option,
                       teacher_columns_options)

EXAMPLES = """
\b
Examples:
  localnat score traces.jsonl -o proxy.parquet                          # the embedded 135M student
  localnat score traces.jsonl -o student.parquet --model Qwen/Qwen2.5-7B-Instruct
  localnat calibrate proxy.parquet student.parquet --correct-column correct
  localnat calibrate proxy.parquet student.parquet --row-id id --json
  localnat calibrate proxy.parquet student.parquet --row-id problem_id,teacher,sample
  localnat calibrate proxy-r1.parquet student-r1.parquet --and-a proxy-qwq.parquet --and-b student-qwq.parquet
"""


@click.command("calibrate", epilog=EXAMPLES)
@click.argument("proxy", metavar="A")
@click.argument("student", metavar="B")
@click.option("--and-a", "more_a", multiple=True, metavar="FILE",
              help="Another scored input pooled with A, in order (repeatable): teachers scored one at a time.")
@click.option("--and-b", "more_b", multiple=True, metavar="FILE",
              help="Another scored input pooled with B (repeatable).")
@click.option("--row-id", "row_id_column", multiple=True, metavar="COLUMN[,COLUMN...]",
              help="Match rows by this column; repeat it (or separate names with commas) for a key of several columns "
                   " [default: question id and teacher, plus generation_index when both files have it].")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column (read from B); the selections keep only rows where it is true.")
@bootstrap_options
@json_option
@teacher_columns_options
@storage_options_option
@ignore_provenance_option
@handle_errors
def calibrate_command(proxy: str, student: str, more_a: tuple[str, ...], more_b: tuple[str, ...], row_id_column: tuple[str, ...], correct_column: str | None,
                      resamples: int, confidence: float, seed: int, as_json: bool, teacher_column: str,
                      question_column: str, question_id_column: str, storage_options: dict,
                      ignore_provenance: bool) -> None:
    """Compare the same rows scored by two students: A (a cheap proxy) and B (the student you will train).

    Reports, with bootstrap intervals over questions, the Spearman and Kendall correlation of row LALP and of row
    GALP, the agreement of the teacher rankings, and the share of questions where both keep the same response; then
    a one-line verdict. Rows are matched by question id and teacher (or --row-id); rows in one file only, or whose
    text differs, are refused. With several generations per question (a list of responses, OpenR1's shape),
    generation_index joins the default key on its own.

    The job is `hf_localnat.calibrate([A, *and_a], [B, *and_b], ...)`, with these options as keyword arguments.
    """
    from ..jobs import calibrate as job

    result = job.calibrate([proxy, *more_a], [student, *more_b], row_id=row_id_column or None,
                       correct_column=correct_column, resamples=resamples, confidence=confidence, seed=seed,
                       teacher_column=teacher_column, question_column=question_column,
                       question_id_column=question_id_column, storage_options=storage_options,
                       ignore_provenance=ignore_provenance)
    click.echo(json.dumps(result.to_dict(), indent=2, default=float) if as_json else str(result))
