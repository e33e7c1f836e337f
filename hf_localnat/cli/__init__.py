"""The `localnat` command line: thin click commands over the library, one module per command."""

from __future__ import annotations

import click

from .. import __version__
from .calibrate import calibrate_command
from .demo import demo
from .estimate import estimate_command
from .inspect import inspect_command
from .metric import install_metric_command, publish_metric
from .publish import publish
from .pull import pull
from .rank import rank_teachers_command
from .score import score
from .segment import segment_command
from ._signals import RecordingGroup
from .select import select_command


@click.group(cls=RecordingGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="localnat")
def main() -> None:
    """Score teacher reasoning traces by local naturalness (LALP) and choose which to distil.

    \b
    Examples:
      localnat demo                                  # everything, offline, on real CHAMP traces
      localnat estimate traces.jsonl                 # what scoring will cost, before scoring
      localnat score traces.jsonl -o scored.parquet  # score your own traces
      localnat segment traces.jsonl -o steps.parquet --api-base URL --model NAME  # LLM steps (SPEC §12)
      localnat rank-teachers scored.parquet --plot teachers.png
      localnat select scored.parquet -o curated.parquet --correct-column correct
      localnat inspect scored.parquet -o report.html --correct-column correct
      localnat calibrate proxy.parquet student.parquet    # can the small student stand in for the big one?
      localnat publish scored.parquet --repo-id you/curated --correct-column correct --dry-run
      localnat pull you/curated -o train.parquet
    """


main.add_command(calibrate_command)
main.add_command(demo)
main.add_command(estimate_command)
main.add_command(inspect_command)
main.add_command(install_metric_command)
main.add_command(publish_metric)
main.add_command(publish)
main.add_command(pull)
main.add_command(score)
main.add_command(segment_command)
main.add_command(rank_teachers_command)
main.add_command(select_command)
