"""`hf_localnat.rank_teachers`: the job of `localnat rank-teachers`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._scored import ScoredInput, pool
from .results import TeacherRanking


def rank_teachers(
    scored: ScoredInput,
    *,
    teachers: Sequence[str] | None = None,
    by: str | Sequence[str] = ("lalp", "galp"),
    directions: Mapping[str, str] | None = None,
    truth: Mapping[str, float] | Sequence[str] | str | None = None,
    correct_column: str | None = None,
    correct_only: bool = False,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    plot: str | os.PathLike | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    config: str | None = None,
    split: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    ignore_provenance: bool = False,
    overwrite: bool = False,
) -> TeacherRanking:
    """Rank the teachers of `scored` by the mean of each score, with paired bootstrap intervals and the evidence of
    SPEC §13 (p_top, p_order, winner share, p_order(n), stable_n, one verdict per score).

    The same job as `localnat rank-teachers` (see its `--help` for each option); `str(result)` is its text and
    `result.to_dict()` its `--json`.

    Args:
        scored (`str`, `os.PathLike`, `datasets.Dataset`, a list of them, or `dict[str, ...]`): scored rows (the
            output of `localnat score` / `hf_localnat.score`); several inputs are pooled in order, and
            `{teacher: source}` makes every row of a source that teacher's.
        teachers (`Sequence[str]`, *optional*): rank only these teachers.
        by (`str` or `Sequence[str]`, *optional*, defaults to `("lalp", "galp")`): the score columns.
        directions (`Mapping[str, str]`, *optional*): the direction of a score column of your own
            (`{"my_score": "lower"}`).
        truth (`Mapping[str, float]`, `Sequence[str]` or `str`, *optional*): a known value per teacher (higher =
            better): a dict, `"NAME=VALUE"` items or a CSV/JSON file of teacher,value.
        correct_column (`str`, *optional*): a boolean column; each teacher's accuracy is shown with its interval.
        correct_only (`bool`, *optional*, defaults to `False`): rank on the correct responses only (needs
            `correct_column`).
        resamples (`int`), confidence (`float`), seed (`int`): the bootstrap.
        plot (`str` or `os.PathLike`, *optional*): also write the distributions and p_order(n) curves as a PNG.
        teacher_column, question_column, question_id_column (`str`): column names.
        config, split (`str`, *optional*): of a Hub dataset id.
        storage_options (`Mapping`, *optional*): filesystem options of URL inputs.
        ignore_provenance (`bool`, *optional*): go on as if the inputs recorded no provenance.
        overwrite (`bool`, *optional*): replace an existing `plot`.

    Returns:
        `TeacherRanking`: its `order()`, `evidence`, `verdicts`, `to_pandas()` and, in a notebook, the table, the
        evidence and the p_order(n) plot.

    Example:
        ```python
        >>> import hf_localnat
        >>> from datasets import Dataset
        >>> a = Dataset.from_dict({"question": ["1+1?", "2+2?"], "lalp": [-0.5, -0.6], "galp": [-0.4, -0.5]})
        >>> b = Dataset.from_dict({"question": ["1+1?", "2+2?"], "lalp": [-0.9, -0.8], "galp": [-0.3, -0.2]})
        >>> ranking = hf_localnat.rank_teachers({"a": a, "b": b}, resamples=200)
        >>> ranking.order("lalp"), ranking.order("galp")
        (['a', 'b'], ['b', 'a'])

        ```
    """
    from ..scoring.prepare.windows import scored_whole_prefix_lines
    from ..selection.evidence import parse_truth
    from ..selection.plot import check_plot_path, plot_teacher_distributions
    from ..selection.rank import rank_teachers as rank

    if plot is not None:
        check_plot_path(plot, overwrite=overwrite)  # fail before the work, not after it
    if isinstance(truth, str | os.PathLike):
        truth = [os.fspath(truth)]
    known = parse_truth(tuple(truth)) if truth is not None and not isinstance(truth, Mapping) else truth
    # Refuses inputs (or parts of a folder) scored differently.
    inputs = pool(scored, config=config, split=split, storage_options=storage_options,
                  ignore_provenance=ignore_provenance, teacher_column=teacher_column,
                  question_column=question_column, question_id_column=question_id_column)
    dataset, provenance = inputs.dataset, inputs.provenance
    ranking = rank(
        dataset, teachers=list(teachers) if teachers else None, by=(by,) if isinstance(by, str) else tuple(by),
        directions=directions, truth=known or None, correct_column=correct_column, correct_only=correct_only,
        num_resamples=resamples, confidence=confidence, seed=seed, teacher_column=teacher_column,
        question_column=question_column, question_id_column=question_id_column,
    )
    # SPEC §12: LALP ~ GALP when the window reaches back to the start
    notes = list(scored_whole_prefix_lines(dataset, provenance and provenance.window))
    written = None
    if plot is not None:
        written = plot_teacher_distributions(dataset, plot, teachers=ranking.order(), scores=ranking.scores,
                                             directions=ranking.directions, evidence=ranking.evidence,
                                             teacher_column=teacher_column, overwrite=overwrite)
    return TeacherRanking(ranking, provenance, inputs.names, inputs.pooled_line, written, notes)
