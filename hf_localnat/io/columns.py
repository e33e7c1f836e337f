"""Columns: checking that a dataset has the columns an operation reads, reading a column as Arrow, and the id
derived from a question's text. Every layer above `io` reads columns through these."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnError
from ..records import OUTPUT_COLUMNS
from ..scores import DEFAULT_SCORES, SCORE_DIRECTIONS, SCORES


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
    optional = [c for c in unscored if c in SCORES and c not in DEFAULT_SCORES]
    if optional and any(c in dataset.column_names for c in DEFAULT_SCORES):  # scored, without these scores
        names = ",".join(optional)
        raise ColumnError(
            f"{what.capitalize()} needs the score column(s) {', '.join(map(repr, optional))}, {found}: the input was "
            f"scored without them; score it again with `localnat score INPUT -o scored.parquet --scores {names}` (or "
            "--scores all; every score comes from the same forward passes) and pass its output."
        )
    if unscored:
        raise ColumnError(
            f"{what.capitalize()} needs the score column(s) {', '.join(map(repr, unscored))}, {found}: the input is "
            f"not scored; run `localnat score INPUT -o scored.parquet` first and pass its output."
        )
    raise ColumnError(
        f"{what.capitalize()} needs column(s) {', '.join(map(repr, missing))}, {found}; rename them, or name them "
        f"with the command's column options (see its --help)."
    )


#: Prefix of derived question ids, so they cannot be mistaken for a dataset's own ids.
QUESTION_ID_PREFIX = "q-"


def question_id(question: str | None) -> str:
    """A short stable id for a question text: `"q-"` + the first 12 hex digits of its SHA-1 (UTF-8).

    The same text always gives the same id, in any process or Python version; `None` is treated as `""`.

    Example:
        ```python
        >>> question_id("What is 2 + 2?")
        'q-58bf025cafcc'
        >>> question_id("What is 2 + 2?") == question_id("What is 2 + 2?")
        True

        ```
    """
    return QUESTION_ID_PREFIX + hashlib.sha1((question or "").encode("utf-8")).hexdigest()[:12]


def arrow_column(dataset, name: str) -> pa.ChunkedArray:
    """Column `name` of `dataset` as Arrow (rows in the dataset's order, its `select` indices applied)."""
    return dataset.with_format("arrow")[name]


def as_labels(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """`str(value)` of every value as an Arrow string column (`None` becomes `"None"`), vectorised for text columns."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.fill_null(values, "None") if values.null_count else values
    return pa.chunked_array([pa.array([str(v) for v in values.to_pylist()], pa.string())])


def factorize(values: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """The code of every value (int64) and the distinct values, both in order of first appearance.

    Example:
        ```python
        >>> codes, uniques = factorize(pa.chunked_array([["b", "a", "b"]]))
        >>> codes.tolist(), uniques
        ([0, 1, 0], ['b', 'a'])

        ```
    """
    uniques = pc.unique(values)
    codes = pc.index_in(values, value_set=uniques, skip_nulls=False)
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64), uniques.to_pylist()
