"""Every input shape -> long rows, one per response (SPEC §9), in Arrow: no Python loop over rows.

Shapes:
- **flat**: a question column and a response column (`question` / `response`, other names by option);
- **conversation**: a column of turns (`messages` or `conversations`; `{"role", "content"}` or ShareGPT
  `{"from", "value"}`): the response is the last assistant turn, the question the last user turn before it;
- **list of responses**: a response column of lists gives one row per element (`generation_index`), with the other
  list columns of the same lengths exploded alongside;
- **one column per response** (wide): several response columns give one row per column.

`to_long` changes the row count where a shape needs it and names the columns `question`, `response` and `teacher`
(a column that already has one of these names but plays another part is kept as `input_<name>`);
`read_conversations` is the row-for-row part that `Dataset.map(scorer, batched=True)` uses on a conversation column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnError
from .turns import (CONVERSATION_COLUMNS, INVALID_CONVERSATION, TOOL_CALL_ONLY_RESPONSE, TURN_KEYS, canonical_turns,
                    is_json_type, may_hold_turns, python_values, RawTrace,
                    struct_turn_keys)

USER_ROLES: tuple[str, ...] = ("user",)
ASSISTANT_ROLES: tuple[str, ...] = ("assistant",)
INPUT_ERROR_COLUMN = "input_error"
"""Column of long rows made from conversations: why a row has no (question, response) pair (`invalid_conversation`);
the scorer gives such a row that `score_error` without scoring it."""
GENERATION_INDEX = "generation_index"


class ShapeError(ColumnError):
    """An input that fits no shape, or options that name columns it does not have."""


# ------------------------------------------------------------------------------------------------ conversations
def turn_keys(arrow_type: pa.DataType) -> tuple[str, str] | None:
    """`(role key, content key)` when `arrow_type` is a list of turns (structs with role/content, from/value or
    role/text)."""
    return struct_turn_keys(arrow_type)


def find_conversation_column(schema: pa.Schema) -> str | None:
    """The first of `CONVERSATION_COLUMNS` that can hold conversations (lists of turns, or JSON), else `None`."""
    return next((name for name in CONVERSATION_COLUMNS
                 if name in schema.names and may_hold_turns(schema.field(name).type)), None)


@dataclass(frozen=True)
class Conversations:
    """The (question, response) pair of every conversation, row for row.

    Attributes:
        questions, responses (`pa.Array`): the last user turn before the last assistant turn, and that assistant
            turn's content; null where the conversation has no such pair.
        errors (`pa.Array`): `invalid_conversation` where it has none, `tool_call_only_response` where that
            assistant turn holds only tool calls, else null.
        roles (`list[str]`): the role names found, for the report line.
        keys (`tuple[str, str]`): the role and content keys of its turns.
        left_out (`dict[str, float]`): per row with a pair, the mean number of turns not scored: other
            `assistant` turns, `tool` turns, and `other` turns (system prompts, other user turns).
    """

    questions: pa.Array
    responses: pa.Array
    errors: pa.Array
    roles: list[str]
    keys: tuple[str, str]
    left_out: dict = None

    @property
    def style(self) -> str:
        return {("from", "value"): "ShareGPT from/value", ("role", "text"): "role/text"}.get(self.keys, "role/content")

    def describe(self, column: str) -> str:
        user, assistant = ("human", "gpt") if self.keys == ("from", "value") else ("user", "assistant")
        line = (f"conversations ({self.style}) in {column!r}: question = last {user} turn, "
                f"response = last {assistant} turn")
        left = self.left_out or {}
        if any(left.values()):
            line += (f"; left out of the score, per row on average: {left['assistant']:.1f} assistant, "
                     f"{left['tool']:.1f} tool and {left['other']:.1f} other turns (score every turn with "
                     "--segmenter turns)")
        return line


def _keys_of(column) -> tuple[str, str]:
    keys = struct_turn_keys(column.type) if isinstance(column, (pa.Array, pa.ChunkedArray)) else None
    return keys or TURN_KEYS[0]


def read_conversations(column: pa.Array | pa.ChunkedArray | Sequence) -> Conversations:
    """Find the (question, response) pair of each conversation in a column of lists of turns (SPEC §9): any type
    `io.turns.canonical_turns` reads (lists of structs, JSON, content parts, Python values).

    Raises:
        ShapeError: an Arrow column whose type cannot hold turns.
    """
    if isinstance(column, (pa.Array, pa.ChunkedArray)) and not may_hold_turns(column.type) \
            and not (pa.types.is_null(column.type) or pa.types.is_string(column.type)):  # text: JSON per row
        raise ShapeError(f"A conversation column must hold lists of {{role, content}} or {{from, value}} turns, "
                         f"not {column.type}.")
    keys = _keys_of(column)
    lists = canonical_turns(column)
    count = len(lists)
    first, last = lists.offsets[0].as_py(), lists.offsets[-1].as_py()
    turns = lists.values.slice(first, last - first)
    parents = np.repeat(np.arange(count, dtype=np.int64),
                        np.diff(np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)))
    roles = pc.struct_field(turns, "role")
    contents = pc.struct_field(turns, "content")
    calls = np.asarray(pc.fill_null(pc.struct_field(turns, "calls"), 0).to_numpy(zero_copy_only=False))
    position = np.arange(len(turns), dtype=np.int64)
    is_assistant = np.asarray(pc.fill_null(pc.is_in(roles, pa.array(ASSISTANT_ROLES)), False))
    is_user = np.asarray(pc.fill_null(pc.is_in(roles, pa.array(USER_ROLES)), False))
    is_tool = np.asarray(pc.fill_null(pc.equal(roles, "tool"), False))
    last_assistant = np.full(count, -1, dtype=np.int64)
    np.maximum.at(last_assistant, parents[is_assistant], position[is_assistant])
    before = is_user & (position < last_assistant[parents]) if len(parents) else is_user
    last_user = np.full(count, -1, dtype=np.int64)
    np.maximum.at(last_user, parents[before], position[before])
    valid = (last_assistant >= 0) & (last_user >= 0) & np.asarray(lists.is_valid())

    def pick(at: np.ndarray) -> pa.Array:
        return contents.take(pa.array(np.where(valid, at, 0), mask=~valid)) if len(turns) else \
            pa.nulls(count, pa.string())

    responses = pick(last_assistant)
    blank = np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(responses), ""), False))
    call_only = valid & blank & (calls[np.where(valid, last_assistant, 0)] > 0 if len(turns) else False)
    errors = pa.array(np.where(valid, np.where(call_only, TOOL_CALL_ONLY_RESPONSE, None), INVALID_CONVERSATION),
                      pa.string())
    rows = max(int(valid.sum()), 1)
    in_valid = valid[parents] if len(parents) else np.zeros(0, bool)
    left_out = {"assistant": (is_assistant & in_valid).sum() / rows - valid.sum() / rows,
                "tool": (is_tool & in_valid).sum() / rows,
                "other": ((~is_assistant & ~is_tool) & in_valid).sum() / rows - valid.sum() / rows}
    return Conversations(pick(last_user), responses, errors,
                         [r for r in pc.unique(roles).to_pylist() if r is not None], keys,
                         {k: float(v) for k, v in left_out.items()})


# ------------------------------------------------------------------------------------------------------ to_long
@dataclass(frozen=True)
class LongRows:
    """`to_long`'s result: the long rows and what was read, for the line printed before scoring.

    Attributes:
        dataset (`datasets.Dataset`): one row per response; `question`, `response` (and `teacher`,
            `generation_index`, `input_error` where the shape gives them) plus the input's other columns.
        reading (`str`): how the responses were read (`"flat rows: question = 'problem', response = 'solution'"`).
        teachers (`str`): where the teachers came from.
        input_rows (`int`): rows of the input.
        without_response (`int`): input rows (or cells) that gave no row: a null or empty list, a null wide cell.
        messages_column (`str`, *optional*): the conversation column the responses came from.
    """

    dataset: object
    reading: str
    teachers: str
    input_rows: int
    without_response: int = 0
    messages_column: str | None = None

    def describe(self) -> str:
        """`Read <reading>; <teachers>; N rows[ from M input rows (K without a response)].`"""
        rows = self.dataset.num_rows
        counts = f"{rows} rows"
        if rows != self.input_rows or self.without_response:
            counts += f" from {self.input_rows} input rows"
        if self.without_response:
            counts += f" ({self.without_response} with no response, so no row)"
        return f"Read {self.reading}; {self.teachers}; {counts}."


def _describe_columns(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name} ({_type_name(f.type)})" for f in schema)


def _type_name(arrow_type: pa.DataType) -> str:
    if turn_keys(arrow_type):
        return "turns " + "/".join(turn_keys(arrow_type))
    if is_json_type(arrow_type):
        return "JSON"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"list of {_type_name(arrow_type.value_type)}"
    return "text" if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) else str(arrow_type)


def _no_shape(schema: pa.Schema, why: str) -> ShapeError:
    return ShapeError(
        f"{why} Columns found: {_describe_columns(schema)}. Map them with --response-column NAME (repeat it for "
        "one column per response; a column of lists gives one row per element), --question-column NAME, or "
        "--messages-column NAME for a column of turns (in Python: to_long(..., response_columns=, question_column=, "
        "messages_column=)).")


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def parse_response_columns(values: Sequence[str] | Mapping[str, str], names: Sequence[str]) -> dict[str, str | None]:
    """Response columns -> the teacher each one names (`None`: the column's own name, for wide inputs).

    A mapping is `{column: teacher}`; a sequence holds column names or `TEACHER=COLUMN` (`gemini=gemini_attempt`)
    for a value that is not itself a column.
    """
    if isinstance(values, Mapping):
        return dict(values)
    out: dict[str, str | None] = {}
    for value in values:
        teacher, sep, column = value.partition("=")
        out.update({column: teacher} if sep and value not in names else {value: None})
    return out


def _free_name(name: str, taken: set[str]) -> str:
    """`input_<name>` (then `input_<name>_2`, ...) for a column moved out of the way of a canonical one."""
    candidate, n = f"input_{name}", 2
    while candidate in taken:
        candidate, n = f"input_{name}_{n}", n + 1
    return candidate


def _place(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray, *, keep: set[str]) -> pa.Table:
    """`table` with column `name` = `values`: an existing column of that name is renamed `input_<name>` unless it is
    in `keep` (then it is replaced in place)."""
    if name in table.column_names:
        at = table.column_names.index(name)
        if name in keep:
            return table.set_column(at, name, values)
        table = table.rename_columns([_free_name(name, set(table.column_names)) if c == name else c
                                      for c in table.column_names])
    return table.append_column(name, values)


def _rename(table, old: str, new: str):
    """`table` with column `old` renamed `new` in place; a column already named `new` becomes `input_<new>`.

    Uses only `rename_columns`, so it works on a `pyarrow.Table` and on a `datasets` table alike (a memory-mapped
    one stays memory-mapped)."""
    if old == new:
        return table
    names = list(table.column_names)
    if new in names:
        names[names.index(new)] = _free_name(new, set(names))
    names[names.index(old)] = new
    return table.rename_columns(names)


def to_long(
    dataset,
    *,
    question_column: str | None = None,
    response_columns: Sequence[str] | Mapping[str, str] | None = None,
    messages_column: str | None = None,
    teacher_column: str | None = None,
    teacher: str | None = None,
    explode_with: Sequence[str] = (),
    steps_column: str | None = None,
    turns: bool = False,
) -> LongRows:
    """Turn any input shape into long rows, one per response (SPEC §9), or with `turns` one per agent trace
    (SPEC §14).

    Args:
        dataset (`datasets.Dataset`): the input as read.
        question_column (`str`, *optional*): the question column of a flat, list or wide input  [default: `question`].
        response_columns (`Sequence[str]` or `Mapping[str, str]`, *optional*): one column (of texts, or of lists of
            texts: one row per element), or several (one row per column; `TEACHER=COLUMN` or a mapping names each
            column's teacher)  [default: `response`, else a conversation column].
        messages_column (`str`, *optional*): a column of turns  [default: `messages` or `conversations` when there
            is no response column].
        teacher_column (`str`, *optional*): the column naming each row's teacher.
        teacher (`str`, *optional*): one teacher for every row (overrides the others).
        explode_with (`Sequence[str]`): list columns exploded alongside a list of responses even where their lengths
            differ (missing elements are null). Lists of scalars whose length always matches are exploded anyway.
        steps_column (`str`, *optional*): with `segmenter="given"`, the column of pre-split steps: rows stay as
            they are (no response column is needed), only the question and teacher are named.
        turns (`bool`, *optional*): agent traces (`segmenter="turns"`, SPEC §14): rows stay as they are, the
            conversation column is kept for the scorer, `question` is the first user turn before the first
            assistant turn (or `question_column`, which then pairs the teachers' traces of one task).

    Returns:
        `LongRows`: the dataset and the report of what was read.

    Raises:
        ShapeError: an input that fits no shape, or a named column it does not have (one line, listing its columns).

    Example:
        ```python
        >>> from datasets import Dataset
        >>> wide = Dataset.from_dict({"problem": ["1+1?"], "generations": [["2.", "Two."]], "ok": [[True, False]]})
        >>> long = to_long(wide, question_column="problem", response_columns=["generations"])
        >>> long.dataset.to_list()
        [{'question': '1+1?', 'response': '2.', 'ok': True, 'generation_index': 0}, {'question': '1+1?', 'response': 'Two.', 'ok': False, 'generation_index': 1}]
        >>> long.describe()
        "Read lists of responses: question = 'problem', response = each element of 'generations', exploded alongside: ok; no teacher; 2 rows from 1 input rows."

        ```
    """
    table = _arrow(dataset)
    names = table.column_names
    for option, name in (("--question-column", question_column), ("--messages-column", messages_column),
                         ("--teacher-column", teacher_column), *(("--explode-with", c) for c in explode_with)):
        if name is not None and name not in names:
            raise _no_shape(table.schema, f"{option} {name!r} is not a column of the input.")
    responses = parse_response_columns(response_columns, names) if response_columns else None
    if steps_column is not None and responses is None and messages_column is None:
        if steps_column not in names:
            raise _no_shape(table.schema, f"--steps-column {steps_column!r} is not a column of the input.")
        long = _rename(table, question_column, "question") if question_column else table
        long, teachers = _with_teacher(long, teacher=teacher, teacher_column=teacher_column, wide_teachers=None)
        out = dataset if long is table else _dataset(long, dataset, dict(question_column=question_column,
                                                                         teacher_column=teacher_column,
                                                                         teacher=teacher, steps=steps_column))
        return LongRows(out, f"pre-split steps in {steps_column!r}", teachers, table.num_rows)
    if turns:
        if responses is not None:
            raise _no_shape(table.schema, "Agent traces (--segmenter turns) are read from a conversation column, "
                                          "not from --response-column; pass --messages-column NAME.")
        messages_column = messages_column or find_conversation_column(table.schema)
        if messages_column is None:
            raise _no_shape(table.schema, "Agent traces (--segmenter turns) need a conversation column ('messages', "
                                          "'conversations' or 'trajectory'; another one with --messages-column).")
        long, reading = _from_traces(table, messages_column, question_column)
        long, teachers = _with_teacher(long, teacher=teacher, teacher_column=teacher_column, wide_teachers=None)
        out = _dataset(long, dataset, dict(question_column=question_column, messages_column=messages_column,
                                           teacher_column=teacher_column, teacher=teacher, turns=True))
        return LongRows(out, reading, teachers, table.num_rows, 0, messages_column)
    if responses is None and messages_column is None:
        if "response" in names:
            responses = {"response": None}
        else:
            messages_column = find_conversation_column(table.schema)
            if messages_column is None:
                raise _no_shape(table.schema, "Cannot tell which column holds the responses (no 'response' column, "
                                              "no 'messages', 'conversations' or 'trajectory' column of turns).")
    if responses is not None:
        missing = [c for c in responses if c not in names]
        if missing:
            raise _no_shape(table.schema, f"--response-column {missing[0]!r} is not a column of the input.")
    if messages_column is not None and responses is None:
        long, reading, dropped = _from_conversations(table, messages_column)
        wide_teachers = None
    else:
        long, reading, dropped, wide_teachers = _from_responses(table, responses, question_column, explode_with)
    if "messages" in long.column_names and messages_column != "messages":  # not where the response came from
        long = _rename(long, "messages", _free_name("messages", set(long.column_names)))
    long, teachers = _with_teacher(long, teacher=teacher, teacher_column=teacher_column, wide_teachers=wide_teachers)
    out = dataset if long is table else _dataset(long, dataset, dict(question_column=question_column, responses=responses,
                                                  messages_column=messages_column, teacher_column=teacher_column,
                                                  teacher=teacher, explode_with=list(explode_with)))
    return LongRows(out, reading, teachers, table.num_rows, dropped, messages_column if responses is None else None)


def _arrow(dataset):
    """The dataset's rows as a table: its own `datasets` table when it has no `select` indices (so renaming and
    adding columns keep a memory-mapped input memory-mapped, and `num_proc` workers re-map it instead of receiving a
    copy), else an Arrow table of the selected rows."""
    if dataset._indices is None:
        return dataset.data
    return dataset.with_format("arrow")[:] if len(dataset) else dataset.data.table.slice(0, 0)


def _pa(table) -> pa.Table:
    """The `pyarrow.Table` inside a `datasets` table (or the table itself)."""
    return getattr(table, "table", table)


def _dataset(table: pa.Table, source, arguments: dict):
    """`table` as a `datasets.Dataset` whose fingerprint is derived from the source's and the shape's arguments, so
    the same input read the same way resumes from the same checkpoints."""
    from datasets import Dataset
    from datasets.fingerprint import Hasher
    from datasets.table import InMemoryTable, Table

    fingerprint = Hasher.hash({"source": source._fingerprint, "to_long": arguments, "schema": str(table.schema)})
    table = table if isinstance(table, Table) else InMemoryTable(table)
    return Dataset(table.replace_schema_metadata(None), fingerprint=fingerprint)


def _from_conversations(table: pa.Table, column: str) -> tuple[pa.Table, str, int]:
    conversations = read_conversations(table.column(column))
    for name, values in (("question", conversations.questions), ("response", conversations.responses),
                         (INPUT_ERROR_COLUMN, conversations.errors)):
        table = _place(table, name, values, keep=set())  # an input's own question/response -> input_question, ...
    return table, conversations.describe(column), 0


def _from_traces(table: pa.Table, column: str, question_column: str | None) -> tuple[pa.Table, str]:
    """Rows of agent traces (SPEC §14): `question` = the first user turn before the first assistant turn (or the
    named column), `input_error` = `invalid_conversation` where no assistant turn can be read."""
    lists = canonical_turns(table.column(column))
    count = len(lists)
    first, last = lists.offsets[0].as_py(), lists.offsets[-1].as_py()
    turns = lists.values.slice(first, last - first)
    lengths = np.diff(np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64))
    parents = np.repeat(np.arange(count, dtype=np.int64), lengths)
    roles = pc.struct_field(turns, "role")
    position = np.arange(len(turns), dtype=np.int64)
    is_assistant = np.asarray(pc.fill_null(pc.equal(roles, "assistant"), False))
    first_assistant = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_assistant, parents[is_assistant], position[is_assistant])
    in_head = np.asarray(pc.fill_null(pc.equal(roles, "user"), False)) & (position < first_assistant[parents]) \
        if len(parents) else np.zeros(0, bool)
    first_user = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_user, parents[in_head], position[in_head])
    valid = np.asarray(lists.is_valid()) & (first_assistant < np.iinfo(np.int64).max)
    has_user = valid & (first_user < np.iinfo(np.int64).max)
    contents = pc.struct_field(turns, "content")
    questions = contents.take(pa.array(np.where(has_user, first_user, 0), mask=~has_user)) if len(turns) else \
        pa.nulls(count, pa.string())
    errors = pa.array(np.where(valid, None, INVALID_CONVERSATION), pa.string())
    table = _place(table, INPUT_ERROR_COLUMN, errors, keep=set())
    if question_column is not None:
        table = _rename(table, question_column, "question")
        question = f"question = {question_column!r} (it pairs the teachers' traces)"
    else:
        table = _place(table, "question", questions, keep=set())
        question = "question = first user turn"
    rows = max(int(valid.sum()), 1)
    steps = float(is_assistant[valid[parents]].sum()) / rows if len(parents) else 0.0
    reading = (f"agent traces in {column!r}: {question}, every assistant turn scored ({steps:.1f} per trace on "
               "average)")
    return table, reading


def _from_responses(table: pa.Table, responses: dict[str, str | None], question_column: str | None,
                    explode_with: Sequence[str]) -> tuple[pa.Table, str, int, dict[str, str] | None]:
    question_column = question_column or ("question" if "question" in table.column_names else None)
    question = f"question = {question_column!r}" if question_column else "no question column"
    lists = [c for c in responses if _is_list(table.schema.field(c).type)]
    if len(responses) > 1:
        if lists:
            raise _no_shape(table.schema, f"Several response columns must each hold one text per row, but "
                                          f"{lists[0]!r} holds lists; give a column of lists on its own.")
        long, dropped = _wide(table, list(responses))
        teachers = {c: t or c for c, t in responses.items()}
        reading = f"one column per response: {question}, response = " + ", ".join(map(repr, responses)) + \
            f" (generation_index 0-{len(responses) - 1})"
    elif lists:
        long, dropped, exploded = _explode(table, lists[0], explode_with)
        teachers = None
        reading = f"lists of responses: {question}, response = each element of {lists[0]!r}" + \
            (f", exploded alongside: {', '.join(exploded)}" if exploded else "")
    else:
        [column] = responses
        long, dropped, teachers = _rename(table, column, "response"), 0, None
        reading = f"flat rows: {question}, response = {column!r}"
    if question_column:
        long = _rename(long, question_column, "question")
    return long, reading, dropped, teachers


def _wide(table: pa.Table, columns: list[str]) -> tuple[pa.Table, int]:
    """One row per (input row, response column), in input order; a null cell gives no row."""
    n, k = table.num_rows, len(columns)
    stacked = pa.concat_arrays([pc.cast(table.column(c).combine_chunks(), pa.large_string()) for c in columns])
    order = (np.arange(n)[:, None] + n * np.arange(k)[None, :]).ravel()
    present = np.asarray(pc.is_valid(stacked.take(pa.array(order))))
    order = order[present]
    table = _pa(table)
    rest = table.drop_columns(columns).take(pa.array(order % n if n else order))
    rest = _place(rest, "response", pc.cast(stacked.take(pa.array(order)), pa.string()), keep=set())
    rest = _place(rest, GENERATION_INDEX, pa.array(order // n if n else order, pa.int64()), keep=set())
    return rest, int((~present).sum())


def _explode(table: pa.Table, column: str, explode_with: Sequence[str]) -> tuple[pa.Table, int, list[str]]:
    """One row per element of the lists in `column`; other list columns alongside (SPEC §9)."""
    table = _pa(table)
    lists = table.column(column).combine_chunks()
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    position = np.arange(len(parents), dtype=np.int64) - (starts[parents] if len(parents) else 0)
    alongside = [c for c in table.column_names if c != column and _alongside(table, c, lists, explode_with)]
    out = table.drop_columns([column, *alongside]).take(pa.array(parents))
    out = _place(out, "response", pc.list_flatten(lists), keep=set())
    for name in alongside:
        out = _place(out, name, _element(table.column(name).combine_chunks(), parents, position), keep={name})
    out = _place(out, GENERATION_INDEX, pa.array(position, pa.int64()), keep=set())
    return out, int((lengths == 0).sum()), alongside


def _alongside(table: pa.Table, name: str, responses: pa.Array, explode_with: Sequence[str]) -> bool:
    """Whether list column `name` is exploded with the responses: named, or lists of scalars whose length equals the
    responses' wherever both are non-null."""
    arrow_type = table.schema.field(name).type
    if not _is_list(arrow_type):
        return False
    if name in explode_with:
        return True
    if pa.types.is_nested(arrow_type.value_type):
        return False
    mine = pc.list_value_length(table.column(name).combine_chunks())
    theirs = pc.list_value_length(responses)
    return bool(pc.all(pc.fill_null(pc.equal(mine, theirs), True)).as_py() is not False)


def _element(lists: pa.Array, parents: np.ndarray, position: np.ndarray) -> pa.Array:
    """Element `position[i]` of list `parents[i]`, null where the list is null or shorter."""
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    valid = position < lengths[parents] if len(parents) else np.zeros(0, bool)
    at = np.where(valid, (starts[parents] if len(parents) else 0) + position, 0)
    values = pc.list_flatten(lists)
    if len(values) == 0:
        return pa.nulls(len(parents), lists.type.value_type)
    return values.take(pa.array(at, mask=~valid))


def _with_teacher(table: pa.Table, *, teacher: str | None, teacher_column: str | None,
                  wide_teachers: dict[str, str] | None) -> tuple[pa.Table, str]:
    """Set `teacher`: a constant, else a column, else the wide columns' names; say where it came from."""
    if teacher is not None:
        return _place(table, "teacher", pa.array([teacher] * table.num_rows, pa.string()), keep=set()), \
            f"teacher {teacher!r}"
    if teacher_column is not None:
        values = table.column(teacher_column)
        table = _rename(table, teacher_column, "teacher")
        return table, f"teachers from column {teacher_column!r} ({len(pc.unique(values))})"
    if wide_teachers:  # generation_index is the response column's position
        names = pa.array(list(wide_teachers.values()), pa.string())
        table = _place(table, "teacher", names.take(table.column(GENERATION_INDEX)), keep=set())
        return table, f"teachers from the response columns ({len(set(wide_teachers.values()))})"
    if "teacher" in table.column_names:
        return table, f"teachers from column 'teacher' ({len(pc.unique(table.column('teacher')))})"
    return table, "no teacher"


# ------------------------------------------------------------------------------------------------ a scorer batch
@dataclass(frozen=True)
class BatchTexts:
    """What a scorer reads from one `map` batch: a response, a question, an input-layer reason and (with
    `segmenter="given"`) the steps, per row."""

    responses: list
    questions: list | None
    errors: list | None
    steps: list | None = None


def _values(values) -> list | None:
    if values is None:
        return None
    return values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)


def _python(values) -> list:
    """A batch's column as Python values (JSON-typed Arrow values decoded, `io.turns.python_values`)."""
    return python_values(values) if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)


