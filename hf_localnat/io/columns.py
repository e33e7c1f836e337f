"""Checking that a dataset has the columns an operation reads."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ColumnError


def require_columns(dataset, columns: Sequence[str], *, what: str) -> None:
    """Raise `ColumnError` naming every column of `columns` missing from `dataset` (and the columns it has).

    Args:
        dataset (`datasets.Dataset`): the dataset to check.
        columns (`Sequence[str]`): the columns `what` needs.
        what (`str`): the operation, for the message (`"ranking"`, `"selection"`).
    """
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ColumnError(
            f"{what.capitalize()} needs column(s) {', '.join(map(repr, missing))}, not found in the dataset "
            f"(columns: {', '.join(dataset.column_names)}); rename them or pass the matching --*-column option."
        )
