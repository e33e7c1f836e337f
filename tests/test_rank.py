"""Teacher ranking: means over common questions, paired bootstrap, dropped questions, both rankings side by side."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from hf_localnat.errors import ColumnError, ConfigError, SelectionError
from hf_localnat.selection.rank import _bootstrap_means, rank_teachers

TEACHERS = ["teacher-clear", "teacher-verbose", "teacher-terse", "teacher-odd"]


@pytest.fixture(scope="module")
def ranking(scored_sample):
    return rank_teachers(scored_sample, seed=0)


def test_clear_teacher_ranks_first_by_lalp_on_the_sample(ranking, scored_sample):
    # A property of the data and the embedded student (clear step-by-step English is the most natural), not a
    # hard-coded number: the means below are recomputed from the scored rows.
    assert ranking.best_teacher("lalp") == "teacher-clear"
    assert ranking.num_questions == 8 and ranking.dropped == []
    for line in ranking.teachers:
        rows = [r for r in scored_sample if r["teacher"] == line.teacher]
        assert line.num_responses == 8
        assert line.mean_lalp == pytest.approx(np.mean([r["lalp"] for r in rows]), abs=1e-12)
        assert line.mean_galp == pytest.approx(np.mean([r["galp"] for r in rows]), abs=1e-12)
        assert line.lalp_ci[0] < line.mean_lalp < line.lalp_ci[1]
        assert line.galp_ci[0] < line.mean_galp < line.galp_ci[1]
    assert sorted(t.rank_lalp for t in ranking.teachers) == [1, 2, 3, 4]
    assert [t.teacher for t in ranking.teachers] == ranking.order("lalp")


def test_pairwise_differences_are_consistent(ranking):
    means = {t.teacher: (t.mean_lalp, t.mean_galp) for t in ranking.teachers}
    assert len(ranking.pairwise) == 2 * 6
    for pair in ranking.pairwise:
        s = 0 if pair.score == "lalp" else 1
        assert pair.difference == pytest.approx(means[pair.teacher_a][s] - means[pair.teacher_b][s])
        assert pair.difference >= 0 and pair.ci[0] <= pair.difference <= pair.ci[1]
    clear_vs_odd = next(p for p in ranking.pairwise if p.score == "lalp" and p.teacher_b == "teacher-odd"
                        and p.teacher_a == "teacher-clear")
    assert clear_vs_odd.excludes_zero  # the best and worst teachers are told apart on 8 questions


def test_bootstrap_is_seeded_and_matches_a_plain_resampling_loop():
    values = np.random.default_rng(1).normal(size=(37, 3))
    fast = _bootstrap_means(values, 50, np.random.default_rng(7))
    index = np.random.default_rng(7).integers(0, 37, size=(50, 37))
    plain = np.array([[values[row, c].mean() for c in range(3)] for row in index])
    np.testing.assert_allclose(fast, plain, atol=1e-12)
    chunked = _bootstrap_means(values, 50, np.random.default_rng(7), budget=100)  # several chunks
    assert chunked.shape == (50, 3) and np.all(chunked <= values.max(0)) and np.all(chunked >= values.min(0))
    assert rank_teachers(Dataset.from_dict(_toy()), seed=3).to_dict() == rank_teachers(Dataset.from_dict(_toy()),
                                                                                      seed=3).to_dict()


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
    two = rank_teachers(scored_sample, teachers=["teacher-odd", "teacher-clear"], num_resamples=100)
    assert two.order("lalp") == ["teacher-clear", "teacher-odd"] and len(two.pairwise) == 2
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
