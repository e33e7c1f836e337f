"""Teacher ranking: means over common questions, paired bootstrap, dropped questions, both rankings side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset

from hf_localnat.errors import ColumnError, ConfigError, SelectionError
from hf_localnat.selection.rank import _bootstrap_means, rank_teachers

from .test_select import teacher_means



@pytest.fixture(scope="module")
def ranking(scored_sample):
    return rank_teachers(scored_sample, seed=0)


def test_ranking_on_the_sample_matches_the_means_of_the_scored_rows(ranking, scored_sample):
    # every expected value is recomputed from the scored rows, none recorded from the model
    rows = list(scored_sample)
    means = {by: teacher_means(rows, by) for by in ("lalp", "galp")}
    for by in ("lalp", "galp"):
        assert ranking.order(by) == sorted(means[by], key=lambda t: -means[by][t])
    assert ranking.best_teacher("lalp") == max(means["lalp"], key=means["lalp"].get)
    assert ranking.num_questions == len({r["question_id"] for r in rows}) and ranking.dropped == []
    for line in ranking.teachers:
        rows = [r for r in scored_sample if r["teacher"] == line.teacher]
        assert line.num_responses == len(rows)
        assert line.mean_lalp == pytest.approx(np.mean([r["lalp"] for r in rows]), abs=1e-12)
        assert line.mean_galp == pytest.approx(np.mean([r["galp"] for r in rows]), abs=1e-12)
        assert line.lalp_ci[0] < line.mean_lalp < line.lalp_ci[1]
        assert line.galp_ci[0] < line.mean_galp < line.galp_ci[1]
    assert sorted(t.rank_lalp for t in ranking.teachers) == list(range(1, len(means["lalp"]) + 1))
    assert [t.teacher for t in ranking.teachers] == ranking.order("lalp")


def test_pairwise_differences_are_consistent(ranking):
    means = {t.teacher: (t.mean_lalp, t.mean_galp) for t in ranking.teachers}
    n = len(ranking.teachers)
    assert len(ranking.pairwise) == 2 * n * (n - 1) // 2
    for pair in ranking.pairwise:
        s = 0 if pair.score == "lalp" else 1
        assert pair.difference == pytest.approx(means[pair.teacher_a][s] - means[pair.teacher_b][s])
        assert pair.difference >= 0 and pair.ci[0] <= pair.difference <= pair.ci[1]
    order = ranking.order("lalp")
    best_vs_worst = next(p for p in ranking.pairwise if p.score == "lalp" and (p.teacher_a, p.teacher_b) == (
        order[0], order[-1]))
    assert best_vs_worst.excludes_zero  # the sample's best and worst teachers are told apart


def _resample_indices(seed: int, num_resamples: int, num_questions: int) -> np.ndarray:
    """The question indices of each resample, as the definition draws them: one uniform double per index."""
    uniform = np.random.default_rng(seed).random((num_resamples, num_questions))
    return np.minimum((uniform * num_questions).astype(int), num_questions - 1)


def test_bootstrap_is_seeded_and_matches_a_plain_resampling_loop():
    values = np.random.default_rng(1).normal(size=(37, 3))
    fast = _bootstrap_means(values, 50, np.random.default_rng(7))
    plain = np.array([[values[row, c].mean() for c in range(3)] for row in _resample_indices(7, 50, 37)])
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-12)
    assert rank_teachers(Dataset.from_dict(_toy()), seed=3).to_dict() == rank_teachers(Dataset.from_dict(_toy()),
                                                                                      seed=3).to_dict()


@pytest.mark.parametrize("num_questions", [1, 7, 8, 33])
def test_chunked_and_plain_bootstrap_agree_exactly(num_questions):
    from hf_localnat.selection.bootstrap import extend, resample
    from hf_localnat.selection.evidence import ladder

    values = np.random.default_rng(2).normal(size=(num_questions, 6))
    plain = _bootstrap_means(values, 101, np.random.default_rng(5))  # one chunk
    rng = np.random.default_rng(5)
    whole = resample(values, 101, rng, prefixes=ladder(num_questions))
    beyond = extend(values, whole, ladder(100 * num_questions, start=num_questions), rng)
    for per_chunk in (1, 2, 3, 7, 100):
        chunked = _bootstrap_means(values, 101, np.random.default_rng(5), budget=num_questions * per_chunk)
        assert np.array_equal(chunked, plain), per_chunk
        # the prefixes of p_order(n) and the projection's longer draws: the same bits in any chunking, and for any
        # subset of the columns (each sum adds the drawn rows in draw order)
        rng = np.random.default_rng(5)
        parts = resample(values, 101, rng, prefixes=ladder(num_questions), budget=num_questions * per_chunk)
        assert np.array_equal(parts.sums, whole.sums) and np.array_equal(parts.prefix_sums, whole.prefix_sums)
        assert np.array_equal(extend(values, parts, ladder(100 * num_questions, start=num_questions), rng,
                                     budget=100 * num_questions * per_chunk), beyond)
        some = resample(values[:, 2:4], 101, np.random.default_rng(5), prefixes=ladder(num_questions))
        assert np.array_equal(some.sums, whole.sums[:, 2:4]) and np.array_equal(some.prefix_sums,
                                                                               whole.prefix_sums[:, :, 2:4])


def _synthetic(num_questions: int = 30, seed: int = 4) -> tuple[dict, list[str]]:
    """Four teachers, some questions answered twice by a teacher, one question missing a teacher."""
    rng = np.random.default_rng(seed)
    teachers = ["t-a", "t-b", "t-c", "t-d"]
    rows = {"question": [], "teacher": [], "lalp": [], "galp": []}
    for q in range(num_questions):
        for i, t in enumerate(teachers):
            if q == 3 and t == "t-c":
                continue
            for _ in range(2 if (q + i) % 7 == 0 else 1):
                rows["question"].append(f"question {q}")
                rows["teacher"].append(t)
                rows["lalp"].append(float(rng.normal(-1.0 - 0.1 * i, 0.3)))
                rows["galp"].append(float(rng.normal(-1.2 + 0.05 * i, 0.3)))
    return rows, teachers


def _independent_intervals(rows: dict, teachers: list[str], num_resamples: int, confidence: float, seed: int):
    """Per-teacher means and intervals, and pairwise difference intervals, by plain loops and `np.quantile`."""
    questions = [q for q in dict.fromkeys(rows["question"])
                 if all(any(rq == q and rt == t for rq, rt in zip(rows["question"], rows["teacher"])) for t in teachers)]
    per_question = {}  # (score, teacher) -> [per-question mean of that teacher's responses]
    for score in ("lalp", "galp"):
        for t in teachers:
            per_question[score, t] = [np.mean([v for rq, rt, v in zip(rows["question"], rows["teacher"], rows[score])
                                               if rq == q and rt == t]) for q in questions]
    indices = _resample_indices(seed, num_resamples, len(questions))
    boot = {key: np.array([np.mean([vals[i] for i in idx]) for idx in indices]) for key, vals in per_question.items()}
    alpha = (1 - confidence) / 2
    means = {key: float(np.mean(vals)) for key, vals in per_question.items()}
    cis = {key: tuple(np.quantile(b, [alpha, 1 - alpha])) for key, b in boot.items()}
    diffs = {(score, a, b): tuple(np.quantile(boot[score, a] - boot[score, b], [alpha, 1 - alpha]))
             for score in ("lalp", "galp") for a in teachers for b in teachers if a != b}
    return means, cis, diffs, len(questions)


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_intervals_match_an_independent_loop_and_quantile(confidence):
    rows, teachers = _synthetic()
    ranking = rank_teachers(Dataset.from_dict(rows), num_resamples=300, confidence=confidence, seed=11)
    means, cis, diffs, num_questions = _independent_intervals(rows, teachers, 300, confidence, 11)
    assert ranking.num_questions == num_questions == 29 and ranking.confidence == confidence
    for line in ranking.teachers:
        for score in ("lalp", "galp"):
            assert getattr(line, f"mean_{score}") == pytest.approx(means[score, line.teacher], abs=1e-12)
            np.testing.assert_allclose(getattr(line, f"{score}_ci"), cis[score, line.teacher], rtol=0, atol=1e-12)
    for pair in ranking.pairwise:
        np.testing.assert_allclose(pair.ci, diffs[pair.score, pair.teacher_a, pair.teacher_b], rtol=0, atol=1e-12)
    # the expected order comes from the independent means
    for score in ("lalp", "galp"):
        assert ranking.order(score) == sorted(teachers, key=lambda t: -means[score, t])


def test_pairwise_differences_use_the_same_resamples_as_the_means():
    # teacher y scores exactly 1 below teacher x on every question: on any shared resample the difference of the two
    # means is 1, so the paired interval is [1, 1]; resampling the teachers separately would give a wide interval
    x = np.random.default_rng(6).normal(-1.0, 0.5, size=40)
    rows = {"question": [f"q{i}" for i in range(40)] * 2, "teacher": ["x"] * 40 + ["y"] * 40,
            "lalp": [*x, *(x - 1)], "galp": [*x, *(x - 1)]}
    ranking = rank_teachers(Dataset.from_dict(rows), num_resamples=500, seed=0)
    line = {t.teacher: t for t in ranking.teachers}
    assert line["x"].lalp_ci[1] - line["x"].lalp_ci[0] > 0.2  # each mean alone is uncertain ...
    for pair in ranking.pairwise:
        assert (pair.teacher_a, pair.teacher_b) == ("x", "y")
        np.testing.assert_allclose(pair.ci, (1.0, 1.0), atol=1e-12)  # ... their paired difference is not
        assert pair.difference == pytest.approx(1.0, abs=1e-12)


def _toy() -> dict:
    return {
        "question": ["a", "a", "a", "b", "b", "c", "d", "d"],
        "teacher": ["x", "x", "y", "x", "y", "x", "x", "y"],
        "lalp": [-1.0, -3.0, -2.5, -1.5, -2.0, -0.1, -1.0, None],
        "galp": [-1.0, -1.0, -0.5, -1.5, -1.0, -0.1, -1.0, -1.0],
    }


def test_repeated_answers_are_averaged_and_dropped_questions_reported():
    ranking = rank_teachers(Dataset.from_dict(_toy()), num_resamples=100)
    # a: x answered twice (mean -2.0); c: y missing; d: y unscored -> used questions a, b
    x = next(t for t in ranking.teachers if t.teacher == "x")
    assert ranking.num_questions == 2 and x.num_responses == 3
    assert x.mean_lalp == pytest.approx((-2.0 + -1.5) / 2)
    assert ranking.dropped_counts == {"missing_teacher": 1, "unscored_response": 1}
    assert {(d.reason, d.teachers) for d in ranking.dropped} == {("missing_teacher", ("y",)),
                                                                 ("unscored_response", ("y",))}
    assert ranking.order("lalp") == ["x", "y"] and ranking.order("galp") == ["y", "x"]
    table = ranking.format_table()
    assert "2 dropped (1 missing teacher, 1 unscored response)" in table and "disagree" in table
    assert not ranking.rankings_agree and all(t.ranks_disagree for t in ranking.teachers)


def test_teacher_subset_and_errors(scored_sample):
    means = teacher_means(list(scored_sample))
    pair = sorted(means, key=means.get)[:2]  # the two lowest, listed worst first
    two = rank_teachers(scored_sample, teachers=pair, num_resamples=100)
    assert two.order("lalp") == pair[::-1] and len(two.pairwise) == 2
    with pytest.raises(ConfigError, match="not found"):
        rank_teachers(scored_sample, teachers=["teacher-nobody"])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        rank_teachers(scored_sample, confidence=95)
    with pytest.raises(ColumnError, match="'lalp'"):
        rank_teachers(scored_sample.remove_columns("lalp"))
    no_common = Dataset.from_dict({"question": ["a", "b"], "teacher": ["x", "y"], "lalp": [-1.0, -2.0],
                                   "galp": [-1.0, -2.0]})
    with pytest.raises(SelectionError, match="No question has a scored response from every teacher"):
        rank_teachers(no_common)
    assert rank_teachers(no_common, teachers=["y"], num_resamples=10).num_questions == 1


def test_a_teacher_without_any_finite_score_is_left_out_and_the_others_ranked():
    # z's scores are all NaN, inf or missing: it is left out, named with its non-finite count; x and y are ranked
    nan, inf = float("nan"), float("inf")
    rows = {"question": ["a", "a", "a", "b", "b", "b", "c"], "teacher": ["x", "y", "z", "x", "y", "z", "z"],
            "lalp": [-1.0, -2.0, nan, -1.5, -2.5, None, -1.0], "galp": [-1.0, -2.0, -1.0, -1.5, -2.5, -1.0, inf]}
    ranking = rank_teachers(Dataset.from_dict(rows), num_resamples=50)
    assert ranking.order("lalp") == ["x", "y"] and ranking.num_questions == 2
    assert [(d.reason, d.teachers) for d in ranking.dropped] == [("missing_teacher", ("x", "y"))]  # c: only z answered
    assert [(t.teacher, t.num_rows, t.num_non_finite) for t in ranking.left_out] == [("z", 3, 2)]
    line = "Left out: teacher 'z' has no finite score on any question (3 rows: 2 non-finite (NaN or inf), 1 without a score)."
    assert ranking.format_table().count(line) == 1
    assert ranking.to_dict()["left_out"] == [{"teacher": "z", "num_rows": 3, "num_non_finite": 2}]
    # the same when z is asked for by name; only when no teacher has a finite score is the ranking refused
    assert rank_teachers(Dataset.from_dict(rows), teachers=["z", "y"], num_resamples=50).order() == ["y"]
    with pytest.raises(SelectionError, match="No teacher has a finite score on any question .*'z'"):
        rank_teachers(Dataset.from_dict(rows), teachers=["z"])


def test_rank_teachers_command_names_a_left_out_teacher_in_one_line(tmp_path):
    from click.testing import CliRunner

    from hf_localnat.cli import main

    path = tmp_path / "scored.jsonl"
    Dataset.from_dict({"question": ["a", "a", "a", "b", "b", "b"], "teacher": ["x", "y", "z"] * 2,
                       "lalp": [-1.0, -2.0, None, -1.5, -2.5, None],
                       "galp": [-1.0, -2.0, None, -1.5, -2.5, None]}).to_json(path)
    result = CliRunner().invoke(main, ["rank-teachers", str(path), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if "'z'" in line] == [
        "Left out: teacher 'z' has no finite score on any question (2 rows: 0 non-finite (NaN or inf), 2 without a score)."]
    result = CliRunner().invoke(main, ["rank-teachers", str(path), "--resamples", "20", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["left_out"] == [{"teacher": "z", "num_rows": 2, "num_non_finite": 0}]
