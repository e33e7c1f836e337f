"""A killed `localnat score` resumes: a real subprocess on the tiny model gets SIGKILL after some checkpoints; the rerun
scores only the rest, says how many rows it reused, and writes what an uninterrupted run writes. The input is the
output (`-o data.jsonl --overwrite` on `data.jsonl`), so the kill also proves the input survives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = 48
CHUNK = 4


def _rows() -> list[dict]:
    text = "First we add the numbers. Then we check the sum twice.\n\nSo the answer is {n}. Done."
    return [{"question": f"What is {n} + {n}?", "response": text.format(n=n), "teacher": f"t{n % 3}"}
            for n in range(ROWS)]


def _command(source: Path, output: Path, model: Path) -> list[str]:
    return [sys.executable, "-m", "hf_localnat.cli", "score", str(source), "-o", str(output), "--model", str(model),
            "--checkpoint-rows", str(CHUNK), "--map-batch-size", "4", "--overwrite"]


def _env(cache: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_CACHE": str(cache)}


def _chunks(cache: Path) -> list[Path]:
    return sorted(cache.glob("localnat-score/*/chunk-*.parquet"))


def _temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".localnat-tmp-" in p.name or p.name.startswith("tmp")]


def _close(a: list[dict], b: list[dict]) -> None:
    """Rows equal, scores within SPEC §6's float32 tolerance (the two runs are separate processes)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if key in ("lalp", "galp") and x[key] is not None:
                assert x[key] == pytest.approx(y[key], abs=1e-4)
            elif key == "lalp_steps":
                assert [s is None for s in x[key]] == [s is None for s in y[key]]
                assert [s for s in x[key] if s is not None] == pytest.approx([s for s in y[key] if s is not None],
                                                                              abs=1e-4)
            else:
                assert x[key] == y[key], key


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_a_killed_score_resumes_and_equals_an_uninterrupted_run(tmp_path, tiny_model_path):
    original = "".join(json.dumps(row) + "\n" for row in _rows())
    data = tmp_path / "data.jsonl"
    data.write_text(original)

    # the reference: an uninterrupted run into another file, with its own cache
    reference = tmp_path / "reference.jsonl"
    done = subprocess.run(_command(data, reference, tiny_model_path), env=_env(tmp_path / "cache-ref"),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr

    cache = tmp_path / "cache"
    process = subprocess.Popen(_command(data, data, tiny_model_path), env=_env(cache),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while process.poll() is None and len(_chunks(cache)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(_chunks(cache))
    assert process.returncode == -signal.SIGKILL and 3 <= finished < ROWS // CHUNK, finished
    assert data.read_text() == original  # the input, which is also the output, is untouched

    rerun = subprocess.run(_command(data, data, tiny_model_path), env=_env(cache), capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    reused = CHUNK * finished
    assert f"Resumed: reused {reused} of {ROWS} rows" in rerun.stderr
    assert f"Reused {reused} rows scored by an earlier run; scored the other {ROWS - reused}." in rerun.stdout
    _close(_read(data), _read(reference))
    assert _temporaries(cache) == [] and _temporaries(tmp_path) == []  # nothing orphaned, in the cache or beside



@pytest.mark.slow
def test_checkpoints_are_keyed_by_the_definition(tmp_path, tiny_model_path):
    """A different window cannot reuse checkpoints; the same command reuses them all (in process, through click)."""
    from click.testing import CliRunner

    from hf_localnat.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in _rows()[:6]))
    args = ["score", str(source), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model_path),
            "--checkpoint-rows", "4", "--overwrite"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "reused" not in first.output.lower(), first.output
    same = CliRunner().invoke(main, args)
    assert "All 6 rows reused" in same.output
    other = CliRunner().invoke(main, [*args, "--window", "1"])
    assert other.exit_code == 0 and "reused" not in other.output.lower(), other.output
