"""Kind to users: what a user can get wrong ends in one line that says what and where, never a traceback.

Every case goes through the real `localnat` command (click's runner, or a subprocess where the environment must
differ), and the message comes from the one table in `hf_localnat/cli/_options.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.cli._options import handle_errors, user_message
from hf_localnat.errors import InputError
from hf_localnat.io import save_output

ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(result, *expected: str) -> str:
    """Assert the command failed with exactly one `Error: ...` line holding every `expected` text; return it."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _zero_row_parquet(path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": pa.array([], pa.string()), "lalp": pa.array([], pa.float64())}), path)
    return str(path)


GOOD = b'{"question": "q", "teacher": "a", "lalp": -1.0, "galp": -1.0}\n'
BAD_INPUTS = {
    "empty.jsonl": (lambda p: _write(p, b""), ["is empty (0 bytes)"]),
    "blank.jsonl": (lambda p: _write(p, b"\n  \n"), ["holds only whitespace"]),
    "header.csv": (lambda p: _write(p, b"question,teacher,lalp,galp\n"), ["has no rows"]),
    "zero.parquet": (_zero_row_parquet, ["has no rows"]),
    "latin1.jsonl": (lambda p: _write(p, GOOD + GOOD.replace(b'"q"', b'"caf\xe9"')),
                     ["not valid UTF-8", f"byte {len(GOOD) + 17}", "line 2, column 18", "0xe9"]),
    "latin1.csv": (lambda p: _write(p, b"question,teacher,lalp,galp\nq,a,-1,-1\nq,\xff,-1,-1\n"),
                   ["not valid UTF-8", "line 3, column 3"]),
    "truncated.jsonl": (lambda p: _write(p, GOOD * 3 + GOOD[:25]), ["line 4 is not valid JSON", "truncated"]),
    "truncated.json": (lambda p: _write(p, b"[" + GOOD.strip() + b",\n" + GOOD[:20]), ["not valid JSON at line 2"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
@pytest.mark.parametrize("command", ["rank-teachers", "select"])
def test_bad_input_files_are_one_line_errors_that_say_where(tmp_path, name, command):
    make, expected = BAD_INPUTS[name]
    source = make(tmp_path / name)
    args = [command, source] + (["-o", str(tmp_path / "out.jsonl")] if command == "select" else [])
    _one_line_error(CliRunner().invoke(main, args), repr(source), *expected)
    assert not (tmp_path / "out.jsonl").exists()


def test_a_valid_file_after_the_checks_still_loads(tmp_path):
    source = _write(tmp_path / "ok.jsonl", GOOD + GOOD.replace(b'"a"', b'"b"'))
    result = CliRunner().invoke(main, ["rank-teachers", source, "--resamples", "10"])
    assert result.exit_code == 0, result.output


def _hand_scored(tmp_path) -> str:
    rows = {"question": ["a", "a"], "teacher": ["x", "y"], "lalp": [-1.0, -2.0], "galp": [-1.0, -1.5]}
    return str(save_output(Dataset.from_dict(rows), tmp_path / "scored.parquet"))


@pytest.mark.parametrize("repo_id", ["someone/bad--name", "someone/x..y", "someone/" + "n" * 97, "some one/x"])
def test_a_repo_id_the_hub_rejects_is_refused_even_in_a_dry_run(tmp_path, hub_server, repo_id):
    scored = _hand_scored(tmp_path)
    requests = len(hub_server.requests)
    for flags in (["--dry-run"], []):
        _one_line_error(CliRunner().invoke(main, ["publish", scored, "--repo-id", repo_id, *flags]), "repo")
    assert len(hub_server.requests) == requests


def _run_offline(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hf_localnat.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_offline_mode_is_named_not_retried(tmp_path, hub_server):
    scored = _hand_scored(tmp_path)
    for args in (["publish", scored, "--repo-id", "test-user/offline-try", "--model", "smollm2-135m-instruct",
                  "--window", "4"],
                 ["publish-metric", "test-user/local_naturalness"],
                 ["pull", "test-user/offline-try", "-o", str(tmp_path / "pulled.parquet")]):
        done = _run_offline(*args)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "retrying" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and "offline mode is on (HF_HUB_OFFLINE=1)" in errors[0], done.stderr
    assert not (tmp_path / "pulled.parquet").exists()


def _model_folder(tiny_model_path: Path, folder: Path) -> Path:
    import shutil

    shutil.copytree(tiny_model_path, folder)
    return folder


def _rows(tmp_path) -> str:
    return str(save_output(Dataset.from_dict({"question": ["Q?"], "response": ["One. Two."]}), tmp_path / "in.jsonl"))


def test_a_model_that_needs_its_own_code_is_refused_without_a_prompt(tmp_path, tiny_model_path):
    folder = _model_folder(tiny_model_path, tmp_path / "remote")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my-llama", auto_map={"AutoConfig": "configuration_my.MyConfig",
                                                   "AutoModelForCausalLM": "modeling_my.MyModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_my.py").write_text("raise SystemExit('this code must never run')\n")
    (folder / "modeling_my.py").write_text("raise SystemExit('this code must never run')\n")
    result = CliRunner().invoke(main, ["score", _rows(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--model",
                                       str(folder)], input="y\n")  # a prompt would read this "y"
    _one_line_error(result, "ships its own Python code", "trust_remote_code")
    assert "Do you wish to run the custom code" not in result.output and not (tmp_path / "o.jsonl").exists()


def test_pickled_weights_that_are_not_plain_tensors_are_refused(tmp_path, tiny_model_path):
    import torch
    from safetensors.torch import load_file

    folder = _model_folder(tiny_model_path, tmp_path / "pickled")
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    weights["payload"] = Path("an arbitrary object")  # unpickling it would run code a weights-only load refuses
    torch.save(weights, folder / "pytorch_model.bin")
    result = CliRunner().invoke(main, ["score", _rows(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--model",
                                       str(folder)])
    _one_line_error(result, "pickled weights", "safetensors")


def test_the_table_follows_the_chain_and_leaves_bugs_alone():
    from huggingface_hub.errors import OfflineModeIsEnabled

    try:
        try:
            raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")
        except OfflineModeIsEnabled as inner:
            raise InputError("Cannot load 'x/y' from the Hub") from inner
    except InputError as outer:
        assert "offline mode is on" in user_message(outer)  # the cause wins over its wrapper
    assert user_message(InputError("bad file\nmore")) == "bad file (InputError)"
    assert user_message(ZeroDivisionError("a bug")) is None  # a bug keeps its traceback


def test_every_command_maps_errors_through_the_table():
    for name, command in main.commands.items():
        assert getattr(command.callback, "__wrapped__", None) is not None, name
        assert command.callback.__code__ is handle_errors(lambda: None).__code__, name
