"""Steps grouped by an LLM (SPEC §12, the paper's v2 setting) over an OpenAI-compatible chat-completions endpoint
(vLLM, SGLang, TGI, `transformers serve`, hosted APIs), with the `openai` client library.

`LLMSegmenter.segment` turns one response into steps: its sentences (SPEC §1) go to the LLM in chunks of at most
`chunk_sentences`, numbered from 1, with the question; a valid answer (`prepare.llm_steps.parse_step_starts`) groups
them into steps; an invalid one is asked again `retries` times, then the row falls back to its sentence steps
(`segment_fallback = true`). The client retries 429 (after its `Retry-After`), 5xx, timeouts and dropped connections
itself, with exponential backoff (`max_retries`). Every other reply a server or a proxy can send (a body that is not
JSON, HTTP 200 carrying an error object, no `choices`, `content: null`, wrong types) is read as a failed answer with a
reason (`FAILURES`), asked again, then counted as a fallback. An endpoint that cannot be reached, does not know the
model or refuses the key stops the run with one line (`EndpointError`); so does one whose first `STOP_AFTER` answers
all fail the same way, instead of falling back on every row of a dataset it will never answer.

`segment_rows` runs a dataset's rows on `concurrency` threads, reading and writing a `StepCache` (SQLite, one
committed row at a time, keyed by the question and text, the model, the prompt's sha256 and the chunk size): a rerun,
or a run resumed after a kill, sends no request for a row already done. A row that fell back because the endpoint
failed (not because the model answered wrongly) is not cached: a rerun asks again. The key never enters an output, a log or a
card: it is read from the environment variable the caller names.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError, EndpointError, ProvenanceError
from ...io.parts import response_part
from .llm_steps import (SEGMENT_FALLBACK, canonical, chunk_bounds, parse_step_starts, render_prompt,
                                        sentences_of, steps_from_starts)
from .segment import is_text


@dataclass(frozen=True)
class StepsRecord:
    """What `localnat segment` records beside its output (a Parquet footer or a sidecar, key `hf_localnat`), in the
    place a scored output keeps its provenance.

    Attributes:
        steps (`dict`): the steps' provenance (`llm_steps.steps_record`), part of the scoring definition.
        run (`dict`): what the run did: rows, rows with a fallback, tokens used.
    """

    steps: Mapping[str, Any]
    run: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Canonical JSON: `{"run": {...}, "steps": {...}}`."""
        return json.dumps({"steps": dict(self.steps), "run": dict(self.run)}, sort_keys=True)


def read_steps_record(source: str, storage_options: Mapping[str, Any] | None = None) -> dict | None:
    """The steps' provenance recorded with an output of `localnat segment` (its Parquet footer, its sidecar, or
    `hf_localnat.json` in a folder), or `None` (no record, a Hub id, or a record that is a scored provenance).

    Raises:
        ProvenanceError: the record is there but is not valid JSON.
    """
    from ...io import remote
    from ...provenance import FOLDER_FILE, METADATA_KEY, sidecar_path

    raw = None
    if remote.is_url(source):
        fs, path = remote.filesystem(source, storage_options)
        side_fs, side = remote.filesystem(remote.sidecar_url(source), storage_options)
        if remote.suffix_of(source) == ".parquet" and fs.isfile(path):
            import pyarrow.parquet as pq

            with fs.open(path, "rb") as f:
                raw = (pq.read_schema(f).metadata or {}).get(METADATA_KEY.encode())
        elif side_fs.isfile(side):
            with side_fs.open(side, "rb") as f:
                raw = f.read()
    else:
        path = Path(remote.local_path(source)).expanduser()
        if path.is_file() and path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY.encode())
        elif path.exists():
            side = path / FOLDER_FILE if path.is_dir() else sidecar_path(path)
            raw = side.read_bytes() if side.is_file() else None
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ProvenanceError(f"The record of how the steps of {source} were made cannot be read ({e}); run "
                              "`localnat segment` again to rewrite it.") from e
    steps = data.get("steps") if isinstance(data, dict) else None
    if steps is None and isinstance(data, dict):  # a scored output: its definition may carry the steps' provenance
        steps = (data.get("definition") or {}).get("steps_provenance")
    return dict(steps) if isinstance(steps, dict) else None


