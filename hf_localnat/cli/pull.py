"""`localnat pull`: download one config of a curated dataset and print its card's summary."""

from __future__ import annotations

import click

from ..hub.card import CONFIG_DESCRIPTIONS, DEFAULT_CONFIG
from ._options import handle_errors, overwrite_option, storage_options_option, token_option


@click.command()
@click.argument("source")
@click.option("--config", "config", default=DEFAULT_CONFIG, show_default=True,
              type=click.Choice(list(CONFIG_DESCRIPTIONS)), help="Which config to download.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True, writable=True),
              help="A .parquet, .jsonl, .json or .csv file, or a folder (no suffix: save_to_disk); or an fsspec URL "
                   "of such a file (s3://..., hf://datasets/...).")
@click.option("--revision", default=None, help="Branch, tag, commit or refs/pr/N (default: main).")
@overwrite_option
@token_option
@storage_options_option
@handle_errors
def pull(source: str, config: str, output: str, revision: str | None, overwrite: bool, token: str | None,
         storage_options: dict) -> None:
    """Download a curated dataset SOURCE (NS/NAME on the Hub, or a local folder), print its card's summary and how
    its rows were scored (the provenance its Parquet files record, kept in OUTPUT too).

    \b
    Examples:
      localnat pull you/curated-math -o train.parquet             # the LALP selection
      localnat pull you/curated-math --config galp -o galp.jsonl  # the GALP baseline
      localnat pull ./localnat-demo --config scored -o scored.parquet
    The same data loads in Python with load_dataset("you/curated-math", "lalp").
    """
    from ..jobs import pull as job

    result = job.pull(source, output, config=config, revision=revision, token=token, overwrite=overwrite,
                          storage_options=storage_options)
    click.echo(str(result))
