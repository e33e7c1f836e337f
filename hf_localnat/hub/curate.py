"""From scored rows to a curated dataset repo folder: rank teachers, select by LALP and by GALP, plot, write the card.

This is the part `localnat demo`, `localnat publish` and the `dataset_scripts/` recipes share; it only composes the
library (`rank.rank_teachers`, `select.select_responses`, `select.mix_report`, `plot.plot_teacher_distributions`,
`card.render_card`, `repo_folder.write_repo_folder`).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .card import LocalNatCardParams, render_card
from .repo_folder import IMAGES_DIR, write_repo_folder

PLOT_NAME = "localnat-distribution.png"


@dataclass
class Curated:
    """The curated dataset and what the card reports about it.

    Attributes:
        configs (`dict[str, Dataset]`): `scored` (every row with its scores), `lalp` (the LALP selection), `galp`
            (the GALP baseline selection), `rejected` (rows the LALP selection did not keep, with
            `rejection_reason`).
        ranking (`rank.TeacherRanking`), mix (`select.MixReport`), lalp / galp (`select.Selection`).
        selection_options (`dict`): the options both selections used.
    """

    configs: dict[str, Any]
    ranking: Any
    mix: Any
    lalp: Any
    galp: Any
    selection_options: dict[str, Any] = field(default_factory=dict)
    teacher_column: str = "teacher"


def curate(scored, *, correct_column: str | None = None, top_k: int = 1, threshold: float | None = None,
           quantile: float | None = None, teacher_quota: int | dict[str, int] | None = None,
           teacher_column: str = "teacher", question_column: str = "question",
           question_id_column: str = "question_id", num_resamples: int = 1000, seed: int | None = 0) -> Curated:
    """Rank the teachers of `scored` and select its responses by LALP and by GALP with the same options.

    Args:
        scored (`datasets.Dataset`): rows in the long layout with the scorer's columns (`lalp`, `galp`, ...).
        correct_column, top_k, threshold, quantile, teacher_quota, teacher_column, question_column,
        question_id_column: as in `select.select_responses`.
        num_resamples, seed: as in `rank.rank_teachers`.

    Returns:
        `Curated`.
    """
    from ..selection.rank import rank_teachers
    from ..selection.select import MixReport, select_responses

    columns = dict(teacher_column=teacher_column, question_column=question_column,
                   question_id_column=question_id_column)
    options = dict(top_k=top_k, correct_column=correct_column, threshold=threshold, quantile=quantile,
                   teacher_quota=teacher_quota, **columns)
    ranking = rank_teachers(scored, num_resamples=num_resamples, seed=seed, **columns)
    lalp = select_responses(scored, by="lalp", **options)
    galp = select_responses(scored, by="galp", **options)
    mix = MixReport.of({"lalp": lalp, "galp": galp})
    configs = {"scored": scored, "lalp": lalp.selected, "galp": galp.selected, "rejected": lalp.rejected}
    recorded = {k: v for k, v in options.items() if v is not None and k not in columns}
    return Curated(configs, ranking, mix, lalp, galp, recorded, teacher_column)


def ranking_rows(ranking) -> list[dict[str, Any]]:
    """The teacher ranking as card table rows (best LALP first), intervals at the ranking's confidence."""
    level = f"{100 * ranking.confidence:g}%"
    rows = []
    for score in sorted(ranking.teachers, key=lambda t: t.rank_lalp):
        rows.append({"rank (LALP)": score.rank_lalp, "teacher": score.teacher, "responses": score.num_responses,
                     "mean LALP": score.mean_lalp, f"LALP {level} CI": tuple(score.lalp_ci),
                     "mean GALP": score.mean_galp, f"GALP {level} CI": tuple(score.galp_ci),
                     "rank (GALP)": score.rank_galp})
    return rows


def mix_shares(mix) -> dict[str, dict[str, float]]:
    """`{"lalp": {teacher: share}, "galp": {...}}` from a `MixReport`."""
    return {by: {t: mix.share(by, t) for t in mix.teachers} for by in ("lalp", "galp")}


def write_curated_folder(curated: Curated, folder: str | os.PathLike, *, pretty_name: str, student_model: str,
                         window: int, segmenter: str, prompt_format: str, repo_id: str | None = None,
                         student_revision: str | None = None, student_provenance: dict | None = None,
                         scoring_options: dict | None = None, source_dataset: str | None = None,
                         reproduce_command: str | None = None, license: str = "other", plot: bool = True,
                         overwrite: bool = False) -> Path:
    """Write `curated` as a Hub dataset repo folder: Parquet per config, the distribution plot, the card.

    Args:
        curated (`Curated`): from `curate`.
        folder (`str` or `os.PathLike`): destination (must be absent or empty unless `overwrite`).
        pretty_name, student_model, window, segmenter, prompt_format, repo_id, student_revision, student_provenance,
        scoring_options, source_dataset, reproduce_command, license: recorded in the card (`LocalNatCardParams`).
        plot (`bool`, *optional*, defaults to `True`): draw `images/localnat-distribution.png` (needs matplotlib).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing non-empty folder.

    Returns:
        `Path`: the folder.
    """
    from .. import __version__

    params = LocalNatCardParams(
        pretty_name=pretty_name, repo_id=repo_id, student_model=student_model, student_revision=student_revision,
        student_provenance=dict(student_provenance or {}), window=window, segmenter=segmenter,
        prompt_format=prompt_format, scoring_options=dict(scoring_options or {}), package_version=__version__,
        source_dataset=source_dataset, selection_options=curated.selection_options,
        counts={name: len(ds) for name, ds in curated.configs.items()}, ranking=ranking_rows(curated.ranking),
        mix=mix_shares(curated.mix), plot_path=f"{IMAGES_DIR}/{PLOT_NAME}" if plot else None,
        reproduce_command=reproduce_command, license=license, confidence=curated.ranking.confidence,
    )
    card = render_card(params)
    with tempfile.TemporaryDirectory(prefix="localnat-plot-") as tmp:
        images = {}
        if plot:
            from ..selection.plot import plot_teacher_distributions

            images[PLOT_NAME] = plot_teacher_distributions(
                curated.configs["scored"], Path(tmp) / PLOT_NAME, teachers=curated.ranking.order("lalp"),
                teacher_column=curated.teacher_column, title=pretty_name)
        return write_repo_folder(folder, curated.configs, card, images, overwrite=overwrite)
