"""Ctrl-C and SIGTERM during `localnat score` (issue 21, item 4): a real subprocess on the tiny model gets the signal
once its first checkpoint exists; it prints one line (what was checkpointed, that nothing was written to the output,
the command that resumes), exits 130 / 143 and leaves no temporary file; that command then finishes the job and
writes what an uninterrupted run writes."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_cli_resume import _close, _env, _read, _temporaries

ROWS = 96
CHUNK = 4


def _rows() -> list[dict]:
    text = "First we add the numbers. Then we check the sum twice.\n\nSo the answer is {n}. Done."
    return [{"question": f"What is {n} + {n}?", "response": text.format(n=n)} for n in range(ROWS)]


def _args(source: Path, output: Path, model: Path) -> list[str]:
    return ["score", str(source), "-o", str(output), "--model", str(model), "--checkpoint-rows", str(CHUNK),
            "--map-batch-size", "4"]


def _as_in_a_terminal() -> None:
    """SIGINT as a terminal delivers it: a test runner started in the background may have it ignored, which its
    children inherit (and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _chunks(cache: Path) -> list[Path]:
    return sorted(cache.glob("localnat-score/*/chunk-*.parquet"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows()))
    return path


@pytest.fixture(scope="module")
def reference(data, tiny_model_path, tmp_path_factory) -> list[dict]:
    """An uninterrupted run, with its own cache."""
    folder = tmp_path_factory.mktemp("signals-reference")
    done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", *_args(data, folder / "ref.jsonl", tiny_model_path)],
                          env=_env(folder / "cache"), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return _read(folder / "ref.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_is_one_line_and_the_printed_command_resumes(tmp_path, data, reference, tiny_model_path,
                                                                     signum, code):
    cache, output = tmp_path / "cache", tmp_path / "scored.jsonl"
    args = _args(data, output, tiny_model_path)
    process = subprocess.Popen([sys.executable, "-m", "hf_localnat.cli", *args], env=_env(cache),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_in_a_terminal)
    deadline = time.monotonic() + 600
    while process.poll() is None and not _chunks(cache) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    finished = len(_chunks(cache))
    assert process.returncode == code, stderr[-3000:]
    assert 1 <= finished < ROWS // CHUNK, finished
    assert "Traceback" not in stderr and not output.exists()
    line = stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert line.startswith(f"Interrupted by {name}: checkpointed {finished} of {ROWS // CHUNK} chunks ({CHUNK} rows "
                           f"each); nothing was written to {output}. Resume with the same command, which scores only "
                           "the rest: "), line
    resume = line.split("which scores only the rest: ", 1)[1]
    assert shlex.split(resume)[-len(args):] == args
    assert _temporaries(cache) == [] and _temporaries(tmp_path) == []  # only the checkpoints are left

    command = shlex.split(resume)
    assert command[:3] == [sys.executable, "-m", "hf_localnat.cli"] or command[0].endswith("localnat"), command
    rerun = subprocess.run([sys.executable, "-m", "hf_localnat.cli", *command[-len(args):]], env=_env(cache),
                           capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Resumed: reused {CHUNK * finished} of {ROWS} rows" in rerun.stderr
    _close(_read(output), reference)
    assert _temporaries(cache) == [] and _temporaries(tmp_path) == []


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_signal_line_and_exit_code_in_process(tmp_path, monkeypatch, signum, code, tiny_model_path):
    """The same report without a subprocess: a real signal to this process while the (faked) scoring runs, also
    when a library swallows its first raise (`datasets` hashes inside a bare `except:`)."""
    import os

    from click.testing import CliRunner

    from hf_localnat.cli import main
    from hf_localnat.jobs import checkpoints as _checkpoints

    def fake_scoring(scorer, dataset, *, progress, between_chunks, **kwargs):
        progress.folder, progress.chunks = tmp_path / "checkpoints", 5
        progress.paths = [progress.folder / f"chunk-{i:05d}-abc.parquet" for i in range(5)]
        progress.folder.mkdir()
        for path in progress.paths[:2]:
            path.write_bytes(b"")
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here
        except BaseException:  # noqa: BLE001 - what a bare `except:` in a library does
            pass
        between_chunks()  # the next chunk boundary raises it again
        raise AssertionError("the signal was not raised again")

    monkeypatch.setattr(_checkpoints, "score_resumable", fake_scoring)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"question": "q", "response": "r"}) + "\n")
    previous = signal.getsignal(signal.SIGTERM)
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever started pytest
    # a real student folder: `score` reads its tokenizer for the estimate line before scoring starts
    args = ["score", str(source), "-o", str(tmp_path / "out.jsonl"), "--model", str(tiny_model_path)]
    try:
        result = CliRunner().invoke(main, args)
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert result.exit_code == code, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Interrupted by {signal.Signals(signum).name}: checkpointed 2 of 5 chunks (1024 rows each); nothing was "
        f"written to {tmp_path / 'out.jsonl'}. Resume with the same command, which scores only the rest: "
        f"main {shlex.join(args)}")
    assert signal.getsignal(signal.SIGTERM) is previous  # the handlers are put back


@pytest.mark.parametrize("old_output", [False, True])
def test_nothing_checkpointed_says_a_rerun_starts_over_and_names_an_old_output_only_if_there(
        tmp_path, monkeypatch, tiny_model_path, old_output):
    """Ctrl-C before the first checkpoint (the default --checkpoint-rows): the line says nothing can be resumed and
    which option checkpoints sooner, and mentions an old output only when one was there."""
    import os

    from click.testing import CliRunner

    from hf_localnat.cli import main
    from hf_localnat.jobs import checkpoints as _checkpoints

    def interrupted_before_a_checkpoint(scorer, dataset, *, progress, between_chunks, **kwargs):
        progress.folder, progress.chunks = tmp_path / "checkpoints", 1
        progress.paths = [progress.folder / "chunk-00000-abc.parquet"]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here
        raise AssertionError("no signal")

    monkeypatch.setattr(_checkpoints, "score_resumable", interrupted_before_a_checkpoint)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"question": "q", "response": "r"}) + "\n")
    if old_output:
        out.write_text("old\n")
    args = ["score", str(source), "-o", str(out), "--model", str(tiny_model_path), "--overwrite"]
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert result.exit_code == 130, result.output
    old = " (the old one is intact)" if old_output else ""
    assert result.output.strip().splitlines()[-1] == (
        "Interrupted by SIGINT: nothing checkpointed yet (a checkpoint is written every 1024 rows; a smaller "
        f"--checkpoint-rows checkpoints sooner); nothing was written to {out}{old}. Rerunning starts over: "
        f"main {shlex.join(args)}")
    assert "overwrite=True" not in result.output
    assert (out.read_text() if out.exists() else None) == ("old\n" if old_output else None)
