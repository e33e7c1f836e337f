"""`localnat select`: mixed-teacher curation by LALP (or GALP, or any score column in its direction), with the
rejected rows and the mix report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._options import (direction_option, handle_errors, ignore_provenance_option, input_options, json_option,
                       overwrite_option, pooled_line, scored_inputs_argument, storage_options_option,
                       teacher_columns_options)

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


def default_rejected_path(output: str) -> str:
    """Where rejected rows go when --rejected is not given: `curated.parquet` -> `curated.rejected.parquet` (also
    for a URL: `memory://out/curated.jsonl` -> `memory://out/curated.rejected.jsonl`)."""
    head, slash, name = output.rpartition("/")
    suffix = Path(name).suffix
    return f"{head}{slash}{name[:len(name) - len(suffix)]}.rejected{suffix}" if suffix else f"{output}.rejected"


def parse_quotas(values: tuple[str, ...], teachers: list[str]) -> dict[str, int] | None:
    """`("100", "teacher-a=5")` -> every teacher 100, teacher-a 5. Raises `click.BadParameter` on a bad value."""
    if not values:
        return None
    default: int | None = None
    named: dict[str, int] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        try:
            count = int(number)
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither N nor TEACHER=N (N a whole number).",
                                     param_hint="--teacher-quota") from None
        if name:
            named[name] = count
        else:
            default = count
    quotas = {t: default for t in teachers} if default is not None else {}
    quotas.update(named)
    return quotas


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
@click.option("--teacher-quota", "teacher_quotas", multiple=True, metavar="N|TEACHER=N",
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
    """
    from ..io import check_output, require_columns, save_outputs
    from ..io.pool import pool_scored
    from ..provenance import scored_with
    from ..selection.layout import arrow_column, as_labels, factorize
    from ..scores import DEFAULT_SCORES, score_direction
    from ..selection.select import mix_report, select_responses
    from ..selection.where import parse_conditions

    parse_conditions(where)  # a filter that does not parse fails before anything is read
    if threshold is not None and quantile is not None:
        raise click.UsageError("Give either --threshold or --quantile, not both.")
    direction = score_direction(by, directions)  # before reading anything: a column of unknown direction is refused
    remote = dict(storage_options=storage_options)
    check_output(output, overwrite=overwrite, **remote)
    if slice_name is None:  # a slice has no rejected file
        rejected_path = rejected_path or default_rejected_path(output)
        check_output(rejected_path, overwrite=overwrite, **remote)
    # Refuses inputs (or parts of a folder) scored differently.
    dataset, provenance = pool_scored(scored, config=config_name, split=split, question_column=question_column,
                                      question_id_column=question_id_column, ignore_provenance=ignore_provenance,
                                      **remote)
    if slice_name is not None:
        return _write_slice(dataset, provenance, scored, output, slice_name=slice_name, fraction=fraction, by=by,
                            directions=directions, correct_column=correct_column, where=where, as_json=as_json,
                            teacher_column=teacher_column, question_column=question_column,
                            storage_options=storage_options, overwrite=overwrite)
    require_columns(dataset, [teacher_column], what="selection")
    teachers = factorize(as_labels(arrow_column(dataset, teacher_column)))[1] if teacher_quotas else []
    quotas = parse_quotas(teacher_quotas, teachers)
    options = dict(top_k=top_k, correct_column=correct_column, threshold=threshold, quantile=quantile,
                   teacher_quota=quotas, teacher_column=teacher_column, question_column=question_column,
                   question_id_column=question_id_column, directions=directions, where=list(where))
    selection = select_responses(dataset, by=by, **options)
    report = mix_report(dataset, done=selection, scores=list(dict.fromkeys([by, *DEFAULT_SCORES])), **options)
    # both written before either replaces anything: a failure (no space left, ...) leaves both as they were
    kept, rejected = save_outputs([(selection.selected, output), (selection.rejected, rejected_path)],
                                  overwrite=overwrite, provenance=provenance, **remote)
    if as_json:
        click.echo(json.dumps({
            "by": by, "direction": direction, "kept": selection.selected.num_rows, "rejected": selection.rejected.num_rows,
            "rejection_reasons": selection.reason_counts, "where": list(selection.where),
            "threshold": selection.threshold,
            "questions": selection.num_questions, "questions_without_selection":
            selection.num_questions_without_selection, "mix": report.to_dict(),
            "output": str(kept), "rejected_output": str(rejected),
            "provenance": provenance and provenance.to_dict(), "inputs": list(scored),
        }, indent=2))
        return
    click.echo(scored_with(provenance))
    if pooled_line(scored, dataset.num_rows):
        click.echo(pooled_line(scored, dataset.num_rows))
    click.echo(selection.summary())
    click.echo(f"Wrote {kept} (kept) and {rejected} (rejected, with rejection_reason).")
    click.echo("\n" + report.title)
    click.echo(report.format_table())


def _write_slice(dataset, provenance, scored: tuple[str, ...], output: str, *, slice_name: str, fraction: float,
                 by: str, directions: dict[str, str], correct_column: str | None, where: tuple[str, ...], as_json: bool, teacher_column: str,
                 question_column: str, storage_options: dict, overwrite: bool) -> None:
    """`select --slice`: one slice of the pooled SCORED rows (`selection.slices.score_slices`) written to OUTPUT."""
    from ..io import save_output
    from ..provenance import scored_with
    from ..selection.slices import score_slices

    remote = dict(storage_options=storage_options)
    part = score_slices(dataset, by=by, fraction=fraction, names=[slice_name], directions=directions,
                        correct_column=correct_column, teacher_column=teacher_column,
                        question_column=question_column, where=list(where))[slice_name]
    path = save_output(part.rows, output, overwrite=overwrite, provenance=provenance, **remote)
    if as_json:
        click.echo(json.dumps({"slice": slice_name, "by": by, "direction": part.direction, "fraction": fraction,
                               "rows": part.rows.num_rows, "candidates": part.num_candidates,
                               "positions": [part.start + 1, part.stop], "teacher_counts": part.teacher_counts,
                               "rule": part.rule, "output": str(path), "inputs": list(scored)}, indent=2))
        return
    click.echo(scored_with(provenance))
    click.echo(f"Rule: {part.rule}")
    click.echo(part.summary())
    click.echo(f"Wrote {path}.")
