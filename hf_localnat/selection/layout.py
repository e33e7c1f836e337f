"""The long data layout ranking and selection read: one row per candidate response.

Columns: `question` (text), `response` (text), `teacher` (who wrote it), optional `question_id` (else derived from the
question text by `question_id`), optional correctness column (bool). Every input shape becomes this layout in
`hf_localnat.io.shapes` (`to_long`). The column primitives (`arrow_column`, `as_labels`, `factorize`, `question_id`)
live in `hf_localnat.io.columns`, below this layer, since reading and pooling need them too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnError
from ..io.columns import QUESTION_ID_PREFIX, arrow_column, as_labels, factorize, question_id, require_columns

__all__ = ["QUESTION_ID_PREFIX", "add_question_ids", "arrow_column", "as_labels", "check_correctness_column",
           "check_question_ids", "factorize", "non_finite_mask", "question_id", "question_id_array", "question_ids",
           "score_array"]

def question_id_array(dataset, *, question_column: str = "question",
                      question_id_column: str = "question_id") -> pa.ChunkedArray:
    """`question_ids` as an Arrow string column; each distinct question text is hashed once."""
    if question_id_column in dataset.column_names:
        return as_labels(arrow_column(dataset, question_id_column))
    require_columns(dataset, [question_column], what="deriving question ids")
    codes, questions = factorize(arrow_column(dataset, question_column))
    ids = pa.array([question_id(q) for q in questions], pa.string())
    return pa.chunked_array([ids.take(pa.array(codes))])


def question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id") -> list[str]:
    """The question id of every row: the `question_id_column` values when the dataset has them, else derived.

    Raises:
        ColumnError: neither column exists.
    """
    return question_id_array(dataset, question_column=question_column,
                             question_id_column=question_id_column).to_pylist()


def add_question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id"):
    """Return `dataset` with a `question_id_column`, derived from the question text when it is missing."""
    if question_id_column in dataset.column_names:
        return dataset
    ids = question_id_array(dataset, question_column=question_column, question_id_column=question_id_column)
    return dataset.add_column(question_id_column, ids)


def score_array(dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Column `name` as float64 values and a mask of the rows that have a score (finite: not null, NaN or inf).

    Raises:
        ColumnError: the column does not hold numbers.
    """
    column = arrow_column(dataset, name)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        raise ColumnError(f"Column {name!r} must hold numbers (the scorer's output), found {column.type}; "
                          "pass the scored dataset written by `localnat score`.")
    values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values, np.isfinite(values)


def non_finite_mask(dataset, name: str) -> np.ndarray:
    """Rows of column `name` that hold a value that is not a finite number (NaN, inf, -inf); nulls are not counted."""
    values = np.asarray(pc.cast(arrow_column(dataset, name), pa.float64()).to_numpy(zero_copy_only=False),
                        dtype=np.float64)
    is_null = np.asarray(arrow_column(dataset, name).is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return ~np.isfinite(values) & ~is_null


def check_correctness_column(dataset, name: str) -> pa.ChunkedArray:
    """Column `name` as a boolean Arrow column (true, false, or null for unknown).

    Raises:
        ColumnError: the column holds anything else ("yes", 1, 0.0, ...), which would silently count as incorrect.
    """
    column = arrow_column(dataset, name)
    if pa.types.is_boolean(column.type) or pa.types.is_null(column.type):
        return column
    example = next((v for v in column.to_pylist() if v is not None), None)
    raise ColumnError(
        f"Correctness column {name!r} holds {column.type} values (e.g. {example!r}); accepted values are true, false "
        "and null (unknown). Convert it to booleans first, e.g. ds.map(lambda r: {'correct': r['correct'] == 'yes'})."
    )


def check_question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id") -> None:
    """Refuse a `question_id_column` that names different question texts with one id (their rows would be merged).

    Raises:
        ColumnError: some id is used for several texts; the message counts the ids and rows affected.
    """
    if question_id_column not in dataset.column_names or question_column not in dataset.column_names:
        return
    table = pa.table({"id": as_labels(arrow_column(dataset, question_id_column)),
                      "q": as_labels(arrow_column(dataset, question_column))})
    texts = table.group_by("id").aggregate([("q", "count_distinct"), ("q", "count")])
    conflicting = texts.filter(pc.greater(texts["q_count_distinct"], 1))
    if conflicting.num_rows:
        first = conflicting.slice(0, 1).to_pylist()[0]
        raise ColumnError(
            f"Question id {first['id']!r} is used for {first['q_count_distinct']} different question texts "
            f"({conflicting.num_rows} conflicting ids, {sum(conflicting['q_count'].to_pylist())} rows); give each "
            f"question its own {question_id_column!r}, or drop the column to derive ids from the question text."
        )
