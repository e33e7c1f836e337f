"""Mixed-teacher curation on the scored sample: argmax per question, correctness, top-k, thresholds, quotas, reasons."""

from __future__ import annotations

from collections import Counter

import pytest
from datasets import Dataset

from hf_localnat.errors import ColumnError, ConfigError
from hf_localnat.selection.layout import question_id
from hf_localnat.selection.select import REJECTION_REASONS, mix_report, select_responses


def _best(rows, by, keep=lambda r: True):
    """Plain reference: per question, the row with the highest `by` among rows passing `keep`."""
    best = {}
    for r in rows:
        if r[by] is not None and keep(r) and (r["question_id"] not in best or r[by] > best[r["question_id"]][by]):
            best[r["question_id"]] = r
    return {q: r["teacher"] for q, r in best.items()}


def _check_nothing_lost(selection, dataset):
    assert selection.selected.num_rows + selection.rejected.num_rows == dataset.num_rows
    keys = lambda d: Counter(zip(d["question_id"], d["teacher"], d["response"], strict=True))  # noqa: E731
    assert keys(selection.selected) + keys(selection.rejected) == keys(dataset)
    assert set(selection.rejected["rejection_reason"]) <= set(REJECTION_REASONS)


@pytest.mark.parametrize("by", ["lalp", "galp"])
def test_best_per_question_matches_a_plain_argmax(scored_sample, by):
    rows = list(scored_sample)
    selection = select_responses(scored_sample, by=by)
    assert {r["question_id"]: r["teacher"] for r in selection.selected} == _best(rows, by)
    assert set(selection.selected["selected_by"]) == {by} and set(selection.selected["selection_rank"]) == {1}
    assert Counter(selection.rejected["rejection_reason"]) == {f"lower_{by}": 24}
    assert selection.selected[0]["selection_reason"] == f"best {by} among 4 responses for q01"
    _check_nothing_lost(selection, scored_sample)


def test_correctness_column_restricts_the_candidates(scored_sample):
    rows = list(scored_sample)
    selection = select_responses(scored_sample, correct_column="correct")
    assert all(selection.selected["correct"])
    assert {r["question_id"]: r["teacher"] for r in selection.selected} == _best(rows, "lalp", lambda r: r["correct"])
    reasons = Counter(selection.rejected["rejection_reason"])
    assert reasons == {"incorrect": 7, "lower_lalp": 17}
    by_q = {r["question_id"]: r["selection_reason"] for r in selection.selected}
    assert by_q["q01"] == "best lalp among 3 correct responses for q01"
    assert by_q["q03"] == "best lalp among 4 correct responses for q03"  # q03 has no wrong response
    _check_nothing_lost(selection, scored_sample)


def test_top_k_threshold_and_quantile(scored_sample):
    top2 = select_responses(scored_sample, top_k=2, correct_column="correct")
    assert top2.selected.num_rows == 16 and Counter(top2.selected["question_id"]) == {f"q0{i}": 2 for i in range(1, 9)}
    assert all(r["selection_rank"] == 2 and r["selection_reason"].startswith("2nd-best") for r in top2.selected
               if r["selection_rank"] != 1)

    cut = sorted(scored_sample["lalp"])[16]  # the 17th lowest LALP: 16 rows fall below it
    thresholded = select_responses(scored_sample, threshold=cut, top_k=4)
    assert thresholded.selected.num_rows == 16 and min(thresholded.selected["lalp"]) >= cut
    assert Counter(thresholded.rejected["rejection_reason"]) == {"below_threshold": 16}
    assert thresholded.num_questions_without_selection == 8 - len(set(thresholded.selected["question_id"]))

    quantile = select_responses(scored_sample, quantile=0.5, top_k=4)
    assert quantile.selected.num_rows == 16 and quantile.threshold == pytest.approx(
        (sorted(scored_sample["lalp"])[15] + sorted(scored_sample["lalp"])[16]) / 2)


def test_teacher_quota_caps_a_teacher_and_fills_its_questions_from_others(scored_sample):
    free = select_responses(scored_sample, correct_column="correct")
    assert free.teacher_counts["teacher-clear"] == 7
    capped = select_responses(scored_sample, correct_column="correct", teacher_quota={"teacher-clear": 2})
    assert capped.teacher_counts["teacher-clear"] == 2 and capped.selected.num_rows == 8  # every question still kept
    assert Counter(capped.rejected["rejection_reason"])["teacher_quota"] == 5
    # the two clear rows kept are its highest-LALP correct ones (global greedy, best first)
    clear = sorted((r["lalp"] for r in scored_sample if r["teacher"] == "teacher-clear" and r["correct"]), reverse=True)
    assert sorted((r["lalp"] for r in capped.selected if r["teacher"] == "teacher-clear"), reverse=True) == clear[:2]
    every = select_responses(scored_sample, teacher_quota=1)
    assert max(every.teacher_counts.values()) == 1 and every.selected.num_rows == 4
    _check_nothing_lost(capped, scored_sample)


def test_rows_without_score_or_correctness_get_reasons():
    ds = Dataset.from_dict({
        "question": ["a"] * 4 + ["b"], "teacher": ["x", "y", "z", "w", "x"],
        "lalp": [-1.0, None, -0.5, -0.1, -2.0], "galp": [-1.0, None, -0.5, -0.1, -2.0],
        "ok": [True, True, False, None, False],
    })
    selection = select_responses(ds, correct_column="ok")
    assert selection.selected["teacher"] == ["x"] and selection.selected["question_id"] == [question_id("a")]
    assert selection.rejected["rejection_reason"] == ["no_score", "incorrect", "unknown_correctness", "incorrect"]
    assert selection.num_questions_without_selection == 1 and "1 question(s) have no kept response" in selection.summary()


def test_mix_report_counts_both_selections(scored_sample):
    report = mix_report(scored_sample, correct_column="correct")
    for by in ("lalp", "galp"):
        expected = select_responses(scored_sample, by=by, correct_column="correct").teacher_counts
        assert report.counts[by] == expected
        assert sum(report.share(by, t) for t in report.teachers) == pytest.approx(1.0)
    assert report.teachers == ["teacher-clear", "teacher-verbose", "teacher-terse", "teacher-odd"]
    assert "teacher-odd" in report.format_table() and report.to_dict()["lalp"]["teacher-clear"]["count"] == 7


def test_bad_options_are_refused(scored_sample):
    with pytest.raises(ConfigError, match="'lalp'"):
        select_responses(scored_sample, by="score")
    with pytest.raises(ConfigError, match="top_k"):
        select_responses(scored_sample, top_k=0)
    with pytest.raises(ConfigError, match="not both"):
        select_responses(scored_sample, threshold=-2.0, quantile=0.5)
    with pytest.raises(ConfigError, match="not in the data"):
        select_responses(scored_sample, teacher_quota={"nobody": 1})
    with pytest.raises(ColumnError, match="'is_right'"):
        select_responses(scored_sample, correct_column="is_right")
    with pytest.raises(ConfigError, match="do not pass `by`"):
        mix_report(scored_sample, by="lalp")
