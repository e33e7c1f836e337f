"""The `localnat` command line: thin click commands over the library, one module per command."""

from __future__ import annotations

import click

from .. import __version__
from .demo import demo
from .metric import publish_metric


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="localnat")
def main() -> None:
    """Score teacher reasoning traces by local naturalness (LALP) and choose which to distil.

    \b
    Examples:
      localnat demo                                  # everything, offline, on the bundled sample
      localnat score traces.jsonl -o scored.parquet  # score your own traces
    """


main.add_command(demo)
main.add_command(publish_metric)
