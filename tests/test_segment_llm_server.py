"""`localnat segment` against a real OpenAI-compatible server: `transformers serve` with the embedded SmolLM2 on the CPU
(slow). SmolLM2 rarely answers in the requested form, so this exercises the HTTP path, the fallback and the cache;
the happy path's parsing is tested on recorded answers in test_segment_llm.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.scoring.prepare.llm_steps import sentences_of

pytestmark = pytest.mark.slow

#: Seconds `transformers serve` may take to answer /health (about 25 s on a busy 2-core CPU).
STARTUP_S = 240
ROWS = [
    {"question": "What is 2 + 2?", "teacher": "a", "response": "We add 2 and 2. That gives 4. So the answer is 4."},
    {"question": "What is 3 * 3?", "teacher": "b", "response": "Three times three is 9. Check: 9 / 3 = 3. Done."},
    {"question": "Empty?", "teacher": "b", "response": "  "},
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chat_requests(log: Path) -> int:
    return log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1"')


@pytest.fixture(scope="module")
def served(embedded_path, tmp_path_factory):
    """`transformers serve` on a free port of 127.0.0.1, pinned to the embedded SmolLM2; `(base url, model, log)`."""
    port, log = _free_port(), tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code, "serve", str(embedded_path), "--host", "127.0.0.1",
                                    "--port", str(port), "--device", "cpu"], stdout=out, stderr=subprocess.STDOUT,
                                   env=env)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not start in {STARTUP_S} s:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", str(embedded_path), log, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_segment_against_transformers_serve(served, tmp_path):
    url, model, log, process = served
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    runner = CliRunner()
    # one request at a time: transformers serve 5.25 on this CPU once left a second concurrent request waiting forever
    command = ["segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "steps.jsonl"), "--api-base", url,
               "--model", model, "--max-tokens", "16", "--retries", "0", "--concurrency", "1", "--cache",
               str(tmp_path / "cache.sqlite")]
    started = time.perf_counter()
    first = runner.invoke(main, command)
    seconds = time.perf_counter() - started
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    for row in rows:  # SPEC §1 on every row
        if row["response"].strip():
            assert "".join(row["steps"]) == row["response"] and row["segment_error"] is None
            if row["segment_fallback"]:
                assert row["steps"] == sentences_of(row["response"])
        else:
            assert row["steps"] is None and row["segment_error"] == "empty_response"
    marked = sum(row["segment_fallback"] for row in rows)
    assert f"; {marked} fell back to sentence steps" in first.stdout
    sent = _chat_requests(log)
    assert sent == 2 and "2 requests" in first.stdout  # one per row with text (--retries 0, one chunk each)
    record = json.loads((tmp_path / "steps.jsonl.hf_localnat.json").read_text())
    assert record["steps"]["endpoint_model"] == model and record["run"]["fallback_rows"] == marked
    print(f"\n[measured] 2 rows, {record['run']['prompt_tokens']} prompt + {record['run']['completion_tokens']} "
          f"completion tokens, {seconds:.1f} s (transformers serve, SmolLM2-135M, CPU)")

    again = runner.invoke(main, [*command, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert _chat_requests(log) == sent and " 0 requests" in again.stdout  # counted on the server's side too

    process.terminate()
    process.wait(timeout=30)
    stopped = runner.invoke(main, ["segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "other.jsonl"),
                                   "--api-base", url, "--model", model, "--max-retries", "0", "--cache",
                                   str(tmp_path / "empty.sqlite")])  # nothing cached: it must ask the server
    assert stopped.exit_code == 1 and not (tmp_path / "other.jsonl").exists()
    assert stopped.output.strip().splitlines()[-1] == (f"Error: Cannot reach the LLM endpoint {url}: start the server, "
                                                       "or fix --api-base (an OpenAI-compatible base URL, usually "
                                                       "ending in /v1).")
