"""The long layout: derived question ids (every shape -> long rows is tests/test_shapes.py)."""

from __future__ import annotations

import pytest
from datasets import Dataset

from hf_localnat.errors import ColumnError
from hf_localnat.selection.layout import add_question_ids, question_id, question_ids


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
