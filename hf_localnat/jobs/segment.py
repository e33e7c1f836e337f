"""`hf_localnat.segment`: the job of `localnat segment`, steps grouped by an LLM (SPEC §12, the paper's v2 setting)
for `score(..., segmenter="given")`. The LLM client is `hf_localnat.scoring.prepare.segment_llm`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ._inputs import Inputs, named_inputs, read_named, shape_options, stderr_echo
from .results import SegmentResult


def segment(inputs: Inputs, output: str, *, api_base: str, model: str, api_key_env: str = "OPENAI_API_KEY",
            prompt_file: str | None = None, chunk_sentences: int = 80, concurrency: int = 8, retries: int = 2,
            max_retries: int = 5, timeout: float = 120.0, max_tokens: int | None = None, cache: str | None = None,
            question_column: str | None = None, response_column: str | Sequence[str] | None = None,
            messages_column: str | None = None, teacher_column: str | None = None, teacher: str | None = None,
            explode_with: str | Sequence[str] | None = None, response_part: str = "full",
            steps_column: str = "steps", config: str | None = None, split: str | None = None,
            storage_options: dict | None = None, overwrite: bool = False,
            echo: Callable[[str], None] = stderr_echo) -> SegmentResult:
    """Group the sentences of every response of `inputs` into reasoning steps with an LLM and write `output`.

    The same job as `localnat segment` (its options, with Python names: `--model` is `model`, `--cache` is `cache`).
    Each response (or its `response_part`) is cut into sentences (SPEC §1); the LLM at `api_base` (an
    OpenAI-compatible chat-completions endpoint) answers with the numbers of the sentences that begin a step. Answers
    are cached (SQLite), so a rerun sends no request for a row already done.

    Args:
        inputs: a path, URL or Hub id (`NAME=INPUT` names its teacher), a `datasets.Dataset`, a list of them, or
            `{teacher: source}`.
        output (`str`): the file or folder written (the steps' provenance recorded with it).
        api_base (`str`), model (`str`): the endpoint and the model it serves. api_key_env (`str`): the variable
            holding the key (never written anywhere).
        prompt_file (`str`, *optional*): a prompt of your own (`{question}`, `{sentences}`); its sha256 is recorded.
        cache (`str`, *optional*): the answers' cache file (default: `segment/answers.sqlite` in
            `HF_LOCALNAT_CACHE`).

    Returns:
        `SegmentResult`: the rows with their steps, the path, how the steps were made; `str()` is the command's text.

    Example:
        ```python
        >>> import hf_localnat
        >>> steps = hf_localnat.segment("traces.jsonl", "steps.parquet", api_base="http://127.0.0.1:8000/v1",
        ...                             model="zai-org/GLM-4.5-Air")  # doctest: +SKIP
        >>> hf_localnat.score(steps.path, "scored.parquet", segmenter="given", window="10%")  # doctest: +SKIP
        ```
    """
    from ..io import check_output, save_output
    from ..scoring.models import cache_dir
    from ..scoring.prepare.llm_steps import (SEGMENT_FALLBACK, default_prompt, describe_steps, prompt_sha256,
                                             read_prompt, steps_record)
    from ..scoring.prepare.segment_llm import LLMSegmenter, StepCache, StepsRecord, segment_rows, summary_line

    remote = dict(storage_options=storage_options or {})
    check_output(output, overwrite=overwrite, **remote)
    prompt = default_prompt() if prompt_file is None else read_prompt(prompt_file)
    prompt_hash = prompt_sha256(prompt)
    dataset = read_named(named_inputs(inputs), config=config, split=split, teacher=teacher, echo=echo,
                         **shape_options(question_column, response_column, messages_column, teacher_column,
                                         explode_with), **remote)
    segmenter = LLMSegmenter(api_base=api_base, model=model, prompt=prompt, api_key_env=api_key_env,
                             chunk_sentences=chunk_sentences, retries=retries, max_retries=max_retries,
                             timeout=timeout, max_tokens=max_tokens)
    answers = StepCache(cache or cache_dir() / "segment" / "answers.sqlite")
    questions = dataset["question"] if "question" in dataset.column_names else [None] * dataset.num_rows
    echo(f"Segmenting {dataset.num_rows} rows with {model} at {api_base}, chunks of at most {chunk_sentences} "
         f"sentences, prompt sha256 {prompt_hash[:12]}; answers cached in {answers.path}.")
    start = time.perf_counter()
    try:
        steps, fallback, errors, stats = segment_rows(segmenter, dataset["response"], questions, part=response_part,
                                                      cache=answers, prompt_hash=prompt_hash, concurrency=concurrency)
    finally:
        answers.close()
    written = [c for c in (steps_column, SEGMENT_FALLBACK, "segment_error") if c in dataset.column_names]
    dataset = (dataset.remove_columns(written).add_column(steps_column, steps)
               .add_column(SEGMENT_FALLBACK, fallback).add_column("segment_error", errors))
    record = steps_record(model=model, endpoint_model=",".join(sorted(segmenter.endpoint_models)) or None,
                          prompt_hash=prompt_hash, chunk_sentences=chunk_sentences, response_part=response_part)
    usage = segmenter.usage
    run = {"rows": stats.rows, "segmented": stats.segmented, "fallback_rows": stats.fallback,
           "fallback_reasons": dict(stats.fallback_reasons), "requests": usage.requests, "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    path = save_output(dataset, output, overwrite=overwrite, provenance=StepsRecord(record, run), **remote)
    stats.seconds = time.perf_counter() - start
    lines = [summary_line(stats, usage), f"Wrote {path}. Steps: {describe_steps(record)}.",
             f"Next: localnat score {path} -o scored.parquet --segmenter given --steps-column {steps_column} "
             "--window 10%"]
    return SegmentResult(dataset, path, record, run | {"seconds": stats.seconds}, lines)
