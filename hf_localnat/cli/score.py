"""`localnat score`: add LALP/GALP columns to a dataset through `Dataset.map`, so the `datasets` cache applies."""

from __future__ import annotations

import time
from collections import Counter

import click

from ._options import (handle_errors, input_options, model_option, model_revision_option, overwrite_option,
                       prompt_format_option, segmenter_option, window_option)

EXAMPLES = """
\b
Examples:
  localnat score traces.jsonl -o scored.parquet
  localnat score traces.parquet -o scored.jsonl --model Qwen/Qwen2.5-1.5B-Instruct --window 4
  localnat score my-org/traces --config math --split train -o scored_folder
  localnat score traces.csv -o scored.parquet --model ./my-student --batch-tokens 8192 --overwrite
"""


def summarize(scored, seconds: float, *, reused: int = 0) -> str:
    """The end-of-run summary: rows, scored rows, tokens, rows without a score by reason, time, tokens per second,
    and how many rows an earlier run had scored (`reused`)."""
    errors = Counter(e for e in scored["score_error"] if e is not None)
    tokens = sum(scored["num_tokens"])
    truncated = sum(bool(t) for t in scored["truncated"])
    lines = [
        f"Rows: {scored.num_rows}; scored: {scored.num_rows - sum(errors.values())}; response tokens: {tokens}.",
        "Rows without a score: " + (", ".join(f"{n} {reason}" for reason, n in errors.most_common()) or "none") + ".",
    ]
    if truncated:
        lines.append(f"Truncated rows (inputs cut to fit max_length): {truncated}.")
    if reused == scored.num_rows:
        lines.append(f"All {reused} rows reused from an earlier run's checkpoints in {seconds:.1f} s (no model call).")
    else:
        if reused:
            lines.append(f"Reused {reused} rows scored by an earlier run; scored the other {scored.num_rows - reused}.")
        lines.append(f"Time: {seconds:.1f} s; {tokens / seconds if seconds > 0 else 0:.0f} response tokens/s.")
    return "\n".join(lines)


@click.command("score", epilog=EXAMPLES)
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, metavar="OUTPUT",
              help="A .jsonl/.json/.parquet/.csv file, or a folder (no suffix) for save_to_disk.")
@model_option()
@model_revision_option()
@window_option()
@segmenter_option()
@prompt_format_option()
@click.option("--batch-tokens", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Token budget of one forward batch (rows x longest row).")
@click.option("--max-length", type=click.IntRange(min=2), default=None,
              help="Bound on every model input in tokens  [default: the model's maximum].")
@click.option("--map-batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Rows per Dataset.map batch (larger batches pack forward batches better).")
@click.option("--checkpoint-rows", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Rows per checkpoint: a killed run, rerun, resumes after the last finished checkpoint.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
              show_default=True, help="auto = bfloat16 on GPU, float32 on CPU.")
@click.option("--device", default=None, help="torch device  [default: cuda when available, else cpu].")
@click.option("--question-column", default="question", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option("--steps-column", default="steps", show_default=True, help="List-of-steps column for --segmenter given.")
@input_options
@overwrite_option
@handle_errors
def score(input_path: str, output: str, model: str | None, model_revision: str | None, window: int, segmenter: str, prompt_format: str,
          batch_tokens: int, max_length: int | None, map_batch_size: int, checkpoint_rows: int, dtype: str, device: str | None,
          question_column: str, response_column: str, steps_column: str, config_name: str | None,
          split: str | None, overwrite: bool) -> None:
    """Score every response of INPUT by LALP and GALP with a student model and write OUTPUT.

    INPUT is a .jsonl, .json, .parquet or .csv file, a save_to_disk folder, or a Hub dataset id, with one row per
    response (columns question and response). OUTPUT gets every input column plus lalp, galp, lalp_steps,
    num_steps, num_tokens, truncated and score_error, and records how it was scored (student, window, segmenter,
    prompt format, max length, mode, dtype, version): in a .parquet file's schema metadata, else in the file
    OUTPUT.hf_localnat.json beside it (hf_localnat.json inside a folder). Later commands read it. Finished rows are
    checkpointed in the datasets cache (HF_DATASETS_CACHE/localnat-score): rerunning the same command (after a kill,
    after success, or with only --batch-tokens changed) scores only the rows not finished before. OUTPUT is written
    beside its target, then renamed into place.
    """
    from ..io import check_output, load_input, save_output
    from ._checkpoints import score_resumable
    from ..selection.layout import require_columns
    from ..scoring.scorer import LocalNaturalnessScorer

    check_output(output, overwrite=overwrite)
    dataset = load_input(input_path, config=config_name, split=split)
    needed = [steps_column if segmenter == "given" else response_column]
    if prompt_format != "none":
        needed.append(question_column)
    require_columns(dataset, needed, what="scoring")
    scorer = LocalNaturalnessScorer(
        model, revision=model_revision, window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length, dtype=dtype,
        device=device, batch_tokens=batch_tokens, question_column=question_column, response_column=response_column,
        steps_column=steps_column,
    )
    click.echo(f"Scoring {dataset.num_rows} rows of {input_path} with {model or 'the embedded smollm2-135m-instruct'}"
               f" (dtype {dtype}), window {window}, {segmenter} steps.", err=True)
    start = time.perf_counter()
    # The scorer's fingerprint (definition, model identity, package version) keys the checkpoints; the model loads
    # only when a chunk actually needs scoring, so a rerun of a finished command never loads it.
    resumed = score_resumable(scorer, dataset, checkpoint_rows=checkpoint_rows, map_batch_size=map_batch_size,
                              echo=lambda line: click.echo(line, err=True))
    seconds = time.perf_counter() - start
    provenance = scorer.provenance()
    path = save_output(resumed.dataset, output, overwrite=overwrite, provenance=provenance)
    click.echo(summarize(resumed.dataset, seconds, reused=resumed.reused_rows))
    click.echo(f"Wrote {path}.")
    click.echo(f"Provenance ({where_recorded(path)}): {provenance.describe()}.")


def where_recorded(path) -> str:
    """Where `save_output` put the provenance of `path`, for the summary."""
    from ..provenance import sidecar_path

    if path.suffix.lower() == ".parquet":
        return "in the Parquet schema metadata, key hf_localnat"
    return f"in {sidecar_path(path)}; {path.suffix or 'a folder'} cannot hold it, keep the two together"
