"""Schema and sanity checks for the bundled multi-teacher sample dataset."""

from collections import defaultdict
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

DATA = Path(__file__).resolve().parents[1] / "hf_localnat" / "data" / "multi_teacher_sample.jsonl"
COLUMNS = {"question_id": str, "question": str, "teacher": str, "response": str, "correct": bool}


@pytest.fixture(scope="module")
def ds():
    return datasets.load_dataset("json", data_files=str(DATA), split="train")


def test_schema(ds):
    assert set(ds.column_names) == set(COLUMNS)
    assert ds.features["correct"].dtype == "bool"
    for col in ("question_id", "question", "teacher", "response"):
        assert ds.features[col].dtype == "string"
    for row in ds:
        for col, typ in COLUMNS.items():
            assert isinstance(row[col], typ), (col, row[col])


def test_grid_8_questions_by_4_teachers(ds):
    assert len(ds) == 32
    qids = sorted(set(ds["question_id"]))
    teachers = sorted(set(ds["teacher"]))
    assert qids == [f"q{i:02d}" for i in range(1, 9)]
    assert len(teachers) == 4
    pairs = list(zip(ds["question_id"], ds["teacher"]))
    assert len(set(pairs)) == len(pairs) == len(qids) * len(teachers)


def test_each_question_consistent_and_has_a_correct_response(ds):
    texts, any_correct = defaultdict(set), defaultdict(bool)
    for row in ds:
        texts[row["question_id"]].add(row["question"])
        any_correct[row["question_id"]] |= row["correct"]
    assert all(len(v) == 1 for v in texts.values()), texts
    assert all(any_correct.values()), any_correct


def test_responses_not_empty(ds):
    assert all(r.strip() for r in ds["response"])
    assert all(q.strip() for q in ds["question"])


def test_mix_of_correct_and_incorrect(ds):
    wrong = ds["correct"].count(False)
    assert 0 < wrong < len(ds) // 2
