"""The long data layout ranking and selection read: one row per candidate response.

Columns: `question` (text), `response` (text), `teacher` (who wrote it), optional `question_id` (else derived from the
question text by `question_id`), optional correctness column (bool). `wide_to_long` turns the common wide layout (one
response column per teacher) into it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from ..errors import ColumnError, SelectionError

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


def question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id") -> list[str]:
    """The question id of every row: the `question_id_column` values when the dataset has them, else derived.

    Raises:
        ColumnError: neither column exists.
        SelectionError: one id is used for different question texts (`check_question_ids`).
    """
    if question_id_column in dataset.column_names:
        check_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
        return [str(q) for q in dataset[question_id_column]]
    require_columns(dataset, [question_column], what="deriving question ids")
    questions = dataset[question_column]
    cache: dict[str | None, str] = {}
    for question in questions:
        if question not in cache:
            cache[question] = question_id(question)
    return [cache[q] for q in questions]


def score_values(dataset, column: str):
    """A score column as float64 (NaN where a row has no score), and a mask of the rows whose score is present but
    not finite (NaN or +-inf): those count as having no score. Columnar (pyarrow -> numpy).

    Returns:
        `tuple[numpy.ndarray, numpy.ndarray]`: `(values, non_finite)`; `numpy.isfinite(values)` marks usable scores.

    Raises:
        ColumnError: the column does not hold numbers.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    data = dataset.select_columns([column]).with_format("arrow")[:].column(0)
    if not (pa.types.is_floating(data.type) or pa.types.is_integer(data.type) or pa.types.is_null(data.type)):
        raise ColumnError(f"Column {column!r} must hold numbers (a score from `localnat score`), but it holds "
                          f"{data.type}; pass the right column or rescore.")
    values = np.asarray(pc.cast(data, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    missing = np.asarray(data.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return values, ~missing & ~np.isfinite(values)


def check_boolean_column(dataset, column: str) -> None:
    """Raise `ColumnError` unless `column` holds booleans (`true`, `false`, or missing for unknown).

    A column of `"yes"` / `"no"` or `1` / `0` would otherwise make every row look incorrect.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    data = dataset.select_columns([column]).with_format("arrow")[:].column(0)
    if pa.types.is_boolean(data.type) or pa.types.is_null(data.type):
        return
    seen = pc.unique(pc.drop_null(data)).to_pylist()[:3]
    raise ColumnError(
        f"Correctness column {column!r} holds {data.type} values (e.g. {', '.join(map(repr, seen))}), not booleans; "
        "accepted values are true, false, and null (missing = unknown). Convert the column, e.g. 'yes' -> true.")


def check_question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id") -> None:
    """Raise `SelectionError` when one question id names different question texts (rows of different questions
    would be compared as answers to one). Columnar (pyarrow `group_by`); a no-op unless both columns exist.

    Example:
        ```python
        >>> from datasets import Dataset
        >>> check_question_ids(Dataset.from_dict({"question_id": ["1", "1"], "question": ["2+2?", "3+3?"]}))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hf_localnat.errors.SelectionError: Question id '1' is used for 2 different question texts (1 conflicting id, 2 rows); ...

        ```
    """
    if question_id_column not in dataset.column_names or question_column not in dataset.column_names:
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    table = dataset.select_columns([question_id_column, question_column]).with_format("arrow")[:]
    table = pa.table({"id": pc.cast(table.column(0), pa.string()), "text": table.column(1)})
    counts = table.group_by("id").aggregate([("text", "count_distinct", pc.CountOptions(mode="all"))])
    conflicts = counts.filter(pc.greater(counts.column("text_count_distinct"), 1))
    if conflicts.num_rows:
        first = conflicts.column("id")[0].as_py()
        texts = conflicts.column("text_count_distinct")[0].as_py()
        rows = pc.sum(pc.cast(pc.is_in(table.column("id"), value_set=conflicts.column("id")), pa.int64())).as_py()
        raise SelectionError(
            f"Question id {first!r} is used for {texts} different question texts ({conflicts.num_rows} conflicting "
            f"id{'s' if conflicts.num_rows != 1 else ''}, {rows} rows); fix the {question_id_column!r} column, or "
            "remove it to derive ids from the question text.")


def add_question_ids(dataset, *, question_column: str = "question", question_id_column: str = "question_id"):
    """Return `dataset` with a `question_id_column`, derived from the question text when it is missing."""
    if question_id_column in dataset.column_names:
        check_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
        return dataset
    return dataset.add_column(
        question_id_column,
        question_ids(dataset, question_column=question_column, question_id_column=question_id_column),
    )


def wide_to_long(
    dataset,
    teacher_columns: Sequence[str] | Mapping[str, str],
    *,
    correct_columns: Mapping[str, str] | None = None,
    question_column: str = "question",
    question_id_column: str = "question_id",
    response_column: str = "response",
    teacher_column: str = "teacher",
    correct_column: str = "correct",
):
    """Turn one-column-per-teacher rows into one row per (question, teacher) response.

    Every other column (an answer, a source) is copied to each of the question's rows. A cell that is `None` means
    the teacher did not answer that question; it produces no row (ranking then reports the question as missing that
    teacher).

    Args:
        dataset (`datasets.Dataset`): wide rows, one per question.
        teacher_columns (`Sequence[str]` or `Mapping[str, str]`):
            The response columns; a mapping gives each column's teacher name (`{"r1_answer": "deepseek-r1"}`),
            a list uses the column names as teacher names.
        correct_columns (`Mapping[str, str]`, *optional*):
            Response column -> its correctness column (bool), copied to `correct_column`.
        question_column, question_id_column, response_column, teacher_column, correct_column (`str`):
            Column names; the question id is derived from the question text when `question_id_column` is missing.

    Returns:
        `datasets.Dataset` in the long layout, ordered by question then teacher (in the order given).

    Raises:
        ColumnError: a named column is missing.

    Example:
        ```python
        >>> from datasets import Dataset
        >>> wide = Dataset.from_dict({"question": ["1+1?"], "a": ["2."], "b": [None]})
        >>> long = wide_to_long(wide, ["a", "b"])
        >>> [(r["teacher"], r["response"]) for r in long]
        [('a', '2.')]

        ```
    """
    from datasets import Dataset

    names = dict(teacher_columns) if isinstance(teacher_columns, Mapping) else {c: c for c in teacher_columns}
    correct_columns = dict(correct_columns or {})
    require_columns(dataset, [question_column, *names, *correct_columns.values()], what="wide_to_long")
    unknown = [c for c in correct_columns if c not in names]
    if unknown:
        raise ColumnError(f"correct_columns names {unknown!r}, which are not teacher columns ({list(names)}).")
    ids = question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    wide_only = set(names) | set(correct_columns.values()) | {question_id_column}
    carried = [c for c in dataset.column_names if c not in wide_only]
    long: dict[str, list] = {question_id_column: [], **{c: [] for c in carried}, teacher_column: [], response_column: []}
    if correct_columns:
        long[correct_column] = []
    for qid, row in zip(ids, dataset, strict=True):
        for column, teacher in names.items():
            if row[column] is None:
                continue
            long[question_id_column].append(qid)
            for c in carried:
                long[c].append(row[c])
            long[teacher_column].append(teacher)
            long[response_column].append(row[column])
            if correct_columns:
                flag = correct_columns.get(column)
                long[correct_column].append(None if flag is None else row[flag])
    return Dataset.from_dict(long)
