"""`localnat rank-teachers`: the teacher ranking by the mean of each score (LALP and GALP by default), the evidence
for it (SPEC §13), optionally against a known ranking, as a table or JSON, and a plot."""

from __future__ import annotations

import json

import click

from ._options import (bootstrap_options, direction_option, handle_errors, ignore_provenance_option, input_options,
                       json_option, overwrite_option, scored_inputs_argument, storage_options_option,
                       teacher_columns_options)

EXAMPLES = """
\b
Examples:
  localnat rank-teachers scored.parquet
  localnat rank-teachers a.parquet b.parquet             # teachers scored separately, pooled
  localnat rank-teachers scored.parquet --plot teachers.png
  localnat rank-teachers scored.jsonl --json --resamples 5000 --seed 1
  localnat rank-teachers scored.parquet --teacher deepseek-r1 --teacher qwq-32b
  localnat rank-teachers scored.parquet --by lalp --by galp --by rsr
  localnat rank-teachers scored.parquet --truth r1=61.2 --truth qwq=58.0 --truth phi=49.5
  localnat rank-teachers scored.parquet --truth pilot_accuracies.csv   # teacher,value lines
  localnat rank-teachers scored.parquet --correct-column correct --correct-only
  localnat rank-teachers hf://datasets/my-org/scores/scored.parquet
"""


@click.command("rank-teachers", epilog=EXAMPLES)
@scored_inputs_argument
@click.option("--teacher", "teachers", multiple=True, metavar="NAME",
              help="Rank only these teachers (repeat the option)  [default: every teacher].")
@click.option("--by", "by", multiple=True, metavar="SCORE",
              help="A score column to rank by (repeatable; any numeric column whose direction is known, see "
                   "--direction)  [default: lalp and galp].")
@direction_option
@click.option("--truth", "truth", multiple=True, metavar="NAME=VALUE|FILE",
              help="A known value per teacher, higher = better (e.g. the accuracy of a pilot fine-tune on its data): "
                   "NAME=VALUE (repeatable) or a CSV/JSON file of teacher,value. Reports how each score agrees.")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column: show each teacher's accuracy (share of its judged responses that are correct) with "
                   "its interval, beside the scores.")
@click.option("--correct-only", is_flag=True,
              help="Rank on the correct responses only (needs --correct-column).")
@bootstrap_options
@click.option("--plot", "plot_path", default=None, metavar="FILE.png",
              help="Also write the per-teacher distribution of each score and each score's p_order(n) curve as a "
                   "PNG.")
@json_option
@teacher_columns_options
@input_options
@storage_options_option
@ignore_provenance_option
@overwrite_option
@handle_errors
def rank_teachers_command(scored: tuple[str, ...], teachers: tuple[str, ...], by: tuple[str, ...],
                          directions: dict[str, str], truth: tuple[str, ...], correct_column: str | None,
                          correct_only: bool, resamples: int, confidence: float,
                          seed: int, plot_path: str | None, as_json: bool, teacher_column: str, question_column: str,
                          question_id_column: str, config_name: str | None, split: str | None,
                          storage_options: dict, ignore_provenance: bool, overwrite: bool) -> None:
    """Rank the teachers of SCORED (the output of `localnat score`) by the mean of each score (--by; default LALP
    and GALP), and say how sure the order is.

    Several SCORED inputs are pooled (rows in the order given; rows with equal question texts are one question), so
    teachers scored at different times are ranked together; inputs scored under different definitions or students
    are refused.

    Means are taken over the questions every ranked teacher answered with a score (a teacher's repeated answers to
    one question are averaged first); the others are counted as dropped. Each mean and each pairwise difference gets
    a paired bootstrap interval. Where the scores order a teacher differently, the table marks it with *. The
    report starts with how SCORED was scored (its recorded provenance).

    From the same resamples (SPEC §13): p_top (how often each teacher comes out best), p_order (how often the whole
    order is reproduced), winner share (how often each teacher writes a question's best answer), the within- and
    between-teacher spread, p_order(n) for 10, 25, 50, ... questions and stable_n, the fewest questions at which the
    order holds in 80% of draws; then one verdict per score. With --truth, each score's Kendall tau-b, Spearman,
    pairwise accuracy and top-1 match against the known ranking, and which score agrees best. With
    --correct-column, each teacher's accuracy with its interval (the same resamples); --correct-only ranks on the
    correct responses only.

    The job is `hf_localnat.rank_teachers(...)`, with these options as keyword arguments.
    """
    from ..jobs import rank as job

    result = job.rank_teachers(scored, teachers=teachers, by=by or ("lalp", "galp"), directions=directions, truth=truth or None,
                           correct_column=correct_column, correct_only=correct_only, resamples=resamples,
                           confidence=confidence, seed=seed, plot=plot_path, teacher_column=teacher_column,
                           question_column=question_column, question_id_column=question_id_column, config=config_name,
                           split=split, storage_options=storage_options, ignore_provenance=ignore_provenance,
                           overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(str(result))
    for line in result.notes:
        click.echo(line, err=True)
    if as_json and result.plot is not None:
        click.echo(f"Wrote {result.plot}.", err=True)
