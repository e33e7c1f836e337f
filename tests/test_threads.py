"""Scorers built and first used in several threads at once (issue 21, item 1): loading is serialised under
`models.LOAD_LOCK`, scoring is not, and every row equals a serial run within SPEC §6's float32 tolerance (1e-4).

The import race (`ImportError: cannot import name 'AutoModelForCausalLM' from 'transformers'`) happens only while
transformers is being imported, so its test runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

THREADS = 4
ROUNDS = 3
TOLERANCE = 1e-4  # SPEC §6, float32


def _rows(sample_rows: list[dict], count: int = 6) -> tuple[list[str], list[str]]:
    rows = sample_rows[:count]
    return [r["response"] for r in rows], [r["question"] for r in rows]


def _devices() -> list[str]:
    """The devices the threads are spread over: every visible GPU and the CPU."""
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] + ["cpu"]


def _assert_close(rows: list[dict], reference: list[dict], where: str) -> None:
    assert len(rows) == len(reference), where
    for i, (row, ref) in enumerate(zip(rows, reference, strict=True)):
        assert row["score_error"] == ref["score_error"], f"{where}, row {i}"
        assert (row["num_steps"], row["num_tokens"], row["truncated"]) == \
            (ref["num_steps"], ref["num_tokens"], ref["truncated"]), f"{where}, row {i}"
        for key in ("lalp", "galp"):
            assert row[key] == pytest.approx(ref[key], abs=TOLERANCE), f"{where}, row {i}, {key}"
        assert row["lalp_steps"] == pytest.approx(ref["lalp_steps"], abs=TOLERANCE), f"{where}, row {i}, steps"


def _in_threads(count: int, work) -> list:
    """Run `work(i)` in `count` threads started together (a barrier); return the results in order, raising the first
    exception any thread raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    assert not any(thread.is_alive() for thread in threads), "a scoring thread did not finish"
    return results


@pytest.mark.parametrize("rounds", [1, pytest.param(ROUNDS, marks=pytest.mark.slow)])  # ~1.5 s a round on 2 cores
def test_fresh_scorers_in_threads_match_a_serial_run(tiny_model_path, sample_rows, rounds):
    """4 threads x 3 rounds (1 in the fast loop), fresh scorers each round (each built and first used inside its
    thread), spread over the devices; every row equals the serial run's."""
    from hf_localnat import LocalNaturalnessScorer

    responses, questions = _rows(sample_rows, 3)
    reference = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu").score(
        responses, questions, progress=False)
    devices = _devices()

    def work(i: int) -> list[dict]:
        scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device=devices[i % len(devices)])
        return scorer.score(responses, questions, progress=False)

    for round_ in range(rounds):
        for i, rows in enumerate(_in_threads(THREADS, work)):
            _assert_close(rows, reference, f"round {round_}, thread {i}")


def test_scoring_does_not_hold_the_load_lock(tiny_model_path, sample_rows):
    """A loaded scorer scores while another thread holds `LOAD_LOCK` (as a load in progress would): scoring is not
    serialised."""
    from hf_localnat import LocalNaturalnessScorer
    from hf_localnat.scoring.models import LOAD_LOCK

    responses, questions = _rows(sample_rows, 2)
    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu")
    reference = scorer.score(responses, questions, progress=False)  # loads
    done: list = []
    with LOAD_LOCK:
        thread = threading.Thread(target=lambda: done.append(scorer.score(responses, questions, progress=False)))
        thread.start()
        thread.join(timeout=120)
        assert done, "scoring with a loaded scorer waited for LOAD_LOCK"
    _assert_close(done[0], reference, "scored while the load lock was held")


_FRESH_INTERPRETER = r"""
import json, sys, threading
from hf_localnat import LocalNaturalnessScorer

assert "transformers" not in sys.modules
path, responses, questions, count = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
barrier = threading.Barrier(count)
results, errors = [None] * count, []

def work(i):
    try:
        barrier.wait(timeout=60)
        results[i] = LocalNaturalnessScorer(path, dtype="float32", device="cpu").score(responses, questions, progress=False)
    except BaseException as e:
        errors.append(f"{type(e).__name__}: {e}")

threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps({"errors": errors, "results": results}))
"""


@pytest.mark.slow  # a fresh interpreter imports torch and transformers (~10 s on 2 cores)
def test_first_use_in_threads_of_a_fresh_interpreter(tiny_model_path, sample_rows, tmp_path):
    """The reproduced race: scorers first used in threads while transformers is not yet imported. Before the lock, one
    thread raised `ImportError: cannot import name 'AutoModelForCausalLM' from 'transformers'` and others
    `NotImplementedError: Cannot copy out of meta tensor`."""
    from hf_localnat import LocalNaturalnessScorer

    responses, questions = _rows(sample_rows, 2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_INTERPRETER, str(tiny_model_path), json.dumps(responses), json.dumps(questions),
         str(THREADS)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["errors"] == []
    reference = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu").score(
        responses, questions, progress=False)
    for i, rows in enumerate(out["results"]):
        _assert_close(rows, reference, f"fresh interpreter, thread {i}")
