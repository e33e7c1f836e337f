"""The columnar ranking and selection give exactly what a plain per-row walk over the rows gives, on random data with
ties, missing and NaN scores, missing teachers, repeated answers and a correctness column with gaps."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from datasets import Dataset

from hf_localnat.selection.layout import question_id
from hf_localnat.selection.rank import _bootstrap_means, rank_teachers
from hf_localnat.selection.select import select_responses


def _has(x) -> bool:
    return x is not None and math.isfinite(x)


def _random_rows(seed: int, num_questions: int = 60, teachers: int = 4) -> dict:
    """Long rows with every awkward case: ties (scores on a coarse grid), None and NaN, unanswered and repeated
    questions, correct = True / False / None, and a question answered only by an unranked teacher."""
    rng = np.random.default_rng(seed)
    rows = {"question": [], "teacher": [], "response": [], "lalp": [], "galp": [], "correct": []}
    for q in range(num_questions):
        for t in range(teachers):
            for repeat in range(int(rng.choice([0, 1, 1, 1, 2]))):
                rows["question"].append(f"question {q}" if q % 7 else None if q == 0 else f"question {q} ")
                rows["teacher"].append(f"t{t}")
                rows["response"].append(f"r{q}-{t}-{repeat}")
                for score in ("lalp", "galp"):
                    kind = rng.random()
                    rows[score].append(None if kind < 0.06 else float("nan") if kind < 0.1
                                       else float(np.round(rng.normal(-1.5, 0.5), 1)))  # coarse grid: many ties
                rows["correct"].append([True, True, False, None][int(rng.integers(4))])
    rows["question"].append("only the extra teacher")
    rows["teacher"].append("extra")
    rows["response"].append("x")
    rows["lalp"].append(-1.0)
    rows["galp"].append(-1.0)
    rows["correct"].append(True)
    order = rng.permutation(len(rows["teacher"]))  # rows in no particular order
    return {k: [v[i] for i in order] for k, v in rows.items()}


# --- plain per-row references -------------------------------------------------------------------------------------

def _reference_ranking_values(rows: dict, teachers: list[str]):
    """(kept question ids, per-question mean matrix (Q, 2T), scored responses per teacher, dropped list)."""
    qids = [question_id(q) for q in rows["question"]]
    cells: dict = {}
    order: dict = {}
    for qid, teacher, lalp, galp in zip(qids, rows["teacher"], rows["lalp"], rows["galp"], strict=True):
        order.setdefault(qid)
        if teacher not in teachers:
            continue
        cell = cells.setdefault((qid, teacher), [0.0, 0.0, 0, 0])
        cell[3] += 1
        if _has(lalp) and _has(galp):
            cell[0] += lalp
            cell[1] += galp
            cell[2] += 1
    kept, dropped = [], []
    for qid in order:
        missing = tuple(t for t in teachers if (qid, t) not in cells)
        unscored = tuple(t for t in teachers if (qid, t) in cells and cells[qid, t][2] == 0)
        if missing:
            dropped.append((qid, "missing_teacher", missing))
        elif unscored:
            dropped.append((qid, "unscored_response", unscored))
        else:
            kept.append(qid)
    values = np.array([[cells[q, t][0] / cells[q, t][2] for t in teachers] +
                       [cells[q, t][1] / cells[q, t][2] for t in teachers] for q in kept])
    responses = [sum(cells[q, t][2] for q in kept) for t in teachers]
    return kept, values, responses, dropped


def _reference_selection(rows: dict, *, by: str, top_k: int = 1, correct: bool = False, threshold=None,
                         quantile=None, quotas=None):
    """The selection rules walked row by row: (kept rows as (index, rank, reason text), reasons of all rows)."""
    qids = [question_id(q) for q in rows["question"]]
    scores = rows[by]
    reasons: list = [None] * len(scores)
    for i, score in enumerate(scores):
        if score is None:
            reasons[i] = "no_score"
        elif not _has(score):
            reasons[i] = "non_finite_score"
        elif correct and rows["correct"][i] is not True:
            reasons[i] = "unknown_correctness" if rows["correct"][i] is None else "incorrect"
    candidates = [i for i, r in enumerate(reasons) if r is None]
    if quantile is not None:
        threshold = float(np.quantile([scores[i] for i in candidates], quantile))
    if threshold is not None:
        for i in candidates:
            if scores[i] < threshold:
                reasons[i] = "below_threshold"
        candidates = [i for i in candidates if reasons[i] is None]
    best_first = sorted(candidates, key=lambda i: -scores[i])
    per_question: dict = {}
    for i in best_first:
        per_question.setdefault(qids[i], []).append(i)
    kept_q, kept_t, ranks = Counter(), Counter(), {}
    for i in best_first:
        if kept_q[qids[i]] >= top_k:
            reasons[i] = f"lower_{by}"
        elif quotas and rows["teacher"][i] in quotas and kept_t[rows["teacher"][i]] >= quotas[rows["teacher"][i]]:
            reasons[i] = "teacher_quota"
        else:
            kept_q[qids[i]] += 1
            kept_t[rows["teacher"][i]] += 1
            ranks[i] = per_question[qids[i]].index(i) + 1
    first = {q: n for n, q in enumerate(dict.fromkeys(qids))}
    kept = sorted(ranks, key=lambda i: (first[qids[i]], ranks[i]))
    ordinal = {1: "best", 2: "2nd-best", 3: "3rd-best"}
    out = []
    for i in kept:
        n = len(per_question[qids[i]])
        text = (f"{ordinal.get(ranks[i], f'{ranks[i]}th-best')} {by} among {n} {'correct ' if correct else ''}"
                f"response{'s' if n != 1 else ''} for {qids[i]}")
        out.append((i, ranks[i], text))
    return out, reasons


# --- equivalence --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_equals_the_per_row_reference(seed):
    rows = _random_rows(seed)
    teachers = ["t0", "t1", "t2", "t3"]
    ranking = rank_teachers(Dataset.from_dict(rows), teachers=teachers, num_resamples=300, seed=seed)
    kept, values, responses, dropped = _reference_ranking_values(rows, teachers)
    assert ranking.num_questions == len(kept) and 0 < len(kept) < 60
    assert [(d.question_id, d.reason, d.teachers) for d in ranking.dropped] == dropped
    assert {d.reason for d in ranking.dropped} == {"missing_teacher", "unscored_response"}
    boot = _bootstrap_means(values, 300, np.random.default_rng(seed))
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    means = values.mean(axis=0)
    for i, t in enumerate(teachers):
        line = next(s for s in ranking.teachers if s.teacher == t)
        assert line.num_responses == responses[i]
        assert (line.mean_lalp, line.mean_galp) == (means[i], means[4 + i])  # bit for bit: same sums in row order
        # the bootstrap's matrix product may round differently with the array's memory alignment: 1e-12, not bits
        np.testing.assert_allclose(line.lalp_ci + line.galp_ci, (low[i], high[i], low[4 + i], high[4 + i]),
                                   rtol=0, atol=1e-12)
    expected_order = [teachers[i] for i in np.argsort(-means[:4], kind="stable")]
    assert ranking.order("lalp") == expected_order


OPTIONS = [
    dict(),
    dict(correct=True),
    dict(top_k=2, correct=True),
    dict(top_k=3, threshold=-1.6),
    dict(quantile=0.3, correct=True),
    dict(quotas={"t0": 3, "t2": 0}),
    dict(top_k=2, quotas={"t0": 5, "t1": 4, "t2": 6, "t3": 2}, correct=True),
]


@pytest.mark.parametrize("by", ["lalp", "galp"])
@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_selection_equals_the_per_row_reference(by, options):
    rows = _random_rows(11)
    expected, reasons = _reference_selection(rows, by=by, **options)
    selection = select_responses(
        Dataset.from_dict(rows), by=by, top_k=options.get("top_k", 1),
        correct_column="correct" if options.get("correct") else None, threshold=options.get("threshold"),
        quantile=options.get("quantile"), teacher_quota=options.get("quotas"))
    selected = selection.selected
    assert selected["response"] == [rows["response"][i] for i, _, _ in expected]
    assert selected["selection_rank"] == [rank for _, rank, _ in expected]
    assert selected["selection_reason"] == [text for _, _, text in expected]
    rejected = [i for i, r in enumerate(reasons) if r is not None]
    assert selection.rejected["response"] == [rows["response"][i] for i in rejected]
    assert selection.rejected["rejection_reason"] == [reasons[i] for i in rejected]
    assert selection.reason_counts == dict(Counter(reasons[i] for i in rejected))
    kept_teachers = Counter(rows["teacher"][i] for i, _, _ in expected)
    assert selection.teacher_counts == {t: kept_teachers[t] for t in dict.fromkeys(rows["teacher"])}
    assert selection.num_questions_selected == len({question_id(rows["question"][i]) for i, _, _ in expected})
    if options.get("quotas"):
        assert "teacher_quota" in selection.reason_counts  # the quota path really ran


def test_selection_of_a_row_subset_reads_the_rows_through_the_indices():
    rows = _random_rows(3)
    dataset = Dataset.from_dict(rows)
    picked = list(range(len(rows["teacher"])))[::-1][::2]
    subset = {k: [v[i] for i in picked] for k, v in rows.items()}
    expected, _ = _reference_selection(subset, by="lalp")
    selection = select_responses(dataset.select(picked), by="lalp")
    assert selection.selected["response"] == [subset["response"][i] for i, _, _ in expected]
