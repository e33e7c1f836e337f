"""The CHAMP long format (real traces of four models, from the `champ-dataset` package) and its answer judge."""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from hf_localnat.champ import (CHAMP_MODELS, JUDGE_REASONS, answer_kind, champ_long_format, correct_counts,
                               demo_problem_ids, judge_answer, numbers_in)

champ_dataset = pytest.importorskip("champ_dataset", reason="champ-dataset is in the test extra; pip install -e '.[test]'")
SCRIPT = Path(__file__).resolve().parents[1] / "dataset_scripts" / "champ_long_format.py"


@pytest.fixture(scope="module")
def champ():
    return champ_dataset.load("v0")


@pytest.fixture(scope="module")
def zero_shot():
    return champ_long_format()


def test_numbers_ignore_subscripts_powers_and_subtraction():
    assert numbers_in("x_1 + 2^n - 3y = 7, so a=-4 and b = 1,000 or 3/4.") == [7, -4, 1000, Fraction(3, 4)]
    assert numbers_in("x^2-3") == [3]  # subtraction, not a sign
    assert numbers_in("5 \u2212 8") == [5, 8] and numbers_in("is \u22128.") == [-8]


@pytest.mark.parametrize("answer, kind", [
    ("239", ("number", 239)), ("-3 is the only possible value", ("number", -3)), ("3/2", ("number", Fraction(3, 2))),
    ("100 (i.e., all values)", ("number", 100)), ("2 inequalities", ("number", 2)),
    ("The limit exists and is equal to 2/3", ("number", Fraction(2, 3))),
    ("(20*10^15-2)/17, or equivalently 1176470588235294", ("number", 1176470588235294)),
    ("Yes", ("yes_no", "yes")), ("No", ("yes_no", "no")),
    ("2^(m+1)", ("other", None)), ("No such values", ("other", None)), ("x=6, y=5", ("other", None)),
])
def test_answer_kind(answer, kind):
    assert answer_kind(answer) == kind


@pytest.mark.parametrize("summary, answer, correct", [
    ("There are 89 ways to fill a 2 x 21 rectangle.", "89", True),
    ("The answer is 88.", "89", False),
    ("The values are 89 and 90.", "89", None),                 # the answer among several new numbers
    ("The count is the same as for 2 x 21 boards.", "89", None),  # no new number
    ("No, it cannot.", "No", True), ("Yes, always.", "No", False), ("It is not prime.", "No", None),
    (None, "89", None), ("It is 2 * 2^m.", "2^(m+1)", None),
])
def test_judge(summary, answer, correct):
    value, reason = judge_answer(summary, answer, "Fill a 2 x 21 rectangle with dominoes.")
    assert value is correct and JUDGE_REASONS[reason] is correct


@pytest.mark.slow
def test_long_format_is_the_package_data(champ, zero_shot):
    problems = champ.problems
    assert zero_shot.num_rows == len(problems) * len(CHAMP_MODELS) == 1080
    for row in zero_shot.select(range(0, zero_shot.num_rows, 37)):
        problem = problems[row["question_id"]]
        messages = problem.conversations[f"{row['teacher']}|0-Shot"].messages
        assert row["question"] == problem.text and row["answer"] == problem.answer
        assert messages[-2].text.startswith("Now, summarize the answer above in one sentence")
        assert row["response"] == messages[-3].text and row["response"].strip()
        assert row["summary"] == messages[-1].text
        assert (row["correct"], row["correct_reason"]) == judge_answer(row["summary"], problem.answer, problem.text)
    assert sorted(set(zero_shot["teacher"])) == sorted(CHAMP_MODELS)
    counts = correct_counts(zero_shot["correct_reason"])
    assert sum(counts.values()) == 1080
    assert sum(n for r, n in counts.items() if JUDGE_REASONS[r] is None) == zero_shot["correct"].count(None)
    assert counts["number_match"] > 0 and counts["number_mismatch"] > 0 and counts["answer_not_numeric"] > 0


@pytest.mark.slow
def test_demo_subset_is_judgeable_and_balanced(champ):
    ids = demo_problem_ids(10)
    assert len(ids) == len(set(ids)) == 10
    assert all(answer_kind(champ.problems[i].answer)[0] != "other" for i in ids)
    assert len({champ.problems[i].category for i in ids}) == 5


@pytest.mark.slow
def test_recipe_writes_the_long_format_and_prints_counts(tmp_path):
    spec = importlib.util.spec_from_file_location("champ_recipe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "champ.jsonl"
    result = CliRunner().invoke(module.main, ["-o", str(out), "--demo-subset", "5", "--model", "GPT-4"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and {r["teacher"] for r in rows} == {"GPT-4"}
    judged = sum(r["correct"] is not None for r in rows)
    assert f"of 5 rows" in result.output and f"{5 - judged} None" in result.output
    again = CliRunner().invoke(module.main, ["-o", str(out), "--demo-subset", "5"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = CliRunner().invoke(module.main, ["-o", str(tmp_path / "x.jsonl"), "--setting", "7-Shot"])
    assert bad.exit_code == 1 and "Unknown CHAMP prompt setting" in bad.output and "0-Shot" in bad.output


@pytest.mark.slow
def test_the_demo_reads_champ_by_default():
    from hf_localnat.jobs.demo import demo_dataset

    lines = []
    dataset, source, license_ = demo_dataset("champ", 5, echo=lines.append)
    assert dataset.num_rows == 20 and sorted(set(dataset["teacher"])) == sorted(CHAMP_MODELS)
    assert list(dict.fromkeys(dataset["question_id"])) == demo_problem_ids(5) and license_ == "mit"
    assert "champ-dataset==1.0.0" in source and "of 20 rows" in lines[1]
    sample, _, _ = demo_dataset("sample", 5)
    assert sample.num_rows == 32
