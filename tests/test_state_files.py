"""State files are checked, never trusted blindly (issue 21, item 3): a damaged `localnat score` checkpoint or Ray
shard is discarded with one warning line and rescored; a provenance sidecar or Parquet footer entry that cannot be
parsed is a one-line error naming the file and the fixes (`--ignore-provenance` goes on without it); a
`.localnat-output` marker that is not the one localnat writes is not trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import OutputExistsError, ProvenanceError
from hf_localnat.io import OUTPUT_MARKER, load_input, read_provenance, save_output
from hf_localnat.io.checked import CHECK_KEY, read_checked, write_checked
from hf_localnat.provenance import Provenance
from hf_localnat.records import SCHEMA, error_record

from .test_cli_resume import _close

PROVENANCE = Provenance(4, "sentence", "auto", None, "exact", "float32",
                        {"kind": "hub", "id": "a/b", "revision": "0" * 40}, "0.1.0")


def _scores(n: int, offset: float = 0.0) -> pa.Table:
    rows = [{"lalp": -1.0 - i - offset, "galp": -2.0 - i, "lalp_steps": [-1.0, None], "num_steps": 2,
             "num_tokens": 5, "truncated": False, "score_error": None} for i in range(n - 1)]
    return pa.Table.from_pylist(rows + [error_record("empty_response")], schema=SCHEMA)


# ------------------------------------------------------------------------------------------- checked files
def test_a_checked_file_round_trips_and_every_kind_of_damage_is_found(tmp_path):
    path = tmp_path / "chunk.parquet"
    table = _scores(4)
    write_checked(table, path, start=8, stop=12)
    back, damage = read_checked(path, SCHEMA, start=8, stop=12)
    assert damage is None and back.equals(table)
    assert "covers rows 8..12" in read_checked(path, SCHEMA, start=0, stop=4)[1]

    def damaged(write) -> str:
        write()
        result, why = read_checked(path, SCHEMA, start=8, stop=12)
        assert result is None
        return why

    data = path.read_bytes()
    assert damaged(lambda: path.write_bytes(data[: len(data) // 2])).startswith("unreadable")  # truncated
    assert damaged(lambda: path.write_bytes(b"not parquet at all")).startswith("unreadable")
    assert damaged(lambda: pq.write_table(table, path)).startswith("no check record")  # an old-style checkpoint
    record = json.dumps({"rows": 4, "start": 8, "stop": 12, "sha256": "0" * 64}).encode()
    assert "checksum" in damaged(lambda: pq.write_table(_scores(4, offset=0.5).replace_schema_metadata(
        {CHECK_KEY: record}), path))  # valid Parquet, right row count, other values
    assert "rows" in damaged(lambda: write_checked(_scores(3), path, start=8, stop=11))  # fewer rows than named
    other = table.drop_columns(["truncated"])
    assert "schema" in damaged(lambda: pq.write_table(other.replace_schema_metadata(
        {CHECK_KEY: json.dumps({"rows": 4, "start": 8, "stop": 12, "sha256": "x"}).encode()}), path))
    path.unlink()
    path.mkdir()
    assert damaged(lambda: None) == "not a regular file"


def _traces(tmp_path: Path, count: int = 6) -> Path:
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {n} + 1?", "response": f"We add one. {n} + 1 = {n + 1}.",
                                        "teacher": f"t{n % 2}"}) + "\n" for n in range(count)))
    return data


def _score(data: Path, out: Path, model: Path, *extra: str):
    return CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(model), "--checkpoint-rows",
                                     "2", "--dtype", "float32", *extra])


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch) -> Path:
    import datasets

    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


DAMAGES = ("truncated", "garbage", "unchecked", "other_values", "folder")


def _damage(path: Path, damage: str) -> None:
    good = pq.read_table(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"\0" * 300)
    elif damage == "unchecked":  # a checkpoint of an earlier version, or not written by localnat
        pq.write_table(good.replace_schema_metadata(None), path)
    elif damage == "other_values":  # well-formed, same rows and check record, one score changed
        values = good.column("lalp").to_pylist()
        values[0] = (values[0] or 0.0) + 1.0
        pq.write_table(good.set_column(0, "lalp", pa.array(values, pa.float64())), path)
    else:
        path.unlink()
        path.mkdir()


@pytest.mark.slow  # three `localnat score` runs (~5 s); the damage itself is found by the test above
def test_damaged_checkpoints_are_discarded_with_one_warning_each_and_rescored(tmp_path, tiny_model_path,
                                                                             datasets_cache):
    data = _traces(tmp_path, 2 * len(DAMAGES) + 2)
    first = _score(data, tmp_path / "a.jsonl", tiny_model_path)
    assert first.exit_code == 0, first.output
    chunks = sorted(datasets_cache.glob("localnat-score/*/chunk-*.parquet"))
    assert len(chunks) == len(DAMAGES) + 1
    for chunk, damage in zip(chunks[1:], DAMAGES, strict=True):  # the first chunk stays good
        _damage(chunk, damage)
    again = _score(data, tmp_path / "b.jsonl", tiny_model_path)
    assert again.exit_code == 0, again.output
    warnings = [line for line in again.output.splitlines() if line.startswith("Warning: checkpoint")]
    assert len(warnings) == len(DAMAGES), again.output
    for line, chunk in zip(warnings, chunks[1:], strict=True):
        assert str(chunk) in line and "discarded, its 2 rows are scored again" in line
    assert "Traceback" not in again.output and "Resumed: reused 2 of 12 rows" in again.output
    _close(load_input(str(tmp_path / "b.jsonl")).to_list(), load_input(str(tmp_path / "a.jsonl")).to_list())
    for i, chunk in enumerate(chunks):
        assert read_checked(chunk, SCHEMA, start=2 * i, stop=2 * i + 2)[1] is None  # rewritten, checked
    third = _score(data, tmp_path / "c.jsonl", tiny_model_path)
    assert "Warning: checkpoint" not in third.output and "All 12 rows reused" in third.output


def test_a_checkpoint_folder_that_is_a_file_is_replaced(tmp_path, tiny_model_path, datasets_cache, monkeypatch):
    from hf_localnat.jobs import checkpoints as _checkpoints

    found = []

    def a_file_in_its_place(*args, **kwargs):
        folder = real(*args, **kwargs)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("not a folder")
        found.append(folder)
        return folder

    real = _checkpoints.checkpoint_folder
    monkeypatch.setattr(_checkpoints, "checkpoint_folder", a_file_in_its_place)
    result = _score(_traces(tmp_path, 2), tmp_path / "a.jsonl", tiny_model_path)
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "Warning: the checkpoint" in line] == [
        f"Warning: the checkpoint folder {found[0]} is not a folder; discarded, every row is scored."]
    assert found[0].is_dir() and len(list(found[0].glob("chunk-*.parquet"))) == 1


# ----------------------------------------------------------------------------------------------- provenance
def _scored_jsonl(tmp_path: Path) -> Path:
    rows = {"question": ["a", "a", "b", "b"], "teacher": ["x", "y", "x", "y"], "response": ["r1", "r2", "r3", "r4"],
            "lalp": [-1.0, -2.0, -1.5, -2.5], "galp": [-1.0, -2.0, -1.5, -2.5], "lalp_steps": [[-1.0]] * 4,
            "num_steps": [1] * 4, "num_tokens": [2] * 4, "truncated": [False] * 4, "score_error": [None] * 4}
    path = tmp_path / "scored.jsonl"
    save_output(Dataset.from_dict(rows), path, provenance=PROVENANCE)
    return path


def _scored_parquet(tmp_path: Path, footer: bytes) -> Path:
    path = tmp_path / "scored.parquet"
    save_output(load_input(str(_scored_jsonl(tmp_path))), path, provenance=PROVENANCE)
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"hf_localnat": footer}), path)
    return path


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"definition": {"window": 4}}',
                                     None])
def test_an_unparseable_sidecar_is_one_line_naming_the_file_and_the_fixes(tmp_path, content):
    scored = _scored_jsonl(tmp_path)
    side = Path(str(scored) + ".hf_localnat.json")
    if content is None:  # a folder where the sidecar should be
        side.unlink()
        side.mkdir()
    else:
        side.write_bytes(content)
    with pytest.raises(ProvenanceError) as caught:
        read_provenance(scored)
    message = str(caught.value)
    assert str(side) in message and "--ignore-provenance" in message and "\n" not in message
    assert content is None or ("delete it" in message and "rescore" in message)


def test_an_unparseable_parquet_footer_entry_is_one_line(tmp_path):
    scored = _scored_parquet(tmp_path, b'{"definition": [')
    with pytest.raises(ProvenanceError, match=r"Parquet footer of .*scored\.parquet.*rescore.*--ignore-provenance"):
        read_provenance(scored)


def test_a_damaged_parquet_file_is_one_line_not_a_traceback(tmp_path):
    scored = tmp_path / "scored.parquet"
    scored.write_bytes(b"PAR1 this is not a parquet file")
    result = CliRunner().invoke(main, ["rank-teachers", str(scored)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert str(scored) in result.output and "damaged or not Parquet" in result.output


@pytest.mark.parametrize("kind", ["sidecar", "footer"])
@pytest.mark.parametrize("command", ["rank-teachers", "select", "inspect", "calibrate", "publish"])
def test_every_command_that_reads_provenance_fails_in_one_line_and_goes_on_with_ignore_provenance(
        tmp_path, kind, command):
    scored = _scored_jsonl(tmp_path) if kind == "sidecar" else _scored_parquet(tmp_path, b"{broken")
    if kind == "sidecar":
        Path(str(scored) + ".hf_localnat.json").write_text("{broken")
    args = {
        "rank-teachers": ["rank-teachers", str(scored), "--resamples", "10"],
        "select": ["select", str(scored), "-o", str(tmp_path / "sel.jsonl")],
        "inspect": ["inspect", str(scored), "-o", str(tmp_path / "report.html")],
        "calibrate": ["calibrate", str(scored), str(scored), "--resamples", "10"],
        "publish": ["publish", str(scored), "--repo-id", "someone/curated", "--dry-run"],
    }[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot be read" in lines[0] and "--ignore-provenance" in lines[0], result.output
    extra = ["--model", "a/b", "--window", "4"] if command == "publish" else []  # the record is gone: state it
    result = CliRunner().invoke(main, [*args, "--ignore-provenance", *extra])
    assert result.exit_code == 0, result.output
    if command == "rank-teachers":
        assert "Scored with: not recorded" in result.output


# --------------------------------------------------------------------------------------------------- marker
@pytest.mark.parametrize("marker", ["other text", "folder", "unreadable"])
def test_a_marker_localnat_did_not_write_is_not_trusted(tmp_path, marker):
    import os

    folder = tmp_path / "out"
    save_output(Dataset.from_dict({"question": ["q1"]}), folder)
    path = folder / OUTPUT_MARKER
    if marker == "other text":
        path.write_text("anything")
    elif marker == "folder":
        path.unlink()
        path.mkdir()
    else:
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads anything: make it unreadable another way
            path.unlink()
            os.symlink(path.with_name("nowhere"), path)
    before = sorted(p.name for p in folder.iterdir())
    untrusted = rf"{OUTPUT_MARKER} marker that localnat cannot trust .*delete it yourself"
    with pytest.raises(OutputExistsError, match=untrusted):
        save_output(Dataset.from_dict({"question": ["q2"]}), folder, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == before
    result = CliRunner().invoke(main, ["select", str(_scored_jsonl(tmp_path)), "-o", str(folder), "--overwrite"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
