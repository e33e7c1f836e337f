"""`--sample-questions N --seed S`: the same questions for every teacher, in separate runs over separate inputs and
across reruns; recorded in the provenance; `estimate` prices the same sample."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.io import load_input, read_provenance
from hf_localnat.io.questions import draw_questions, sample_questions


def _plain_draw(questions: list[str], n: int, seed: int) -> set[str]:
    key = {q: int.from_bytes(hashlib.sha256(f"{seed}\n{q}".encode()).digest()[:8], "big") for q in set(questions)}
    return set(sorted(key, key=lambda q: (key[q], q))[:n])


def test_the_draw_is_a_function_of_the_question_texts_and_the_seed():
    questions = [f"What is {i} + {i}?" for i in range(50)]
    assert set(draw_questions(questions, 7, 3)) == _plain_draw(questions, 7, 3)
    assert draw_questions(questions[::-1] * 2, 7, 3) == draw_questions(questions, 7, 3)  # order, repeats: no matter
    assert draw_questions(questions, 7, 4) != draw_questions(questions, 7, 3)
    assert len(draw_questions(questions, 500, 0)) == 50
    rows = Dataset.from_dict({"question": [q for q in questions for _ in range(3)], "teacher": ["a", "b", "c"] * 50})
    sampled, info = sample_questions(rows, 7, seed=3)
    assert set(sampled["question"]) == _plain_draw(questions, 7, 3) and sampled.num_rows == 21
    assert sampled["teacher"] == ["a", "b", "c"] * 7  # every response to a drawn question, in input order
    assert (info.drawn, info.available, info.rows) == (7, 50, 21)


def _write(path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_score_draws_the_same_questions_for_every_teacher_in_separate_runs(tmp_path, sample_rows, tiny_model_path):
    questions = list(dict.fromkeys(r["question"] for r in sample_rows))
    teachers = list(dict.fromkeys(r["teacher"] for r in sample_rows))
    inputs = {}
    for i, t in enumerate(teachers[:2]):  # one input per teacher, the rows in a different order in each
        rows = [{"question": r["question"], "response": r["response"]} for r in sample_rows if r["teacher"] == t]
        inputs[t] = _write(tmp_path / f"{t}.jsonl", rows if i == 0 else rows[::-1])
    runner = CliRunner()
    common = ["--model", str(tiny_model_path), "--sample-questions", "3", "--seed", "7"]
    drawn = {}
    for t, path in inputs.items():
        out = str(tmp_path / f"{t}.parquet")
        result = runner.invoke(main, ["score", f"{t}={path}", "-o", out, *common])
        assert result.exit_code == 0, result.output
        assert "Sample of questions: 3 of" in result.output
        scored = load_input(out)
        drawn[t] = set(scored["question"])
        assert scored.num_rows == sum(r["teacher"] == t and r["question"] in drawn[t] for r in sample_rows)
        assert read_provenance(out).sample == {"questions": 3, "seed": 7}
    assert drawn[teachers[0]] == drawn[teachers[1]] == _plain_draw(questions, 3, 7)
    # both inputs in one run (pooled): the same questions again, and a rerun draws them too
    for name in ("pooled", "again"):
        out = str(tmp_path / f"{name}.parquet")
        result = runner.invoke(main, ["score", *[f"{t}={p}" for t, p in inputs.items()], "-o", out, *common])
        assert result.exit_code == 0, result.output
        assert set(load_input(out)["question"]) == drawn[teachers[0]]
    # rank-teachers pools the two separate runs: their provenances agree, sample included
    ranked = runner.invoke(main, ["rank-teachers", *[str(tmp_path / f"{t}.parquet") for t in inputs], "--json",
                                  "--resamples", "20"])
    assert ranked.exit_code == 0, ranked.output
    data = json.loads(ranked.stdout)
    assert data["num_questions"] == 3 and data["provenance"]["sample"] == {"questions": 3, "seed": 7}
    # estimate prices the same rows
    estimate = runner.invoke(main, ["estimate", *[f"{t}={p}" for t, p in inputs.items()], "--json",
                                    *common])
    assert estimate.exit_code == 0, estimate.output
    priced = json.loads(estimate.stdout)
    assert priced["rows"] == load_input(str(tmp_path / "pooled.parquet")).num_rows
    assert priced["sample"] == {"questions": 3, "seed": 7}


@pytest.mark.parametrize("bad", ["0", "-3"])
def test_sample_questions_must_be_positive(tmp_path, bad):
    path = _write(tmp_path / "t.jsonl", [{"question": "q", "response": "r"}])
    result = CliRunner().invoke(main, ["estimate", path, "--sample-questions", bad])
    assert result.exit_code == 2 and "--sample-questions" in result.output
