"""Reading conversations as turns (SPEC §9's content parts, §14's roles, keys and tool calls): the fixtures in both
Hub shapes, a `messages` column that `datasets` types as JSON, and the reasons of rows that cannot be read."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from datasets import Dataset, load_dataset

from hf_localnat.data.make_agent_traces import OPENAI_PATH, SHAREGPT_PATH, main as check_fixtures
from hf_localnat.io.shapes import batch_texts, read_conversations, to_long
from hf_localnat.io.turns import (INVALID_TOOL_CALL, RawTrace, TraceError, canonical_turns, python_values,
                                  read_tools, read_turns)

CALL = {"type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}
TRACE = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "Fix the bug."},
    {"role": "assistant", "content": "Let me look.", "tool_calls": [CALL]},
    {"role": "tool", "content": "a.py", "tool_call_id": "c1"},
    {"role": "assistant", "content": "Done."},
]


def _jsonl(tmp_path, rows, name="t.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_dataset("json", data_files=str(path), split="train")


def test_the_fixture_files_are_up_to_date():
    assert check_fixtures(["--check"]) == 0


def test_a_json_typed_messages_column_reads_with_and_without_messages_column(tmp_path):
    rows = [{"messages": TRACE, "model": "a"},
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "image"},
                                                       {"type": "text", "text": "!"}]},
                          {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}], "model": "b"}]
    ds = _jsonl(tmp_path, rows)
    assert "extension" in str(ds.data.schema.field("messages").type)  # datasets types it as JSON: the bug's shape
    for kwargs in ({}, {"messages_column": "messages"}):
        long = to_long(ds, **kwargs)
        got = long.dataset.select_columns(["question", "response", "input_error"]).to_list()
        assert got == [{"question": "Fix the bug.", "response": "Done.", "input_error": None},
                       {"question": "Q!", "response": "ok", "input_error": None}]  # content parts joined
        assert "left out of the score, per row on average: 0.5 assistant, 0.5 tool and 0.5 other turns" \
            in long.describe() and "--segmenter turns" in long.describe()
    # the map door reads the same batch, as Python values and as Arrow
    for batch in (ds[:], ds.with_format("arrow")[:]):
        names = list(batch.keys()) if isinstance(batch, dict) else batch.column_names
        get = (lambda n: batch.get(n)) if isinstance(batch, dict) else \
            (lambda n: batch.column(n) if n in batch.column_names else None)
        texts = batch_texts(get, names, question_column="question", response_column="response")
        assert texts.responses == ["Done.", "ok"] and texts.questions == ["Fix the bug.", "Q!"]


def test_a_last_assistant_turn_with_only_a_call_has_its_own_reason():
    trace = [*TRACE[:4], {"role": "assistant", "content": None, "tool_calls": [CALL]}]
    conversations = read_conversations([trace, TRACE])
    assert conversations.errors.to_pylist() == ["tool_call_only_response", None]


def test_roles_keys_and_calls():
    turns = read_turns([{"from": "human", "value": "Q"}, {"from": "function_call", "value": "x"},
                        {"from": "observation", "value": "o"}, {"role": "ipython", "text": "t"},
                        {"role": "gpt", "content": "", "tool_calls": [
                            {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}},
                            {"function": {"name": "g", "arguments": "[1, 2]"}}]}])
    assert [t.role for t in turns] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [(c.name, c.arguments) for c in turns[-1].tool_calls] == [("f", {"a": 1}), ("g", [1, 2])]
    message = turns[-1].message(calls_in_content=True)
    assert message == {"role": "assistant", "content": '\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n'
                                                       '</tool_call>\n<tool_call>\n{"name": "g", "arguments": [1, 2]}'
                                                       '\n</tool_call>'}
    with pytest.raises(TraceError) as error:
        read_turns([{"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "f", "arguments": "{not json"}}]}])
    assert error.value.reason == INVALID_TOOL_CALL
    assert read_tools('[{"type": "function"}]') == [{"type": "function"}] and read_tools(None) is None
    assert canonical_turns([[{"role": "assistant", "text": "x"}], "not turns"]).to_pylist() == [
        [{"role": "assistant", "content": "x", "calls": 0}], None]


def test_both_fixture_shapes_read_as_traces():
    openai = load_dataset("json", data_files=str(OPENAI_PATH), split="train")
    long = to_long(openai, turns=True, teacher_column="model")
    assert long.describe().startswith("Read agent traces in 'messages': question = first user turn")
    assert set(long.dataset["teacher"]) == {"teacher-careful", "teacher-looping", "teacher-sloppy"}
    assert long.dataset["input_error"] == [None] * 12
    paired = to_long(openai, turns=True, question_column="instance_id")
    assert paired.dataset["question"][0] == "calc__add-1" and "pairs the teachers' traces" in paired.describe()
    flat = to_long(openai).dataset
    assert flat["input_error"].count("tool_call_only_response") == 1  # the looping teacher's last trace
    sharegpt = load_dataset("json", data_files=str(SHAREGPT_PATH), split="train")
    assert to_long(sharegpt, turns=True).dataset["question"][0].startswith("Task: ")
    table = openai.with_format("arrow")[:1]
    traces = batch_texts(lambda n: table.column(n) if n in table.column_names else None, table.column_names,
                         question_column="question", response_column="response", turns=True).responses
    assert isinstance(traces[0], RawTrace) and traces[0].tools[0]["function"]["name"] == "bash"
    assert [t.role for t in read_turns(traces[0].turns)][:3] == ["system", "user", "assistant"]


def test_a_trajectory_column_and_a_json_column_of_whole_conversations():
    ds = Dataset.from_list([{"trajectory": [{"role": t["role"], "content": t["content"]} for t in TRACE]}])
    assert to_long(ds).dataset["response"] == ["Done."]
    text = Dataset.from_dict({"conversation": [json.dumps(TRACE)]})  # JSON text, named
    assert to_long(text, messages_column="conversation").dataset["response"] == ["Done."]
    column = pa.array([json.dumps(TRACE)], pa.json_(pa.string())) if hasattr(pa, "json_") else None
    if column is not None:
        assert python_values(column)[0] == TRACE
