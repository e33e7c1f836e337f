"""`localnat segment` (SPEC §12): answer parsing on recorded answers, the mapping to steps that partition the response,
and the command end to end over real HTTP against a small OpenAI-compatible endpoint written here (fast); the same
against `transformers serve` is in test_segment_llm_server.py (slow)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.io.parts import response_part
from hf_localnat.scoring.prepare.llm_steps import (chunk_bounds, default_prompt, parse_step_starts, prompt_sha256,
                                                   render_prompt, sentences_of, steps_from_starts)
from hf_localnat.scoring.prepare.segment_llm import LLMSegmenter, read_steps_record

KEY = "sk-test-secret-0123456789"


@pytest.mark.parametrize(("answer", "count", "want"), [
    ("[1, 4, 7]", 8, [1, 4, 7]),                                      # valid
    ("[7, 1, 4]", 8, [1, 4, 7]),                                      # unsorted: sorted
    ("[4, 7]", 8, [1, 4, 7]),                                         # 1 missing: added
    ("[1, 4, 4]", 8, None),                                           # duplicated
    ("[1, 9]", 8, None),                                              # out of range
    ("[0, 2]", 8, None),                                              # out of range (numbers start at 1)
    ("Sure! The steps begin at sentences [1, 3, 6].\nHope this helps.", 8, [1, 3, 6]),  # prose around a list
    ("[]", 5, [1]),                                                   # an empty list: one step
    ("1, 3", 5, [1, 3]),                                              # no brackets: the whole answer
    ("[1] We add 2 and 2.\n[2] That is 4.\n[3]", 5, None),            # the sentences copied back
    ("The first and the third.", 5, None),                            # no list
    ("[1, two]", 5, None),
    ("", 5, None),
    (None, 5, None),
])
def test_recorded_answers_parse_per_spec(answer, count, want):
    assert parse_step_starts(answer, count) == want


@pytest.mark.parametrize("text", [
    "We add 2 and 2. That gives 4.  Check: 4 - 2 = 2.\n\nSo the answer is 4.",
    "  Leading spaces. Then a list:\n1. First.\n2. Second.\n\n$$x = 1$$ so 1.",
    "no punctuation at all",
])
def test_steps_from_any_valid_starts_partition_the_text(text):
    sentences = sentences_of(text)
    assert "".join(sentences) == text
    for starts in ([0], list(range(len(sentences))), [0, len(sentences) - 1], sorted({0, len(sentences) // 2})):
        steps = steps_from_starts(sentences, starts)
        assert "".join(steps) == text and len(steps) == len(set(starts))


def test_the_shipped_prompt_is_package_data_with_both_placeholders():
    prompt = default_prompt()
    assert "{question}" in prompt and "{sentences}" in prompt and len(prompt_sha256(prompt)) == 64
    rendered = render_prompt(prompt, "What?", ["A.\n\n", " B."])
    assert "[1] A.\n[2] B." in rendered and "What?" in rendered
    assert chunk_bounds(5, 2) == [(0, 2), (2, 4), (4, 5)] and chunk_bounds(0, 3) == []


# ------------------------------------------------------------------------------------ an OpenAI-compatible endpoint
class Endpoint:
    """A minimal OpenAI-compatible chat-completions server on 127.0.0.1: `/v1/models` lists `fake-llm`; a chat
    completion answers a list of sentence numbers (every other sentence begins a step), or prose when the question
    contains BAD. `mode`: `ok`, `401`, `500`. Counts the chat requests and records the Authorization headers."""

    def __init__(self) -> None:
        self.mode, self.chat_requests, self.auth, self.closed = "ok", 0, set(), False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                endpoint.auth.add(self.headers.get("Authorization"))
                if endpoint.mode == "401":
                    return self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
                self._send(200, {"object": "list", "data": [{"id": "fake-llm", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.auth.add(self.headers.get("Authorization"))
                endpoint.chat_requests += 1
                if endpoint.mode in ("401", "500"):
                    return self._send(int(endpoint.mode), {"error": {"message": "no", "type": "x"}})
                prompt = body["messages"][0]["content"]
                count = len(re.findall(r"^\[\d+\] ", prompt, flags=re.M))
                answer = ("I think the steps are the first and the last." if "BAD" in prompt
                          else f"Steps begin at: {list(range(count, 0, -2))}")  # unsorted, 1 may be missing
                self._send(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "fake-llm-v1",
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": answer}}],
                                 "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def endpoint():
    server = Endpoint()
    yield server
    server.close()


ROWS = [
    {"question": "What is 2 + 2?", "teacher": "a",
     "response": "We add 2 and 2. That gives 4. Check: 4 - 2 = 2. So the answer is 4. Done."},
    {"question": "BAD question", "teacher": "a", "response": "One. Two. Three."},
    {"question": "What is 3 * 3?", "teacher": "b",
     "response": "<think>Three times three. That is 9. Yes, 9.</think>\n\nThe answer is 9."},
    {"question": "Empty?", "teacher": "b", "response": "   "},
    {"question": "BAD again", "teacher": "b", "response": "Alpha. Beta."},
]


def segment(runner, source, output, endpoint, *extra, env=None):
    return runner.invoke(main, ["segment", str(source), "-o", str(output), "--api-base", endpoint.url, "--model",
                                "fake-llm", "--api-key-env", "FAKE_KEY", "--retries", "1", "--max-retries", "0",
                                *extra], env={"FAKE_KEY": KEY, **(env or {})})


def check_rows(rows, part="full"):
    """SPEC §1 on every row: the steps partition the (part of the) response; rows without text have no steps."""
    for row in rows:
        text, error = response_part(row["response"], part)
        if error or not text.strip():
            assert row["steps"] is None and row["segment_error"] and not row["segment_fallback"]
        else:
            assert "".join(row["steps"]) == text and all(s.strip() for s in row["steps"])
            if row["segment_fallback"]:
                assert row["steps"] == sentences_of(text)


def test_segment_end_to_end_then_from_the_cache_then_scored(endpoint, tmp_path, tiny_model_path):
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    runner, cache = CliRunner(), ["--cache", str(tmp_path / "cache.sqlite")]
    first = segment(runner, tmp_path / "in.jsonl", tmp_path / "steps.jsonl", endpoint, *cache, "--chunk-sentences", "3")
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    check_rows(rows)
    marked = sum(r["segment_fallback"] for r in rows)
    assert marked == 2 and f"{marked} fell back to sentence steps" in first.stdout
    # row 0: 5 sentences in chunks of 3 and 2; answers [3, 1] and [2] -> starts 0, 2 | 3, 4
    assert rows[0]["steps"] == ["We add 2 and 2. That gives 4. ", "Check: 4 - 2 = 2. ", "So the answer is 4. ", "Done."]
    requests = endpoint.chat_requests
    # one request per chunk of 3 sentences; a BAD row is asked twice (--retries 1), then falls back
    assert requests == sum(2 if "BAD" in r["question"] else len(chunk_bounds(len(sentences_of(r["response"])), 3))
                           for r in ROWS if r["response"].strip())
    assert endpoint.auth == {f"Bearer {KEY}"}
    record = read_steps_record(str(tmp_path / "steps.jsonl"))
    assert record == {"kind": "llm", "model": "fake-llm", "endpoint_model": "fake-llm-v1", "chunk_sentences": 3,
                      "prompt_sha256": prompt_sha256(default_prompt()), "sentences": "pysbd", "response_part": "full"}

    again = segment(runner, tmp_path / "in.jsonl", tmp_path / "steps.jsonl", endpoint, *cache, "--chunk-sentences",
                    "3", "--overwrite")
    assert again.exit_code == 0, again.output
    assert endpoint.chat_requests == requests and "(4 from the cache" in again.stdout and " 0 requests" in again.stdout
    assert [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()] == rows
    assert read_steps_record(str(tmp_path / "steps.jsonl")) == record

    scored = runner.invoke(main, ["score", str(tmp_path / "steps.jsonl"), "-o", str(tmp_path / "scored.jsonl"),
                                  "--model", str(tiny_model_path), "--segmenter", "given", "--window", "10%"])
    assert scored.exit_code == 0, scored.output
    assert "LLM steps: 2 of 5 rows fell back to sentence steps" in scored.stdout
    provenance = json.loads((tmp_path / "scored.jsonl.hf_localnat.json").read_text())
    assert provenance["definition"]["steps_provenance"] == record and provenance["definition"]["window"] == "10%"
    for path in tmp_path.iterdir():  # the key reaches no output
        if path.is_file() and path.suffix != ".sqlite":
            assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in first.output + again.output + scored.output


def test_thinking_part_and_conversations(endpoint, tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": r["response"]}]}
            for r in ROWS]
    Dataset.from_list(rows).to_json(tmp_path / "conv.jsonl")
    result = segment(CliRunner(), tmp_path / "conv.jsonl", tmp_path / "steps.parquet", endpoint, "--response-part",
                     "thinking", "--cache", str(tmp_path / "c.sqlite"))
    assert result.exit_code == 0, result.output
    out = Dataset.from_parquet(str(tmp_path / "steps.parquet")).to_list()
    check_rows(out, "thinking")
    assert [r["segment_error"] for r in out] == ["no_thinking_block", "no_thinking_block", None, "no_thinking_block",
                                                 "no_thinking_block"]
    assert read_steps_record(str(tmp_path / "steps.parquet"))["response_part"] == "thinking"


def test_a_failing_endpoint_stops_with_one_line_keeps_finished_rows_and_the_rerun_resumes(endpoint, tmp_path):
    # an endpoint whose first STOP_AFTER requests all fail the same way stops the run (6 x 4 rows with text)
    Dataset.from_list(ROWS * 6).to_json(tmp_path / "many.jsonl")
    runner, cache = CliRunner(), ["--cache", str(tmp_path / "cache.sqlite"), "--concurrency", "1"]
    endpoint.mode = "500"
    failed = segment(runner, tmp_path / "many.jsonl", tmp_path / "out.jsonl", endpoint, *cache)
    assert failed.exit_code == 1 and not (tmp_path / "out.jsonl").exists()
    assert failed.output.strip().splitlines()[-1] == (
        f"Error: The LLM endpoint {endpoint.url} gave no valid answer to the first 20 requests: each got 5xx, even "
        "after the client's retries (server_error; last: 'InternalServerError 500'); check the server (or the proxy "
        "in front of it), --api-base and --model, then rerun (finished rows are cached).")
    assert endpoint.chat_requests == 20  # a 5xx the client retried (--max-retries) is not asked again
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    endpoint.mode = "ok"
    # a run stopped after its first finished row (as a kill would): that row, and only it, is committed to the cache
    from hf_localnat.scoring.prepare.segment_llm import StepCache, segment_rows

    segmenter = LLMSegmenter(api_base=endpoint.url, model="fake-llm", prompt=default_prompt(), api_key_env="FAKE_KEY",
                             retries=1, max_retries=0)
    store = StepCache(tmp_path / "cache.sqlite")

    class Stop(Exception):
        pass

    def stop():
        raise Stop

    with pytest.raises(Stop):
        segment_rows(segmenter, [r["response"] for r in ROWS], [r["question"] for r in ROWS], part="full", cache=store,
                     prompt_hash=prompt_sha256(default_prompt()), concurrency=1, progress=False, on_row=stop)
    store.close()
    before = endpoint.chat_requests
    resumed = segment(runner, tmp_path / "in.jsonl", tmp_path / "out.jsonl", endpoint, *cache)
    assert resumed.exit_code == 0, resumed.output
    assert "(1 from the cache" in resumed.stdout
    assert endpoint.chat_requests - before == 2 + 1 + 2  # rows 1, 2 and 4; row 0 (one request) came from the cache
    check_rows([json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()])


def test_endpoint_failures_are_one_line_each(endpoint, tmp_path):
    Dataset.from_list(ROWS[:1]).to_json(tmp_path / "in.jsonl")
    runner, cache = CliRunner(), ["--cache", str(tmp_path / "cache.sqlite")]
    endpoint.mode = "401"
    bad_key = segment(runner, tmp_path / "in.jsonl", tmp_path / "out.jsonl", endpoint, *cache)
    assert bad_key.exit_code == 1 and bad_key.output.strip().splitlines()[-1] == (
        f"Error: The LLM endpoint {endpoint.url} refused the key (401): set FAKE_KEY to a valid key, or name another "
        "variable with --api-key-env.")
    endpoint.mode = "ok"
    wrong = runner.invoke(main, ["segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                                 "--api-base", endpoint.url, "--model", "other-llm", *cache])
    assert wrong.exit_code == 1 and wrong.output.strip().splitlines()[-1] == (
        f"Error: The LLM endpoint {endpoint.url} has no model 'other-llm' (it serves fake-llm): fix --model.")
    url = endpoint.url
    endpoint.close()
    gone = runner.invoke(main, ["segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                                "--api-base", url, "--model", "fake-llm", "--max-retries", "0", *cache])
    assert gone.exit_code == 1 and gone.output.strip().splitlines()[-1] == (
        f"Error: Cannot reach the LLM endpoint {url}: start the server, or fix --api-base (an OpenAI-compatible base "
        "URL, usually ending in /v1).")
    assert not (tmp_path / "out.jsonl").exists() and endpoint.chat_requests == 0  # each stopped at /v1/models


def test_steps_made_differently_are_refused_when_pooled(endpoint, tmp_path, tiny_model_path):
    rows = [r for r in ROWS if "BAD" not in r["question"] and r["response"].strip()]
    Dataset.from_list(rows).to_json(tmp_path / "in.jsonl")
    (tmp_path / "prompt.txt").write_text(default_prompt() + "\nBe brief.\n")
    runner = CliRunner()
    for name, extra in (("a", []), ("b", ["--prompt-file", str(tmp_path / "prompt.txt")])):
        result = segment(runner, tmp_path / "in.jsonl", tmp_path / f"{name}.jsonl", endpoint, "--cache",
                         str(tmp_path / "c.sqlite"), *extra)
        assert result.exit_code == 0, result.output
    assert read_steps_record(str(tmp_path / "b.jsonl"))["prompt_sha256"] == prompt_sha256(default_prompt() + "\nBe brief.\n")
    both = runner.invoke(main, ["score", f"x={tmp_path / 'a.jsonl'}", f"y={tmp_path / 'b.jsonl'}", "-o",
                                str(tmp_path / "s.jsonl"), "--model", str(tiny_model_path), "--segmenter", "given"])
    assert both.exit_code == 1 and "The inputs' steps were made differently" in both.output
    for name in ("a", "b"):
        result = runner.invoke(main, ["score", str(tmp_path / f"{name}.jsonl"), "-o", str(tmp_path / f"s{name}.jsonl"),
                                      "--model", str(tiny_model_path), "--segmenter", "given"])
        assert result.exit_code == 0, result.output
    pooled = runner.invoke(main, ["rank-teachers", str(tmp_path / "sa.jsonl"), str(tmp_path / "sb.jsonl")])
    assert pooled.exit_code == 1 and "steps_provenance differs" in pooled.output
    unscored = runner.invoke(main, ["rank-teachers", str(tmp_path / "a.jsonl")])
    assert unscored.exit_code == 1 and "records how its steps were made" in unscored.output
