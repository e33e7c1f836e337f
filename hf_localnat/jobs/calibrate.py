"""`hf_localnat.calibrate`: the job of `localnat calibrate` (can a cheap proxy student stand in for the real one?)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._scored import ScoredInput, pool
from .results import Calibration


def calibrate(
    proxy: ScoredInput,
    student: ScoredInput,
    *,
    row_id: str | Sequence[str] | None = None,
    correct_column: str | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    storage_options: Mapping[str, Any] | None = None,
    ignore_provenance: bool = False,
) -> Calibration:
    """Compare the same rows scored by two students: A (`proxy`, a cheap one) and B (`student`, the one you will
    train): correlations of row LALP and GALP, agreement of the teacher rankings and of the selections, a verdict.

    The same job as `localnat calibrate` (see its `--help`); `str(result)` is its text and `result.to_dict()` its
    `--json`. Its `--and-a`/`--and-b` inputs are the further items of a list: `calibrate([a1, a2], [b1, b2])`.

    Args:
        proxy, student (`str`, `os.PathLike`, `datasets.Dataset`, a list of them, or `dict[str, ...]`): the rows
            scored by A and by B; each side is pooled from its inputs.
        row_id (`str` or `Sequence[str]`, *optional*): the column(s) that match rows [default: question id and
            teacher, plus generation_index when both have it]; `"a,b"` names two.
        correct_column (`str`, *optional*): a boolean column (read from B); the selections keep only correct rows.
        resamples, confidence, seed, teacher_column, question_column, question_id_column, storage_options,
        ignore_provenance: as in `rank_teachers`.

    Returns:
        `Calibration`.
    """
    from ..selection.calibrate import calibrate as compare

    sides = []  # A and B, each pooled from its inputs (refused when they were scored differently)
    for scored in (proxy, student):
        inputs = pool(scored, storage_options=storage_options, ignore_provenance=ignore_provenance,
                      teacher_column=teacher_column, question_column=question_column,
                      question_id_column=question_id_column)
        name = " + ".join(inputs.names)
        provenance = inputs.provenance
        sides.append((inputs.dataset, provenance,
                      f"{name} ({provenance.student_name})" if provenance is not None else name))
    (data_a, a, name_a), (data_b, b, name_b) = sides
    if isinstance(row_id, str):
        row_id = [row_id]
    result = compare(data_a, data_b, name_a=name_a, name_b=name_b, row_id_column=tuple(row_id) if row_id else None,
                     correct_column=correct_column, num_resamples=resamples, confidence=confidence, seed=seed,
                     teacher_column=teacher_column, question_column=question_column,
                     question_id_column=question_id_column)
    return Calibration(result, a, b)
