#!/usr/bin/env python
"""Recipe: teacher traces -> LALP scores -> teacher ranking -> LALP/GALP selections -> one Hub dataset repo.

Runs the whole pipeline with the library: score with `LocalNaturalnessScorer` through `Dataset.map`, then the
curation recipe `hf_localnat.hub.curate.curate_to_folder` (the one `localnat demo` and `localnat publish` run) and
`publish_folder`, so the card records exactly how the data was scored (the scorer's provenance) and selected. Run it with `--help` for the options; `--dry-run` builds everything and lists what would be pushed.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from pathlib import Path

import click

from hf_localnat.cli._options import (handle_errors, input_options, model_option, prompt_format_option,
                                      segmenter_option, teacher_columns_options, window_option)
from hf_localnat.cli.publish import publish_folder_cli, publish_options

EXAMPLES = """
\b
Examples:
  # the bundled sample, scored with the embedded student; build and list, push nothing:
  python dataset_scripts/curate_mixed_teachers.py hf_localnat/data/multi_teacher_sample.jsonl \\
      --repo-id you/demo-curated --correct-column correct --dry-run --keep-folder curated-demo
  # your traces (one row per response: question, teacher, response[, correct]) with your student:
  python dataset_scripts/curate_mixed_teachers.py traces.parquet --repo-id you/math-curated \\
      --model Qwen/Qwen2.5-1.5B-Instruct --correct-column correct --license mit
  # one column per teacher instead of one row per response (TEACHER=COLUMN names a column's teacher):
  python dataset_scripts/curate_mixed_teachers.py wide.jsonl --wide r1,qwq,gemini=gemini_trace --repo-id you/x
"""


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("traces", metavar="TRACES")
@publish_options
@model_option()
@window_option()
@segmenter_option()
@prompt_format_option()
@click.option("--batch-tokens", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Token budget of one forward batch.")
@click.option("--correct-column", default=None, metavar="COLUMN", help="Boolean column: only true rows are selected.")
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="Responses kept per question.")
@click.option("--wide", default=None, metavar="COL1,COL2,...",
              help="TRACES has one response column per teacher (named so, or TEACHER=COLUMN); it becomes one row "
                   "per response (hf_localnat.io.to_long). Conversations and lists of responses are read as they "
                   "are.")
@teacher_columns_options
@input_options
@handle_errors
def main(traces: str, repo_id: str, public: bool, overwrite: bool, create_pr: bool, dry_run: bool,
         keep_folder: str | None, pretty_name: str | None, license_: str, commit_message: str | None,
         token: str | None, model: str | None, window: int | str, segmenter: str,
         prompt_format: str, batch_tokens: int, correct_column: str | None, top_k: int, wide: str | None,
         teacher_column: str, question_column: str, question_id_column: str, config_name: str | None,
         split: str | None) -> None:
    """Score TRACES with a student, rank the teachers, select by LALP (and GALP), and publish one dataset repo.

    TRACES is a .jsonl/.json/.parquet/.csv file, a save_to_disk folder or a Hub dataset id.
    """
    from hf_localnat import LocalNaturalnessScorer
    from hf_localnat.hub.curate import curate_to_folder
    from hf_localnat.hub.publish import check_repo_id
    from hf_localnat.io import load_input, to_long

    if overwrite and create_pr:
        raise click.UsageError("Pass either --overwrite or --create-pr, not both.")
    check_repo_id(repo_id)
    dataset = load_input(traces, config=config_name, split=split)
    long = to_long(dataset, question_column=question_column if question_column in dataset.column_names else None,
                   response_columns=[c.strip() for c in wide.split(",") if c.strip()] if wide else None,
                   teacher_column=teacher_column if not wide and teacher_column in dataset.column_names else None)
    click.echo(long.describe(), err=True)
    dataset, question_column, teacher_column = long.dataset, "question", "teacher"
    # 1. score
    scorer = LocalNaturalnessScorer(model, window=window, segmenter=segmenter, prompt_format=prompt_format,
                                    batch_tokens=batch_tokens, question_column=question_column)
    click.echo(f"1/3 Scoring {dataset.num_rows} responses ({scorer.provenance().describe()}).", err=True)
    start = time.perf_counter()
    scored = scorer.map(dataset, batch_size=256, desc="Scoring (LALP/GALP)")  # cached by `datasets`: reruns are free
    click.echo(f"    {sum(scored['num_tokens'])} tokens in {time.perf_counter() - start:.1f} s.", err=True)
    # 2. rank, select, write the repo folder
    args = list(sys.argv[1:])
    if "--token" in args:  # never write the token into the card
        i = args.index("--token")
        del args[i:i + 2]
    args = [a for a in args if not a.startswith("--token=")]
    reproduce = shlex.join(["python", "dataset_scripts/curate_mixed_teachers.py", *args])
    with tempfile.TemporaryDirectory(prefix="localnat-recipe-") as tmp:
        folder = Path(keep_folder) if keep_folder else Path(tmp) / "repo"
        click.echo("2/3 Teacher ranking and selections", err=True)
        curate_to_folder(
            scored, folder, scorer.provenance(), correct_column=correct_column, top_k=top_k,
            teacher_column=teacher_column, question_column=question_column, question_id_column=question_id_column,
            echo=click.echo, pretty_name=pretty_name or repo_id.split("/")[-1], repo_id=repo_id,
            source_dataset=traces, license=license_, reproduce_command=reproduce)
        click.echo("3/3 Publishing", err=True)
        publish_folder_cli(folder, repo_id, public=public, overwrite=overwrite, create_pr=create_pr,
                           dry_run=dry_run, token=token, commit_message=commit_message)

if __name__ == "__main__":
    main()
