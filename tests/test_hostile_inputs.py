"""Hostile input on every option that reads a file or a server (issue 35), through `localnat` in a subprocess as a
user runs it: each case ends in one `Error:` line that names the option or the file and the fix, with no traceback
and nothing written. Most fail before any model loads; docs/reliability.md has the table of these cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCORED = "".join(json.dumps({"question": f"q{q}", "teacher": t, "lalp": -1.0 - 0.1 * i - 0.01 * q,
                             "galp": -1.0 - 0.05 * i}) + "\n" for q in range(4) for i, t in enumerate("abcd"))


def localnat(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hf_localnat.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess, *expected: str) -> str:
    """Assert one `Error:` line holding every `expected` text, no traceback; return the line."""
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _huge(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(17 * 2**20)  # sparse: 17 MiB of zeros without writing them


#: --truth FILE variants: how to make the file -> what its one line says.
TRUTH_FILES = {
    "empty.json": (lambda p: p.write_bytes(b""), "is empty"),
    "blank.csv": (lambda p: p.write_text("\n \n"), "is empty"),
    "not_json.json": (lambda p: p.write_text("{A: 1"), "is not valid JSON"),
    "list_of_numbers.json": (lambda p: p.write_text("[1, 2, 3]"), "holds a JSON list"),
    "null.json": (lambda p: p.write_text("null"), "holds a JSON NoneType"),
    "text_value.json": (lambda p: p.write_text('{"a": "high"}'), "must be a number"),
    "binary.csv": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "is a binary file"),
    "latin1.csv": (lambda p: p.write_bytes(b"caf\xe9,1\n"), "is not UTF-8 text"),
    "huge.csv": (_huge, "at most 16 MiB"),
    "folder.json": (lambda p: p.mkdir(), "is a folder, not a file"),
    "missing.json": (lambda p: None, "no such file"),
    "unknown_teachers.csv": (lambda p: p.write_text("x,1\ny,2\nz,3\n"), "have 0 teacher(s) in common"),
    "one_column.csv": (lambda p: p.write_text("a\nb\n"), "every line of a truth CSV is teacher,value"),
}


@pytest.mark.parametrize("name", list(TRUTH_FILES))
def test_truth_files(tmp_path, name):
    make, expected = TRUTH_FILES[name]
    (tmp_path / "scored.jsonl").write_text(SCORED)
    make(tmp_path / name)
    done = localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--truth", str(tmp_path / name), "--plot",
                    str(tmp_path / "plot.png"))
    one_error_line(done, f"--truth {tmp_path / name}", expected)
    assert not (tmp_path / "plot.png").exists()


def test_a_truth_file_that_is_fine_still_ranks(tmp_path):
    (tmp_path / "scored.jsonl").write_text(SCORED)
    (tmp_path / "truth.json").write_text('{"a": 4, "b": 3, "c": 2, "d": 1}')
    done = localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--truth", str(tmp_path / "truth.json"),
                    "--resamples", "20")
    assert done.returncode == 0, done.stderr
    assert "Against the known ranking (a=4, b=3, c=2, d=1;" in done.stdout
