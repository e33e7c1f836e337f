"""`localnat publish`: scored rows -> ranking, LALP and GALP selections (or one per `--by` score), plot, card -> one
commit to a Hub repo."""

from __future__ import annotations

from pathlib import Path

import click

from ._options import (direction_option, handle_errors, ignore_provenance_option, input_options, model_option,
                       model_revision_option, prompt_format_option, scored_inputs_argument,
                       segmenter_option, storage_options_option, teacher_columns_options, token_option, window_option)

EXAMPLES = """
\b
Examples:
  localnat publish scored.parquet --repo-id you/curated-math --correct-column correct --dry-run
  localnat publish scored.parquet --repo-id you/curated-math --correct-column correct
  localnat publish a.parquet b.parquet --repo-id you/curated-math       # teachers scored separately, pooled
  localnat publish scored.parquet --repo-id you/curated-math --overwrite       # update your own repo
  localnat publish scored.parquet --repo-id org/curated-math --create-pr       # propose a change
  localnat publish scored.parquet --repo-id you/curated-math --model Qwen/Qwen2.5-1.5B-Instruct --license mit
  localnat publish scored.parquet --repo-id you/pilot-math --slices 0.1   # + top/middle/bottom 10% by LALP
  localnat publish scored.parquet --repo-id you/curated-math --by lalp --by rsr   # a config per score
\b
SCORED comes from `localnat score` (or `localnat pull`), which records how it was scored; the card states exactly
that. --model/--window/--segmenter/--prompt-format are only needed for a file that records nothing (then --model and
--window are required); a value that contradicts the record is refused. Students then train with
load_dataset("you/curated-math", "lalp"), whose messages column TRL's SFTTrainer reads as it is.
"""


def publish_options(function):
    """Options shared by `localnat publish` and the dataset scripts: the target repo and the safety flags."""
    for option in reversed([
        click.option("--repo-id", required=True, metavar="NS/NAME", help="The Hub dataset repo to publish to."),
        click.option("--public", is_flag=True, help="Create the repo public  [default: private]."),
        click.option("--overwrite", is_flag=True,
                     help="Commit into an existing repo (only localnat files change; your card text is kept)."),
        click.option("--create-pr", is_flag=True, help="Open a pull request on an existing repo instead."),
        click.option("--dry-run", is_flag=True, help="Build the repo folder and list what would be pushed; no network."),
        click.option("--keep-folder", default=None, metavar="DIR",
                     help="Also keep the repo folder in DIR (load_dataset(DIR, 'lalp') reads it)."),
        click.option("--pretty-name", default=None, help="The card's title  [default: from the repo name]."),
        click.option("--license", "license_", default="other", show_default=True,
                     help="License of the data (that of the teacher outputs), e.g. apache-2.0, mit, cc-by-4.0."),
        click.option("--commit-message", default=None, help="Title of the commit."),
        token_option,
    ]):
        function = option(function)
    return function


def publish_folder_cli(folder: Path, repo_id: str, *, public: bool, overwrite: bool, create_pr: bool,
                       dry_run: bool, token: str | None, commit_message: str | None) -> None:
    """Publish a written repo folder and print the result (shared by `publish` and the dataset scripts)."""
    from ..hub.publish import publish_folder
    from ..jobs.results import load_hint

    result = publish_folder(folder, repo_id, public=public, overwrite=overwrite, create_pr=create_pr,
                            dry_run=dry_run, token=token, commit_message=commit_message,
                            echo=lambda line: click.echo(line, err=True))
    click.echo(result.summary())
    if not dry_run:
        click.echo(load_hint(repo_id, result))


@click.command("publish", epilog=EXAMPLES)
@scored_inputs_argument
@publish_options
@model_option(help="The student SCORED was scored with  [default: as recorded in SCORED].")
@model_revision_option(help="Its Hub revision (commit sha)  [default: as recorded].")
@window_option(default=None, help="Window SCORED used  [default: as recorded].")
@segmenter_option(default=None, help="Segmenter SCORED used  [default: as recorded, else sentence].")
@prompt_format_option(default=None, help="Prompt format SCORED used  [default: as recorded, else auto].")
@click.option("--correct-column", default=None, metavar="COLUMN",
              help="Boolean column; only rows where it is true can be selected.")
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="Responses kept per question.")
@click.option("--slices", "slices", type=click.FloatRange(0, 1 / 3, min_open=True), default=None, metavar="F",
              help="Also publish pilot slices for a validation fine-tune: configs slice_top, slice_middle and "
                   "slice_bottom, the top, middle and bottom fraction F of the rows by LALP (see select --slice).")
@click.option("--by", "by", multiple=True, default=("lalp",), show_default=True, metavar="COLUMN",
              help="A score that chooses a config of its own, in its direction (repeatable; the first is the default "
                   "config): lalp, rsr (lowest kept), lalp_drop, galp_drop, or a column with --direction. The galp "
                   "baseline is always published.")
@direction_option
@teacher_columns_options
@input_options
@storage_options_option
@ignore_provenance_option
@handle_errors
def publish(scored: tuple[str, ...], repo_id: str, public: bool, overwrite: bool, create_pr: bool, dry_run: bool,
            keep_folder: str | None, pretty_name: str | None, license_: str, commit_message: str | None,
            token: str | None, model: str | None, model_revision: str | None, window: int | str | None,
            segmenter: str | None, prompt_format: str | None, correct_column: str | None, top_k: int,
            slices: float | None, by: tuple[str, ...], directions: dict[str, str],
            teacher_column: str, question_column: str,
            question_id_column: str, config_name: str | None, split: str | None, storage_options: dict,
            ignore_provenance: bool) -> None:
    """Rank the teachers of SCORED, select by LALP (or each --by score) and by GALP, and publish it all as one Hub
    dataset repo.

    The repo gets the configs lalp (the LALP selection, default), galp (the GALP baseline), scored (every row with
    its scores) and rejected (rows LALP did not keep, with rejection_reason), the distribution plot, and a card
    saying how it was selected and how to reproduce it. With --by rsr (repeatable), each score gets a config of its
    own (the kept response is the best in the score's direction: the lowest rsr), its column in the mix report, and
    the card says which score chose which rows and in which direction. It is private unless --public, lands in one commit, and an
    existing repo is never written without --overwrite or --create-pr. Several SCORED inputs are pooled (rows in the
    order given; equal question texts are one question); inputs scored under different definitions or students are
    refused.

    The job is `hf_localnat.publish(...)`, with these options as keyword arguments.
    """
    from ..jobs import publish as job

    if overwrite and create_pr:
        raise click.UsageError("Pass either --overwrite or --create-pr, not both.")
    result = job.publish(scored, repo_id, public=public, overwrite=overwrite, create_pr=create_pr, dry_run=dry_run,
                         keep_folder=keep_folder, pretty_name=pretty_name, license=license_,
                         commit_message=commit_message, token=token, model=model, model_revision=model_revision,
                         window=window, segmenter=segmenter, prompt_format=prompt_format,
                         correct_column=correct_column, top_k=top_k, slices=slices, by=by, directions=directions,
                         teacher_column=teacher_column, question_column=question_column,
                         question_id_column=question_id_column, config=config_name, split=split,
                         storage_options=storage_options, ignore_provenance=ignore_provenance,
                         echo=lambda line: click.echo(line, err=True))
    click.echo(str(result))
