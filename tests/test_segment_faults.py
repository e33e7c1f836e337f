"""`localnat segment` against every reply a real server or a proxy can send (issue 35), through the command in a
subprocess as a user runs it, against tests/llm_server.py on 127.0.0.1: each bad reply is a failed answer of its row
(asked again, then a counted fallback); replies the client retries (429, 5xx, resets, cut bodies) recover; an
endpoint whose first answers all fail the same way stops the run with one line; a row that fell back because the
endpoint failed is not cached, so a rerun asks again, while an answer of the model is."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("llm_server", Path(__file__).with_name("llm_server.py"))
llm_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llm_server)

ROWS = [{"question": f"Q{i}?", "teacher": "a", "response": f"Row {i} starts. Then a second step. And a third. Done {i}."}
        for i in range(3)]


@pytest.fixture
def server():
    endpoint = llm_server.LLMServer()
    yield endpoint
    endpoint.close()


def localnat(*args: str, timeout: float = 120, in_process: bool = False) -> subprocess.CompletedProcess:
    """Run `localnat ARGS` in a subprocess, as a user does; `in_process`: through click's runner in this process (the
    same command and the same HTTP, without the ~2 s start of a Python process; for the long matrix)."""
    if in_process:
        from click.testing import CliRunner

        from hf_localnat.cli import main

        result = CliRunner().invoke(main, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "hf_localnat.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def segment(tmp_path: Path, server, rows=ROWS, *extra: str, in_process: bool = False) -> subprocess.CompletedProcess:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return localnat("segment", str(source), "-o", str(tmp_path / "out.jsonl"), "--api-base", server.url, "--model",
                    "fake-llm", "--cache", str(tmp_path / "cache.sqlite"), "--retries", "1", "--max-retries", "1",
                    "--timeout", "0.5", "--overwrite", *extra, in_process=in_process)


def out_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


#: fault -> (the reason counted, whether the fallback is cached, requests per row: re-asked or retried by the client)
FAULTS = {
    "not_json": ("not_json", False, 2),
    "empty_choices": ("no_choices", False, 2),
    "content_null": ("no_content", True, 2),
    "wrong_types": ("wrong_type", False, 2),
    "wrong_content_type": ("wrong_type", False, 2),
    "error_200": ("error_object", False, 2),
    "prose": ("invalid_answer", True, 2),
    "truncated": ("connection", False, 2),
    "reset": ("connection", False, 2),
    "hang": ("timeout", False, 2),
    "429": ("rate_limit", False, 2),
    "503": ("server_error", False, 2),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_bad_reply_is_a_counted_fallback_and_a_rerun_asks_only_what_the_endpoint_failed(tmp_path, server,
                                                                                              fault):
    reason, cached, per_row = FAULTS[fault]
    server.faults = lambda n, prompt: fault
    done = segment(tmp_path, server, in_process=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = out_rows(tmp_path / "out.jsonl")
    assert [r["segment_fallback"] for r in rows] == [True] * 3
    assert all("".join(r["steps"]) == r["response"] for r in rows)
    assert f"3 fell back to sentence steps (segment_fallback = true: 3 {reason}" in done.stdout, done.stdout
    assert ("not cached" in done.stdout) is not cached
    assert server.requests[fault] == 3 * per_row
    server.faults = lambda n, prompt: "ok"
    again = segment(tmp_path, server, in_process=True)
    assert again.returncode == 0, again.stderr
    assert server.requests["ok"] == (0 if cached else 3)
    assert [r["segment_fallback"] for r in out_rows(tmp_path / "out.jsonl")] == [cached] * 3


def test_the_issue_case_a_proxy_answering_html_everywhere_falls_back_per_row(tmp_path, server):
    server.models_fault = "not_json"
    server.faults = lambda n, prompt: "not_json"
    done = segment(tmp_path, server)
    assert done.returncode == 0, done.stderr
    assert "3 fell back to sentence steps (segment_fallback = true: 3 not_json; 3 of them not cached" in done.stdout
    assert server.requests["not_json"] == 6  # each row asked twice (--retries 1)


def test_replies_the_client_retries_recover(tmp_path, server):
    cycle = ["429", "ok", "503", "ok", "reset", "ok", "truncated", "ok"]
    server.faults = lambda n, prompt: cycle[(n - 1) % len(cycle)]
    done = segment(tmp_path, server, ROWS, "--concurrency", "1", "--max-retries", "2")
    assert done.returncode == 0, done.stderr
    assert [r["segment_fallback"] for r in out_rows(tmp_path / "out.jsonl")] == [False] * 3
    assert "0 fell back" in done.stdout and server.requests["ok"] == 3


def test_first_answers_failing_the_same_way_stop_the_run_in_one_line(tmp_path, server):
    rows = [{"question": f"Q{i}?", "response": f"Sentence {i}. Another."} for i in range(60)]
    server.faults = lambda n, prompt: "not_json"
    error = one_error_line(segment(tmp_path, server, rows, "--concurrency", "4"))
    assert error.startswith(f"Error: The LLM endpoint {server.url} gave no valid answer to the first 20 requests: "
                            "each got a body that is not JSON"), error
    assert "(not_json; last: '<html>" in error and "rerun (finished rows are cached)" in error
    assert 20 <= server.requests["not_json"] < 20 + 4 and not (tmp_path / "out.jsonl").exists()


def test_answers_before_the_endpoint_breaks_stay_cached_and_the_run_does_not_stop(tmp_path, server):
    rows = [{"question": f"Q{i}?", "response": f"Sentence {i}. Another."} for i in range(30)]
    server.faults = lambda n, prompt: "ok" if n <= 5 else "error_200"
    done = segment(tmp_path, server, rows, "--concurrency", "1", "--retries", "0")
    assert done.returncode == 0, done.stderr  # 25 failures in a row, but after valid answers: no stop
    assert "25 fell back to sentence steps (segment_fallback = true: 25 error_object; 25 of them not cached" in done.stdout
    server.faults = lambda n, prompt: "ok"
    again = segment(tmp_path, server, rows, "--concurrency", "1")
    assert again.returncode == 0 and "(5 from the cache" in again.stdout, again.stdout
    assert server.requests["ok"] == 30  # the 5 answered once, the 25 asked again once
    assert not any(r["segment_fallback"] for r in out_rows(tmp_path / "out.jsonl"))
