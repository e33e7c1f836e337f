"""Conversations as turns (SPEC §9, §14): role names, keys, content parts, OpenAI `tool_calls`, a `tools` column, and
a conversation column in any of the types `datasets` gives it (lists of structs, or its JSON extension type when the
turns have different keys).

Two readers share the rules below:
- `read_turns` / `read_tools`: one conversation (Python values) -> `Turn`s, for agent traces (`segmenter="turns"`);
- `canonical_turns`: a whole column -> Arrow `list<struct<role, content, calls>>` with roles named as in `ROLES`,
  content parts joined and JSON decoded, for the flat reading of SPEC §9 (`io.shapes`). Lists of structs with text
  contents stay in Arrow; other types go through `read_turns`, row by row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROLES: dict[str, str] = {
    "system": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "function_call": "assistant",
    "tool": "tool", "function": "tool", "observation": "tool", "ipython": "tool",
}
"""Role names as read (lower case) -> the role a turn plays (SPEC §14); other names are kept as they are."""
TURN_KEYS: tuple[tuple[str, str], ...] = (("role", "content"), ("from", "value"), ("role", "text"))
"""(role key, content key) of a turn: OpenAI/TRL role/content, ShareGPT from/value, SWE-agent role/text."""
CONVERSATION_COLUMNS: tuple[str, ...] = ("messages", "conversations", "trajectory")
"""Columns searched for turns when an input has no response column."""
INVALID_CONVERSATION = "invalid_conversation"
INVALID_TOOL_CALL = "invalid_tool_call"
TOOL_CALL_ONLY_RESPONSE = "tool_call_only_response"
"""The reason of a flat row whose last assistant turn holds only a tool call (no text to score)."""
CANONICAL_TURN = pa.struct([("role", pa.string()), ("content", pa.string()), ("calls", pa.int64())])
"""A turn as `canonical_turns` gives it: role (`ROLES`), content text (null when it is not text), tool calls."""


class TraceError(ValueError):
    """A conversation that cannot be read; `reason` is its `score_error` (`invalid_conversation`, ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class ToolCall:
    """One OpenAI tool call: its function's `name` and `arguments` (parsed: an object, never a JSON string)."""

    name: str
    arguments: Any

    def as_json(self, *, sort_keys: bool = False) -> str:
        """`json.dumps({"name": NAME, "arguments": ARGS})`, as SPEC §14 writes a call into a content."""
        return json.dumps({"name": self.name, "arguments": self.arguments}, ensure_ascii=False, sort_keys=sort_keys)


@dataclass(frozen=True)
class Turn:
    """One turn: its `role` (`ROLES`), its `content` as text (parts joined; null as `""`), its `tool_calls`, and
    the other keys a template may read (`tool_call_id`, `name`)."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def message(self, *, calls_in_content: bool = False) -> dict:
        """The turn as `apply_chat_template` takes it; with `calls_in_content`, the calls written into the content
        (SPEC §14: `"\\n<tool_call>\\n" + json + "\\n</tool_call>"` per call) and no `tool_calls` key."""
        out: dict[str, Any] = {"role": self.role, "content": self.content, **dict(self.extra)}
        if self.tool_calls and calls_in_content:
            out["content"] = self.content + "".join(f"\n<tool_call>\n{c.as_json()}\n</tool_call>"
                                                    for c in self.tool_calls)
        elif self.tool_calls:
            out["tool_calls"] = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                 for c in self.tool_calls]
        return out


def role_of(name: object) -> str | None:
    """The role a turn's role name plays (`ROLES`, case-insensitive); unknown names are kept in lower case."""
    if not isinstance(name, str):
        return None
    lowered = name.strip().lower()
    return ROLES.get(lowered, lowered)


def content_text(value: object) -> str | None:
    """A turn's content as text (SPEC §9): a string as it is, null as `""`, a list of parts as its text parts joined
    in order with nothing between them (other parts left out); `None` for anything else.

    Example:
        >>> content_text([{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}])
        'ab'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        texts = []
        for part in value:
            if isinstance(part, Mapping) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
        return "".join(texts)
    return None


def parse_arguments(value: object) -> Any:
    """A call's `arguments` as an object: a JSON string is parsed, an object kept, null read as `{}`.

    Raises:
        TraceError: `invalid_tool_call`, a string that is not JSON.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as e:
            raise TraceError(INVALID_TOOL_CALL, f"arguments {value[:60]!r} are not JSON") from e
    return value


def _decoded(value: object) -> object:
    """A JSON string decoded (the JSON extension type of `datasets`, or a column of JSON text); anything else as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _calls(value: object) -> tuple[ToolCall, ...]:
    value = _decoded(value)
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise TraceError(INVALID_TOOL_CALL, "tool_calls is not a list")
    calls = []
    for call in value:
        call = _decoded(call)
        function = call.get("function") if isinstance(call, Mapping) else None
        function = _decoded(function) if function is not None else call  # {"name", "arguments"} without "function"
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise TraceError(INVALID_TOOL_CALL, "a call without a function name")
        calls.append(ToolCall(function["name"], parse_arguments(function.get("arguments"))))
    return tuple(calls)


def read_turn(value: object) -> Turn:
    """One turn (a mapping, or its JSON text) as a `Turn`.

    Raises:
        TraceError: `invalid_conversation` (no role or content key, content that is not text or parts),
            `invalid_tool_call` (arguments that do not parse).
    """
    value = _decoded(value)
    if not isinstance(value, Mapping):
        raise TraceError(INVALID_CONVERSATION, "a turn is not a mapping")
    keys = next(((r, c) for r, c in TURN_KEYS if value.get(r) is not None and c in value), None)
    if keys is None:
        keys = next(((r, c) for r, c in TURN_KEYS if value.get(r) is not None), None)  # a call-only turn: no content
    if keys is None:
        raise TraceError(INVALID_CONVERSATION, "a turn without a role")
    role, content = role_of(value[keys[0]]), content_text(value.get(keys[1]))
    if role is None or content is None:
        raise TraceError(INVALID_CONVERSATION, "a turn whose role or content is not text")
    calls = _calls(value.get("tool_calls"))
    extra = tuple((k, value[k]) for k in ("tool_call_id", "name") if isinstance(value.get(k), str))
    return Turn(role, content, calls, extra)


def read_turns(value: object) -> list[Turn]:
    """A conversation (a list of turns, its JSON text, or an Arrow/numpy list) as `Turn`s.

    Raises:
        TraceError: `invalid_conversation` (not a list of turns, or a turn that cannot be read),
            `invalid_tool_call`.
    """
    value = _decoded(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise TraceError(INVALID_CONVERSATION, "not a non-empty list of turns")
    return [read_turn(turn) for turn in value]


def read_tools(value: object) -> list | None:
    """A `tools` cell: a list of JSON schemas (or its JSON text) for the template; null or empty as `None`.

    Raises:
        TraceError: `invalid_conversation`, a value that is not a list (nor JSON of one).
    """
    value = _decoded(value)
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None
    if not isinstance(value, (list, tuple)):
        raise TraceError(INVALID_CONVERSATION, "the tools value is not a list")
    return [_decoded(tool) for tool in value]


@dataclass(frozen=True)
class RawTrace:
    """One row's conversation and tools as read from its columns, before `read_turns` (what a scorer receives per
    row with `segmenter="turns"`; picklable for the preparing workers)."""

    turns: object
    tools: object = None


# ------------------------------------------------------------------------------------------- whole columns (Arrow)
def is_json_type(arrow_type: pa.DataType) -> bool:
    """Whether `arrow_type` is the JSON extension type (`datasets`' `Json()` feature), whose storage is text."""
    return isinstance(arrow_type, pa.BaseExtensionType) and "json" in arrow_type.extension_name


def struct_turn_keys(arrow_type: pa.DataType) -> tuple[str, str] | None:
    """`(role key, content key)` when `arrow_type` is a list of structs with one of `TURN_KEYS`, else `None`."""
    if not (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)):
        return None
    turn = arrow_type.value_type
    if not pa.types.is_struct(turn):
        return None
    names = {turn.field(i).name for i in range(turn.num_fields)}
    return next(((r, c) for r, c in TURN_KEYS if r in names and c in names), None)


