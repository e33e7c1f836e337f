"""`localnat demo`: the main job on the embedded default student, offline and without a token.

Score real traces of four models (GPT-3.5, GPT-4, GPT-4 Turbo, PaLM 2 Medium) on a few CHAMP competition-math
problems (or, with `--data sample`, the bundled synthetic sample) with the embedded SmolLM2, rank the teachers, select
by LALP and by GALP, write the step report, and write the would-be Hub repo (card, plot, Parquet per config, the
report) into a local folder that `load_dataset(folder, "lalp")` reads. `localnat publish` pushes such a folder.
"""

from __future__ import annotations

import shlex
import time
import click

from ._options import handle_errors, window_option

DEFAULT_OUTPUT = "localnat-demo"


@click.command()
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True, metavar="FOLDER",
              help="Where the would-be Hub repo (README.md card, data/, images/) is written.")
@window_option()
@click.option("--data", type=click.Choice(["champ", "sample"]), default="champ", show_default=True,
              help="champ: real traces of four models on CHAMP competition math (package champ-dataset); "
                   "sample: the bundled synthetic 8-question sample (faster).")
@click.option("--problems", type=click.IntRange(min=1, max=270), default=5, show_default=True,
              help="CHAMP problems to score (4 responses each), one per category in turn.")
@click.option("--overwrite", is_flag=True, help="Replace FOLDER if it exists and localnat wrote it.")
@handle_errors
def demo(output: str, window: int | str, data: str, problems: int, overwrite: bool) -> None:
    """Curate real multi-teacher traces with the embedded SmolLM2-135M-Instruct, offline.

    Scores every response (LALP and GALP), ranks the teachers with confidence intervals and says how many questions
    the order needs (one verdict line per score), keeps per question the
    correct response with the highest LALP (and, as the baseline, the highest GALP), writes the step report
    (report.html) and the dataset repo that `localnat publish` would push: a card, the distribution plot, one
    Parquet file per config.

    \b
    Examples:
      localnat demo                       # 5 CHAMP problems x 4 models; writes ./localnat-demo
      localnat demo --problems 20 -o /tmp/demo --overwrite
      localnat demo --data sample         # the bundled synthetic sample
    Then: open localnat-demo/report.html; load_dataset("localnat-demo", "lalp")
    """
    from ..hub.curate import curate_to_folder
    from ..hub.repo_folder import check_repo_folder
    from ..report import build_report, write_report
    from ..scoring.scorer import LocalNaturalnessScorer
    from ..jobs.progress import RowsBar

    folder = check_repo_folder(output, overwrite=overwrite)  # before the minutes of scoring
    dataset, source, license_ = demo_dataset(data, problems, echo=click.echo)
    scorer = LocalNaturalnessScorer(window=window)
    scorer.model  # load (and convert, the first time) the embedded student now
    click.echo(f"Scoring {len(dataset)} responses from {len(set(dataset['teacher']))} teachers with the embedded "
               f"student ({scorer.source.model_id}) on this machine...", err=True)
    start = time.perf_counter()
    # a rows bar moved after every forward batch (`score`'s), while the scorer packs each map batch by token budget
    with RowsBar() as bar:
        bar.start(len(dataset))
        scorer.progress_callback = bar.update
        scored = scorer.map(dataset, batch_size=8, keep_in_memory=True, desc="Scoring (LALP/GALP)")
        scorer.progress_callback = None
    seconds = time.perf_counter() - start
    tokens = sum(scored["num_tokens"])
    click.echo(f"Scored {len(scored)} responses ({tokens} tokens) in {seconds:.1f} s. Higher = more natural to the "
               "student.\n")
    command = ["localnat", "demo"] + (["--window", str(window)] if window != 4 else []) + (
        ["--data", data] if data != "champ" else []) + (["--problems", str(problems)] if problems != 5 else [])
    curated = curate_to_folder(
        scored, folder, scorer.provenance(), correct_column="correct", echo=click.echo,
        pretty_name="hf-localnat demo: curated multi-teacher reasoning traces",
        source_dataset=source, license=license_, reproduce_command=shlex.join(command), overwrite=overwrite)
    html = build_report(scored, correct_column="correct", provenance=scorer.provenance(), source=source,
                        title="hf-localnat demo: where the teachers' traces stop being natural")
    report = write_report(folder / "report.html", html, overwrite=True)  # the folder was just written by us
    click.echo("How sure is the ranking (SPEC §13; docs/evidence.md):")
    for line in curated.ranking.verdicts:
        click.echo(f"  {line}")
    click.echo(f"Wrote the step report to {report} (open it in a browser; it needs no network).")
    counts = ", ".join(f"{name} {len(ds)}" for name, ds in curated.configs.items() if len(ds))
    click.echo(f"Wrote the would-be Hub repo to {folder}/ (README.md card, images/, data/: {counts} rows).")
    click.echo(f'Load it:    load_dataset("{output}", "lalp")')
    scored_file = next((folder / "data" / "scored").glob("*.parquet"))
    click.echo(f"Publish it: localnat publish {shlex.quote(str(scored_file))} --repo-id NS/NAME --correct-column "
               "correct --dry-run")


def demo_dataset(data: str, problems: int, *, echo=None):
    """The demo's input rows, its source text for the card, and its license.

    `champ`: `problems` CHAMP problems (one per category in turn, answers the judge can read) x the four models,
    0-shot, with `correct` judged as `hf_localnat.champ` documents (the counts are echoed). `sample`: the bundled
    synthetic sample.
    """
    if data == "sample":
        from ..sample import SAMPLE_PATH, load_sample

        return load_sample(), f"hf_localnat/data/{SAMPLE_PATH.name} (bundled, synthetic)", "apache-2.0"
    from ..champ import champ_long_format, demo_problem_ids, format_correct_counts

    ids = demo_problem_ids(problems)
    dataset = champ_long_format(problem_ids=ids)
    if echo is not None:
        echo(f"CHAMP: {len(ids)} problems x {len(set(dataset['teacher']))} models, 0-shot ({', '.join(ids)}).")
        echo(format_correct_counts(dataset["correct_reason"]) + "\n")
    source = f"CHAMP v0 (PyPI champ-dataset==1.0.0, MIT), 0-Shot setting, problems {', '.join(ids)}"
    return dataset, source, "mit"
