"""`localnat install-metric` and `localnat publish-metric`: the `evaluate` metric in the local module cache, or as a
Hub Space."""

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


@click.command("install-metric")
@handle_errors
def install_metric_command() -> None:
    """Install the evaluate metric for this HF_HOME, so `evaluate.load("local_naturalness")` works from any folder.

    Copies the metric shipped with this hf-localnat into evaluate's module cache (HF_MODULES_CACHE, by default
    HF_HOME/modules), the way evaluate caches a module it downloaded; evaluate loads it by name when the Hub has no
    `evaluate-metric/local_naturalness`, also offline. Safe to rerun; run it again after upgrading hf-localnat.

    \b
    Examples:
      localnat install-metric
      HF_HOME=/data/hf localnat install-metric
    """
    from ..hub.metric_cache import install_metric

    installed = install_metric()
    for old in installed.replaced:
        click.echo(f"Removed the copy of another hf-localnat version: {old}")
    state = "Installed" if installed.changed else "Already installed, nothing changed:"
    click.echo(f"{state} the metric local_naturalness (hf-localnat {installed.version}) at {installed.path}")
    click.echo('Load it with: evaluate.load("local_naturalness")')
