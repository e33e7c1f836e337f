"""`localnat demo`: the main job on the embedded default student, offline and without a token.

Score real traces of four models (GPT-3.5, GPT-4, GPT-4 Turbo, PaLM 2 Medium) on a few CHAMP competition-math
problems (or, with `--data sample`, the bundled synthetic sample) with the embedded SmolLM2, rank the teachers, select
by LALP and by GALP, write the step report, and write the would-be Hub repo (card, plot, Parquet per config, the
report) into a local folder that `load_dataset(folder, "lalp")` reads. `localnat publish` pushes such a folder.
"""

from __future__ import annotations

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
    The job is `hf_localnat.jobs.demo.demo(...)`.
    """
    from ..jobs import demo as job
    from ..jobs.progress import RowsBar

    # a rows bar moved after every forward batch (`score`'s); the demo's lines are printed as they come
    with RowsBar() as bar:
        job.demo(output, window=window, data=data, problems=problems, overwrite=overwrite, echo=click.echo,
                 log=lambda line: click.echo(line, err=True), on_rows=bar.start, progress=bar.update)
