"""Options shared by several `localnat` commands, and the mapping of known errors to one-line messages."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from ..errors import LocalNatError


def _known_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a user can cause and fix: ours, file-system ones, and `datasets` failing to read a file."""
    from datasets.exceptions import DatasetGenerationError

    return (LocalNatError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
            NotADirectoryError, DatasetGenerationError)


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    text = str(error).strip()
    if isinstance(error, KeyError) and not isinstance(error, LocalNatError) and text.startswith("'"):
        text = text.strip("'")
    if not text:
        return type(error).__name__
    first = text.splitlines()[0]
    return first if len(text.splitlines()) == 1 else f"{first} ({type(error).__name__})"


def handle_errors(command: Callable) -> Callable:
    """Turn known errors raised by a command into `click.ClickException` (one line, exit status 1, no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except _known_errors() as e:
            raise click.ClickException(one_line(e)) from e

    return wrapper


def _compose(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace output files that already exist (never done without this flag)."
)

input_options = _compose(
    click.option("--config", "config_name", default=None, metavar="NAME",
                 help="Configuration (subset) of a Hub dataset id."),
    click.option("--split", default=None, metavar="NAME",
                 help="Split of a Hub dataset id or a saved DatasetDict  [default: train, or the only split]."),
)

teacher_columns_options = _compose(
    click.option("--teacher-column", default="teacher", show_default=True, help="Column naming who wrote each row."),
    click.option("--question-column", default="question", show_default=True, help="Column with the question text."),
    click.option("--question-id-column", default="question_id", show_default=True,
                 help="Column with question ids; derived from the question text when missing."),
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")
