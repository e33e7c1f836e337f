"""`hf_localnat.select`: the job of `localnat select` (a per-question selection, or one pilot slice)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ._scored import ScoredInput, pool
from .results import Selection, Slice


def default_rejected_path(output: str | os.PathLike) -> str:
    """Where rejected rows go when `rejected` is not given: `curated.parquet` -> `curated.rejected.parquet` (also
    for a URL: `memory://out/curated.jsonl` -> `memory://out/curated.rejected.jsonl`)."""
    output = os.fspath(output)
    head, slash, name = output.rpartition("/")
    suffix = Path(name).suffix
    return f"{head}{slash}{name[:len(name) - len(suffix)]}.rejected{suffix}" if suffix else f"{output}.rejected"


def parse_quotas(values: int | str | Mapping[str, int] | Sequence[str] | None,
                 teachers: list[str]) -> dict[str, int] | None:
    """Per-teacher quotas from `--teacher-quota` items (`("100", "teacher-a=5")` -> every teacher 100, teacher-a 5),
    a number for every teacher, or a dict (returned as is).

    Raises:
        ConfigError: an item is neither N nor TEACHER=N.
    """
    if values is None or isinstance(values, Mapping):
        return dict(values) if values is not None else None
    if isinstance(values, int | str):
        values = [str(values)]
    if not values:
        return None
    default: int | None = None
    named: dict[str, int] = {}
    for value in values:
        name, _, number = str(value).rpartition("=")
        try:
            count = int(number)
        except ValueError:
            raise ConfigError(f"{value!r} is neither N nor TEACHER=N (N a whole number).") from None
        if name:
            named[name] = count
        else:
            default = count
    quotas = {t: default for t in teachers} if default is not None else {}
    quotas.update(named)
    return quotas


def select(
    scored: ScoredInput,
    output: str | os.PathLike | None = None,
    *,
    by: str = "lalp",
    directions: Mapping[str, str] | None = None,
    top_k: int = 1,
    correct_column: str | None = None,
    where: str | Sequence[str] = (),
    threshold: float | None = None,
    quantile: float | None = None,
    teacher_quota: int | str | Mapping[str, int] | Sequence[str] | None = None,
    slice: Literal["top", "middle", "bottom"] | None = None,  # noqa: A002 - the flag's name
    fraction: float = 0.1,
    rejected: str | os.PathLike | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    config: str | None = None,
    split: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    ignore_provenance: bool = False,
    overwrite: bool = False,
) -> Selection | Slice:
    """Keep, for each question of `scored`, the response(s) the student finds most natural (the best `by` score in
    its direction), and write the kept and the rejected rows; or, with `slice`, one pilot slice.

    The same job as `localnat select` (see its `--help` for each option); `str(result)` is its text and
    `result.to_dict()` its `--json`.

    Args:
        scored (`str`, `os.PathLike`, `datasets.Dataset`, a list of them, or `dict[str, ...]`): scored rows; several
            inputs are pooled in order, `{teacher: source}` makes every row of a source that teacher's.
        output (`str` or `os.PathLike`, *optional*): where the kept rows go (a .parquet/.jsonl/.json/.csv file, a
            folder, or a URL); `None` writes nothing (the rows are in the result).
        by (`str`, *optional*, defaults to `"lalp"`): the score column; `directions` for a column of your own.
        top_k, correct_column, threshold, quantile: as the flags of `localnat select`.
        where (`str` or `Sequence[str]`, *optional*): validity filters every kept row must pass, checked before
            choosing (`"repeat_share < 0.5"`, `"resolved"`, `"not truncated"`).
        teacher_quota (`int`, `dict[str, int]` or `Sequence[str]`, *optional*): most rows kept per teacher.
        slice (`str`, *optional*): `"top"`, `"middle"` or `"bottom"`: one pilot slice of `fraction` of the rows.
        rejected (`str` or `os.PathLike`, *optional*): where the rejected rows go [default: `output` with
            `.rejected` before the suffix].
        teacher_column, question_column, question_id_column, config, split, storage_options, ignore_provenance,
        overwrite: as in `rank_teachers`.

    Returns:
        `Selection` (`kept`, `rejected`, `mix`, ...), or `Slice` with `slice`.
    """
    from ..io import check_output, require_columns, save_output, save_outputs
    from ..scores import DEFAULT_SCORES, require_score_column, score_direction
    from ..selection.layout import arrow_column, as_labels, factorize
    from ..selection.select import mix_report, select_responses
    from ..selection.slices import score_slices
    from ..selection.where import parse_conditions

    where = [where] if isinstance(where, str) else list(where)
    parse_conditions(where)  # a filter that does not parse fails before anything is read
    if threshold is not None and quantile is not None:
        raise ConfigError("Give either --threshold or --quantile (`threshold` or `quantile`), not both.")
    score_direction(by, directions)  # before reading anything: a column of unknown direction is refused
    remote = dict(storage_options=storage_options)
    if output is not None:
        check_output(output, overwrite=overwrite, **remote)
        if slice is None:  # a slice has no rejected file
            rejected = rejected or default_rejected_path(output)
            check_output(rejected, overwrite=overwrite, **remote)
    # Refuses inputs (or parts of a folder) scored differently.
    inputs = pool(scored, config=config, split=split, storage_options=storage_options,
                  ignore_provenance=ignore_provenance, teacher_column=teacher_column,
                  question_column=question_column, question_id_column=question_id_column)
    dataset, provenance = inputs.dataset, inputs.provenance
    if slice is not None:
        part = score_slices(dataset, by=by, fraction=fraction, names=[slice], directions=directions,
                            correct_column=correct_column, teacher_column=teacher_column,
                            question_column=question_column, where=where)[slice]
        path = None if output is None else save_output(part.rows, output, overwrite=overwrite,
                                                       provenance=provenance, **remote)
        return Slice(part, provenance, inputs.names, path)
    # the score first: an unscored input is told to run `localnat score`, whatever else it lacks
    require_score_column(dataset.column_names, by)
    require_columns(dataset, [by, teacher_column], what="selection")
    teachers = factorize(as_labels(arrow_column(dataset, teacher_column)))[1] if teacher_quota else []
    options = dict(top_k=top_k, correct_column=correct_column, threshold=threshold, quantile=quantile,
                   teacher_quota=parse_quotas(teacher_quota, teachers), teacher_column=teacher_column,
                   question_column=question_column, question_id_column=question_id_column, directions=directions,
                   where=where)
    selection = select_responses(dataset, by=by, **options)
    mix = mix_report(dataset, done=selection, scores=list(dict.fromkeys([by, *DEFAULT_SCORES])), **options)
    kept = rejected_path = None
    if output is not None:
        # both written before either replaces anything: a failure (no space left, ...) leaves both as they were
        kept, rejected_path = save_outputs([(selection.selected, output), (selection.rejected, rejected)],
                                           overwrite=overwrite, provenance=provenance, **remote)
    return Selection(selection, mix, provenance, inputs.names, inputs.pooled_line, kept, rejected_path)
