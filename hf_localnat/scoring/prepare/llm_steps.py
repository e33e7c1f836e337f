"""Steps grouped by an LLM (SPEC §12, the paper's v2 setting): the pure part, with no client and no model.

The response is cut into sentences (SPEC §1 `sentence`); the sentences are sent in chunks of at most
`chunk_sentences`, numbered from 1 within each chunk, with the question; the LLM answers with the numbers of the
sentences that begin a step. `parse_step_starts` reads an answer, `steps_from_starts` joins the sentences into steps
(so the steps partition the response, SPEC §1). `hf_localnat.scoring.prepare.segment_llm` sends the requests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib import resources

from .segment import segment

SEGMENT_FALLBACK = "segment_fallback"
"""The column that marks rows whose LLM answer was not valid after the retries: their steps are the sentences."""

PROMPT_RESOURCE = "prompts/segment_steps.txt"
"""The prompt shipped in the package (`hf_localnat/prompts/segment_steps.txt`); `--prompt-file` replaces it."""

_LIST = re.compile(r"\[([^\[\]]*)\]")
_NUMBERS = re.compile(r"\s*(?:[0-9]+\s*(?:,\s*[0-9]+\s*)*,?\s*)?")


def default_prompt() -> str:
    """The text of the prompt shipped in the package."""
    return resources.files("hf_localnat").joinpath(PROMPT_RESOURCE).read_text(encoding="utf-8")


def prompt_sha256(prompt: str) -> str:
    """The sha256 of a prompt's text (UTF-8), as the steps' provenance records it."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def sentences_of(text: str) -> list[str]:
    """The sentences of `text` (SPEC §1 `sentence`); they partition it."""
    return [text[a:b] for a, b in segment(text, "sentence")]


def chunk_bounds(count: int, chunk_sentences: int) -> list[tuple[int, int]]:
    """`[start, end)` sentence ranges of the chunks sent to the LLM, `chunk_sentences` at most each.

    Example:
        >>> chunk_bounds(7, 3)
        [(0, 3), (3, 6), (6, 7)]
    """
    return [(start, min(start + chunk_sentences, count)) for start in range(0, count, chunk_sentences)]


def read_prompt(path: str) -> str:
    """The prompt template in the file `path` (`--prompt-file`).

    Raises:
        ConfigError: the file is missing, a folder, empty, binary, too large, unreadable, or has no `{sentences}`.
    """
    from ...errors import ConfigError
    from ...io.small import read_option_file

    template = read_option_file(path, "--prompt-file", expect="a prompt with {question} and {sentences}",
                                max_bytes=2**20)
    if "{sentences}" not in template:
        raise ConfigError(f"--prompt-file {path} has no {{sentences}} placeholder, so the LLM would never see the "
                          "sentences: put {sentences} (and {question}) where they go, as in the shipped "
                          "hf_localnat/prompts/segment_steps.txt.")
    return template


def render_prompt(template: str, question: str | None, sentences: Sequence[str]) -> str:
    """The prompt for one chunk: `{question}` and `{sentences}` (numbered from 1, one per line, as `[i] text`)
    replaced in `template`.

    Example:
        >>> render_prompt("Q: {question}\\n{sentences}", "Why?", ["A b.", " C d.\\n"])
        'Q: Why?\\n[1] A b.\\n[2] C d.'
    """
    numbered = "\n".join(f"[{i}] {' '.join(s.split())}" for i, s in enumerate(sentences, start=1))
    return template.replace("{question}", (question or "").strip()).replace("{sentences}", numbered)


def parse_step_starts(answer: str | None, count: int) -> list[int] | None:
    """The sentence numbers (1-based, sorted, 1 included) that begin a step, from an LLM answer about `count`
    sentences; `None` when the answer is not valid (SPEC §12).

    The answer's list is its only `[...]` (prose around it is allowed; an answer with several, such as the numbered
    sentences copied back, has none), or, without brackets, the whole answer: integers separated by commas. It is
    valid when its integers are distinct and within `1..count`; they are sorted, and 1 is added when missing (an
    empty list: one step).

    Example:
        >>> parse_step_starts("[1, 4, 6]", 7), parse_step_starts("Steps begin at: [6, 4].", 7), parse_step_starts("[]", 3)
        ([1, 4, 6], [1, 4, 6], [1])
        >>> parse_step_starts("[1, 4, 4]", 7), parse_step_starts("[1, 9]", 7), parse_step_starts("[1] A. [2] B.", 7)
        (None, None, None)
    """
    if not isinstance(answer, str):
        return None
    groups = _LIST.findall(answer)
    candidate = groups[0] if len(groups) == 1 else None if groups else answer
    if candidate is None or not _NUMBERS.fullmatch(candidate):
        return None
    numbers = [int(n) for n in re.findall(r"[0-9]+", candidate)]
    if not (groups or numbers) or len(set(numbers)) != len(numbers) or any(not 1 <= n <= count for n in numbers):
        return None
    return sorted(set(numbers) | {1})


def steps_from_starts(sentences: Sequence[str], starts: Sequence[int]) -> list[str]:
    """The steps: each is the concatenation of the sentences from one start (0-based sentence index) to the next.

    Example:
        >>> steps_from_starts(["A. ", "B. ", "C. ", "D."], [0, 2])
        ['A. B. ', 'C. D.']
    """
    bounds = [*starts, len(sentences)]
    return ["".join(sentences[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]


def steps_record(*, model: str, endpoint_model: str | None, prompt_hash: str, chunk_sentences: int,
                 response_part: str) -> dict:
    """The steps' provenance (SPEC §12): what decided where the steps are, so part of the scoring definition."""
    return {"kind": "llm", "model": model, "endpoint_model": endpoint_model, "prompt_sha256": prompt_hash,
            "chunk_sentences": chunk_sentences, "sentences": "pysbd", "response_part": response_part}


def describe_steps(record: dict | None) -> str:
    """A few words for a steps' provenance (`Provenance.describe`, cards).

    Example:
        >>> describe_steps({"kind": "llm", "model": "m", "endpoint_model": "m-fp8", "prompt_sha256": "ab" * 32,
        ...                 "chunk_sentences": 80, "response_part": "full"})
        'LLM steps (m, endpoint m-fp8, prompt sha256 abababababab, chunks of 80 sentences)'
    """
    if not record:
        return ""
    part = "" if record.get("response_part", "full") == "full" else f", {record['response_part']} part"
    return (f"LLM steps ({record.get('model')}, endpoint {record.get('endpoint_model')}, prompt sha256 "
            f"{str(record.get('prompt_sha256'))[:12]}, chunks of {record.get('chunk_sentences')} sentences{part})")


def fallback_line(dataset) -> str | None:
    """The report line of the rows whose LLM steps fell back to sentences (a `segment_fallback` column), or `None`
    when the rows have no such column."""
    if SEGMENT_FALLBACK not in dataset.column_names:
        return None
    count = sum(bool(v) for v in dataset[SEGMENT_FALLBACK])
    return (f"LLM steps: {count} of {dataset.num_rows} rows fell back to sentence steps ({SEGMENT_FALLBACK} = "
            "true).")


def canonical(record: dict) -> str:
    """Canonical JSON of a record (sorted keys), for cache keys and comparisons."""
    return json.dumps(record, sort_keys=True)