def _holds_turns(values) -> bool:
    """Whether a batch's column can hold conversations: an Arrow type that can (`io.turns.may_hold_turns`), or
    Python values (read row by row; a row that is not a conversation gets `invalid_conversation`)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return may_hold_turns(values.type) or pa.types.is_null(values.type)
    return values is not None


def batch_texts(column: Callable[[str], object], names: Sequence[str], *, question_column: str,
                response_column: str, messages_column: str | None = None,
                steps_column: str | None = None, turns: bool = False, tools_column: str = "tools") -> BatchTexts:
    """The responses and questions of a batch, row for row (the shapes that keep the row count: flat rows, long rows
    made by `to_long`, and a conversation column).

    Args:
        column: the batch's column `name` (a list or Arrow; `None` when absent).
        names: the batch's column names.
        question_column, response_column: the flat columns.
        messages_column: a conversation column to read instead  [default: `messages` or `conversations`, when the
            batch has no `response_column`].
        steps_column: with `segmenter="given"`, the column of pre-split steps, read instead of any response.
        turns: agent traces (`segmenter="turns"`, SPEC §14): each response is the row's `io.turns.RawTrace` (its
            conversation and its `tools_column` value); no question is read (the head is what the student sees).
        tools_column: the column of tools passed to the chat template with `turns`  [default: `tools`].

    Raises:
        ColumnError: neither the response column nor a conversation column is there (or no `steps_column`).
    """
    if steps_column is not None:
        if steps_column not in names:
            raise ColumnError(f"Column {steps_column!r} not found (columns: {', '.join(names)}); "
                              "pass steps_column= to the scorer.")
        steps = _values(column(steps_column))
        return BatchTexts([None] * len(steps), _values(column(question_column)), None, steps)
    errors = _values(column(INPUT_ERROR_COLUMN))
    if messages_column is None and (turns or response_column not in names):
        messages_column = next((n for n in CONVERSATION_COLUMNS if n in names and _holds_turns(column(n))), None)
        if messages_column is None:
            raise ColumnError(f"Column {response_column!r} not found (columns: {', '.join(names)}), nor a "
                              "'messages', 'conversations' or 'trajectory' column of turns; pass response_column= "
                              "(or messages_column=) to the scorer, or make one row per response with "
                              "hf_localnat.io.to_long.")
    if messages_column is not None:
        if messages_column not in names:
            raise ColumnError(f"Column {messages_column!r} not found (columns: {', '.join(names)}); pass "
                              "messages_column= to the scorer.")
        values = column(messages_column)
        if turns:
            conversations = _python(values)
            tools = _python(column(tools_column)) if tools_column in names else [None] * len(conversations)
            return BatchTexts([RawTrace(c, t) for c, t in zip(conversations, tools, strict=True)], None, errors)
        conversations = read_conversations(values if _holds_turns(values) else [None] * len(values))
        return BatchTexts(conversations.responses.to_pylist(), conversations.questions.to_pylist(),
                          conversations.errors.to_pylist())
    return BatchTexts(_values(column(response_column)), _values(column(question_column)), errors)


def split_named_input(value: str) -> tuple[str | None, str]:
    """`"r1=traces.jsonl"` -> `("r1", "traces.jsonl")`; a value with a `/` before its first `=` (or none) is a plain
    INPUT: `"./a=b.jsonl"` -> `(None, "./a=b.jsonl")`."""
    name, sep, source = value.partition("=")
    if sep and name and "/" not in name and ":" not in name and source:
        return name, source
    return None, value


def read_inputs(inputs: Sequence[str | tuple[str | None, str]], load: Callable[[str], object], *,
                teacher: str | None = None, **shape) -> tuple[object, list[str]]:
    """Read every INPUT (`NAME=INPUT` makes NAME the teacher of its rows), make each long (`to_long` with `shape`),
    and return their rows as one dataset (`pool.concatenate`: in the order given, columns unified) with the lines
    that say how each was read.

    Args:
        inputs: `INPUT` or `NAME=INPUT` values (see `split_named_input`), or `(NAME, INPUT)` pairs (NAME taken as
            is; `None`: no NAME).
        load: reads one INPUT as a `datasets.Dataset` (e.g. `io.load_input`).
        teacher: the teacher of inputs given without a NAME.
    """
    named = [value if isinstance(value, tuple) else split_named_input(value) for value in inputs]
    longs = [to_long(load(source), teacher=name or teacher, **shape) for name, source in named]
    lines = longs
    if any(name for name, _ in named):
        teachers = f"teachers from NAME=INPUT ({len({name for name, _ in named if name})})"
        lines = [replace(long, teachers=teachers) for long in lines]
    readings = {(long.reading, long.teachers) for long in lines}
    if len(readings) == 1 and len(lines) > 1:
        rows = sum(long.dataset.num_rows for long in lines)
        dropped = sum(long.without_response for long in lines)
        said = [f"Read {lines[0].reading}; {lines[0].teachers}; {rows} rows from {len(lines)} inputs"
                + (f" ({dropped} input rows with no response, so no row)." if dropped else ".")]
    else:
        said = [long.describe() if len(lines) == 1 else f"{source}: {long.describe()}"
                for (_, source), long in zip(named, lines, strict=True)]
    if len(longs) == 1:
        return longs[0].dataset, said
    from .pool import concatenate

    return concatenate([long.dataset for long in longs], [source for _, source in named]), said
