"""Validity filters (`select --where`): conditions on a row's columns, checked before anything is chosen.

A filter is one of three forms, nothing else (no Python is evaluated):

- `COLUMN OP NUMBER`, `OP` one of `<`, `<=`, `>`, `>=`, `==`, `!=`, on a column of numbers
  (`repeat_share < 0.5`, `error_share <= 0.2`, `num_steps >= 3`);
- `COLUMN`, on a boolean column: the row passes when it is true (`resolved`);
- `not COLUMN`, on a boolean column: the row passes when it is false (`not truncated`).

A row passes a filter only when its value is known: a null (or NaN) value fails every filter on its column,
`!=` included. A row must pass every filter; the first it fails (in the order given) names its rejection reason,
`where:` followed by the filter as written back by `Condition.text` (`where:repeat_share < 0.5`).

Every filter is checked with one Arrow compute call over the column, so filtering 10^6 rows takes milliseconds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnError, ConfigError

#: The comparison operators, and the Arrow compute function of each.
OPERATORS: dict[str, str] = {"<=": "less_equal", ">=": "greater_equal", "==": "equal", "!=": "not_equal",
                             "<": "less", ">": "greater"}
#: The prefix of the rejection reason of a row that fails a filter.
REASON_PREFIX = "where:"
#: Columns `localnat score --segmenter turns` writes (SPEC §14): a filter naming one on unscored data says so.
TRACE_COLUMNS: tuple[str, ...] = ("num_tool_calls", "repeat_share", "error_share", "observation_share")

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"\s*({_NAME})\s*(<=|>=|==|!=|<|>)\s*({_NUMBER})\s*")
_FLAG = re.compile(rf"\s*(not\s+)?({_NAME})\s*")
_FORMS = ("COLUMN OP NUMBER (OP one of <, <=, >, >=, ==, !=), COLUMN (a boolean column is true) or not COLUMN; "
          'e.g. --where "repeat_share < 0.5" --where resolved')


@dataclass(frozen=True)
class Condition:
    """One parsed filter.

    Attributes:
        column (`str`): the column it reads.
        op (`str | None`): the comparison (`"<"`, ..., `"!="`), or `None` for a boolean test.
        value (`float | None`): the number compared with; `None` for a boolean test.
        negate (`bool`): for a boolean test, whether the row passes when the column is false (`not COLUMN`).
    """

    column: str
    op: str | None = None
    value: float | None = None
    negate: bool = False

    @property
    def text(self) -> str:
        """The filter written back in one canonical spelling (`repeat_share < 0.5`, `not truncated`)."""
        if self.op is None:
            return f"not {self.column}" if self.negate else self.column
        return f"{self.column} {self.op} {_number_text(self.value)}"

    @property
    def reason(self) -> str:
        """The rejection reason of a row that fails it: `where:` + `text`."""
        return REASON_PREFIX + self.text


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def parse_condition(expression: str) -> Condition:
    """Parse one filter (see the module docstring for the three forms).

    Raises:
        ConfigError: `expression` is none of the three forms (the message quotes it and shows them).

    Example:
        ```python
        >>> parse_condition("repeat_share<0.5").reason
        'where:repeat_share < 0.5'
        >>> parse_condition("not resolved")
        Condition(column='resolved', op=None, value=None, negate=True)

        ```
    """
    if not isinstance(expression, str):
        raise ConfigError(f"--where takes text such as \"repeat_share < 0.5\", got {expression!r}.")
    match = _COMPARISON.fullmatch(expression)
    if match:
        column, op, number = match.groups()
        value = float(number)
        if not np.isfinite(value):
            raise ConfigError(f"--where {expression!r}: the number must be finite; write {_FORMS}.")
        return Condition(column, op, value)
    match = _FLAG.fullmatch(expression)
    if match and match.group(2) != "not":
        return Condition(match.group(2), negate=bool(match.group(1)))
    raise ConfigError(f"--where {expression!r} is not a filter; write {_FORMS}.")


def parse_conditions(expressions: Sequence[str] | str | None) -> list[Condition]:
    """`parse_condition` of each of `expressions` (one string counts as one filter); the same filter twice counts
    once."""
    if expressions is None:
        return []
    if isinstance(expressions, str):
        expressions = [expressions]
    return list(dict.fromkeys(parse_condition(e) for e in expressions))


def _unknown_column(condition: Condition, columns: Sequence[str]) -> ColumnError:
    close = difflib.get_close_matches(condition.column, columns, n=1)
    if condition.column in TRACE_COLUMNS:
        hint = "it is a trace column: score the traces with `localnat score --segmenter turns` to write it."
    elif close:
        hint = f"did you mean {close[0]!r}?"
    else:
        hint = "name a column of the data."
    return ColumnError(f"--where {condition.text!r} reads column {condition.column!r}, which the data does not have "
                       f"(columns: {', '.join(columns)}); {hint}")


def passes(table_column: pa.ChunkedArray | pa.Array, condition: Condition) -> np.ndarray:
    """Which rows of `table_column` pass `condition` (a boolean numpy array; null and NaN values fail).

    Raises:
        ColumnError: the column's type does not fit the filter (a comparison on text or booleans, a test of a
            column that is not boolean); the message says which filter to write instead.
    """
    kind = table_column.type
    name = condition.column
    if condition.op is None:
        if pa.types.is_null(kind):
            return np.zeros(len(table_column), dtype=bool)
        if not pa.types.is_boolean(kind):
            fix = (f"compare it, e.g. --where \"{name} == 1\"" if _is_number_type(kind)
                   else "convert it to true/false first")
            raise ColumnError(f"--where {condition.text!r}: column {name!r} holds {kind}, not true/false; {fix}.")
        test = pc.invert(table_column) if condition.negate else table_column
        return np.asarray(pc.fill_null(test, False).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_null(kind):
        return np.zeros(len(table_column), dtype=bool)
    if pa.types.is_boolean(kind):
        raise ColumnError(f"--where {condition.text!r}: column {name!r} holds true/false; write --where {name} or "
                          f"--where \"not {name}\".")
    if not _is_number_type(kind):
        raise ColumnError(f"--where {condition.text!r}: column {name!r} holds {kind}, not numbers; compare a column of "
                          "numbers (a score or trace column, a count).")
    values = pc.cast(table_column, pa.float64())
    result = getattr(pc, OPERATORS[condition.op])(values, pa.scalar(condition.value, pa.float64()))
    result = pc.and_kleene(result, pc.invert(pc.is_nan(values)))  # NaN is no value: it fails, `!=` included
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_number_type(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def check_conditions(conditions: Sequence[Condition], columns: Sequence[str]) -> None:
    """Refuse a filter whose column is not among `columns` (before any work).

    Raises:
        ColumnError: the first such filter, with the closest column name or how to get a trace column.
    """
    for condition in conditions:
        if condition.column not in columns:
            raise _unknown_column(condition, list(columns))


def where_reasons(dataset, conditions: Sequence[Condition]) -> np.ndarray:
    """Each row's first failed filter as its reason (`where:...`), or `None` when it passes them all.

    Args:
        dataset (`datasets.Dataset`): the rows.
        conditions (`Sequence[Condition]`): the filters, in order (`parse_conditions`).

    Returns:
        `np.ndarray`: an object array of reasons, one per row.

    Raises:
        ColumnError: a filter names a missing column, or one whose type does not fit it.
    """
    from .layout import arrow_column

    check_conditions(conditions, dataset.column_names)
    reasons = np.full(dataset.num_rows, None, dtype=object)
    undecided = np.ones(dataset.num_rows, dtype=bool)
    for condition in conditions:
        failed = undecided & ~passes(arrow_column(dataset, condition.column), condition)
        reasons[failed] = condition.reason
        undecided &= ~failed
    return reasons
