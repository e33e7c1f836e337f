"""`hf_localnat.publish`: the job of `localnat publish` (scored rows -> ranking, selections, plot, card -> one commit
to a Hub dataset repo)."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._scored import ScoredInput, names_of, pool, provenance_of
from .results import Publication


def scored_provenance(recorded, source: str, *, model: str | None, revision: str | None, window: int | str | None,
                      segmenter: str | None, prompt_format: str | None):
    """How SCORED was scored: its `recorded` provenance (`None` with `ignore_provenance`), checked against the
    options given; or, for input that records none (`source` names it), the provenance the options state (then
    `model` and `window` are required).

    Raises:
        ProvenanceError: an option contradicts the record, or nothing is recorded and the options are missing.
    """
    from ..errors import ProvenanceError
    from ..provenance import Provenance

    if recorded is not None:
        recorded.check(model=model, revision=revision, window=window, segmenter=segmenter, prompt_format=prompt_format)
        return recorded
    if model is None or window is None:
        verb = "do" if ", " in source else "does"
        raise ProvenanceError(f"{source} {verb} not record how it was scored (not written by `localnat score`, or a "
                              ".jsonl/.csv without its .hf_localnat.json): if it is not scored yet, run `localnat "
                              "score INPUT -o scored.parquet` first and publish its output; if it was scored "
                              "elsewhere, pass --model and --window to state how.")
    student = {"kind": "stated", "name": model, "revision": revision}
    return Provenance(window=window, segmenter=segmenter or "sentence", prompt_format=prompt_format or "auto",
                      max_length=None, mode="not recorded", dtype="not recorded", student=student,
                      version="not recorded")


def reproduce_command(repo_id: str, *, correct_column: str | None, top_k: int, slices: float | None,
                      by: tuple[str, ...], directions: Mapping[str, str], pretty_name: str | None, license: str,
                      teacher_column: str, question_column: str, question_id_column: str) -> str:
    """The card's command that rebuilds the selection from the published `scored` config (whose Parquet records the
    provenance), without touching the repo."""
    command = ["localnat", "publish", "scored.parquet", "--repo-id", repo_id]
    command += ["--correct-column", correct_column] if correct_column else []
    command += ["--top-k", str(top_k)] if top_k != 1 else []
    command += ["--slices", f"{slices:g}"] if slices is not None else []
    command += [part for name in by for part in ("--by", name)] if by != ("lalp",) else []
    command += [part for item in directions.items() for part in ("--direction", "=".join(item))]
    command += ["--pretty-name", pretty_name] if pretty_name else []
    for flag, value, default in (("--teacher-column", teacher_column, "teacher"),
                                 ("--question-column", question_column, "question"),
                                 ("--question-id-column", question_id_column, "question_id")):
        command += [flag, value] if value != default else []
    command += ["--license", license, "--dry-run", "--keep-folder", "rebuilt"]
    return f"localnat pull {shlex.quote(repo_id)} --config scored -o scored.parquet && {shlex.join(command)}"


def publish(
    scored: ScoredInput,
    repo_id: str,
    *,
    public: bool = False,
    overwrite: bool = False,
    create_pr: bool = False,
    dry_run: bool = False,
    keep_folder: str | os.PathLike | None = None,
    pretty_name: str | None = None,
    license: str = "other",  # noqa: A002 - the flag's name
    commit_message: str | None = None,
    token: str | None = None,
    model: str | None = None,
    model_revision: str | None = None,
    window: int | str | None = None,
    segmenter: str | None = None,
    prompt_format: str | None = None,
    correct_column: str | None = None,
    top_k: int = 1,
    slices: float | None = None,
    by: str | Sequence[str] = ("lalp",),
    directions: Mapping[str, str] | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    config: str | None = None,
    split: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    ignore_provenance: bool = False,
    echo: Callable[[str], None] | None = None,
) -> Publication:
    """Rank the teachers of `scored`, select by LALP (or each `by` score) and by GALP, and publish it all as one Hub
    dataset repo in one commit (configs lalp, galp, scored, rejected; the plot; a card saying how it was scored and
    selected and how to reproduce it).

    The same job as `localnat publish` (see its `--help` for each option); `str(result)` is its text. The repo is
    private unless `public`, and an existing repo is never written without `overwrite` or `create_pr`.

    Args:
        scored (`str`, `os.PathLike`, `datasets.Dataset`, a list of them, or `dict[str, ...]`): scored rows that
            record how they were scored (`localnat score`'s output, `scorer.map`'s rows, `localnat pull`'s).
        repo_id (`str`): the Hub dataset repo, `NS/NAME`.
        public, overwrite, create_pr, dry_run, keep_folder, pretty_name, license, commit_message, token: as the
            flags of `localnat publish`; `dry_run` builds the folder and lists what would be pushed, offline.
        model, model_revision, window, segmenter, prompt_format: how `scored` was scored, for input that records
            nothing (then `model` and `window` are required); a value that contradicts the record is refused.
        correct_column, top_k, slices, by, directions: the selection.
        teacher_column, question_column, question_id_column, config, split, storage_options, ignore_provenance:
            as in `rank_teachers`.
        echo (`Callable[[str], None]`, *optional*): where progress lines go (how the rows were scored, retries).

    Returns:
        `Publication`: `curated` (ranking, selections, mix), `pushed` (the commit or the plan).
    """
    from ..hub.curate import curate_to_folder
    from ..hub.publish import check_repo_id, publish_folder
    from ..hub.repo_folder import check_repo_folder
    from ..scores import score_direction

    if overwrite and create_pr:
        raise ConfigError("Pass either --overwrite or --create-pr (`overwrite` or `create_pr`), not both.")
    by = tuple(dict.fromkeys([by] if isinstance(by, str) else by))
    directions = dict(directions or {})
    for name in by:
        score_direction(name, directions)  # a column of unknown direction is refused before any work
    check_repo_id(repo_id)
    if keep_folder:
        check_repo_folder(keep_folder)  # before any work: an existing folder is never written into
    say = echo or (lambda line: None)
    # the options are checked before any row is read
    names = ", ".join(names_of(scored))
    recorded = provenance_of(scored, storage_options=storage_options, ignore_provenance=ignore_provenance)
    provenance = scored_provenance(recorded, names, model=model, revision=model_revision, window=window,
                                   segmenter=segmenter, prompt_format=prompt_format)
    say(f"Scored with: {provenance.describe()}.")
    inputs = pool(scored, config=config, split=split, storage_options=storage_options,
                  ignore_provenance=ignore_provenance, teacher_column=teacher_column,
                  question_column=question_column, question_id_column=question_id_column)
    if inputs.pooled_line:
        say(inputs.pooled_line)
    reproduce = reproduce_command(repo_id, correct_column=correct_column, top_k=top_k, slices=slices, by=by,
                                  directions=directions, pretty_name=pretty_name, license=license,
                                  teacher_column=teacher_column, question_column=question_column,
                                  question_id_column=question_id_column)
    text: list[str] = []
    with tempfile.TemporaryDirectory(prefix="localnat-publish-") as tmp:
        folder = Path(keep_folder) if keep_folder else Path(tmp) / "repo"
        curated = curate_to_folder(
            inputs.dataset, folder, provenance, correct_column=correct_column, top_k=top_k,
            teacher_column=teacher_column, question_column=question_column, question_id_column=question_id_column,
            echo=text.append, slices=slices, by=by, directions=directions,
            pretty_name=pretty_name or repo_id.split("/")[-1], repo_id=repo_id, source_dataset=names,
            license=license, reproduce_command=reproduce)
        pushed = publish_folder(folder, repo_id, public=public, overwrite=overwrite, create_pr=create_pr,
                                dry_run=dry_run, token=token, commit_message=commit_message, echo=say)
    return Publication(curated, pushed, repo_id, dry_run, Path(keep_folder) if keep_folder else None, text)