def inputs_steps_provenance(inputs: Sequence[str], storage_options: Mapping[str, Any] | None = None) -> dict | None:
    """The one steps' provenance of all INPUTs (`NAME=INPUT` allowed) for `score --segmenter given`: `None` when
    none records one.

    Raises:
        ProvenanceError: the inputs' steps were made differently, or only some inputs record how.
    """
    from ...io import split_named_input

    records = [read_steps_record(split_named_input(value)[1], storage_options) for value in inputs]
    known = {canonical(r) for r in records if r is not None}
    if not known:
        return None
    if len(known) > 1 or None in records:
        which = ", ".join(f"{value}: {'recorded' if r else 'not recorded'}" for value, r in zip(inputs, records))
        raise ProvenanceError(f"The inputs' steps were made differently (model, prompt or chunking of `localnat "
                              f"segment`, or not by it: {which}); segment them again with one setting before "
                              "scoring them together.")
    return next(r for r in records if r is not None)


class StepCache:
    """Answers already obtained, on disk (SQLite; each `put` is one committed transaction, so a killed run keeps
    every row it finished). Keys: `cache_key`. Values: `{"starts": [...] or None (a fallback), "endpoint_model"}`.
    Used from one thread (the one that runs `segment_rows`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        fix = "remove it (it only saves requests) or name another --cache"
        if self.path.is_dir():
            raise ConfigError(f"--cache {self.path} is a folder; the answers' cache is a SQLite file: name a file, "
                              "e.g. --cache answers.sqlite.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()
            self._db.execute("SELECT key, value FROM answers LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:  # not SQLite, damaged, another schema, read-only, locked
            raise ConfigError(f"--cache {self.path} cannot be used as the answers' cache ({e}): {fix}.") from e
        except OSError as e:
            raise ConfigError(f"--cache {self.path} cannot be created ({e.strerror or e}): name another "
                              "--cache.") from e

    def get(self, key: str) -> dict | None:
        """The cached answer of `key`, or `None` (also for a value damaged in the file: the row is asked again)."""
        try:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
            value = json.loads(row[0]) if row else None
        except (sqlite3.DatabaseError, ValueError, TypeError) as e:
            if isinstance(e, sqlite3.DatabaseError) and "malformed" not in str(e):
                raise ConfigError(f"--cache {self.path} cannot be read ({e}): remove it or name another "
                                  "--cache.") from e
            return None
        if not isinstance(value, dict) or "starts" not in value:
            return None
        starts = value["starts"]
        if starts is not None and not (isinstance(starts, list) and all(type(n) is int and n >= 0 for n in starts)):
            return None
        return value

    def put(self, key: str, value: dict) -> None:
        try:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(value)))
        except sqlite3.DatabaseError as e:  # damaged since it was opened, or the disk is full
            raise ConfigError(f"--cache {self.path} cannot be written ({e}): remove it or name another --cache, then "
                              "rerun.") from e

    def close(self) -> None:
        self._db.close()


def cache_key(question: str | None, text: str, *, model: str, prompt_hash: str, chunk_sentences: int) -> str:
    """The cache key of one row: sha256 of its question and text, the model, the prompt's sha256 and the chunking."""
    payload = json.dumps([question, text, model, prompt_hash, chunk_sentences])
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def _endpoint_error(error: BaseException, api_base: str, model: str, api_key_env: str) -> EndpointError | None:
    """The one line for an error of the endpoint that stops the run (no such endpoint, model or key), or `None` for
    an error of one request (a timeout, a reset, 429, 5xx after the client's retries: `_request_failure`)."""
    import openai

    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return EndpointError(f"The LLM endpoint {api_base} refused the key ({error.status_code}): set {api_key_env} "
                             "to a valid key, or name another variable with --api-key-env.")
    if isinstance(error, openai.NotFoundError):
        return EndpointError(f"The LLM endpoint {api_base} has no model {model!r} (404): fix --model (the server's "
                             "/v1/models lists its names) or --api-base (usually ending in /v1).")
    return None


