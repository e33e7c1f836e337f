"""The curation recipe: scored rows -> teacher ranking, LALP and GALP selections (or a selection per score asked
for, each in its own direction) -> printed report -> repo folder (Parquet per config, distribution plot, card). `curate_to_folder` is the one chain `localnat demo`, `localnat publish`
and `dataset_scripts/` run; publishing the folder is `hub.publish.publish_folder`.

It only composes the library (`rank.rank_teachers`, `select.select_responses`, `select.MixReport`,
`plot.plot_teacher_distributions`, `card.render_card`, `repo_folder.write_repo_folder`). The card states the scores'
`Provenance` (student, window, segmenter, ...) as recorded with them, never a default.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..provenance import Provenance, common, of_dataset
from .card import LocalNatCardParams, render_card
from .repo_folder import IMAGES_DIR, write_repo_folder

PLOT_NAME = "localnat-distribution.png"


@dataclass
class Curated:
    """The curated dataset and what the card reports about it.

    Attributes:
        configs (`dict[str, Dataset]`): `scored` (every row with its scores), a selection per score (`lalp`, the
            GALP baseline `galp`, and any other `by`), `rejected` (rows the first selection did not keep, with
            `rejection_reason`).
        ranking (`rank.TeacherRanking`), mix (`select.MixReport`).
        selections (`dict[str, select.Selection]`): each selection by its score, the first the default config.
        selection_options (`dict`): the options every selection used.
    """

    configs: dict[str, Any]
    ranking: Any
    mix: Any
    selections: dict[str, Any]
    selection_options: dict[str, Any] = field(default_factory=dict)
    teacher_column: str = "teacher"

    @property
    def lalp(self):
        """The LALP selection (`None` when LALP chose no config)."""
        return self.selections.get("lalp")

    @property
    def galp(self):
        """The GALP baseline selection."""
        return self.selections.get("galp")


def curate(scored, *, correct_column: str | None = None, top_k: int = 1, threshold: float | None = None,
           quantile: float | None = None, teacher_quota: int | dict[str, int] | None = None,
           teacher_column: str = "teacher", question_column: str = "question",
           question_id_column: str = "question_id", num_resamples: int = 1000, seed: int | None = 0,
           by: tuple[str, ...] | list[str] = ("lalp",), directions: dict[str, str] | None = None) -> Curated:
    """Rank the teachers of `scored` and select its responses by each score of `by` (LALP by default) and by GALP
    (the baseline), with the same options, each in its score's direction.

    Args:
        scored (`datasets.Dataset`): rows in the long layout with the scorer's columns (`lalp`, `galp`, ...).
        by (`Sequence[str]`, *optional*, defaults to `("lalp",)`): the scores that choose a config each, the first
            the default config (`rsr`, a drop score, or a column whose direction `directions` declares).
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
    if not by:
        raise ConfigError("Pass at least one score to select by (`by`).")
    ranking = rank_teachers(scored, num_resamples=num_resamples, seed=seed, **columns)
    selections = {name: select_responses(scored, by=name, directions=directions, **options)
                  for name in dict.fromkeys([*by, "galp"])}
    mix = MixReport.of(selections)
    first = selections[by[0]]
    configs = {"scored": scored, **{name: s.selected for name, s in selections.items()}, "rejected": first.rejected}
    recorded = {k: v for k, v in options.items() if v is not None and k not in columns}
    return Curated(configs, ranking, mix, selections, recorded, teacher_column)


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
    """`{"lalp": {teacher: share}, "galp": {...}, ...}` from a `MixReport`, one entry per selection."""
    return {by: {t: mix.share(by, t) for t in mix.teachers} for by in mix.scores}


def report(curated: Curated, *, verdicts: bool = True) -> str:
    """The terminal report of a curation: the teacher ranking table (ending with one verdict per score unless
    `verdicts` is False), then the mix report."""
    only = " (correct responses only)" if curated.selection_options.get("correct_column") else ""
    return (f"{curated.ranking.format_table(verdicts=verdicts)}\n\n{curated.mix.title}{only}\n"
            f"{curated.mix.format_table()}\n")


def card_scoring_facts(provenance: Provenance) -> dict[str, Any]:
    """The `LocalNatCardParams` fields that describe how the rows were scored, all from `provenance`."""
    facts = provenance.student_facts()
    if facts.get("kind") == "stated":
        facts["note"] = "not recorded with the scores; stated by the publisher's flags"
    return dict(
        student_model=provenance.student_name, student_revision=provenance.student_revision,
        student_provenance=facts, window=provenance.window, segmenter=provenance.segmenter,
        prompt_format=provenance.prompt_format,
        scoring_options={"max_length": "model maximum" if provenance.max_length is None else provenance.max_length,
                         "mode": provenance.mode, "dtype": provenance.dtype, "response_part": provenance.response_part,
                         "scoring_version": provenance.version, "llm_steps": provenance.steps_provenance},
    )


