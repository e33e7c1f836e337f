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
"""


@click.command("calibrate", epilog=EXAMPLES)
@click.argument("proxy", metavar="A")
@click.argument("student", metavar="B")
@click.option("--row-id", "row_id_column", default=None, metavar="COLUMN",
              help="Match rows by this column  [default: by question id and teacher].")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column (read from B); the selections keep only rows where it is true.")
@bootstrap_options
@json_option
@teacher_columns_options
@storage_options_option
@ignore_provenance_option
@handle_errors
def calibrate_command(proxy: str, student: str, row_id_column: str | None, correct_column: str | None,
                      resamples: int, confidence: float, seed: int, as_json: bool, teacher_column: str,
                      question_column: str, question_id_column: str, storage_options: dict,
                      ignore_provenance: bool) -> None:
    """Compare the same rows scored by two students: A (a cheap proxy) and B (the student you will train).

    Reports, with bootstrap intervals over questions, the Spearman and Kendall correlation of row LALP and of row
    GALP, the agreement of the teacher rankings, and the share of questions where both keep the same response; then
    a one-line verdict. Rows are matched by question id and teacher (or --row-id); rows in one file only, or whose
    text differs, are refused.
    """
    from ..io import load_input
    from ..io import read_provenance as read
    from ..provenance import scored_with
    from ..selection.calibrate import calibrate

    recorded = {path: None if ignore_provenance else read(path, storage_options) for path in (proxy, student)}
    names = {path: f"{path} ({p.student_name})" if p is not None else path for path, p in recorded.items()}
    result = calibrate(load_input(proxy, storage_options=storage_options),
                       load_input(student, storage_options=storage_options), name_a=names[proxy], name_b=names[student],
                       row_id_column=row_id_column, correct_column=correct_column, num_resamples=resamples,
                       confidence=confidence, seed=seed, teacher_column=teacher_column,
                       question_column=question_column, question_id_column=question_id_column)
    a, b = recorded[proxy], recorded[student]
    differ = a is not None and b is not None and a.definition != b.definition
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "provenance": {"a": a and a.to_dict(), "b": b and b.to_dict()},
                               "definitions_differ": differ}, indent=2, default=float))
        return
    click.echo(f"A {scored_with(a)}\nB {scored_with(b)}")
    if differ:
        click.echo("Note: A and B were scored with different definitions (window, segmenter, ...), not only different "
                   "students; the comparison mixes both.")
    click.echo(result.format_table())
