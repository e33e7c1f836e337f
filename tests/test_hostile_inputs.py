"""Hostile input on every option that reads a file or a server (issue 35), through `localnat` in a subprocess as a
user runs it: each case ends in one `Error:` line that names the option or the file and the fix, with no traceback
and nothing written. Most fail before any model loads; docs/reliability.md has the table of these cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCORED = "".join(json.dumps({"question": f"q{q}", "teacher": t, "lalp": -1.0 - 0.1 * i - 0.01 * q,
                             "galp": -1.0 - 0.05 * i}) + "\n" for q in range(4) for i, t in enumerate("abcd"))


@pytest.fixture(params=["in_process", pytest.param("subprocess", marks=pytest.mark.slow)])
def how(request) -> str:
    """Each case runs through click's runner in this process (fast), and, in the slow suite, as a user runs it: a
    `localnat` subprocess."""
    return request.param


def localnat(*args: str, how: str = "subprocess", env: dict | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """`localnat ARGS` in a subprocess (offline), or through click's runner in this process (`how="in_process"`)."""
    if how == "in_process":
        from click.testing import CliRunner

        from hf_localnat.cli import main

        result = CliRunner().invoke(main, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hf_localnat.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess, *expected: str) -> str:
    """Assert one `Error:` line holding every `expected` text, no traceback; return the line."""
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _huge(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(17 * 2**20)  # sparse: 17 MiB of zeros without writing them


#: --truth FILE variants: how to make the file -> what its one line says.
TRUTH_FILES = {
    "empty.json": (lambda p: p.write_bytes(b""), "is empty"),
    "blank.csv": (lambda p: p.write_text("\n \n"), "is empty"),
    "not_json.json": (lambda p: p.write_text("{A: 1"), "is not valid JSON"),
    "list_of_numbers.json": (lambda p: p.write_text("[1, 2, 3]"), "holds a JSON list"),
    "null.json": (lambda p: p.write_text("null"), "holds a JSON null"),
    "text_value.json": (lambda p: p.write_text('{"a": "high"}'), "must be a number"),
    "binary.csv": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "is a binary file"),
    "latin1.csv": (lambda p: p.write_bytes(b"caf\xe9,1\n"), "is not UTF-8 text"),
    "huge.csv": (_huge, "at most 16 MiB"),
    "folder.json": (lambda p: p.mkdir(), "is a folder, not a file"),
    "missing.json": (lambda p: None, "no such file"),
    "unknown_teachers.csv": (lambda p: p.write_text("x,1\ny,2\nz,3\n"), "have 0 teacher(s) in common"),
    "one_column.csv": (lambda p: p.write_text("a\nb\n"), "every line of a truth CSV is teacher,value"),
}


@pytest.mark.parametrize("name", list(TRUTH_FILES))
def test_truth_files(tmp_path, name, how):
    make, expected = TRUTH_FILES[name]
    (tmp_path / "scored.jsonl").write_text(SCORED)
    make(tmp_path / name)
    done = localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--truth", str(tmp_path / name), "--plot",
                    str(tmp_path / "plot.png"), how=how)
    one_error_line(done, f"--truth {tmp_path / name}", expected)
    assert not (tmp_path / "plot.png").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a file whatever its mode; the "
                    "folder-in-place-of-a-file cases stand for an unreadable path")
def test_an_unreadable_truth_file(tmp_path):
    (tmp_path / "scored.jsonl").write_text(SCORED)
    (tmp_path / "truth.csv").write_text("a,1\n")
    (tmp_path / "truth.csv").chmod(0)
    one_error_line(localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--truth", str(tmp_path / "truth.csv")),
                   "permission denied")


def test_a_truth_file_that_is_fine_still_ranks(tmp_path):
    (tmp_path / "scored.jsonl").write_text(SCORED)
    (tmp_path / "truth.json").write_text('{"a": 4, "b": 3, "c": 2, "d": 1}')
    done = localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--truth", str(tmp_path / "truth.json"),
                    "--resamples", "20")
    assert done.returncode == 0, done.stderr
    assert "Against the known ranking (a=4, b=3, c=2, d=1;" in done.stdout


