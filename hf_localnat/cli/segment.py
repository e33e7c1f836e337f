"""`localnat segment`: steps grouped by an LLM (SPEC §12, the paper's v2 setting), for `score --segmenter given`; the
flags of `hf_localnat.segment` (`jobs.segment`), one call, its text printed."""

from __future__ import annotations

import click

from ._options import (handle_errors, input_options, overwrite_option, response_part_option, shape_options,
                       storage_options_option)

EXAMPLES = """
\b
Examples:
  localnat segment traces.jsonl -o steps.parquet --api-base http://127.0.0.1:8000/v1 --model zai-org/GLM-4.5-Air
  localnat score steps.parquet -o scored.parquet --segmenter given --window 10%
  localnat segment r1=r1.jsonl qwq=qwq.jsonl -o steps.parquet --api-base https://api.example.com/v1 \\
      --model glm-4.5-air --api-key-env EXAMPLE_API_KEY --concurrency 32
  localnat segment openthoughts.parquet -o steps.parquet --response-part thinking --api-base URL --model NAME
"""


@click.command("segment", epilog=EXAMPLES)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="OUTPUT",
              help="A .jsonl/.json/.parquet/.csv file, or a folder (no suffix) for save_to_disk.")
@click.option("--api-base", required=True, metavar="URL",
              help="Base URL of an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, transformers "
                   "serve, a hosted API), e.g. http://127.0.0.1:8000/v1.")
@click.option("--model", "llm", required=True, metavar="NAME", help="The model the endpoint serves that groups steps.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, metavar="VAR",
              help="Environment variable holding the endpoint's key (unset: none is sent; local servers need none). "
                   "The key is never written anywhere.")
@click.option("--prompt-file", default=None, metavar="FILE",
              help="A prompt of your own ({question} and {sentences} are replaced)  [default: the one shipped in "
                   "hf_localnat/prompts/segment_steps.txt]; its sha256 is recorded.")
@click.option("--chunk-sentences", type=click.IntRange(min=1), default=80, show_default=True,
              help="Sentences per request at most (long traces are sent in chunks; each chunk begins a step).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests in flight (threads).")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="More tries for an answer that is not a valid list of sentence numbers; then the row falls back "
                   "to sentence steps (segment_fallback = true).")
@click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True,
              help="The client's retries, with exponential backoff, of 429, 5xx, timeouts and dropped connections.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds per request.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None,
              help="Bound on each answer's tokens  [default: the server's].")
@click.option("--cache", "cache_path", default=None, metavar="FILE",
              help="The answers' cache (SQLite): a rerun or a resumed run sends no request for rows already done  "
                   "[default: segment/answers.sqlite in HF_LOCALNAT_CACHE].")
@shape_options
@response_part_option(help="The part of each response that the steps partition: full, thinking or answer "
                           "(score the steps with --segmenter given and the default --response-part full).")
@click.option("--steps-column", default="steps", show_default=True, help="The column the steps are written to.")
@input_options
@storage_options_option
@overwrite_option
@handle_errors
def segment_command(inputs: tuple[str, ...], output: str, api_base: str, llm: str, api_key_env: str,
                    prompt_file: str | None, chunk_sentences: int, concurrency: int, retries: int, max_retries: int,
                    timeout: float, max_tokens: int | None, cache_path: str | None, question_column: str | None,
                    response_columns: tuple[str, ...], messages_column: str | None, teacher_column: str | None,
                    teacher_name: str | None, explode_with: tuple[str, ...], response_part: str, steps_column: str,
                    config_name: str | None, split: str | None, storage_options: dict, overwrite: bool) -> None:
    """Group the sentences of every response of the INPUTs into reasoning steps with an LLM and write OUTPUT.

    INPUTs and their shapes are those of `localnat score` (SPEC §9). Each response (or its --response-part) is cut
    into sentences (SPEC §1); the LLM gets the question and the numbered sentences and answers with the numbers of
    the sentences that begin a step (SPEC §12). OUTPUT has the long rows plus STEPS_COLUMN (a list of strings that
    partition the response part), segment_fallback (true where no valid answer came after --retries: the steps are
    then the sentences) and segment_error (why a row has no steps). How the steps were made (the model, the name the
    endpoint answered with, the prompt's sha256, --chunk-sentences) is recorded beside OUTPUT, as a score's
    provenance is, and `localnat score --segmenter given` carries it into the scores' provenance.
    """
    from ..jobs.segment import segment

    result = segment(inputs, output, api_base=api_base, model=llm, api_key_env=api_key_env, prompt_file=prompt_file,
                     chunk_sentences=chunk_sentences, concurrency=concurrency, retries=retries,
                     max_retries=max_retries, timeout=timeout, max_tokens=max_tokens, cache=cache_path,
                     question_column=question_column, response_column=response_columns,
                     messages_column=messages_column, teacher_column=teacher_column, teacher=teacher_name,
                     explode_with=explode_with, response_part=response_part, steps_column=steps_column,
                     config=config_name, split=split, storage_options=storage_options, overwrite=overwrite,
                     echo=lambda line: click.echo(line, err=True))
    click.echo(str(result))
