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


def _greedy(rows, by, quota, keep=lambda r: True):
    """Plain reference of a teacher quota: candidates best first across all questions; a row is kept when its
    question has none yet and its teacher is under quota. Returns the kept rows' teachers per question and how many
    rows lost their place to the quota (they were the best left for a question still open)."""
    kept, used, quota_rejected = {}, Counter(), 0
    for r in sorted((r for r in rows if r[by] is not None and keep(r)), key=lambda r: -r[by]):
        if r["question_id"] in kept:
            continue
        if used[r["teacher"]] >= quota.get(r["teacher"], float("inf")):
            quota_rejected += 1
            continue
        kept[r["question_id"]] = r["teacher"]
        used[r["teacher"]] += 1
    return kept, quota_rejected


def teacher_means(rows, by="lalp"):
    """Plain reference: each teacher's mean score (every teacher answers every question once in the sample)."""
    scores = {}
    for r in rows:
        scores.setdefault(r["teacher"], []).append(r[by])
    return {t: sum(v) / len(v) for t, v in scores.items()}


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
    questions = Counter(r["question_id"] for r in rows)
    assert Counter(selection.rejected["rejection_reason"]) == {f"lower_{by}": len(rows) - len(questions)}
    assert selection.selected[0]["selection_reason"] == f"best {by} among {questions['q01']} responses for q01"
    _check_nothing_lost(selection, scored_sample)


def test_correctness_column_restricts_the_candidates(scored_sample):
    rows = list(scored_sample)
    selection = select_responses(scored_sample, correct_column="correct")
    assert all(selection.selected["correct"])
    assert {r["question_id"]: r["teacher"] for r in selection.selected} == _best(rows, "lalp", lambda r: r["correct"])
    correct = Counter(r["question_id"] for r in rows if r["correct"])
    incorrect = sum(not r["correct"] for r in rows)
    reasons = Counter(selection.rejected["rejection_reason"])
    assert reasons == {"incorrect": incorrect, "lower_lalp": len(rows) - incorrect - len(correct)}
    by_q = {r["question_id"]: r["selection_reason"] for r in selection.selected}
    for q, n in correct.items():
        assert by_q[q] == f"best lalp among {n} correct responses for {q}"
    assert incorrect and min(correct.values()) < max(correct.values())  # the sample has both kinds of question
    _check_nothing_lost(selection, scored_sample)


def test_top_k_threshold_and_quantile(scored_sample):
    correct = Counter(r["question_id"] for r in scored_sample if r["correct"])
    top2 = select_responses(scored_sample, top_k=2, correct_column="correct")
    assert Counter(top2.selected["question_id"]) == {q: min(2, n) for q, n in correct.items()}
    assert all(r["selection_rank"] == 2 and r["selection_reason"].startswith("2nd-best") for r in top2.selected
               if r["selection_rank"] != 1)

    lalps = sorted(scored_sample["lalp"])
    half = len(lalps) // 2
    cut = lalps[half]  # `half` rows fall below it
    top_all = max(Counter(scored_sample["question_id"]).values())
    thresholded = select_responses(scored_sample, threshold=cut, top_k=top_all)
    assert thresholded.selected.num_rows == len(lalps) - half and min(thresholded.selected["lalp"]) >= cut
    assert Counter(thresholded.rejected["rejection_reason"]) == {"below_threshold": half}
    questions = set(scored_sample["question_id"])
    assert thresholded.num_questions_without_selection == len(questions - set(thresholded.selected["question_id"]))

    quantile = select_responses(scored_sample, quantile=0.5, top_k=top_all)
    assert quantile.selected.num_rows == len(lalps) - half and quantile.threshold == pytest.approx(
        (lalps[half - 1] + lalps[half]) / 2)


def test_teacher_quota_caps_a_teacher_and_fills_its_questions_from_others(scored_sample):
    rows = list(scored_sample)
    is_correct = lambda r: r["correct"]  # noqa: E731
    free = select_responses(scored_sample, correct_column="correct")
    assert {t: n for t, n in free.teacher_counts.items() if n} == Counter(_best(rows, "lalp", is_correct).values())
    top = max(free.teacher_counts, key=free.teacher_counts.get)  # the teacher the quota will bite
    assert free.teacher_counts[top] > 2
    capped = select_responses(scored_sample, correct_column="correct", teacher_quota={top: 2})
    kept, quota_rejected = _greedy(rows, "lalp", {top: 2}, is_correct)
    assert {r["question_id"]: r["teacher"] for r in capped.selected} == kept
    assert capped.teacher_counts[top] == 2 and capped.selected.num_rows == len(_best(rows, "lalp", is_correct))
    assert Counter(capped.rejected["rejection_reason"])["teacher_quota"] == quota_rejected
    # the two clear rows kept are its highest-LALP correct ones (global greedy, best first)
    clear = sorted((r["lalp"] for r in scored_sample if r["teacher"] == top and r["correct"]), reverse=True)
    assert sorted((r["lalp"] for r in capped.selected if r["teacher"] == top), reverse=True) == clear[:2]
    every = select_responses(scored_sample, teacher_quota=1)
    kept, _ = _greedy(rows, "lalp", {t: 1 for t in set(scored_sample["teacher"])})
    assert {r["question_id"]: r["teacher"] for r in every.selected} == kept and max(every.teacher_counts.values()) == 1
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
    assert selection.num_questions_without_selection == 1 and "1 question has no kept response" in selection.summary()


def test_mix_report_counts_both_selections(scored_sample):
    report = mix_report(scored_sample, correct_column="correct")
    for by in ("lalp", "galp"):
        expected = select_responses(scored_sample, by=by, correct_column="correct").teacher_counts
        assert report.counts[by] == expected
        assert sum(report.share(by, t) for t in report.teachers) == pytest.approx(1.0)
    rows = list(scored_sample)
    assert report.teachers == list(dict.fromkeys(r["teacher"] for r in rows))
    expected = Counter(_best(rows, "lalp", lambda r: r["correct"]).values())
    assert all(report.to_dict()["lalp"][t]["count"] == expected[t] for t in report.teachers)
    assert all(t in report.format_table() for t in report.teachers)


def test_bad_options_are_refused(scored_sample):
    with pytest.raises(ConfigError, match="no known direction; declare it with --direction score=higher"):
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
