"""A soak of `localnat segment` (issue 35): 500 rows against a local endpoint on 127.0.0.1 that flaps (every 10th
request a 429 with `Retry-After`, every 17th a reset connection, every 23rd a 503), with `--concurrency 16`; the run is
killed with SIGKILL part-way and run again. Every row ends with its steps exactly once, the cache is consistent after
the kill, and the rerun sends no request for a row the cache holds. Bounded: 500 tiny answers, a kill after 200, a
subprocess timeout on each run."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hf_localnat.scoring.prepare.llm_steps import default_prompt, prompt_sha256, sentences_of, steps_from_starts
from hf_localnat.scoring.prepare.segment_llm import cache_key

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("llm_server", Path(__file__).with_name("llm_server.py"))
llm_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llm_server)

ROWS = 500
KILL_AFTER = 200  # answered requests before the SIGKILL


def flapping(n: int, prompt: str) -> str:
    if n % 10 == 0:
        return "429"
    if n % 17 == 0:
        return "reset"
    if n % 23 == 0:
        return "503"
    return "ok"


def _cache_rows(path: Path) -> dict[str, dict]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM answers")}
    finally:
        db.close()


@pytest.mark.slow
def test_a_flapping_endpoint_a_kill_and_a_rerun(tmp_path):
    rows = [{"question": f"Question {i}?", "teacher": "t", "response": f"Row {i} begins here. It goes on. "
             f"Then a third sentence. A fourth one. And it ends {i}."} for i in range(ROWS)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    server = llm_server.LLMServer(flapping)
    args = [sys.executable, "-m", "hf_localnat.cli", "segment", str(tmp_path / "in.jsonl"), "-o",
            str(tmp_path / "out.jsonl"), "--api-base", server.url, "--model", "fake-llm", "--cache",
            str(tmp_path / "cache.sqlite"), "--concurrency", "16", "--max-retries", "6", "--retries", "0",
            "--timeout", "10"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    try:
        first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while sum(server.answered.values()) < KILL_AFTER and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL and not (tmp_path / "out.jsonl").exists()
        answered_first = dict(server.answered)
        faults_first = sum(n for fault, n in server.requests.items() if fault != "ok")
        assert KILL_AFTER <= sum(answered_first.values()) < ROWS and faults_first > 0

        # the cache after the kill: intact, each entry the answer of one row that was answered, nothing half-written
        cached = _cache_rows(tmp_path / "cache.sqlite")
        assert 0 < len(cached) <= sum(answered_first.values())
        for value in cached.values():
            assert value["failure"] is None and value["starts"][0] == 0

        server.answered.clear()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"Segmented {ROWS} of {ROWS} rows ({len(cached)} from the cache" in done.stdout, done.stdout
        assert "0 fell back" in done.stdout
        # the rerun asked only for rows the cache did not hold, each once
        asked_again = server.answered
        assert sum(asked_again.values()) == ROWS - len(cached) and set(asked_again.values()) == {1}
        prompt_hash = prompt_sha256(default_prompt())
        for row in rows:
            key = cache_key(row["question"], row["response"], model="fake-llm", prompt_hash=prompt_hash,
                            chunk_sentences=80)
            first_sentence = sentences_of(row["response"])[0].strip()
            assert (key in cached) != (first_sentence in asked_again), row["response"]
    finally:
        server.close()

    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["response"] for r in out] == [r["response"] for r in rows]  # every row once, in order
    for row in out:
        sentences = sentences_of(row["response"])
        assert row["steps"] == steps_from_starts(sentences, list(range(0, len(sentences), 2)))
        assert row["segment_fallback"] is False and row["segment_error"] is None
    assert len(_cache_rows(tmp_path / "cache.sqlite")) == ROWS
