"""`localnat select`: mixed-teacher curation by LALP (or GALP, or any score column in its direction), with the
rejected rows and the mix report."""

from __future__ import annotations

import json
import click

from ._options import (direction_option, handle_errors, ignore_provenance_option, input_options, json_option,
                       overwrite_option, scored_inputs_argument, storage_options_option, teacher_columns_options)

EXAMPLES = """
\b
Examples:
  localnat select scored.parquet -o curated.parquet --correct-column correct
  localnat select a.parquet b.parquet -o curated.parquet   # teachers scored separately, pooled
  localnat select scored.parquet -o curated.parquet --by galp            # the GRAPE-style baseline
  localnat select scored.parquet -o curated.parquet --by rsr             # rank-surprisal ratio: lowest kept
  localnat select scored.parquet -o curated.parquet --by my_score --direction my_score=lower
  localnat select scored.parquet -o curated.jsonl --top-k 2 --quantile 0.1
  localnat select scored.parquet -o curated.parquet --teacher-quota 1000 --teacher-quota deepseek-r1=5000
  localnat select scored.parquet -o top.parquet --slice top --fraction 0.1 --by lalp   # a pilot slice
  localnat select traces.parquet -o curated.parquet --where "repeat_share < 0.5" --where "error_share <= 0.2" \
      --where resolved                                       # validity filters first (agent traces)
"""


def _check_quotas(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from ..errors import ConfigError
    from ..jobs.select import parse_quotas

    try:
        parse_quotas(value, [])
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--teacher-quota") from error
    return value


@click.command("select", epilog=EXAMPLES)
@scored_inputs_argument
@click.option("-o", "--output", required=True, metavar="OUT",
              help="Kept rows: a .jsonl/.json/.parquet/.csv file, or a folder (no suffix).")
@click.option("--by", default="lalp", show_default=True, metavar="COLUMN",
              help="Score column to select by: lalp (the paper's method), galp (the baseline), rsr, lalp_drop, "
                   "galp_drop, or a column of your own with --direction. The best in its direction is kept.")
@direction_option
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="Responses kept per question.")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column; only rows where it is true can be kept.")
@click.option("--threshold", type=float, default=None,
              help="Worst score kept: a minimum (a maximum for a score that is better lower, such as rsr).")
@click.option("--quantile", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Threshold as a quantile of the candidates' scores (0.1 drops the worst tenth).")
@click.option("--where", "where", multiple=True, metavar="FILTER",
              help='A validity filter every kept row must pass, checked before choosing (repeatable): "COLUMN OP '
                   'NUMBER" (OP one of < <= > >= == !=), COLUMN (a boolean column is true) or "not COLUMN"; e.g. '
                   '--where "repeat_share < 0.5" --where resolved. A null value fails; the rejected file says '
                   'where:FILTER.')
@click.option("--teacher-quota", "teacher_quotas", multiple=True, metavar="N|TEACHER=N", callback=_check_quotas,
              help="Most rows kept per teacher: N for every teacher, TEACHER=N for one (repeatable).")
@click.option("--slice", "slice_name", type=click.Choice(["top", "middle", "bottom"]), default=None,
              help="Write one pilot slice instead of a per-question selection: the top, middle (around the median) or "
                   "bottom --fraction of all rows by --by, in its direction, each with messages.")
@click.option("--fraction", type=click.FloatRange(0, 1 / 3, min_open=True), default=0.1, show_default=True,
              help="With --slice: the share of the rows with a score in the slice (at most 1/3).")
@click.option("--rejected", "rejected_path", default=None, metavar="PATH",
              help="Where the rejected rows (with rejection_reason) go  [default: OUT with .rejected before the suffix].")
@json_option
@teacher_columns_options
@input_options
@storage_options_option
@ignore_provenance_option
@overwrite_option
@handle_errors
def select_command(scored: tuple[str, ...], output: str, by: str, directions: dict[str, str], top_k: int,
                   correct_column: str | None, where: tuple[str, ...],
                   threshold: float | None, quantile: float | None, teacher_quotas: tuple[str, ...],
                   slice_name: str | None, fraction: float, rejected_path: str | None, as_json: bool, teacher_column: str, question_column: str,
                   question_id_column: str, config_name: str | None, split: str | None, storage_options: dict,
                   ignore_provenance: bool, overwrite: bool) -> None:
    """Keep, for each question of SCORED, the response(s) the student finds most natural.

    Among a question's responses (correct ones only with --correct-column) the best --by score wins, in the score's
    direction: the highest LALP, the lowest rsr. A column of your own needs --direction COLUMN=higher|lower. Kept rows
    get selected_by, selection_rank and selection_reason; every other row is written to the rejected file with a
    rejection_reason (no_score, non_finite_score, where:FILTER, incorrect, unknown_correctness, below_threshold, lower_lalp,
    lower_galp, higher_rsr, ..., teacher_quota). Kept rows also get messages, the user/assistant turns TRL's
    SFTTrainer trains on (a conversation the response came from is kept as it was). The mix report shows each
    teacher's share under the --by score, LALP and GALP. Both outputs keep SCORED's recorded provenance (how it was
    scored).

    Several SCORED inputs are pooled (rows in the order given; rows with equal question texts are one question);
    inputs scored under different definitions or students are refused.

    --slice top|middle|bottom writes instead one pilot slice for a validation fine-tune: all rows with a score (and
    correct, with --correct-column) ordered best first by --by in its direction, then the first, middle or last
    floor(--fraction x rows) of them (`hf_localnat.selection.slices`); no rejected file.

    The job is `hf_localnat.select(...)`, with these options as keyword arguments.
    """
    from ..jobs import select as job

    if threshold is not None and quantile is not None:
        raise click.UsageError("Give either --threshold or --quantile, not both.")
    result = job.select(scored, output, by=by, directions=directions, top_k=top_k, correct_column=correct_column, where=where,
                    threshold=threshold, quantile=quantile, teacher_quota=teacher_quotas or None, slice=slice_name,
                    fraction=fraction, rejected=rejected_path, teacher_column=teacher_column,
                    question_column=question_column, question_id_column=question_id_column, config=config_name,
                    split=split, storage_options=storage_options, ignore_provenance=ignore_provenance,
                    overwrite=overwrite)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else str(result))
