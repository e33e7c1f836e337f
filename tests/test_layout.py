"""The long layout: derived question ids and wide -> long."""

from __future__ import annotations

import pytest
from datasets import Dataset

from hf_localnat.errors import ColumnError
from hf_localnat.selection.layout import add_question_ids, question_id, question_ids, wide_to_long


def test_question_id_is_short_stable_and_distinct():
    assert question_id("What is 2 + 2?") == question_id("What is 2 + 2?")
    assert question_id("What is 2 + 2?") != question_id("What is 2 + 3?")
    assert len(question_id("x")) == len("q-") + 12 and question_id(None) == question_id("")


def test_question_ids_prefers_the_dataset_column_and_derives_otherwise():
    ds = Dataset.from_dict({"question": ["a", "b", "a"], "question_id": ["x", "y", "x"]})
    assert question_ids(ds) == ["x", "y", "x"]
    derived = add_question_ids(ds.remove_columns("question_id"))["question_id"]
    assert list(derived) == [question_id("a"), question_id("b"), question_id("a")]
    with pytest.raises(ColumnError, match="'question'"):
        question_ids(Dataset.from_dict({"text": ["a"]}))


def test_wide_to_long_with_teacher_names_correctness_and_missing_cells():
    wide = Dataset.from_dict({
        "question": ["1+1?", "2+2?"], "answer": ["2", "4"],
        "r1": ["It is 2.", "It is 5."], "qwq": [None, "Four."],
        "r1_ok": [True, False], "qwq_ok": [None, True],
    })
    long = wide_to_long(wide, {"r1": "deepseek-r1", "qwq": "qwq-32b"},
                        correct_columns={"r1": "r1_ok", "qwq": "qwq_ok"})
    assert long.column_names == ["question_id", "question", "answer", "teacher", "response", "correct"]
    rows = list(long)
    assert [(r["question"], r["teacher"], r["response"], r["correct"], r["answer"]) for r in rows] == [
        ("1+1?", "deepseek-r1", "It is 2.", True, "2"),
        ("2+2?", "deepseek-r1", "It is 5.", False, "4"),
        ("2+2?", "qwq-32b", "Four.", True, "4"),
    ]
    assert rows[1]["question_id"] == rows[2]["question_id"] == question_id("2+2?")


def test_wide_to_long_names_missing_columns():
    wide = Dataset.from_dict({"question": ["q"], "a": ["x"]})
    with pytest.raises(ColumnError, match="'b'"):
        wide_to_long(wide, ["a", "b"])
    with pytest.raises(ColumnError, match="not teacher columns"):
        wide_to_long(wide.add_column("ok", [True]), ["a"], correct_columns={"z": "ok"})
