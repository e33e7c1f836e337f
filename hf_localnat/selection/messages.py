"""The `messages` column of curated rows (SPEC §9): the conversational format TRL's `SFTTrainer` and open-r1 train on.

Each kept row gets `[{"role": "user", "content": question}, {"role": "assistant", "content": response}]`, built with
Arrow arrays (no Python loop per row: selections hold 10^5+ rows). A row that already has a `messages` value (the
conversation its response came from, SPEC §9) keeps it as it is. A row that came from a ShareGPT conversation
(`conversations` of `from`/`value` turns, OpenThoughts / Sky-T1 / AM, and agent traces) gets that conversation in
TRL's role/content form (`human` -> `user`, `gpt` -> `assistant`, observations -> `tool`: `CHATML_ROLES`; every turn
kept, the system turn included), and the ShareGPT column is kept as it was, as `input_conversations`: TRL would
otherwise rename `conversations` to `messages` over ours, keeping the `human`/`gpt`/`observation` roles that chat
templates refuse. An agent trace scored turn by turn (SPEC §14, no question or response column) is curated the same
way; its `tools` column, like every other input column, is kept as it was.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnError
from ..io.turns import ROLES

MESSAGES_COLUMN = "messages"
"""The column TRL reads a conversation from."""
_STRING_LIMIT = 2**31 - 1
"""Bytes a `string` array can hold (int32 offsets); longer contents go into a `large_string` array."""


def conversation_array(questions: pa.Array | pa.ChunkedArray, responses: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """One two-turn conversation per row: the question as the user turn, the response as the assistant turn.

    A null question gives a user turn with empty content (`""`): the turn is kept, so every row has the same shape;
    a null response gives an assistant turn with null content.

    Example:
        ```python
        >>> conversation_array(pa.array(["1+1?", None]), pa.array(["2.", "Hi."])).to_pylist()[1]
        [{'role': 'user', 'content': ''}, {'role': 'assistant', 'content': 'Hi.'}]

        ```
    """
    return _conversations(questions, responses, np.ones(len(questions), dtype=bool))


def _conversations(questions, responses, rows: np.ndarray) -> pa.ListArray:
    """`conversation_array` of the rows where `rows` is true; null (an empty list slot) elsewhere."""
    picked = pa.array(np.flatnonzero(rows), pa.int64())
    question = _combined(pc.take(questions, picked))
    response = _combined(pc.take(responses, picked))
    size = sum(int(pc.sum(pc.binary_length(a)).as_py() or 0) for a in (question, response) if len(a))
    text = pa.large_string() if size > _STRING_LIMIT else pa.string()
    question = pc.fill_null(question.cast(text), pa.scalar("", text))
    response = response.cast(text)
    n = len(picked)
    order = np.empty(2 * n, dtype=np.int64)  # user, assistant, user, assistant, ...
    order[0::2] = np.arange(n)
    order[1::2] = np.arange(n) + n
    contents = pa.concat_arrays([question, response]).take(pa.array(order))
    roles = pa.array(["user", "assistant"], pa.string()).take(pa.array(np.tile(np.array([0, 1]), n)))
    turns = pa.StructArray.from_arrays([roles, contents], names=["role", "content"])
    offsets = np.zeros(len(rows) + 1, dtype=np.int32 if 2 * n < _STRING_LIMIT else np.int64)
    offsets[1:] = np.cumsum(rows.astype(offsets.dtype) * 2)
    kind = pa.ListArray if offsets.dtype == np.int32 else pa.LargeListArray
    return kind.from_arrays(pa.array(offsets), turns, mask=pa.array(~rows))


SHAREGPT_COLUMN = "conversations"
"""The column TRL renames to `messages` (converting `from`/`value` keys but not the roles)."""
CHATML_ROLES: dict[str, str] = {name: role for name, role in ROLES.items() if name != role}
"""ShareGPT role names -> the role names chat templates know (SPEC §14: `human` -> `user`, `gpt` and `function_call`
-> `assistant`, `observation`, `function` and `ipython` -> `tool`)."""


def can_add_messages(column_names, *, question_column: str = "question", response_column: str = "response") -> bool:
    """Whether `add_messages` has something to build from: the question and response columns (SPEC §9), or a
    ShareGPT conversation (an agent trace scored turn by turn has no response column, SPEC §14)."""
    names = set(column_names)
    return {question_column, response_column} <= names or SHAREGPT_COLUMN in names


def chatml(turns: pa.Array) -> pa.Array:
    """ShareGPT turns (`from`/`value`) as role/content turns with TRL's role names, row for row (null stays null).

    Example:
        ```python
        >>> chatml(pa.array([[{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "2."}]])).to_pylist()
        [[{'role': 'user', 'content': '1+1?'}, {'role': 'assistant', 'content': '2.'}]]

        ```
    """
    flat = pc.list_flatten(turns)
    roles = pc.cast(pc.struct_field(flat, "from"), pa.string())
    lowered = pc.utf8_lower(roles)
    for old, new in CHATML_ROLES.items():
        roles = pc.if_else(pc.equal(lowered, old), new, roles)
    contents = pc.cast(pc.struct_field(flat, "value"), pa.string())
    lengths = np.asarray(pc.fill_null(pc.list_value_length(turns), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    values = pa.StructArray.from_arrays([roles, contents], names=["role", "content"])
    return pa.ListArray.from_arrays(offsets, values, mask=turns.is_null())


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values


def add_messages(dataset, rows: np.ndarray, *, question_column: str = "question",
                 response_column: str = "response"):
    """`dataset` with a `messages` column holding `conversation_array` for the rows where `rows` is true.

    Where the dataset already has a `messages` column, its values are kept; only its null values in `rows` are
    filled. Rows outside `rows` hold null in a new column and their own value in an existing one.

    Args:
        dataset (`datasets.Dataset`): the rows (no `select` indices, or they are applied).
        rows (`np.ndarray`): a boolean mask, one entry per row: which rows get a conversation.
        question_column, response_column (`str`): the columns of the user and assistant turns.

    Returns:
        `tuple[datasets.Dataset, bool]`: the dataset, and whether the `messages` column is new.

    Raises:
        ColumnError: an existing `messages` column holds a type the built turns cannot be cast to.
    """
    from ..io.shapes import find_conversation_column
    from .layout import arrow_column

    rows = np.asarray(rows, dtype=bool)
    if {question_column, response_column} <= set(dataset.column_names):
        built = _conversations(arrow_column(dataset, question_column), arrow_column(dataset, response_column), rows)
    else:  # a conversation without question and response columns: only its ShareGPT form is converted
        built = pa.nulls(len(rows), pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))
    sharegpt = find_conversation_column(pa.schema([f for f in dataset.features.arrow_schema
                                                   if f.name == SHAREGPT_COLUMN]))
    if sharegpt is not None:
        turns = _combined(arrow_column(dataset, sharegpt))
        from_sharegpt = rows & np.asarray(turns.is_valid())
        built = pc.if_else(pa.array(from_sharegpt), chatml(turns).cast(built.type), built)
        names = [c if c != sharegpt else f"input_{sharegpt}" for c in dataset.column_names]
        dataset = dataset.rename_columns(dict(zip(dataset.column_names, names)))
    if MESSAGES_COLUMN not in dataset.column_names:
        return dataset.add_column(MESSAGES_COLUMN, built), True
    existing = _combined(arrow_column(dataset, MESSAGES_COLUMN))
    if pa.types.is_null(existing.type):
        filled = built
    elif existing.null_count == 0:
        return dataset, False
    else:
        try:
            filled = pc.coalesce(existing, built.cast(existing.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise ColumnError(
                f"Column {MESSAGES_COLUMN!r} holds {existing.type}, which the user/assistant turns of the rows "
                f"without one ({built.type}) cannot be cast to; rename the input's {MESSAGES_COLUMN!r} column "
                f"(e.g. to input_messages) before selecting.") from e
    order = dataset.column_names
    filled_dataset = dataset.remove_columns(MESSAGES_COLUMN).add_column(MESSAGES_COLUMN, filled)
    return filled_dataset.select_columns(order), False