def _unreachable(error: BaseException, api_base: str) -> EndpointError | None:
    """The one line for an endpoint that does not answer its first request (`check`)."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return EndpointError(f"The LLM endpoint {api_base} did not answer in time, even after retries: check that "
                             "it is up and not overloaded, or raise --timeout / lower --concurrency.")
    if isinstance(error, openai.APIConnectionError):
        return EndpointError(f"Cannot reach the LLM endpoint {api_base}: start the server, or fix --api-base (an "
                             "OpenAI-compatible base URL, usually ending in /v1).")
    if isinstance(error, openai.RateLimitError):
        return EndpointError(f"The LLM endpoint {api_base} kept answering 429 (rate limit) after retries: lower "
                             "--concurrency and rerun (finished rows are cached).")
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return EndpointError(f"The LLM endpoint {api_base} kept failing ({error.status_code}) after retries: check "
                             "the server, then rerun (finished rows are cached).")
    return None


#: Why one request gave no usable answer -> the words of the one line that stops a run whose first answers all fail
#: the same way. The first two are answers of the model (cached as a fallback: asking again gets the same); the
#: others are failures of the endpoint or of a proxy (not cached: a rerun asks again).
FAILURES = {
    "invalid_answer": "not a valid list of sentence numbers",
    "no_content": "a completion with no content (content null or empty)",
    "not_json": "a body that is not JSON (an HTML error page or a cut reply?)",
    "error_object": "HTTP 200 carrying an error object",
    "no_choices": "a completion with no choices",
    "wrong_type": "a completion whose fields have the wrong types",
    "timeout": "no answer in time, even after the client's retries",
    "connection": "a dropped connection or a body cut mid-way, even after the client's retries",
    "rate_limit": "429 (rate limit), even after the client's retries",
    "server_error": "5xx, even after the client's retries",
    "refused": "a 4xx refusal of the request (too long for the server's context?)",
}
#: Failures that are the model's answer (cached); the others are the endpoint's (not cached).
ANSWER_FAILURES = frozenset({"invalid_answer", "no_content"})
#: Failures the client already retried (`max_retries`): the row is not asked again.
RETRIED_BY_CLIENT = frozenset({"timeout", "connection", "rate_limit", "server_error", "refused"})
#: A run whose first STOP_AFTER requests all fail the same way (no valid answer yet) stops with one line.
STOP_AFTER = 20


@dataclass(frozen=True)
class Completion:
    """What one chat-completions body holds: the answer's text and the name and token counts the endpoint reports,
    or the reason it holds no answer (`failure`, a key of `FAILURES`) and a short quote of it (`detail`)."""

    content: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failure: str | None = None
    detail: str = ""


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def read_completion(body: bytes) -> Completion:
    """Read a chat-completions body as an OpenAI-compatible server should write it, and as anything else a server
    or a proxy may send instead (never raises)."""
    quote = body[:120].decode("utf-8", "replace").replace("\n", " ").strip()
    try:
        data = json.loads(body)
    except ValueError:
        return Completion(failure="not_json", detail=quote or "an empty body")
    if not isinstance(data, dict):
        return Completion(failure="wrong_type", detail=quote)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    model = data.get("model") if isinstance(data.get("model"), str) else None
    counts = {"model": model, "prompt_tokens": _count(usage.get("prompt_tokens")),
              "completion_tokens": _count(usage.get("completion_tokens"))}
    choices = data.get("choices")
    if data.get("error") and not choices:
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return Completion(failure="error_object", detail=str(message)[:120], **counts)
    if choices is None or choices == []:
        return Completion(failure="no_choices", detail=quote, **counts)
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        return Completion(failure="wrong_type", detail=quote, **counts)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return Completion(failure="wrong_type", detail=quote, **counts)
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text, in order
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        content = "".join(t for t in texts if isinstance(t, str)) if len(texts) == len(content) else 0
    if content is None or content == "":
        return Completion(failure="no_content", detail=quote, **counts)
    if not isinstance(content, str):
        return Completion(failure="wrong_type", detail=quote, **counts)
    return Completion(content=content, **counts)


def _request_failure(error: BaseException) -> str | None:
    """The `FAILURES` key of an error of one request that no run-wide line covers (`None` for any other error)."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.RateLimitError):
        return "rate_limit"
    if isinstance(error, openai.APIStatusError):
        return "server_error" if error.status_code >= 500 else "refused"
    return None


