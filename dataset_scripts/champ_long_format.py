#!/usr/bin/env python
"""Recipe: real multi-teacher traces from CHAMP (PyPI `champ-dataset==1.0.0`, MIT) in the long layout.

One row per (problem, model, prompt setting): `question_id`, `question`, `response`, `teacher`, `correct`, plus the
evidence behind `correct` (`correct_reason`, `answer`, `summary`) and `setting`, `category`, `cut_by_api`. How
`correct` is judged, and how often it cannot tell, is documented in `hf_localnat/champ.py`; the counts are printed.
The output feeds `localnat score` directly.
"""

from __future__ import annotations

import click

from hf_localnat.cli._options import handle_errors, overwrite_option

EXAMPLES = """
\b
Examples:
  # the 270 problems x 4 models, 0-shot (1080 rows):
  python dataset_scripts/champ_long_format.py -o champ.jsonl
  # a 12-problem subset whose answers the judge can read (what `localnat demo` scores):
  python dataset_scripts/champ_long_format.py -o champ-12.jsonl --demo-subset 12
  # every prompt setting of two models:
  python dataset_scripts/champ_long_format.py -o champ.parquet --setting all --model GPT-4 --model "GPT-3.5"
  # then: localnat score champ.jsonl -o scored.parquet
"""


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("-o", "--output", required=True, metavar="OUT", help="A .jsonl/.json/.parquet/.csv file or a folder.")
@click.option("--setting", "settings", multiple=True, metavar="NAME",
              help="CHAMP prompt setting (repeatable; 'all' for the 18)  [default: 0-Shot].")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Model (teacher) to include (repeatable)  [default: GPT-3.5, GPT-4, GPT-4 Turbo, PaLM 2 Medium].")
@click.option("--problem", "problems", multiple=True, metavar="ID", help="Problem id to include (repeatable).")
@click.option("--demo-subset", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only N problems whose answer the judge can read, round-robin over the five categories.")
@overwrite_option
@handle_errors
def main(output: str, settings: tuple[str, ...], models: tuple[str, ...], problems: tuple[str, ...],
         demo_subset: int | None, overwrite: bool) -> None:
    """Write CHAMP's solutions by four real models in the long layout, with a judged `correct` column."""
    from hf_localnat.champ import (DEFAULT_SETTING, champ_long_format, champ_setting_names, demo_problem_ids,
                                   format_correct_counts)
    from hf_localnat.io import check_output, save_output

    if problems and demo_subset:
        raise click.UsageError("Give either --problem or --demo-subset, not both.")
    check_output(output, overwrite=overwrite)
    if "all" in settings:
        settings = tuple(champ_setting_names())
    problem_ids = demo_problem_ids(demo_subset) if demo_subset else (list(problems) or None)
    dataset = champ_long_format(settings=settings or (DEFAULT_SETTING,), models=list(models) or None,
                                problem_ids=problem_ids)
    path = save_output(dataset, output, overwrite=overwrite)
    teachers = ", ".join(dict.fromkeys(dataset["teacher"]))
    click.echo(f"Wrote {dataset.num_rows} rows ({len(set(dataset['question_id']))} problems; teachers: {teachers}) "
               f"to {path}.")
    click.echo(format_correct_counts(dataset["correct_reason"]))


if __name__ == "__main__":
    main()