# ------------------------------------------------------------------ segment: --prompt-file, --cache, --storage-options
DEAD_ENDPOINT = "http://127.0.0.1:9/v1"  # nothing listens: every case below must fail before any request


def _sqlite(path: Path, sql: str) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(sql)
    db.close()


SEGMENT_CASES = {
    "prompt_empty": (["--prompt-file", "{tmp}/p.txt"], lambda t: (t / "p.txt").write_text(""), "is empty"),
    "prompt_binary": (["--prompt-file", "{tmp}/p.txt"], lambda t: (t / "p.txt").write_bytes(b"\x00\x01\xff" * 9),
                      "is a binary file"),
    "prompt_no_placeholder": (["--prompt-file", "{tmp}/p.txt"], lambda t: (t / "p.txt").write_text("Split it."),
                              "has no {sentences} placeholder"),
    "prompt_huge": (["--prompt-file", "{tmp}/p.txt"], lambda t: _huge(t / "p.txt"), "at most 1 MiB"),
    "prompt_folder": (["--prompt-file", "{tmp}"], lambda t: None, "is a folder, not a file"),
    "prompt_missing": (["--prompt-file", "{tmp}/none.txt"], lambda t: None, "no such file"),
    "cache_not_sqlite": (["--cache", "{tmp}/c.sqlite"], lambda t: (t / "c.sqlite").write_text("garbage " * 200),
                         "cannot be used as the answers' cache (file is not a database)"),
    "cache_other_table": (["--cache", "{tmp}/c.sqlite"],
                          lambda t: _sqlite(t / "c.sqlite", "CREATE TABLE answers (x INTEGER);"),
                          "cannot be used as the answers' cache (no such column: key)"),
    "cache_folder": (["--cache", "{tmp}"], lambda t: None, "is a folder; the answers' cache is a SQLite file"),
    "storage_options_not_json": (["--storage-options", "{anon: true"], lambda t: None,
                                 "--storage-options is not valid JSON"),
    "storage_options_list": (["--storage-options", "[1, 2]"], lambda t: None,
                             "--storage-options must be a JSON object, got a list"),
    "storage_options_binary": (["--storage-options", "\udcff\udcfe"], lambda t: None,
                               "--storage-options is not valid JSON"),
}


@pytest.mark.parametrize("case", list(SEGMENT_CASES))
def test_segment_options(tmp_path, case, how):
    args, make, expected = SEGMENT_CASES[case]
    make(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"question": "Q?", "response": "One. Two."}\n')
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = localnat("segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--api-base",
                    DEAD_ENDPOINT, "--model", "m", *args, how=how)
    one_error_line(done, expected)
    assert not (tmp_path / "out.jsonl").exists()


