"""Scored input is checked, not trusted: NaN/inf scores count as no score (with a reason), a correctness column must
be boolean, and one question id may not name two different questions. Expected values are computed independently
from the rows, with plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ColumnError, SelectionError
from hf_localnat.io import load_input, save_output
from hf_localnat.selection.rank import rank_teachers
from hf_localnat.selection.select import select_responses

NAN, INF = float("nan"), float("inf")
ROWS = {
    "question_id": ["q1", "q1", "q1", "q2", "q2", "q2", "q3", "q3", "q3"],
    "question": ["one?"] * 3 + ["two?"] * 3 + ["three?"] * 3,
    "teacher": ["a", "b", "c"] * 3,
    "lalp": [NAN, -1.0, -2.0, INF, -3.0, -0.5, -1.5, -INF, None],
    "galp": [-1.0, -1.2, -1.1, -0.9, -2.0, -0.4, -1.0, -1.1, None],
    "correct": [True, True, True, True, True, True, True, True, False],
}


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def test_non_finite_scores_are_never_selected_and_say_why():
    selection = select_responses(Dataset.from_dict(ROWS))
    expected = {}  # per question, the input row with the highest finite LALP
    for i, (qid, score) in enumerate(zip(ROWS["question_id"], ROWS["lalp"], strict=True)):
        if _finite(score) and (qid not in expected or score > ROWS["lalp"][expected[qid]]):
            expected[qid] = i
    assert selection.selected["lalp"] == [ROWS["lalp"][i] for i in expected.values()]
    rejected = selection.rejected.to_list()
    non_finite = [r for r in rejected if r["rejection_reason"] == "non_finite_score"]
    assert len(non_finite) == sum(v is not None and not math.isfinite(v) for v in ROWS["lalp"]) == 3
    assert [r["rejection_reason"] for r in rejected if r["lalp"] is None] == ["no_score"]


def test_the_ranking_counts_non_finite_scores_as_unscored():
    rows = {"question_id": ["q1", "q1", "q2", "q2", "q3", "q3"], "teacher": ["a", "b"] * 3,
            "lalp": [NAN, -1.0, -1.0, -2.0, -3.0, -4.0], "galp": [-1.0, -1.0, -1.0, INF, -3.5, -3.0]}
    ranking = rank_teachers(Dataset.from_dict(rows), num_resamples=20)
    usable = [_finite(l) and _finite(g) for l, g in zip(rows["lalp"], rows["galp"], strict=True)]
    questions = [q for q in dict.fromkeys(rows["question_id"])
                 if all(usable[i] for i, x in enumerate(rows["question_id"]) if x == q)]
    assert ranking.num_questions == len(questions) == 1
    assert ranking.num_non_finite == usable.count(False) == 2
    for t in ranking.teachers:  # the means are those of the one usable question
        i = [k for k, (q, who) in enumerate(zip(rows["question_id"], rows["teacher"], strict=True))
             if q == questions[0] and who == t.teacher][0]
        assert (t.mean_lalp, t.mean_galp) == (rows["lalp"][i], rows["galp"][i])
    assert ranking.dropped_counts == {"missing_teacher": 0, "unscored_response": 2}
    assert "2 response(s) with a NaN or infinite score were counted as unscored." in ranking.format_table()
    assert ranking.to_dict()["num_non_finite"] == 2


def test_ranking_means_ignore_a_nan_row_of_a_teacher_with_another_answer():
    rows = {"question": ["a", "a", "a", "b", "b"], "teacher": ["x", "x", "y", "x", "y"],
            "lalp": [NAN, -1.0, -2.0, -3.0, -4.0], "galp": [-1.0, -1.0, -2.0, -3.0, -4.0]}
    ranking = rank_teachers(Dataset.from_dict(rows), num_resamples=20)
    x = next(t for t in ranking.teachers if t.teacher == "x")
    assert x.mean_lalp == pytest.approx(np.mean([-1.0, -3.0])) and x.num_responses == 2
    assert ranking.num_questions == 2 and ranking.num_non_finite == 1


@pytest.mark.parametrize("values, shown", [(["yes", "no", "yes"], "'yes'"), ([1, 0, 1], "1"),
                                           ([1.0, 0.0, None], "1.0")])
def test_a_correctness_column_that_is_not_boolean_is_refused(tmp_path, values, shown):
    rows = {"question": ["a", "a", "b"], "teacher": ["x", "y", "x"], "lalp": [-1.0, -2.0, -1.0],
            "galp": [-1.0, -2.0, -1.0], "correct": values}
    with pytest.raises(ColumnError, match="accepted values are true, false, and null"):
        select_responses(Dataset.from_dict(rows), correct_column="correct")
    scored = save_output(Dataset.from_dict(rows), tmp_path / "s.parquet")
    result = CliRunner().invoke(main, ["select", str(scored), "-o", str(tmp_path / "o.jsonl"),
                                       "--correct-column", "correct"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: Correctness column 'correct' holds" in result.output and shown in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_a_boolean_or_all_missing_correctness_column_is_accepted():
    rows = {"question": ["a", "a"], "teacher": ["x", "y"], "lalp": [-1.0, -2.0], "galp": [-1.0, -2.0]}
    assert select_responses(Dataset.from_dict({**rows, "ok": [False, True]}), correct_column="ok"
                            ).selected["teacher"] == ["y"]
    assert select_responses(Dataset.from_dict({**rows, "ok": [None, None]}), correct_column="ok"
                            ).reason_counts == {"unknown_correctness": 2}


def test_one_question_id_for_two_questions_is_an_error_with_counts(tmp_path):
    rows = dict(ROWS, question=["one?", "one?", "uno?"] + ["two?"] * 3 + ["three?", "3?", "three?"])
    for call in (lambda d: select_responses(d), lambda d: rank_teachers(d, num_resamples=5)):
        with pytest.raises(SelectionError, match=r"'q1' is used for 2 different question texts \(2 conflicting ids, "
                                                 r"6 rows\)"):
            call(Dataset.from_dict(rows))
    scored = save_output(Dataset.from_dict(rows), tmp_path / "s.parquet")
    for command in (["rank-teachers", str(scored)], ["select", str(scored), "-o", str(tmp_path / "o.parquet")]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and "Error: Question id 'q1' is used for 2" in result.output
        assert "Traceback" not in result.output
    # without the id column, ids come from the text and nothing conflicts
    plain = Dataset.from_dict(rows).remove_columns("question_id")
    assert select_responses(plain).num_questions == len(set(rows["question"]))


def test_a_score_column_that_is_not_numeric_is_refused(tmp_path):
    rows = {"question": ["a"], "teacher": ["x"], "lalp": ["-1.0"], "galp": ["-1.0"]}
    with pytest.raises(ColumnError, match="must hold numbers"):
        select_responses(Dataset.from_dict(rows))
    assert load_input(str(save_output(Dataset.from_dict(rows), tmp_path / "s.jsonl"))).num_rows == 1
