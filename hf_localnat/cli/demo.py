"""`localnat demo`: the main job on the embedded default student and the bundled sample, offline and without a token.

Score the bundled multi-teacher sample with the embedded SmolLM2, rank the teachers, select by LALP and by GALP, and
write the would-be Hub repo (card, plot, Parquet per config) into a local folder that `load_dataset(folder, "lalp")`
reads. `localnat publish` pushes the same kind of folder to the Hub.
"""

from __future__ import annotations

import shlex
import time
import click

from ._options import handle_errors

DEFAULT_OUTPUT = "localnat-demo"


@click.command()
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True, metavar="FOLDER",
              help="Where the would-be Hub repo (README.md card, data/, images/) is written.")
@click.option("--window", type=click.IntRange(min=0), default=4, show_default=True,
              help="Preceding steps each step is conditioned on.")
@click.option("--overwrite", is_flag=True, help="Replace FOLDER if it exists and is not empty.")
@handle_errors
def demo(output: str, window: int, overwrite: bool) -> None:
    """Curate the bundled 8-question, 4-teacher sample with the embedded SmolLM2-135M-Instruct, offline.

    Scores every response (LALP and GALP), ranks the teachers with confidence intervals, keeps per question the
    correct response with the highest LALP (and, as the baseline, the highest GALP), and writes the dataset repo
    that `localnat publish` would push: a card, the distribution plot and one Parquet file per config.

    \b
    Examples:
      localnat demo                       # writes ./localnat-demo
      localnat demo -o /tmp/demo --overwrite
    Then: load_dataset("localnat-demo", "lalp")
    """
    from ..hub.curate import curate_to_folder
    from ..hub.repo_folder import check_repo_folder
    from ..sample import SAMPLE_PATH, load_sample
    from ..scoring.scorer import LocalNaturalnessScorer

    folder = check_repo_folder(output, overwrite=overwrite)  # before the 90 s of scoring
    dataset = load_sample()
    scorer = LocalNaturalnessScorer(window=window)
    scorer.model  # load (and convert, the first time) the embedded student now
    click.echo(f"Scoring {len(dataset)} responses from {len(set(dataset['teacher']))} teachers with the embedded "
               f"student ({scorer.source.model_id}) on this machine...", err=True)
    start = time.perf_counter()
    # 8 rows per map batch: a progress bar with an ETA, while the scorer still packs each batch by token budget
    scored = scorer.map(dataset, batch_size=8, keep_in_memory=True, desc="Scoring (LALP/GALP)")
    seconds = time.perf_counter() - start
    tokens = sum(scored["num_tokens"])
    click.echo(f"Scored {len(scored)} responses ({tokens} tokens) in {seconds:.1f} s. Higher = more natural to the "
               "student.\n")
    command = ["localnat", "demo"] + (["--window", str(window)] if window != 4 else [])
    curated = curate_to_folder(
        scored, folder, scorer.provenance(), correct_column="correct", echo=click.echo,
        pretty_name="hf-localnat demo: curated multi-teacher reasoning traces",
        source_dataset=f"hf_localnat/data/{SAMPLE_PATH.name} (bundled, synthetic)", license="apache-2.0",
        reproduce_command=shlex.join(command), overwrite=overwrite)
    counts = ", ".join(f"{name} {len(ds)}" for name, ds in curated.configs.items() if len(ds))
    click.echo(f"Wrote the would-be Hub repo to {folder}/ (README.md card, images/, data/: {counts} rows).")
    click.echo(f'Load it:    load_dataset("{output}", "lalp")')
    scored_file = next((folder / "data" / "scored").glob("*.parquet"))
    click.echo(f"Publish it: localnat publish {shlex.quote(str(scored_file))} --repo-id NS/NAME --correct-column "
               "correct --dry-run")
