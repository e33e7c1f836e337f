"""The scorer's output record (SPEC §7): column names, Arrow types and `datasets` features, declared once here.

Imports only pyarrow (and `datasets` lazily), so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

SCHEMA = pa.schema(
    [
        pa.field("lalp", pa.float64()),
        pa.field("galp", pa.float64()),
        pa.field("lalp_steps", pa.list_(pa.float64())),
        pa.field("num_steps", pa.int64()),
        pa.field("num_tokens", pa.int64()),
        pa.field("truncated", pa.bool_()),
        pa.field("score_error", pa.string()),
    ]
)
"""Arrow schema of the columns the scorer adds, in order."""

OUTPUT_COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


def output_features():
    """The `datasets.Features` of the columns the scorer adds (SPEC §7), in order."""
    from datasets import Features

    return Features.from_arrow_schema(SCHEMA)


def error_record(reason: str, *, num_steps: int = 0, num_tokens: int = 0) -> dict:
    """The record of a row that has no score: `reason` in `score_error`, `lalp_steps=[]` (SPEC §4)."""
    return {"lalp": None, "galp": None, "lalp_steps": [], "num_steps": num_steps, "num_tokens": num_tokens,
            "truncated": False, "score_error": reason}


class TypedColumn(list):
    """A list of one column's values that carries its Arrow type: `pa.array(column)` uses the type (pyarrow's
    `__arrow_array__` protocol) instead of guessing it from the values, so a batch whose values are all `None`
    still gets the declared type. This is what lets `Dataset.map(scorer, batched=True)` work without `features=`.
    """

    def __init__(self, values, arrow_type: pa.DataType) -> None:
        super().__init__(values)
        self.arrow_type = arrow_type

    def __arrow_array__(self, type: pa.DataType | None = None) -> pa.Array:
        return pa.array(list(self), type=type or self.arrow_type)


def to_columns(records: Sequence[dict]) -> dict[str, TypedColumn]:
    """Records (one dict per row) as columns, in `OUTPUT_COLUMNS` order, each a list typed by `SCHEMA`."""
    return {field.name: TypedColumn([record[field.name] for record in records], field.type) for field in SCHEMA}


def to_table(records: Sequence[dict]) -> pa.Table:
    """Records as an Arrow table with exactly `SCHEMA`, so no column's type is ever guessed from its values."""
    return pa.Table.from_pydict(to_columns(records), schema=SCHEMA)
