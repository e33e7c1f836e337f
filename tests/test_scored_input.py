"""Scored input is checked, not trusted: non-finite scores, non-boolean correctness, conflicting question ids."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ColumnError
from hf_localnat.selection.rank import rank_teachers
from hf_localnat.selection.select import select_responses


def _rows(lalps, *, teachers=("a", "b"), questions=("q1", "q2"), correct=None) -> Dataset:
    """Every teacher answers every question; `lalps` in (question, teacher) order."""
    rows = {"question": [], "teacher": [], "lalp": [], "galp": []}
    it = iter(lalps)
    for q in questions:
        for t in teachers:
            score = next(it)
            rows["question"].append(q)
            rows["teacher"].append(t)
            rows["lalp"].append(score)
            rows["galp"].append(score if score is None or math.isfinite(score) else -1.0)
    if correct is not None:
        rows["correct"] = correct
    return Dataset.from_dict(rows)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_score_is_never_selected_and_gets_its_reason(bad):
    ds = _rows([bad, -2.0, -1.0, -3.0])  # q1: a=bad, b=-2; q2: a=-1, b=-3
    selection = select_responses(ds)
    kept = {(r["question"], r["teacher"]) for r in selection.selected}
    assert kept == {("q1", "b"), ("q2", "a")}  # +inf would have won q1 if it counted as a score
    reasons = {(r["question"], r["teacher"]): r["rejection_reason"] for r in selection.rejected}
    assert reasons[("q1", "a")] == "non_finite_score"
    assert reasons[("q2", "b")] == "lower_lalp"


def test_a_null_score_stays_no_score():
    selection = select_responses(_rows([None, -2.0, -1.0, -3.0]))
    assert {r["rejection_reason"] for r in selection.rejected if r["teacher"] == "a"} == {"no_score"}


def test_ranking_treats_non_finite_as_unscored():
    # q1: teacher a has only an inf score, so q1 is not a question every teacher answered with a score
    ranking = rank_teachers(_rows([math.inf, -2.0, -1.0, -3.0]), num_resamples=50)
    assert ranking.num_questions == 1
    means = {t.teacher: t.mean_lalp for t in ranking.teachers}
    assert means == {"a": -1.0, "b": -3.0}


@pytest.mark.parametrize("values", [["yes", "no", "yes", "no"], [1, 0, 1, 0], [1.0, 0.0, 1.0, 0.0]])
def test_a_correctness_column_that_is_not_boolean_is_refused(values):
    ds = _rows([-1.0, -2.0, -1.0, -3.0], correct=values)
    with pytest.raises(ColumnError, match="accepted values are true, false and null"):
        select_responses(ds, correct_column="correct")


def test_boolean_correctness_with_nulls_is_accepted():
    ds = _rows([-1.0, -2.0, -1.0, -3.0], correct=[False, True, None, True])
    kept = {(r["question"], r["teacher"]) for r in select_responses(ds, correct_column="correct").selected}
    assert kept == {("q1", "b"), ("q2", "b")}


def test_one_question_id_for_two_texts_is_refused_with_counts():
    ds = _rows([-1.0, -2.0, -1.0, -3.0]).add_column("question_id", ["same"] * 4)
    with pytest.raises(ColumnError, match=r"'same' is used for 2 different question texts \(1 conflicting ids, 4 rows\)"):
        select_responses(ds)
    with pytest.raises(ColumnError, match="different question texts"):
        rank_teachers(ds, num_resamples=10)


def test_the_cli_says_it_in_one_line(tmp_path):
    path = tmp_path / "scored.parquet"
    _rows([-1.0, -2.0, -1.0, -3.0], correct=["yes", "no", "yes", "no"]).to_parquet(str(path))
    result = CliRunner().invoke(main, ["select", str(path), "-o", str(tmp_path / "kept.parquet"),
                                       "--correct-column", "correct"])
    assert result.exit_code != 0
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1 and "accepted values are true, false and null" in error_lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "kept.parquet").exists()