@dataclass
class Usage:
    """Requests sent and tokens used (as the endpoint reports them), summed over threads."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.requests += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion


class LLMSegmenter:
    """Asks an OpenAI-compatible chat-completions endpoint where the steps of a response begin (SPEC §12).

    Args:
        api_base (`str`): the endpoint's base URL (`http://127.0.0.1:8000/v1`).
        model (`str`): the model name to request.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the key;
            when it is unset, a placeholder is sent (local servers take any key).
        prompt (`str`): the prompt template (`{question}`, `{sentences}`); `llm_steps.default_prompt()` by default.
        chunk_sentences (`int`, *optional*, defaults to 80): sentences per request at most.
        retries (`int`, *optional*, defaults to 2): how many more times an invalid answer is asked again.
        max_retries (`int`, *optional*, defaults to 5): the client's retries of 429, 5xx, timeouts, with backoff.
        timeout (`float`, *optional*, defaults to 120): seconds per request.
        max_tokens (`int`, *optional*): bound on each answer's tokens (`None`: the server's default).
        temperature (`float`, *optional*, defaults to 0).
    """

    def __init__(self, *, api_base: str, model: str, prompt: str, api_key_env: str = "OPENAI_API_KEY",
                 chunk_sentences: int = 80, retries: int = 2, max_retries: int = 5, timeout: float = 120.0,
                 max_tokens: int | None = None, temperature: float = 0.0) -> None:
        try:
            import openai
        except ImportError as e:
            raise ConfigError("`localnat segment` needs the openai client library: pip install 'hf-localnat[llm]'.") from e

        self.api_base, self.model, self.prompt, self.api_key_env = api_base, model, prompt, api_key_env
        self.chunk_sentences, self.retries, self.max_tokens, self.temperature = chunk_sentences, retries, max_tokens, temperature
        self.usage = Usage()
        self._lock = threading.Lock()
        self._answered, self._failures, self._streak, self._last, self._detail = False, 0, 0, None, ""
        self._stop: EndpointError | None = None
        self.endpoint_models: set[str] = set()  # the names the endpoint answered with (`segment_rows` fills it)
        self.client = openai.OpenAI(base_url=api_base, api_key=os.environ.get(api_key_env) or "no-key",
                                    max_retries=max_retries, timeout=timeout)

    def check(self) -> None:
        """Ask the endpoint for its models once, before the first request of a run: an endpoint that cannot be
        reached, refuses the key or does not list the model fails here, in one line. An endpoint without a model
        list (404 on /models), or with one that is not the JSON it should be, is not checked.

        Raises:
            EndpointError: the endpoint cannot be reached, refuses the key, or does not list the model.
        """
        import openai

        try:
            body = self.client.models.with_raw_response.list().http_response.content
        except openai.NotFoundError:
            return
        except openai.OpenAIError as e:
            raise (_endpoint_error(e, self.api_base, self.model, self.api_key_env)
                   or _unreachable(e, self.api_base) or e) from None
        try:
            data = json.loads(body)
        except ValueError:
            return  # the chat requests will say what this endpoint answers
        listed = data.get("data") if isinstance(data, dict) else None
        names = [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(
            listed, list) else []
        if names and self.model not in names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise EndpointError(f"The LLM endpoint {self.api_base} has no model {self.model!r} (it serves {shown}): "
                                "fix --model.")

    def _record(self, failure: str | None, detail: str) -> None:
        """Count one request's outcome; stop the run when its first requests all failed the same way.

        Raises:
            EndpointError: `STOP_AFTER` requests in a row failed the same way (or `2 x STOP_AFTER` in any way) before
                any valid answer; then every thread's next request stops too.
        """
        with self._lock:
            if self._stop is None and not self._answered:
                if failure is None:
                    self._answered = True
                else:
                    self._failures += 1
                    self._streak = self._streak + 1 if failure == self._last else 1
                    self._last, self._detail = failure, detail
                    if self._streak >= STOP_AFTER or self._failures >= 2 * STOP_AFTER:
                        what = (f"each got {FAILURES[failure]}" if self._streak >= STOP_AFTER
                                else f"the last got {FAILURES[failure]}")
                        count = self._streak if self._streak >= STOP_AFTER else self._failures
                        self._stop = EndpointError(
                            f"The LLM endpoint {self.api_base} gave no valid answer to the first {count} requests: "
                            f"{what} ({failure}; last: {detail[:80]!r}); check the server (or the proxy in front of "
                            "it), --api-base and --model, then rerun (finished rows are cached).")
            if self._stop is not None:
                raise self._stop

    def ask(self, question: str | None, sentences: Sequence[str]) -> tuple[list[int] | None, str | None, str | None]:
        """The sentence numbers (1-based) that begin a step in these sentences, or `None` when no answer was valid
        after `retries` more tries; the model name the endpoint answered with; and why no answer was valid (a key of
        `FAILURES`, `None` when one was).

        An answer that is not a valid list, or a body with no answer in it (not JSON, an error object, no choices, no
        content, wrong types) is asked again; a timeout, a dropped connection, 429, 5xx and other 4xx refusals were
        already retried by the client (`max_retries`) and are not.

        Raises:
            EndpointError: the endpoint has no such model or refuses the key, or its first requests all failed the
                same way (`STOP_AFTER`).
        """
        import openai

        messages = [{"role": "user", "content": render_prompt(self.prompt, question, sentences)}]
        options = {"max_tokens": self.max_tokens} if self.max_tokens is not None else {}
        answered, failure = None, None
        for _ in range(1 + self.retries):
            if self._stop is not None:  # a stopped run stops every thread
                raise self._stop
            try:
                raw = self.client.chat.completions.with_raw_response.create(
                    model=self.model, messages=messages, temperature=self.temperature, **options)
                completion = read_completion(raw.http_response.content)
            except openai.OpenAIError as e:
                fatal = _endpoint_error(e, self.api_base, self.model, self.api_key_env)
                if fatal is not None:
                    raise fatal from None  # one line; the key never appears in it
                failure = _request_failure(e)
                if failure is None:
                    raise
                self.usage.add(0, 0)
                self._record(failure, type(e).__name__ + (f" {e.status_code}" if hasattr(e, "status_code") else ""))
                return None, answered, failure
            self.usage.add(completion.prompt_tokens, completion.completion_tokens)
            answered = completion.model or answered
            if completion.failure is not None:
                failure = completion.failure
                self._record(failure, completion.detail)
                continue
            starts = parse_step_starts(completion.content, len(sentences))
            if starts is not None:
                self._record(None, "")
                return starts, answered, None
            failure = "invalid_answer"
            self._record(failure, completion.content[:80])
        return None, answered, failure

    def starts(self, question: str | None, sentences: Sequence[str]) -> dict:
        """`{"starts": [...], "endpoint_model": ..., "failure": ...}`: the 0-based indices of the sentences that
        begin a step, chunk by chunk (each chunk's first sentence begins one), or `None` when a chunk got no valid
        answer (the row falls back to its sentences); the model name the endpoint answered with; and why a chunk got
        no valid answer (a key of `FAILURES`, or `None`)."""
        found, answered = [], None
        for start, end in chunk_bounds(len(sentences), self.chunk_sentences):
            local, answered, failure = self.ask(question, sentences[start:end])
            if local is None:
                return {"starts": None, "endpoint_model": answered, "failure": failure}
            found += [start + n - 1 for n in local]
        return {"starts": found, "endpoint_model": answered, "failure": None}


def _fits(starts: list[int] | None, count: int) -> bool:
    """Whether cached step starts can be those of `count` sentences (0 first, increasing, in range)."""
    return starts is None or (bool(starts) and starts[0] == 0 and starts[-1] < count
                              and all(a < b for a, b in zip(starts, starts[1:])))


def row_text(response, part: str) -> tuple[str | None, str | None]:
    """The text a row's steps partition (its `part`, SPEC §9), or `(None, reason)` when it has none."""
    if response is None:
        return None, "missing_response"
    if not is_text(response):
        return None, "invalid_response"
    text, error = response_part(response, part)
    if error is not None:
        return None, error
    if not text.strip():
        return None, "empty_response"
    return text, None


@dataclass
class SegmentStats:
    """What `segment_rows` did."""

    rows: int = 0
    segmented: int = 0
    fallback: int = 0
    cached: int = 0
    without_text: int = 0
    seconds: float = 0.0
    fallback_reasons: dict[str, int] = field(default_factory=dict)  # `FAILURES` key -> rows that fell back for it
    not_cached: int = 0  # rows that fell back because the endpoint failed: a rerun asks again


def segment_rows(segmenter: LLMSegmenter, responses: Sequence, questions: Sequence, *, part: str, cache: StepCache,
                 prompt_hash: str, concurrency: int = 8, progress: bool = True,
                 on_row: Callable[[], None] | None = None) -> tuple[list, list, list, SegmentStats]:
    """Steps of every row: `(steps, segment_fallback, segment_error, stats)`, one entry per row.

    Rows in `cache` send no request; the others run on `concurrency` threads (at most `4 x concurrency` in flight)
    and each is committed to the cache as it finishes, so a killed run resumes where it stopped.

    Raises:
        EndpointError: the endpoint failed in a way no retry fixes (the rows finished so far stay cached).
    """
    from tqdm.auto import tqdm

    stats, start_time = SegmentStats(rows=len(responses)), time.perf_counter()
    steps: list = [None] * len(responses)
    fallback = [False] * len(responses)
    errors: list = [None] * len(responses)
    todo = []
    for i, (response, question) in enumerate(zip(responses, questions, strict=True)):
        text, errors[i] = row_text(response, part)
        if text is None:
            stats.without_text += 1
            continue
        sentences = sentences_of(text)
        key = cache_key(question, text, model=segmenter.model, prompt_hash=prompt_hash,
                        chunk_sentences=segmenter.chunk_sentences)
        todo.append((i, question, sentences, key))

    def finish(i: int, sentences: list[str], answer: dict) -> None:
        starts = answer["starts"]
        steps[i] = sentences if starts is None else steps_from_starts(sentences, starts)
        fallback[i] = starts is None
        stats.fallback += starts is None
        if starts is None:
            reason = answer.get("failure") or "invalid_answer"  # caches written before reasons were kept
            stats.fallback_reasons[reason] = stats.fallback_reasons.get(reason, 0) + 1
        stats.segmented += 1
        if answer.get("endpoint_model"):
            segmenter.endpoint_models.add(answer["endpoint_model"])

    with tqdm(total=len(todo), desc="Segmenting (LLM)", unit="row", disable=not progress) as bar:
        pending = []
        for i, question, sentences, key in todo:
            cached = cache.get(key)
            if cached is not None and not _fits(cached["starts"], len(sentences)):
                cached = None  # a damaged entry: asked again, and replaced
            if cached is not None:
                finish(i, sentences, cached)
                stats.cached += 1
                bar.update(1)
            else:
                pending.append((i, question, sentences, key))
        if pending:
            segmenter.check()  # no request at all when every row is cached
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            queue, running = iter(pending), {}
            try:
                while True:
                    while len(running) < 4 * concurrency and (job := next(queue, None)) is not None:
                        running[pool.submit(segmenter.starts, job[1], job[2])] = job
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        i, _, sentences, key = running.pop(future)
                        answer = future.result()  # an EndpointError stops the run here
                        if answer["starts"] is not None or answer.get("failure") in ANSWER_FAILURES:
                            cache.put(key, answer)
                        else:
                            stats.not_cached += 1  # the endpoint failed, not the model: a rerun asks again
                        finish(i, sentences, answer)
                        bar.update(1)
                        bar.set_postfix(tokens=segmenter.usage.prompt_tokens + segmenter.usage.completion_tokens,
                                        refresh=False)
                        if on_row is not None:
                            on_row()
            except BaseException:
                for future in running:
                    future.cancel()
                raise
    stats.seconds = time.perf_counter() - start_time
    return steps, fallback, errors, stats


def summary_line(stats: SegmentStats, usage: Usage) -> str:
    """The end-of-run line of `localnat segment`."""
    tokens = usage.prompt_tokens + usage.completion_tokens
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(stats.fallback_reasons.items(), key=lambda x: -x[1]))
    why = f": {reasons}" if reasons else ""
    retry = (f"; {stats.not_cached} of them not cached, as the endpoint failed: a rerun asks again"
             if stats.not_cached else "")
    return (f"Segmented {stats.segmented} of {stats.rows} rows ({stats.cached} from the cache, {stats.without_text} "
            f"without text to segment); {stats.fallback} fell back to sentence steps ({SEGMENT_FALLBACK} = true"
            f"{why}{retry}); "
            f"{usage.requests} requests, {tokens} tokens ({usage.prompt_tokens} prompt + {usage.completion_tokens} "
            f"completion, as the endpoint reports them); {stats.seconds:.1f} s.")
