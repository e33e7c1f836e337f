"""`localnat publish-metric`: publish the `evaluate` metric as a Hub Space."""

from __future__ import annotations

import click

from ._options import handle_errors, token_option


@click.command("publish-metric")
@click.argument("repo_id", metavar="NAMESPACE/local_naturalness")
@click.option("--public", is_flag=True, help="Create the Space public (default: private).")
@click.option("--overwrite", is_flag=True, help="Update the Space if it exists (default: fail).")
@token_option
@handle_errors
def publish_metric(repo_id: str, public: bool, overwrite: bool, token: str | None) -> None:
    """Publish metric/local_naturalness as a Gradio Space, then `evaluate.load("NAMESPACE/local_naturalness")` works.

    The Space must be named local_naturalness (evaluate loads <name>.py from the Space <namespace>/<name>).

    \b
    Examples:
      localnat publish-metric my-org/local_naturalness
      localnat publish-metric my-org/local_naturalness --public --overwrite
    """
    from ..hub.space import publish_metric_space

    space = publish_metric_space(repo_id, token=token, private=not public, exist_ok=overwrite)
    click.echo(f"Published the metric to the Space {space} ({'public' if public else 'private'}).")
    click.echo(f'Load it with: evaluate.load("{space}")')