def test_a_damaged_cache_entry_is_asked_again(tmp_path):
    """A row whose cached value is not JSON, or steps that cannot be this row's, is asked again and replaced."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_server", Path(__file__).with_name("llm_server.py"))
    llm_server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(llm_server)
    server = llm_server.LLMServer()
    try:
        rows = [{"question": f"Q{i}?", "response": f"One {i}. Two. Three."} for i in range(3)]
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = ["segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--api-base", server.url,
                "--model", "fake-llm", "--cache", str(tmp_path / "c.sqlite"), "--overwrite"]
        assert localnat(*args).returncode == 0
        first = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
        _sqlite(tmp_path / "c.sqlite", "UPDATE answers SET value = '{not json' WHERE rowid = 1;"
                                       "UPDATE answers SET value = '{\"starts\": [0, 99]}' WHERE rowid = 2;")
        again = localnat(*args)
        assert again.returncode == 0, again.stderr
        assert "(1 from the cache" in again.stdout and server.requests["ok"] == 3 + 2
        out_rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert out_rows == first
    finally:
        server.close()


# ----------------------------------------------------------------------------- --direction, --by, --split, --config
RANK_CASES = {
    "direction_sideways": (["--direction", "lalp=sideways"], "--direction takes COLUMN=higher or COLUMN=lower"),
    "direction_no_column": (["--direction", "=higher"], "--direction takes COLUMN=higher or COLUMN=lower"),
    "direction_no_value": (["--direction", "lalp"], "--direction takes COLUMN=higher or COLUMN=lower"),
    "direction_unknown_column": (["--by", "nocol", "--direction", "nocol=higher"], "needs column(s) 'nocol'"),
    "direction_text_column": (["--by", "teacher", "--direction", "teacher=higher"], "must hold numbers"),
    "split_of_a_file": (["--split", "test"], "--split test: "),
    "config_of_a_file": (["--config", "nope"], "--config nope: "),
}


@pytest.mark.parametrize("case", list(RANK_CASES))
def test_rank_options(tmp_path, case, how):
    args, expected = RANK_CASES[case]
    (tmp_path / "scored.jsonl").write_text(SCORED)
    one_error_line(localnat("rank-teachers", str(tmp_path / "scored.jsonl"), *args, how=how), expected)


def test_a_split_a_saved_dataset_does_not_have(tmp_path, how):
    from datasets import Dataset, DatasetDict

    rows = [json.loads(line) for line in SCORED.splitlines()]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "saved"))
    one_error_line(localnat("rank-teachers", str(tmp_path / "saved"), "--split", "dev", how=how),
                   "has no split 'dev' (splits: train); fix --split")


# ----------------------------------------------------------------------------------------------------- --row-id
ROW_ID_ROWS = [{"question": f"q{q}", "teacher": t, "id": f"{q}{t}", "lalp": -1.0 - 0.1 * i - 0.01 * q,
                "galp": -1.0 - 0.02 * q, "tags": [1, 2]} for q in range(6) for i, t in enumerate("ab")]
ROW_ID_CASES = {
    "row_id_missing_column": ("nocol", lambda r: r, "needs column(s) 'nocol'"),
    "row_id_null": ("id", lambda r: {**r, "id": None if r["question"] == "q0" else r["id"]},
                    "has rows with no id (null)"),
    "row_id_duplicated": ("id", lambda r: {**r, "id": "same"}, "has more than one row with id = ('same',)"),
    "row_id_list_column": ("tags", lambda r: r, "--row-id tags: the column holds List values"),
    "row_id_empty_name": ("id,,teacher", lambda r: r, "--row-id takes column names"),
}


@pytest.mark.parametrize("case", list(ROW_ID_CASES))
def test_row_id(tmp_path, case, how):
    row_id, change, expected = ROW_ID_CASES[case]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(change(r)) + "\n" for r in ROW_ID_ROWS))
    one_error_line(localnat("calibrate", str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl"), "--row-id", row_id,
                            "--resamples", "10", how=how), expected)


# -------------------------------------------------------------------------- provenance: sidecar and Parquet footer
def _parquet_with_footer(path: Path, value: bytes) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in SCORED.splitlines()]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.replace_schema_metadata({b"hf_localnat": value}), path)


PROVENANCE_CASES = {
    "sidecar_empty": ("scored.jsonl", lambda t: (t / "scored.jsonl.hf_localnat.json").write_text(""),
                      "The provenance file"),
    "sidecar_binary": ("scored.jsonl", lambda t: (t / "scored.jsonl.hf_localnat.json").write_bytes(b"\x85\x00" * 9),
                       "The provenance file"),
    "sidecar_wrong_type": ("scored.jsonl", lambda t: (t / "scored.jsonl.hf_localnat.json").write_text("[1, 2]"),
                           "The provenance file"),
    "sidecar_huge": ("scored.jsonl", lambda t: (t / "scored.jsonl.hf_localnat.json").write_text(
        json.dumps({"padding": "x" * 20_000_000})), "The provenance file"),
    "sidecar_folder": ("scored.jsonl", lambda t: (t / "scored.jsonl.hf_localnat.json").mkdir(),
                       "The provenance file"),
    "footer_not_json": ("scored.parquet", lambda t: _parquet_with_footer(t / "scored.parquet", b"{not json"),
                        "The provenance in the Parquet footer"),
    "footer_wrong_type": ("scored.parquet", lambda t: _parquet_with_footer(t / "scored.parquet", b"[1, 2]"),
                          "The provenance in the Parquet footer"),
    "parquet_not_parquet": ("scored.parquet", lambda t: (t / "scored.parquet").write_bytes(b"PAR1garbagePAR1"),
                            "the file is damaged or not Parquet"),
}


@pytest.mark.parametrize("case", list(PROVENANCE_CASES))
def test_provenance_records(tmp_path, case, how):
    name, make, expected = PROVENANCE_CASES[case]
    if name.endswith(".jsonl"):
        (tmp_path / name).write_text(SCORED)
    make(tmp_path)
    line = one_error_line(localnat("rank-teachers", str(tmp_path / name), "--resamples", "10", how=how), expected,
                          str(tmp_path / name))
    if "The provenance" in line:
        assert "--ignore-provenance" in line
        done = localnat("rank-teachers", str(tmp_path / name), "--resamples", "10", "--ignore-provenance", how=how)
        assert done.returncode == 0 and "Scored with: not recorded" in done.stdout, done.stderr


# ---------------------------------------------------------------------------------------------------- --model
def _model_variant(tiny: Path, folder: Path, variant: str) -> str:
    import shutil

    if variant in ("no_such_folder", "hub_id_offline", "not_a_hub_id"):
        return {"no_such_folder": "./no-such-model", "hub_id_offline": "nobody/not-cached-anywhere",
                "not_a_hub_id": "not a model!"}[variant]
    if variant == "a_file":
        (folder.parent / "weights.bin").write_bytes(b"x")
        return str(folder.parent / "weights.bin")
    shutil.copytree(tiny, folder)
    if variant == "no_tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
            (folder / name).unlink(missing_ok=True)
    elif variant == "config_not_json":
        (folder / "config.json").write_text("{not json")
    elif variant == "config_empty":
        (folder / "config.json").write_text("")
    elif variant == "config_wrong_type":
        (folder / "config.json").write_text('["llama"]')
    elif variant == "no_config":
        (folder / "config.json").unlink()
    elif variant == "no_weights":
        (folder / "model.safetensors").unlink()
    elif variant == "missing_shard":
        (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    return str(folder)


MODEL_CASES = {
    "no_such_folder": "--model ./no-such-model: no such folder",
    "a_file": "is a file, not a model folder",
    "not_a_hub_id": "no such folder, and not a Hub id",
    "hub_id_offline": "is not in the Hub cache, and HF_HUB_OFFLINE=1 forbids downloading it",
    "no_tokenizer": "has no tokenizer",
    "config_not_json": "config.json is not valid JSON",
    "config_empty": "config.json is not valid JSON",
    "config_wrong_type": "config.json is not a transformers model config",
    "no_config": "has no config.json",
    "no_weights": "has no weights",
    "missing_shard": "names 1 weights file(s) that are not there (model-00002-of-00002.safetensors)",
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_model_folders_and_names(tmp_path, tiny_model_path, case, how):
    model = _model_variant(tiny_model_path, tmp_path / "model", case)
    (tmp_path / "in.jsonl").write_text('{"question": "Q?", "response": "One. Two."}\n')
    if case == "hub_id_offline":
        how = "subprocess"  # HF_HUB_OFFLINE is read when huggingface_hub is imported
    done = localnat("score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--model", model, how=how)
    one_error_line(done, MODEL_CASES[case])
    assert not (tmp_path / "out.jsonl").exists()


def test_every_case_is_in_the_reliability_table():
    table = (ROOT / "docs" / "reliability.md").read_text()
    cases = [*TRUTH_FILES, *SEGMENT_CASES, *RANK_CASES, *ROW_ID_CASES, *PROVENANCE_CASES, *MODEL_CASES]
    missing = [case for case in cases if f"`{case}`" not in table]
    assert not missing, f"cases not in docs/reliability.md: {missing}"


# ------------------------------------------------------------------------------- a model the Hub cannot give
def test_a_hub_model_without_network_is_one_line_without_retries(tmp_path):
    """No network (here: a Hub endpoint on a closed port): one line at once, saying so and whether the model is
    cached; no `Retrying in ...` lines (before: 12 of them and 73 s)."""
    (tmp_path / "in.jsonl").write_text('{"question": "Q?", "response": "One. Two."}\n')
    done = localnat("score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--model",
                    "Qwen/Qwen2.5-0.5B-Instruct", env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    line = one_error_line(done, "Cannot reach the Hub at http://127.0.0.1:9",
                          "--model Qwen/Qwen2.5-0.5B-Instruct is not in your Hub cache")
    assert "Retrying" not in done.stderr and line


def test_a_hub_model_the_hub_does_not_have(tmp_path, hub_server):
    (tmp_path / "in.jsonl").write_text('{"question": "Q?", "response": "One. Two."}\n')
    done = localnat("score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--model",
                    "nobody/no-such-model", env={"HF_HUB_OFFLINE": "0"})
    one_error_line(done, "--model nobody/no-such-model: no such model on the Hub")
    assert "Retrying" not in done.stderr


# ----------------------------------------------------------------------------- outputs read back by this project
def _normal(value):
    """NaN as None (JSON and CSV have no NaN), floats to 12 significant digits, containers recursively."""
    import math

    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.12g}")
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def scored_all(tmp_path_factory, tiny_model_path) -> Path:
    """The bundled sample (2 questions x 4 teachers), scored with every score by the command (the tiny model)."""
    from datasets import Dataset

    from hf_localnat.sample import SAMPLE_PATH

    folder = tmp_path_factory.mktemp("scored")
    rows = [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines()[:8]]
    Dataset.from_list(rows).to_json(folder / "in.jsonl")
    done = localnat("score", str(folder / "in.jsonl"), "-o", str(folder / "scored.parquet"), "--model",
                    str(tiny_model_path), "--scores", "all")
    assert done.returncode == 0, done.stderr
    return folder / "scored.parquet"


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", ""])
def test_every_output_format_reads_back_with_equal_values(tmp_path, scored_all, suffix):
    from hf_localnat.io import load_input, save_output

    scored = load_input(str(scored_all))
    scored = scored.add_column("messages", [[{"role": "user", "content": q}, {"role": "assistant", "content": r}]
                                            for q, r in zip(scored["question"], scored["response"])])
    assert {"lalp_steps", "messages", "rsr", "correct"} <= set(scored.column_names)
    path = save_output(scored, tmp_path / f"out{suffix}")
    back = load_input(str(path))
    assert back.column_names == scored.column_names
    assert [_normal(r) for r in back.to_list()] == [_normal(r) for r in scored.to_list()]
    assert isinstance(back[0]["lalp_steps"], list) and isinstance(back[0]["messages"], list)


def test_a_csv_written_by_score_is_read_back_by_rank_teachers(tmp_path, scored_all, tiny_model_path):
    """Through the commands: `score` writes CSV (list columns as JSON text, never a numpy repr) and `rank-teachers`
    reads it back and ranks as from the Parquet of the same scores."""
    done = localnat("score", str(scored_all.parent / "in.jsonl"), "-o", str(tmp_path / "scored.csv"), "--model",
                    str(tiny_model_path), "--scores", "all")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "scored.csv").read_text()
    assert ',"[-' in text and "numpy" not in text
    ranked = []
    for path in (scored_all, tmp_path / "scored.csv"):
        done = localnat("rank-teachers", str(path), "--by", "rsr", "--by", "lalp", "--json", "--resamples", "20")
        assert done.returncode == 0, done.stderr
        ranked.append(_normal(json.loads(done.stdout)["teachers"]))
    assert ranked[0] == ranked[1]


def test_a_missing_score_column_names_the_scores_option(tmp_path, how):
    (tmp_path / "scored.jsonl").write_text(SCORED)
    one_error_line(localnat("rank-teachers", str(tmp_path / "scored.jsonl"), "--by", "rsr", how=how),
                   "the input was scored without them", "--scores rsr")


def test_a_file_where_the_checkpoint_folder_goes(tmp_path, tiny_model_path):
    """The checkpoints live under the `datasets` cache (`localnat-score/`): a file in that place is one line naming
    the folder, and nothing is written."""
    cache = tmp_path / "datasets-cache"
    cache.mkdir()
    (cache / "localnat-score").write_text("not a folder")
    (tmp_path / "in.jsonl").write_text('{"question": "Q?", "response": "One. Two."}\n')
    done = localnat("score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--model",
                    str(tiny_model_path), env={"HF_DATASETS_CACHE": str(cache)})
    one_error_line(done, "Cannot write the checkpoint folder", "localnat-score", "ENOTDIR")
    assert not (tmp_path / "out.jsonl").exists()
