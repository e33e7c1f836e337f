"""`localnat demo`: the main job on the embedded default student and the bundled sample, offline."""

from __future__ import annotations

import time
from collections import defaultdict

import click


@click.command()
@click.option("--window", default=4, show_default=True, help="Preceding steps each step is conditioned on.")
def demo(window: int) -> None:
    """Score the bundled 8-question, 4-teacher sample with the embedded SmolLM2-135M-Instruct and rank the teachers.

    \b
    Example:
      localnat demo
    """
    from ..sample import load_sample
    from ..scorer import LocalNaturalnessScorer

    dataset = load_sample()
    scorer = LocalNaturalnessScorer(window=window)
    click.echo(f"Scoring {len(dataset)} responses from {len(set(dataset['teacher']))} teachers with the embedded "
               "student (smollm2-135m-instruct) on this machine...")
    start = time.perf_counter()
    rows = scorer.score(dataset["response"], dataset["question"], progress=True)
    seconds = time.perf_counter() - start
    by_teacher: dict[str, list[dict]] = defaultdict(list)
    for teacher, row in zip(dataset["teacher"], rows, strict=True):
        by_teacher[teacher].append(row)
    click.echo(f"\n{'teacher':<18}{'mean LALP':>10}{'mean GALP':>10}")
    ranked = sorted(by_teacher.items(), key=lambda item: -sum(r["lalp"] for r in item[1]) / len(item[1]))
    for teacher, teacher_rows in ranked:
        lalp = sum(r["lalp"] for r in teacher_rows) / len(teacher_rows)
        galp = sum(r["galp"] for r in teacher_rows) / len(teacher_rows)
        click.echo(f"{teacher:<18}{lalp:>10.3f}{galp:>10.3f}")
    tokens = sum(r["num_tokens"] for r in rows)
    click.echo(f"\n{len(rows)} responses, {tokens} tokens in {seconds:.1f} s. Higher = more natural to the student.")
