"""Steps grouped by an LLM (SPEC §12, the paper's v2 setting) over an OpenAI-compatible chat-completions endpoint
(vLLM, SGLang, TGI, `transformers serve`, hosted APIs), with the `openai` client library.

`LLMSegmenter.segment` turns one response into steps: its sentences (SPEC §1) go to the LLM in chunks of at most
`chunk_sentences`, numbered from 1, with the question; a valid answer (`prepare.llm_steps.parse_step_starts`) groups
them into steps; an invalid one is asked again `retries` times, then the row falls back to its sentence steps
(`segment_fallback = true`). The client retries 429, 5xx, timeouts and dropped connections itself, with exponential
backoff (`max_retries`); an endpoint that cannot be reached, does not know the model or refuses the key stops the run
with one line (`EndpointError`).

`segment_rows` runs a dataset's rows on `concurrency` threads, reading and writing a `StepCache` (SQLite, one
committed row at a time, keyed by the question and text, the model, the prompt's sha256 and the chunk size): a rerun,
or a run resumed after a kill, sends no request for a row already done. The key never enters an output, a log or a
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> dict | None:
        row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        self._db.close()


def cache_key(question: str | None, text: str, *, model: str, prompt_hash: str, chunk_sentences: int) -> str:
    """The cache key of one row: sha256 of its question and text, the model, the prompt's sha256 and the chunking."""
    payload = json.dumps([question, text, model, prompt_hash, chunk_sentences])
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def _endpoint_error(error: BaseException, api_base: str, model: str, api_key_env: str) -> EndpointError | None:
    """The one line for an error of the endpoint that stops the run, or `None` for an error of one request."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return EndpointError(f"The LLM endpoint {api_base} did not answer in time, even after retries: check that "
                             "it is up and not overloaded, or raise --timeout / lower --concurrency.")
    if isinstance(error, openai.APIConnectionError):
        return EndpointError(f"Cannot reach the LLM endpoint {api_base}: start the server, or fix --api-base (an "
                             "OpenAI-compatible base URL, usually ending in /v1).")
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return EndpointError(f"The LLM endpoint {api_base} refused the key ({error.status_code}): set {api_key_env} "
                             "to a valid key, or name another variable with --api-key-env.")
    if isinstance(error, openai.NotFoundError):
        return EndpointError(f"The LLM endpoint {api_base} has no model {model!r} (404): fix --model (the server's "
                             "/v1/models lists its names) or --api-base (usually ending in /v1).")
    if isinstance(error, openai.RateLimitError):
        return EndpointError(f"The LLM endpoint {api_base} kept answering 429 (rate limit) after retries: lower "
                             "--concurrency and rerun (finished rows are cached).")
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return EndpointError(f"The LLM endpoint {api_base} kept failing ({error.status_code}) after retries: check "
                             "the server, then rerun (finished rows are cached).")
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
        self.endpoint_models: set[str] = set()  # the names the endpoint answered with (`segment_rows` fills it)
        self.client = openai.OpenAI(base_url=api_base, api_key=os.environ.get(api_key_env) or "no-key",
                                    max_retries=max_retries, timeout=timeout)

    def check(self) -> None:
        """Ask the endpoint for its models once, before the first request of a run: an endpoint that cannot be
        reached, refuses the key or does not list the model fails here, in one line. An endpoint without a model
        list (404 on /models) is not checked.

        Raises:
            EndpointError: as `ask`.
        """
        import openai

        try:
            names = [m.id for m in self.client.models.list()]
        except openai.NotFoundError:
            return
        except openai.OpenAIError as e:
            raise (_endpoint_error(e, self.api_base, self.model, self.api_key_env) or e) from None
        if names and self.model not in names:
            listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise EndpointError(f"The LLM endpoint {self.api_base} has no model {self.model!r} (it serves {listed}): "
                                "fix --model.")

    def ask(self, question: str | None, sentences: Sequence[str]) -> tuple[list[int] | None, str | None]:
        """The sentence numbers (1-based) that begin a step in these sentences, or `None` when no answer was valid
        after `retries` more tries; and the model name the endpoint answered with.

        Raises:
            EndpointError: the endpoint cannot be reached, has no such model, refuses the key, or keeps failing.
        """
        import openai

        messages = [{"role": "user", "content": render_prompt(self.prompt, question, sentences)}]
        options = {"max_tokens": self.max_tokens} if self.max_tokens is not None else {}
        answered = None
        for _ in range(1 + self.retries):
            try:
                response = self.client.chat.completions.create(model=self.model, messages=messages,
                                                               temperature=self.temperature, **options)
            except openai.OpenAIError as e:
                fatal = _endpoint_error(e, self.api_base, self.model, self.api_key_env)
                if fatal is not None:
                    raise fatal from None  # one line; the key never appears in it
                self.usage.add(0, 0)
                continue  # a request the server refused on its own (too long for its context, ...): ask again
            usage = response.usage
            self.usage.add(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)
            answered = response.model or answered
            content = response.choices[0].message.content if response.choices else None
            starts = parse_step_starts(content, len(sentences))
            if starts is not None:
                return starts, answered
        return None, answered

    def starts(self, question: str | None, sentences: Sequence[str]) -> dict:
        """`{"starts": [...], "endpoint_model": ...}`: the 0-based indices of the sentences that begin a step, chunk
        by chunk (each chunk's first sentence begins one), or `None` when a chunk got no valid answer (the row falls
        back to its sentences); and the model name the endpoint answered with (what the cache stores)."""
        found, answered = [], None
        for start, end in chunk_bounds(len(sentences), self.chunk_sentences):
            local, answered = self.ask(question, sentences[start:end])
            if local is None:
                return {"starts": None, "endpoint_model": answered}
            found += [start + n - 1 for n in local]
        return {"starts": found, "endpoint_model": answered}


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
        stats.segmented += 1
        if answer.get("endpoint_model"):
            segmenter.endpoint_models.add(answer["endpoint_model"])

    with tqdm(total=len(todo), desc="Segmenting (LLM)", unit="row", disable=not progress) as bar:
        pending = []
        for i, question, sentences, key in todo:
            cached = cache.get(key)
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
                        cache.put(key, answer)
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
    return (f"Segmented {stats.segmented} of {stats.rows} rows ({stats.cached} from the cache, {stats.without_text} "
            f"without text to segment); {stats.fallback} fell back to sentence steps ({SEGMENT_FALLBACK} = true); "
            f"{usage.requests} requests, {tokens} tokens ({usage.prompt_tokens} prompt + {usage.completion_tokens} "
            f"completion, as the endpoint reports them); {stats.seconds:.1f} s.")
