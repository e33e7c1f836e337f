"""Honest progress (issue 30, item 2): the scorer reports the rows' worth of work done after every forward batch or
pack, on every path, so a small input moves the bar many times before it ends; `localnat score`'s bar shows it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset

from hf_localnat import LocalNaturalnessScorer

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("First we add the numbers. Then we check the sum twice. We write it down.\n\nSo the answer is {n}. "
        "That is all. Done.")


def _rows(n: int) -> list[dict]:
    return [{"question": f"What is {i} + {i}?", "response": TEXT.format(n=2 * i)} for i in range(n)]


@pytest.mark.parametrize("options", [
    {},  # CPU default: dense batches, each question's keys/values shared
    {"prefix_reuse": False},  # dense batches, every window whole
    {"packing": True},  # packed windows
    {"prefetch_rows": 0},  # one chunk for the whole call
    {"mode": "blockmask"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_a_small_input_reports_progress_after_every_batch(tiny_model, smol_tokenizer, options):
    rows = _rows(3)
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, batch_tokens=48, **options)
    seen: list[float] = []
    scored = scorer.score([r["response"] for r in rows], [r["question"] for r in rows],
                          progress_callback=seen.append)
    done = [sum(seen[:i + 1]) for i in range(len(seen))]
    assert len(seen) >= 4 and scorer.last_run.batches >= len(seen) - 1, (seen, scorer.last_run.batches)
    assert all(step > 0 for step in seen)  # every update moves forward
    assert done[0] < 1 and done[-1] == pytest.approx(3)  # the first comes after a part of the first row
    # reporting changes no number (same path, same batches: equal to the bit)
    plain = LocalNaturalnessScorer(tiny_model, smol_tokenizer, batch_tokens=48, **options)
    assert scored == plain.score([r["response"] for r in rows], [r["question"] for r in rows])


def test_rows_without_a_score_count_at_once_and_chunks_add_up(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, batch_tokens=48, prefetch_rows=2)
    seen: list[float] = []
    scorer.score(["", TEXT.format(n=1), TEXT.format(n=2)], ["q0", "q1", "q2"], progress_callback=seen.append)
    assert seen[0] == 1  # the empty response: no score, counted at once
    total, chunks = 0.0, []
    for step in seen:
        total += step
        if abs(total - round(total)) < 1e-9:
            chunks.append(round(total))
    assert chunks[0] == 1 and 2 in chunks and chunks[-1] == 3  # each chunk of 2 rows adds up exactly


def test_dataset_map_calls_the_scorers_callback(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, batch_tokens=48)
    seen: list[float] = []
    scorer.progress_callback = seen.append
    Dataset.from_list(_rows(4)).map(scorer, batched=True, batch_size=4, keep_in_memory=True)
    assert len(seen) >= 4 and sum(seen) == pytest.approx(4) and sum(seen[:1]) < 1


@pytest.mark.slow  # a real `localnat score` subprocess (~10-20 s on 2 shared cores)
def test_the_score_bar_moves_before_the_run_ends(tmp_path, tiny_model_path):
    """`localnat score` on 3 rows, run as a user runs it: its bar shows several fractions of the rows, the first
    well before all 3 are done (before this issue it sat at 0/3 until the end)."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in _rows(3)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_CACHE": str(tmp_path / "cache"),
           "TQDM_MININTERVAL": "0"}
    done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", "score", str(source), "-o",
                           str(tmp_path / "out.jsonl"), "--model", str(tiny_model_path), "--batch-tokens", "48"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    shown = [float(n) for n in re.findall(r"Scoring: +\d+%\|[^|]*\| (\d+\.\d)/3 rows", done.stderr)]
    assert len(set(shown)) >= 4 and shown == sorted(shown), done.stderr[-2000:]
    assert shown[0] == 0 and 0 < sorted(set(shown))[1] < 1 and shown[-1] == 3.0
    assert "Scoring (LALP/GALP)" not in done.stderr  # datasets' map bar, which moved only at the end, is hidden
