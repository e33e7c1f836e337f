"""The scorer's output record (SPEC §7, §11): column names, Arrow types and `datasets` features, declared once here.

`SCHEMA` holds the SPEC §7 columns every run writes; `schema_for(scores)` adds the other score columns a run asks
for (`scores=`, SPEC §11), after them, in `hf_localnat.scores.SCORES` order.

Imports only pyarrow and `hf_localnat.scores` (and `datasets` lazily), so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from .scores import SCORES, extra_scores

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

TRACE_SCHEMA = pa.schema(
    [
        pa.field("num_tool_calls", pa.int64()),
        pa.field("repeat_share", pa.float64()),
        pa.field("error_share", pa.float64()),
        pa.field("observation_share", pa.float64()),
    ]
)
"""The trace columns written with `segmenter="turns"` (SPEC §14; `scoring.prepare.signals`). They have no declared
direction: ranking or selecting by one needs `--direction COLUMN=higher` (or `=lower`)."""

TRACE_COLUMNS: tuple[str, ...] = tuple(TRACE_SCHEMA.names)

#: Every column a scorer can add, whatever `scores` it was given: old ones are replaced when a scored input is rescored.
ALL_OUTPUT_COLUMNS: tuple[str, ...] = OUTPUT_COLUMNS + extra_scores(SCORES) + TRACE_COLUMNS


def schema_for(scores: Iterable[str] | None = None, segmenter: str | None = None) -> pa.Schema:
    """The Arrow schema of the columns a scorer with `scores` adds: `SCHEMA`, then each other score (float64), then
    with `segmenter="turns"` the trace columns (`TRACE_SCHEMA`).

    Example:
        >>> schema_for(["lalp", "rsr"]).names[-2:]
        ['score_error', 'rsr']
        >>> schema_for(None, "turns").names[-1]
        'observation_share'
    """
    fields = [*SCHEMA, *(pa.field(name, pa.float64()) for name in extra_scores(scores or ()))]
    return pa.schema([*fields, *(TRACE_SCHEMA if segmenter == "turns" else ())])


def output_columns(scores: Iterable[str] | None = None, segmenter: str | None = None) -> tuple[str, ...]:
    """The names of `schema_for(scores, segmenter)`, in order."""
    return tuple(schema_for(scores, segmenter).names)


def output_features(scores: Iterable[str] | None = None, segmenter: str | None = None):
    """The `datasets.Features` of the columns the scorer adds (SPEC §7, the other `scores`, the trace columns), in
    order."""
    from datasets import Features

    return Features.from_arrow_schema(schema_for(scores, segmenter))


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


def to_columns(records: Sequence[dict], scores: Iterable[str] | None = None,
               segmenter: str | None = None) -> dict[str, TypedColumn]:
    """Records (one dict per row) as columns, in `output_columns(scores, segmenter)` order, each a list typed by
    `schema_for(scores, segmenter)`; a trace column a record lacks (a row the input layer could not read) is null."""
    return {field.name: TypedColumn([record.get(field.name) if field.name in TRACE_COLUMNS else record[field.name]
                                     for record in records], field.type)
            for field in schema_for(scores, segmenter)}


def to_table(records: Sequence[dict], scores: Iterable[str] | None = None, segmenter: str | None = None) -> pa.Table:
    """Records as an Arrow table with exactly `schema_for(scores, segmenter)`, so no column's type is ever guessed
    from its values."""
    return pa.Table.from_pydict(to_columns(records, scores, segmenter), schema=schema_for(scores, segmenter))
