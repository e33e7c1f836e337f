"""What a new user meets in the first hour (issue 30): help texts, the one-line errors on an unscored input, the
docs' column tables, and report and card wording for 0 and 1. Real click invocations, real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hf_localnat.cli import main
from hf_localnat.sample import SAMPLE_PATH

ROOT = Path(__file__).resolve().parents[1]
#: The README and the docs pages (docs/data-shapes.md holds the column tables), read as one text.
README = "\n".join(page.read_text(encoding="utf-8")
                   for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def readme_columns() -> set[str]:
    """Every `name` in the first cell of a table row of the README or a docs page."""
    return {m for line in README.splitlines() if line.startswith("| `")
            for m in re.findall(r"`([^`]+)`", line.split("|")[1])}


@pytest.fixture
def unscored(tmp_path) -> Path:
    """The bundled sample as a user's raw traces: question, response, teacher, correct; no scores."""
    path = tmp_path / "traces.jsonl"
    path.write_bytes(SAMPLE_PATH.read_bytes())
    return path


@pytest.mark.parametrize("args", [
    ["select", "{in}", "-o", "{tmp}/curated.parquet", "--correct-column", "correct"],
    ["rank-teachers", "{in}"],
    ["inspect", "{in}", "-o", "{tmp}/report.html"],
    ["publish", "{in}", "--repo-id", "you/curated", "--dry-run"],
    ["publish", "{in}", "--repo-id", "you/curated", "--dry-run", "--model", "m", "--window", "4"],
    ["calibrate", "{in}", "{in}"],
], ids=lambda a: "-".join(x for x in a if not x.startswith("{"))[:40])
def test_an_unscored_input_says_to_run_score_first(args, unscored, tmp_path):
    result = CliRunner().invoke(main, [a.format(**{"in": unscored, "tmp": tmp_path}) for a in args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "run `localnat score INPUT -o scored.parquet` first" in lines[-1]
    assert "--*-column" not in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("curated*")) and not (tmp_path / "report.html").exists()


def test_a_missing_non_score_column_points_at_the_options(unscored, tmp_path):
    scored = tmp_path / "scored.jsonl"
    scored.write_text("".join(json.dumps({**json.loads(line), "lalp": -1.0, "galp": -1.0}) + "\n"
                              for line in unscored.read_text().splitlines()))
    result = CliRunner().invoke(main, ["rank-teachers", str(scored), "--teacher-column", "model"])
    assert result.exit_code == 1
    assert "needs column(s) 'model'" in result.output and "--help" in result.output
    assert "localnat score" not in result.output


def test_help_says_what_the_demo_runs_and_every_rejection_reason():
    from hf_localnat.selection.select import REJECTION_REASONS

    top = CliRunner().invoke(main, ["--help"]).output
    demo_line = next(line for line in top.splitlines() if "localnat demo" in line)
    assert "CHAMP" in demo_line and "bundled sample" not in demo_line
    select_help = " ".join(CliRunner().invoke(main, ["select", "--help"]).output.split())
    for reason in REJECTION_REASONS:
        assert reason in select_help, reason


def test_an_existing_output_names_the_cli_flag(unscored, tmp_path):
    out = tmp_path / "scored.parquet"
    out.write_bytes(b"old")
    result = CliRunner().invoke(main, ["score", str(unscored), "-o", str(out)])
    assert result.exit_code == 1 and "pass --overwrite to replace it." in result.output
    assert "overwrite=True" not in result.output and out.read_bytes() == b"old"


def test_every_output_column_is_in_the_readme_tables(tiny_scored_sample):
    """The columns `score` writes (scorer, long rows of each shape) and `select` writes (kept and rejected)."""
    from datasets import Dataset

    from hf_localnat.io import to_long
    from hf_localnat.selection.select import REJECTION_REASONS, select_responses

    selection = select_responses(tiny_scored_sample, correct_column="correct")
    columns = set(selection.selected.column_names) | set(selection.rejected.column_names)
    conversations = Dataset.from_dict({"messages": [[{"role": "user", "content": "q"},
                                                     {"role": "assistant", "content": "a"}], []]})
    columns |= set(to_long(conversations).dataset.column_names)
    lists = Dataset.from_dict({"problem": ["q"], "generations": [["a", "b"]], "correct": [[True, False]]})
    columns |= set(to_long(lists, question_column="problem", response_columns=["generations"]).dataset.column_names)
    sample_input = {"question_id", "question", "teacher", "response", "correct", "problem", "generations"}
    missing = sorted(columns - sample_input - readme_columns())
    assert not missing, f"columns not in the column tables of docs/data-shapes.md: {missing}"
    assert {"lalp", "galp", "lalp_steps", "score_error", "input_error", "generation_index", "rejection_reason",
            "messages", "selection_reason"} <= columns
    for reason in REJECTION_REASONS:
        assert f"`{reason}`" in README, reason


def test_report_wording_for_no_and_one_differing_question(tiny_scored_sample):
    from hf_localnat.report.html import build_report

    same = tiny_scored_sample.map(lambda r: {"galp": r["lalp"]})  # LALP and GALP pick the same everywhere
    html = build_report(same, correct_column="correct", num_questions=2)
    assert "No question where the LALP and GALP selections differ: showing the first 2 questions of the file" in html
    assert "The 0 of 0" not in html

    # GALP = -LALP on q01 only: exactly one question where the picks differ
    flipped = same.map(lambda r: {"galp": -r["lalp"] if r["question_id"] == "q01" and r["lalp"] is not None
                                  else r["galp"]})
    html = build_report(flipped, correct_column="correct", num_questions=2)
    assert "The one question where the LALP and GALP selections differ; then the first question" in html

    one = build_report(flipped.filter(lambda r: r["question_id"] == "q01"), correct_column="correct")
    assert "1 question answered with a score by every teacher" in one and "1 questions" not in one


def test_card_wording_for_one_teacher_and_configs_that_render():
    import importlib.util

    from hf_localnat.hub.card import render_card

    spec = importlib.util.spec_from_file_location("card_tests", ROOT / "tests" / "test_card.py")
    card_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card_tests)
    make_params = card_tests.make_params

    one = render_card(make_params(ranking=[{"rank": 1, "teacher": "t", "mean_lalp": -0.4, "lalp_95ci": (-0.5, -0.3)}],
                                  mix={"lalp": {"t": 1.0}, "galp": {"t": 1.0}}))
    assert " from 1 teacher," in str(one) and "1 teachers" not in str(one)
    two = str(render_card(make_params()))
    assert " from 2 teachers," in two
    configs = two[two.index("## Configs"):two.index("## Load it")]
    assert "with `messages` to train on" in configs and "`rejection_reason`" in configs and "\\`" not in configs
