"""`localnat score`, `rank-teachers` and `select` end to end through click's runner, including the error paths."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.io import load_input, save_output
from hf_localnat.selection.select import select_responses

from .test_select import _best, teacher_means


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _fails(result, message: str):
    assert result.exit_code != 0 and result.exception is not None
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("command", ["score", "rank-teachers", "select", None])
def test_help_has_examples(runner, command):
    result = _ok(runner.invoke(main, [command, "--help"] if command else ["--help"]))
    assert "Examples:" in result.output and "localnat" in result.output


# ----------------------------------------------------------------------------------------------------------- score
def _few_rows(tmp_path, name="few.jsonl"):
    rows = {"question": ["What is 2 + 2?", "What is 3 * 4?", "Name a colour."],
            "response": ["2 + 2 = 4. The answer is 4.", "3 * 4 = 12. So 12.", "   "],
            "teacher": ["a", "b", "a"]}
    return save_output(Dataset.from_dict(rows), tmp_path / name)


@pytest.mark.slow
def test_score_tiny_model_summary_cache_and_overwrite(runner, tmp_path, tiny_model_path):
    source = _few_rows(tmp_path)
    out = tmp_path / "scored.parquet"
    args = ["score", str(source), "-o", str(out), "--model", str(tiny_model_path), "--window", "2"]
    result = _ok(runner.invoke(main, args))
    assert "Rows: 3; scored: 2;" in result.stdout and "Rows without a score: 1 empty_response." in result.stdout
    assert "response tokens/s" in result.stdout
    scored = load_input(str(out))
    assert scored.column_names == ["question", "response", "teacher", "lalp", "galp", "lalp_steps", "num_steps",
                                   "num_tokens", "truncated", "score_error"]
    assert scored["score_error"] == [None, None, "empty_response"] and scored[0]["lalp"] < 0

    _fails(runner.invoke(main, args), "already exists; pass --overwrite")
    again = _ok(runner.invoke(main, [*args, "--overwrite"]))
    assert "All 3 rows reused from an earlier run's checkpoints" in again.stdout  # same input, model, options
    assert load_input(str(out))["lalp"] == scored["lalp"]
    other = _ok(runner.invoke(main, [*args[:-1], "3", "--overwrite"]))  # another window: computed afresh
    assert "response tokens/s" in other.stdout


def test_score_folder_in_folder_out(runner, tmp_path, tiny_model_path):
    folder = tmp_path / "saved"
    Dataset.from_dict({"question": ["Q?"], "response": ["One. Two."]}).save_to_disk(folder)
    _ok(runner.invoke(main, ["score", str(folder), "-o", str(tmp_path / "out"), "--model", str(tiny_model_path),
                             "--segmenter", "line", "--prompt-format", "plain", "--batch-tokens", "64"]))
    assert load_input(str(tmp_path / "out"))["num_steps"] == [1]


def test_score_with_the_embedded_student_matches_the_library(runner, tmp_path, scored_sample):
    source = save_output(scored_sample.select([0, 5]).select_columns(["question", "response", "teacher"]),
                         tmp_path / "two.jsonl")
    _ok(runner.invoke(main, ["score", str(source), "-o", str(tmp_path / "two.parquet")]))  # default model
    scored = load_input(str(tmp_path / "two.parquet"))
    for got, want in zip(scored, scored_sample.select([0, 5]), strict=True):
        assert got["lalp"] == pytest.approx(want["lalp"], abs=1e-4)  # SPEC §6: batch composition differs
        assert got["galp"] == pytest.approx(want["galp"], abs=1e-4)


def test_score_error_paths(runner, tmp_path, tiny_model_path, hub_server):
    source = _few_rows(tmp_path)
    out = str(tmp_path / "o.parquet")
    _fails(runner.invoke(main, ["score", str(source), "-o", out, "--model", "nobody/no-such-model"]),
           "Error: --model nobody/no-such-model: no such model on the Hub")
    _fails(runner.invoke(main, ["score", str(source), "-o", out, "--response-column", "answer"]),
           "Error: --response-column 'answer' is not a column of the input. Columns found: question (text)")
    (tmp_path / "traces.txt").write_text("hi")
    _fails(runner.invoke(main, ["score", str(tmp_path / "traces.txt"), "-o", out]), "Error: Unknown file type '.txt'")
    _fails(runner.invoke(main, ["score", str(source), "-o", str(tmp_path / "o.xlsx")]), "Unknown output type '.xlsx'")
    _fails(runner.invoke(main, ["score", str(tmp_path / "none.jsonl"), "-o", out]), "does not exist")
    (tmp_path / "broken.jsonl").write_text('{"question": "a", "response": \n')
    _fails(runner.invoke(main, ["score", str(tmp_path / "broken.jsonl"), "-o", out, "--model",
                                str(tiny_model_path)]), "Error: ")
    assert not (tmp_path / "o.parquet").exists()


# ----------------------------------------------------------------------------------------------- rank and select
@pytest.fixture
def scored_file(tmp_path, scored_sample):
    return str(save_output(scored_sample, tmp_path / "scored.parquet"))


def _sample_facts(scored_sample) -> tuple[str, int, int]:
    """The best teacher by mean LALP, the number of questions and of teachers, computed from the scored rows."""
    rows = list(scored_sample)
    means = teacher_means(rows)
    return max(means, key=means.get), len({r["question_id"] for r in rows}), len(means)


def test_rank_teachers_table_json_and_plot(runner, tmp_path, scored_file, scored_sample):
    best, num_questions, num_teachers = _sample_facts(scored_sample)
    table = _ok(runner.invoke(main, ["rank-teachers", scored_file, "--resamples", "200"])).stdout
    lines = [line for line in table.splitlines() if "teacher-" in line and "[" in line]
    assert lines[0].split()[2] == best and "LALP#" in table and "GALP#" in table
    assert "8 questions answered (with a score) by every teacher; none dropped." in table

    data = json.loads(_ok(runner.invoke(main, ["rank-teachers", scored_file, "--json", "--resamples", "200"])).stdout)
    assert data["teachers"][0]["teacher"] == best and data["num_questions"] == num_questions
    assert data["dropped_counts"] == {"missing_teacher": 0, "unscored_response": 0}
    assert len(data["pairwise"]) == num_teachers * (num_teachers - 1)  # every pair, for LALP and for GALP

    plot = tmp_path / "teachers.png"
    _ok(runner.invoke(main, ["rank-teachers", scored_file, "--plot", str(plot), "--resamples", "50"]))
    assert plot.read_bytes()[:4] == b"\x89PNG"
    _fails(runner.invoke(main, ["rank-teachers", scored_file, "--plot", str(plot)]), "already exists")
    _fails(runner.invoke(main, ["rank-teachers", scored_file, "--plot", str(tmp_path / "t.svg")]), ".png")
    _fails(runner.invoke(main, ["rank-teachers", scored_file, "--teacher-column", "model"]), "'model'")
    _fails(runner.invoke(main, ["rank-teachers", scored_file, "--teacher", "nobody"]), "not found")


def test_rank_teachers_reads_a_hub_dataset(runner, hub_server, hub_repo_name, scored_sample):
    from huggingface_hub import HfApi

    repo = HfApi().create_repo(hub_repo_name, repo_type="dataset").repo_id
    scored_sample.push_to_hub(repo, split="test")
    result = _ok(runner.invoke(main, ["rank-teachers", repo, "--split", "test", "--json", "--resamples", "50"]))
    assert json.loads(result.stdout)["teachers"][0]["teacher"] == _sample_facts(scored_sample)[0]
    _fails(runner.invoke(main, ["rank-teachers", repo, "--split", "dev"]), "Error: Cannot load")


def test_select_writes_kept_and_rejected_and_the_mix_report(runner, tmp_path, scored_file, scored_sample):
    rows = list(scored_sample)
    best = _best(rows, "lalp", lambda r: r["correct"])  # plain argmax among the correct responses
    num_questions = len({r["question_id"] for r in rows})
    out = tmp_path / "curated.jsonl"
    result = _ok(runner.invoke(main, ["select", scored_file, "-o", str(out), "--correct-column", "correct"]))
    assert (f"Kept {len(best)} of {len(rows)} responses (by LALP) for {len(best)} of {num_questions} questions."
            in result.stdout)
    assert "Mix report" in result.stdout and "GALP kept" in result.stdout
    kept, rejected = load_input(str(out)), load_input(str(tmp_path / "curated.rejected.jsonl"))
    assert {r["question_id"]: r["teacher"] for r in kept} == best and all(kept["correct"])
    assert rejected.num_rows == len(rows) - len(best)
    assert set(rejected["rejection_reason"]) == {"incorrect", "lower_lalp"}

    _fails(runner.invoke(main, ["select", scored_file, "-o", str(out)]), "already exists; pass --overwrite")
    data = json.loads(_ok(runner.invoke(main, [
        "select", scored_file, "-o", str(out), "--by", "galp", "--top-k", "2", "--threshold", "-2.5",
        "--teacher-quota", "6", "--teacher-quota", "teacher-clear=3", "--json", "--overwrite",
    ])).stdout)
    assert data["by"] == "galp" and data["threshold"] == -2.5 and data["kept"] + data["rejected"] == len(rows)
    library = select_responses(scored_sample, by="galp", top_k=2, threshold=-2.5,
                               teacher_quota={t: 3 if t == "teacher-clear" else 6 for t in teacher_means(rows)})
    assert data["kept"] == library.selected.num_rows  # the CLI passes every option through
    assert data["mix"]["galp"]["teacher-clear"]["count"] == library.teacher_counts.get("teacher-clear", 0) <= 3
    assert max(v["count"] for v in data["mix"]["galp"].values()) <= 6
    assert {"below_threshold", "teacher_quota"} <= set(data["rejection_reasons"])
    folder = tmp_path / "kept_folder"
    _ok(runner.invoke(main, ["select", scored_file, "-o", str(folder), "--quantile", "0.25", "--rejected",
                             str(tmp_path / "rej.parquet")]))
    assert load_input(str(folder)).num_rows + load_input(str(tmp_path / "rej.parquet")).num_rows == len(rows)


def test_select_error_paths(runner, tmp_path, scored_file):
    out = str(tmp_path / "c.parquet")
    _fails(runner.invoke(main, ["select", scored_file, "-o", out, "--correct-column", "is_right"]), "'is_right'")
    _fails(runner.invoke(main, ["select", scored_file, "-o", out, "--threshold", "-2", "--quantile", "0.5"]),
           "not both")
    _fails(runner.invoke(main, ["select", scored_file, "-o", out, "--teacher-quota", "lots"]), "TEACHER=N")
    _fails(runner.invoke(main, ["select", scored_file, "-o", out, "--teacher-quota", "nobody=3"]), "not in the data")
    _fails(runner.invoke(main, ["select", scored_file, "-o", out, "--by", "perplexity"]), "'perplexity'")
    assert not (tmp_path / "c.parquet").exists()


def _hand_scored(tmp_path):
    """A small scored file made by hand (selection needs no model)."""
    rows = {"question": ["a", "a", "b", "b"], "teacher": ["x", "y", "x", "y"], "lalp": [-1.0, -2.0, -1.5, -0.5],
            "galp": [-1.1, -1.0, -1.4, -0.9], "correct": [True, True, False, True]}
    return str(save_output(Dataset.from_dict(rows), tmp_path / "hand.parquet"))


def test_select_refuses_when_only_the_rejected_file_exists(runner, tmp_path):
    scored = _hand_scored(tmp_path)
    out, rejected = tmp_path / "kept.jsonl", tmp_path / "kept.rejected.jsonl"
    rejected.write_bytes(b"the user's \xff own bytes")
    _fails(runner.invoke(main, ["select", scored, "-o", str(out)]), "kept.rejected.jsonl' already exists")
    assert rejected.read_bytes() == b"the user's \xff own bytes" and not out.exists()
    _ok(runner.invoke(main, ["select", scored, "-o", str(out), "--overwrite"]))
    assert load_input(str(out))["lalp"] == [-1.0, -0.5] and load_input(str(rejected)).num_rows == 2
    assert not [p for p in tmp_path.iterdir() if ".localnat-" in p.name]