def may_hold_turns(arrow_type: pa.DataType) -> bool:
    """Whether a column of `arrow_type` can hold conversations: lists of turn structs, lists of JSON (turns with
    different keys, as `datasets` types them), or JSON / text (a conversation's JSON text per row)."""
    if struct_turn_keys(arrow_type) is not None or is_json_type(arrow_type):
        return True
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return is_json_type(arrow_type.value_type)
    return False


def _fast_keys(arrow_type: pa.DataType) -> tuple[str, str] | None:
    """The keys of a list-of-structs column whose role and content are text (read in Arrow without a Python loop)."""
    keys = struct_turn_keys(arrow_type)
    if keys is None:
        return None
    turn = arrow_type.value_type
    text = (pa.string(), pa.large_string())
    return keys if turn.field(keys[0]).type in text and turn.field(keys[1]).type in text else None


def _canonical_row(value: object) -> list[dict] | None:
    try:
        turns = read_turns(value)
    except TraceError as e:
        if e.reason != INVALID_TOOL_CALL:
            return None
        turns = _read_without_calls(value)  # the flat reading scores text only: unparsable arguments do not matter
        if turns is None:
            return None
    return [{"role": t.role, "content": t.content, "calls": len(t.tool_calls)} for t in turns]


def _read_without_calls(value: object) -> list[Turn] | None:
    value = _decoded(value)
    try:
        return [read_turn({k: v for k, v in _decoded(t).items() if k != "tool_calls"}) for t in value]
    except (TraceError, AttributeError, TypeError):
        return None


