"""`localnat rank-teachers`: the teacher ranking by mean LALP and mean GALP, as a table or JSON, and a plot."""

from __future__ import annotations

import json

import click

from ._options import (bootstrap_options, handle_errors, ignore_provenance_option, input_options, json_option,
                       overwrite_option, pooled_line, scored_inputs_argument, storage_options_option,
                       teacher_columns_options)

EXAMPLES = """
\b
Examples:
  localnat rank-teachers scored.parquet
  localnat rank-teachers a.parquet b.parquet             # teachers scored separately, pooled
  localnat rank-teachers scored.parquet --plot teachers.png
  localnat rank-teachers scored.jsonl --json --resamples 5000 --seed 1
  localnat rank-teachers scored.parquet --teacher deepseek-r1 --teacher qwq-32b
  localnat rank-teachers hf://datasets/my-org/scores/scored.parquet
"""


@click.command("rank-teachers", epilog=EXAMPLES)
@scored_inputs_argument
@click.option("--teacher", "teachers", multiple=True, metavar="NAME",
              help="Rank only these teachers (repeat the option)  [default: every teacher].")
@bootstrap_options
@click.option("--plot", "plot_path", default=None, metavar="FILE.png",
              help="Also write per-teacher LALP and GALP distributions as a PNG.")
@json_option
@teacher_columns_options
@input_options
@storage_options_option
@ignore_provenance_option
@overwrite_option
@handle_errors
def rank_teachers_command(scored: tuple[str, ...], teachers: tuple[str, ...], resamples: int, confidence: float,
                          seed: int, plot_path: str | None, as_json: bool, teacher_column: str, question_column: str,
                          question_id_column: str, config_name: str | None, split: str | None,
                          storage_options: dict, ignore_provenance: bool, overwrite: bool) -> None:
    """Rank the teachers of SCORED (the output of `localnat score`) by mean LALP and by mean GALP.

    Several SCORED inputs are pooled (rows in the order given; rows with equal question texts are one question), so
    teachers scored at different times are ranked together; inputs scored under different definitions or students
    are refused.

    Means are taken over the questions every ranked teacher answered with a score (a teacher's repeated answers to
    one question are averaged first); the others are counted as dropped. Each mean and each pairwise difference gets
    a paired bootstrap interval. Where LALP and GALP order a teacher differently, the table marks it with *. The
    report starts with how SCORED was scored (its recorded provenance).
    """
    from ..io.pool import pool_scored
    from ..provenance import scored_with
    from ..scoring.prepare.windows import scored_whole_prefix_lines
    from ..selection.plot import check_plot_path, plot_teacher_distributions
    from ..selection.rank import rank_teachers

    if plot_path is not None:
        check_plot_path(plot_path, overwrite=overwrite)  # fail before the work, not after it
    # Refuses inputs (or parts of a folder) scored differently.
    dataset, provenance = pool_scored(scored, config=config_name, split=split, storage_options=storage_options,
                                      question_column=question_column, question_id_column=question_id_column,
                                      ignore_provenance=ignore_provenance)
    ranking = rank_teachers(
        dataset, teachers=list(teachers) or None, num_resamples=resamples, confidence=confidence, seed=seed,
        teacher_column=teacher_column, question_column=question_column, question_id_column=question_id_column,
    )
    if as_json:
        click.echo(json.dumps({**ranking.to_dict(), "provenance": provenance and provenance.to_dict(),
                               "inputs": list(scored)}, indent=2))
    else:
        click.echo(scored_with(provenance))
        if pooled_line(scored, dataset.num_rows):
            click.echo(pooled_line(scored, dataset.num_rows))
        click.echo(ranking.format_table())
    for line in scored_whole_prefix_lines(dataset, provenance and provenance.window):  # SPEC §12: LALP ~ GALP?
        click.echo(line, err=True)
    if plot_path is not None:
        path = plot_teacher_distributions(dataset, plot_path, teachers=ranking.order("lalp"),
                                          teacher_column=teacher_column, overwrite=overwrite)
        click.echo(f"Wrote {path}.", err=as_json)