def slice_configs(slices) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """The pilot slices (`selection.slices.score_slices`) as configs (`slice_top`, ...), the card's table (rows
    and rows per teacher in each slice) and its rule; empty without slices."""
    if not slices:
        return {}, [], None
    teachers = list(dict.fromkeys(t for s in slices.values() for t in s.teacher_counts))
    table = [{"config": f"slice_{name}", "rows": s.rows.num_rows, "positions": f"{s.start + 1}-{s.stop}",
              **{t: s.teacher_counts.get(t, 0) for t in teachers}} for name, s in slices.items()]
    rule = "Rule: " + next(iter(slices.values())).pool_rule
    return {f"slice_{name}": s.rows for name, s in slices.items()}, table, rule


def write_curated_folder(curated: Curated, folder: str | os.PathLike, provenance: Provenance, *, pretty_name: str,
                         repo_id: str | None = None, source_dataset: str | None = None,
                         reproduce_command: str | None = None, license: str = "other", plot: bool = True,
                         overwrite: bool = False, slices=None) -> Path:
    """Write `curated` as a Hub dataset repo folder: Parquet per config (each carrying `provenance` in its schema
    metadata), the distribution plot, the card.

    Args:
        curated (`Curated`): from `curate`.
        folder (`str` or `os.PathLike`): destination (must be absent or empty unless `overwrite`).
        provenance (`Provenance`): how the rows were scored; the card states it.
        pretty_name, repo_id, source_dataset, reproduce_command, license: recorded in the card (`LocalNatCardParams`).
        plot (`bool`, *optional*, defaults to `True`): draw `images/localnat-distribution.png` (needs matplotlib).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing non-empty folder.
        slices (`dict[str, ScoreSlice]`, *optional*): pilot slices, written as configs `slice_top`, ... (see
            `slice_configs`).

    Returns:
        `Path`: the folder.
    """
    from .. import __version__

    extra, slice_table, slice_rule = slice_configs(slices)
    configs = {**curated.configs, **extra}
    params = LocalNatCardParams(
        pretty_name=pretty_name, repo_id=repo_id, **card_scoring_facts(provenance), package_version=__version__,
        source_dataset=source_dataset, selection_options=curated.selection_options,
        counts={name: len(ds) for name, ds in configs.items()}, ranking=ranking_rows(curated.ranking),
        mix=mix_shares(curated.mix), plot_path=f"{IMAGES_DIR}/{PLOT_NAME}" if plot else None,
        selections={name: s.direction for name, s in curated.selections.items()},
        reproduce_command=reproduce_command, license=license, confidence=curated.ranking.confidence,
        slices=slice_table, slices_rule=slice_rule,
    )
    card = render_card(params)
    with tempfile.TemporaryDirectory(prefix="localnat-plot-") as tmp:
        images = {}
        if plot:
            from ..selection.plot import plot_teacher_distributions

            images[PLOT_NAME] = plot_teacher_distributions(
                curated.configs["scored"], Path(tmp) / PLOT_NAME, teachers=curated.ranking.order("lalp"),
                teacher_column=curated.teacher_column, title=pretty_name)
        return write_repo_folder(folder, configs, card, images, overwrite=overwrite, provenance=provenance)


def curate_to_folder(scored, folder: str | os.PathLike, provenance: Provenance, *, pretty_name: str,
                     repo_id: str | None = None, source_dataset: str | None = None,
                     reproduce_command: str | None = None, license: str = "other", plot: bool = True,
                     overwrite: bool = False, echo: Callable[[str], None] | None = None,
                     slices: float | None = None, **selection: Any) -> Curated:
    """The curation recipe: `curate` the scored rows, `echo` the `report`, and `write_curated_folder`.

    Args:
        scored (`datasets.Dataset`): the scored rows (long layout).
        folder, provenance, pretty_name, repo_id, source_dataset, reproduce_command, license, plot, overwrite: as in
            `write_curated_folder`.
        echo (`Callable[[str], None]`, *optional*): where the report goes (e.g. `click.echo`); `None` prints nothing.
        slices (`float`, *optional*): also write the top, middle and bottom `slices` fraction of the rows by LALP
            as configs (`selection.slices.score_slices`, with the selection's correctness filter).
        **selection: `curate`'s options (`correct_column`, `top_k`, column names, ...).

    Returns:
        `Curated`.

    Raises:
        ProvenanceError: `scored` carries a provenance (from `scorer.map`) other than `provenance`.
    """
    common([of_dataset(scored) or provenance, provenance], what="the scored rows and the stated provenance")
    curated = curate(scored, **selection)
    if echo is not None:
        echo(report(curated))
    pilot = None
    if slices is not None:
        from ..selection.slices import score_slices

        pilot = score_slices(scored, by="lalp", fraction=slices, correct_column=selection.get("correct_column"),
                             teacher_column=selection.get("teacher_column", "teacher"),
                             question_column=selection.get("question_column", "question"))
        if echo is not None:
            echo("Pilot slices: " + next(iter(pilot.values())).pool_rule)
            for part in pilot.values():
                echo("  " + part.summary())
    write_curated_folder(curated, folder, provenance, pretty_name=pretty_name, repo_id=repo_id,
                         source_dataset=source_dataset, reproduce_command=reproduce_command, license=license,
                         plot=plot, overwrite=overwrite, slices=pilot)
    return curated