def canonical_turns(column: pa.Array | pa.ChunkedArray | Sequence) -> pa.Array:
    """A conversation column as `list<CANONICAL_TURN>`: roles named as in `ROLES`, contents as text (parts
    joined), the number of tool calls of each turn; a row that cannot be read as turns is null.

    Lists of structs with text roles and contents are read in Arrow; any other type (JSON, content parts, Python
    values) row by row with `read_turns`.

    Example:
        >>> canonical_turns([[{"from": "human", "value": "Q"}, {"from": "gpt", "value": [{"type": "text", "text": "A"}]}]]).to_pylist()
        [[{'role': 'user', 'content': 'Q', 'calls': 0}, {'role': 'assistant', 'content': 'A', 'calls': 0}]]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.Array):
        keys = _fast_keys(column.type)
        if keys is not None:
            return _canonical_structs(column, keys)
        values = column.to_pylist()
    else:
        values = list(column)
    return pa.array([_canonical_row(v) for v in values], pa.list_(CANONICAL_TURN))


def _canonical_structs(lists: pa.Array, keys: tuple[str, str]) -> pa.Array:
    first, last = lists.offsets[0].as_py(), lists.offsets[-1].as_py()
    turns = lists.values.slice(first, last - first)  # every turn, also those under a null row (kept aligned)
    names = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(pc.struct_field(turns, keys[0]), pa.string())))
    known = pa.array(list(ROLES), pa.string())
    roles = pc.coalesce(pa.array(list(ROLES.values()), pa.string()).take(pc.index_in(names, known)), names)
    contents = pc.cast(pc.struct_field(turns, keys[1]), pa.string())
    turn_type = lists.type.value_type
    if turn_type.get_field_index("tool_calls") >= 0 and (pa.types.is_list(turn_type.field("tool_calls").type)
                                                         or pa.types.is_large_list(turn_type.field("tool_calls").type)):
        calls = pc.fill_null(pc.list_value_length(pc.struct_field(turns, "tool_calls")), 0)
    else:
        calls = pa.array(np.zeros(len(turns), dtype=np.int64))
    calls = pc.cast(calls, pa.int64())
    contents = pc.if_else(pc.and_(pc.is_null(contents), pc.greater(calls, 0)), "", contents)  # a call-only turn
    structs = pa.StructArray.from_arrays([roles, contents, calls], fields=list(CANONICAL_TURN))
    offsets = pc.subtract(lists.offsets, first) if first else lists.offsets
    return pa.ListArray.from_arrays(offsets, structs, type=pa.list_(CANONICAL_TURN), mask=lists.is_null())


def _has_json(arrow_type: pa.DataType) -> bool:
    if is_json_type(arrow_type):
        return True
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _has_json(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return any(_has_json(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
    return False


def python_values(column: pa.Array | pa.ChunkedArray) -> list:
    """An Arrow column as Python values, with every JSON-typed value (at any depth) decoded, as `datasets` decodes
    its `Json()` feature: what a conversation or tools cell holds when a batch comes as Arrow."""
    if isinstance(column, pa.ChunkedArray):
        return [v for chunk in column.chunks for v in python_values(chunk)]
    arrow_type = column.type
    if not _has_json(arrow_type):
        return column.to_pylist()
    valid = column.is_valid().to_pylist()
    if is_json_type(arrow_type):
        return [json.loads(v) if v is not None else None for v in column.storage.to_pylist()]
    if pa.types.is_struct(arrow_type):
        fields = {arrow_type.field(i).name: python_values(column.field(i)) for i in range(arrow_type.num_fields)}
        return [{k: v[r] for k, v in fields.items()} if valid[r] else None for r in range(len(column))]
    offsets = column.offsets.to_pylist()
    values = python_values(column.values.slice(offsets[0], offsets[-1] - offsets[0]))
    return [values[offsets[r] - offsets[0]:offsets[r + 1] - offsets[0]] if valid[r] else None
            for r in range(len(column))]
