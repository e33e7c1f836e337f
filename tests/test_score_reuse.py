"""Scores are reused when only columns outside the scoring definition change (issue 30, item 1): a rerun of
`localnat score` with `--teacher`, a changed correctness column or an extra column scores nothing (its summary says
so and the student is never loaded); a changed response rescores only the chunk that holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hf_localnat.cli import main


def _rows(n: int = 6) -> list[dict]:
    text = "First we add the numbers. Then we check the sum twice.\n\nSo the answer is {n}. Done."
    return [{"question": f"What is {n} + {n}?", "response": text.format(n=n), "correct": n % 2 == 0}
            for n in range(n)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _score(source: Path, output: Path, model: Path, *extra: str):
    result = CliRunner().invoke(main, ["score", str(source), "-o", str(output), "--model", str(model),
                                       "--checkpoint-rows", "2", "--overwrite", *extra])
    assert result.exit_code == 0, result.output
    return result


SCORES = ("lalp", "galp", "lalp_steps", "num_steps", "num_tokens", "truncated", "score_error")


def test_a_rerun_with_a_teacher_or_other_columns_scores_nothing(tmp_path, tiny_model_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    source = _write(tmp_path / "in.jsonl", _rows())
    first = _score(source, tmp_path / "a.jsonl", tiny_model_path)
    assert "Rows: 6; scored: 6;" in first.output and "reused" not in first.output.lower()
    assert "Ran " in first.output  # the student ran

    again = _score(source, tmp_path / "b.jsonl", tiny_model_path, "--teacher", "r1")
    assert "All 6 rows reused from an earlier run's checkpoints" in again.output, again.output
    assert "Ran " not in again.output  # no forward pass: the student was never loaded
    assert "; every row is checkpointed already: nothing to score." in again.output
    before, after = _read(tmp_path / "a.jsonl"), _read(tmp_path / "b.jsonl")
    assert [row["teacher"] for row in after] == ["r1"] * 6
    assert [{k: row[k] for k in SCORES} for row in after] == [{k: row[k] for k in SCORES} for row in before]

    # another correctness column and an extra column: still nothing to score
    changed = [{**row, "correct": not row["correct"], "source": "olympiad"} for row in _rows()]
    other = _score(_write(tmp_path / "other.jsonl", changed), tmp_path / "c.jsonl", tiny_model_path,
                   "--teacher", "r2")
    assert "All 6 rows reused" in other.output and "Ran " not in other.output, other.output
    assert [row["correct"] for row in _read(tmp_path / "c.jsonl")] == [row["correct"] for row in changed]

    # a changed response is part of the definition's input: only its chunk (2 rows) is scored again
    edited = _rows()
    edited[3]["response"] += " Checked again."
    partial = _score(_write(tmp_path / "edited.jsonl", edited), tmp_path / "d.jsonl", tiny_model_path)
    assert "Reused 4 rows scored by an earlier run; scored the other 2." in partial.output, partial.output
    assert "; 2 of the 6 rows left to score: " in partial.output and " on this CPU (measured " in partial.output
    rows = _read(tmp_path / "d.jsonl")
    assert rows[3]["num_tokens"] > before[3]["num_tokens"]
    assert [rows[i]["lalp"] for i in (0, 1, 4, 5)] == [before[i]["lalp"] for i in (0, 1, 4, 5)]


def test_a_changed_question_or_window_is_scored_again(tmp_path, tiny_model_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    source = _write(tmp_path / "in.jsonl", _rows(4))
    _score(source, tmp_path / "a.jsonl", tiny_model_path)
    asked = [{**row, "question": row["question"] + " Explain."} for row in _rows(4)]
    other = _score(_write(tmp_path / "asked.jsonl", asked), tmp_path / "b.jsonl", tiny_model_path)
    assert "reused" not in other.output.lower(), other.output
    window = _score(source, tmp_path / "c.jsonl", tiny_model_path, "--window", "1")
    assert "reused" not in window.output.lower(), window.output


@pytest.mark.parametrize("column", ["messages"])
def test_conversations_key_on_the_turns_scored(tmp_path, tiny_model_path, monkeypatch, column):
    """A conversation input: changing a column outside the scored turns keeps the scores."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rows = [{column: [{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["response"]}],
             "id": i} for i, row in enumerate(_rows(4))]
    _score(_write(tmp_path / "in.jsonl", rows), tmp_path / "a.jsonl", tiny_model_path)
    renumbered = [{**row, "id": row["id"] + 100} for row in rows]
    again = _score(_write(tmp_path / "b.jsonl", renumbered), tmp_path / "b-out.jsonl", tiny_model_path)
    assert "All 4 rows reused" in again.output, again.output


@pytest.mark.slow  # a real `localnat score` subprocess (~10-20 s on 2 shared cores)
def test_openr1_shaped_rerun_with_a_teacher_scores_nothing_in_a_subprocess(tmp_path, tiny_model_path):
    """As a user runs it, on an OpenR1-shaped file (a problem, a list of generations, a list of verdicts): scored,
    then scored again with --teacher (and another verdict column): every row is reused, the student never loads."""
    import os
    import subprocess
    import sys

    text = "First we add the numbers. Then we check the sum.\n\nSo the answer is {n}."
    rows = [{"problem": f"What is {n} + {n}?", "generations": [text.format(n=2 * n), text.format(n=2 * n + 1)],
             "correctness_math_verify": [True, False], "uuid": f"id-{n}"} for n in range(3)]
    source = _write(tmp_path / "openr1.jsonl", rows)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "HF_DATASETS_CACHE": str(tmp_path / "cache")}

    def run(output: str, *extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", "score", str(source), "-o",
                               str(tmp_path / output), "--model", str(tiny_model_path), "--question-column", "problem",
                               "--response-column", "generations", *extra], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        return done

    first = run("a.parquet")
    assert "Rows: 6; scored: 6;" in first.stdout and "Ran " in first.stdout
    rows[0]["correctness_math_verify"] = [False, True]  # a verdict fixed after scoring
    _write(source, rows)
    again = run("b.parquet", "--teacher", "deepseek-r1")
    assert "All 6 rows reused from an earlier run's checkpoints" in again.stdout, again.stdout + again.stderr
    assert "Ran " not in again.stdout and "nothing to score" in again.stderr
    import pyarrow.parquet as pq

    before, after = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert after.column("teacher").to_pylist() == ["deepseek-r1"] * 6
    assert after.column("lalp").to_pylist() == before.column("lalp").to_pylist()
    assert after.column("correctness_math_verify").to_pylist()[:2] == [False, True]
