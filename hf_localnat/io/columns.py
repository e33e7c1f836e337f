"""Checking that a dataset has the columns an operation reads."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ColumnError
from ..records import OUTPUT_COLUMNS
from ..scores import SCORE_DIRECTIONS


def require_columns(dataset, columns: Sequence[str], *, what: str) -> None:
    """Raise `ColumnError` naming every column of `columns` missing from `dataset` (and the columns it has).

    When a missing column is one `localnat score` writes, the dataset was not scored, and the message says to run
    `localnat score` first; otherwise it says to rename the columns or name them with the command's options.

    Args:
        dataset (`datasets.Dataset`): the dataset to check.
        columns (`Sequence[str]`): the columns `what` needs.
        what (`str`): the operation, for the message (`"ranking"`, `"selection"`).
    """
    missing = [c for c in columns if c not in dataset.column_names]
    if not missing:
        return
    found = f"not found in the dataset (columns: {', '.join(dataset.column_names)})"
    unscored = [c for c in missing if c in OUTPUT_COLUMNS or c in SCORE_DIRECTIONS]
    if unscored:
        raise ColumnError(
            f"{what.capitalize()} needs the score column(s) {', '.join(map(repr, unscored))}, {found}: the input is "
            f"not scored; run `localnat score INPUT -o scored.parquet` first and pass its output."
        )
    raise ColumnError(
        f"{what.capitalize()} needs column(s) {', '.join(map(repr, missing))}, {found}; rename them, or name them "
        f"with the command's column options (see its --help)."
    )
