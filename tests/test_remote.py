"""Remote data: INPUT and OUTPUT as fsspec URLs (`memory://`, `file://`, `hf://datasets/...`) with
`--storage-options`, through real `localnat` invocations (click's runner) on the tiny random Llama.

Every remote result is compared with the same command on local files, and the provenance is read back through the
remote filesystem (Parquet footer, or the `.hf_localnat.json` sidecar). `hf://` runs against the local Hub server
(tests/hub_server.py), so the uploads are real commits. The tests that score are `slow` (several CLI runs of the
tiny model each); the error cases stay in the fast loop."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fsspec.implementations.memory import MemoryFileSystem

from hf_localnat.cli import main
from hf_localnat.provenance import SIDECAR_SUFFIX, Provenance, from_metadata
from hf_localnat.io import read_provenance as read

from .test_cli_resume import _close  # rows equal, scores within SPEC §6 (separate processes)

QUESTIONS = ("q01", "q02", "q03")


@pytest.fixture
def memory() -> MemoryFileSystem:
    """fsspec's in-memory filesystem, empty before and after the test."""
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]
    yield fs
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]


@pytest.fixture
def traces(sample_rows) -> bytes:
    """Three questions of the bundled sample, every teacher (12 rows), as JSON Lines."""
    rows = [r for r in sample_rows if r["question_id"] in QUESTIONS]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _ok(*args: str):
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def _one_line_error(result, *expected: str) -> str:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _score(source, output, model, *extra):
    return _ok("score", source, "-o", output, "--model", model, "--map-batch-size", "4", *extra)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sample_rows, tiny_model_path) -> tuple[list[dict], Provenance, Path]:
    """The same 12 rows scored from a local file into a local Parquet file (rows, provenance, path): what every
    remote run must equal."""
    folder = tmp_path_factory.mktemp("reference")
    rows = [r for r in sample_rows if r["question_id"] in QUESTIONS]
    (folder / "reference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _score(folder / "reference.jsonl", folder / "reference.parquet", tiny_model_path)
    path = folder / "reference.parquet"
    return pq.read_table(path).to_pylist(), read(path), path


def _provenance_of_parquet(fs, path: str) -> Provenance:
    with fs.open(path, "rb") as f:
        return from_metadata(pq.read_schema(f).metadata)


# ------------------------------------------------------------------------------------------------------ memory://
@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_memory_round_trip_score_rank_select(memory, traces, tiny_model_path, reference):
    reference, recorded, reference_path = reference
    memory.pipe("/in/traces.jsonl", traces)

    result = _score("memory://in/traces.jsonl", "memory://out/scored.parquet", tiny_model_path,
                    "--storage-options", "{}")
    assert "Wrote memory://out/scored.parquet." in result.output
    with memory.open("/out/scored.parquet", "rb") as f:
        rows = pq.read_table(f).to_pylist()
    _close(rows, reference)
    provenance = _provenance_of_parquet(memory, "/out/scored.parquet")
    assert provenance == recorded
    assert provenance.student["path"] == str(tiny_model_path)
    assert memory.find("/") == ["/in/traces.jsonl", "/out/scored.parquet"]  # no temporary left beside the output

    # rank-teachers and select read the scored file (and its provenance) from memory://
    ranked = json.loads(_ok("rank-teachers", "memory://out/scored.parquet", "--json", "--resamples", "50").stdout)
    local = json.loads(_ok("rank-teachers", reference_path, "--json", "--resamples", "50").stdout)
    assert ranked["provenance"] == provenance.to_dict()
    assert ranked["teachers"] == local["teachers"]

    out = json.loads(_ok("select", "memory://out/scored.parquet", "-o", "memory://out/curated.jsonl",
                         "--correct-column", "correct", "--json").stdout)
    assert out["output"] == "memory://out/curated.jsonl"
    assert out["rejected_output"] == "memory://out/curated.rejected.jsonl"
    kept = [json.loads(line) for line in memory.cat("/out/curated.jsonl").decode().splitlines()]
    rejected = memory.cat("/out/curated.rejected.jsonl").decode().splitlines()
    assert len(kept) == len(QUESTIONS) and len(kept) + len(rejected) == len(reference)
    best = {q: max((r for r in reference if r["question_id"] == q and r["correct"]), key=lambda r: r["lalp"])
            for q in QUESTIONS}
    assert {r["question_id"]: r["teacher"] for r in kept} == {q: r["teacher"] for q, r in best.items()}
    for name in ("curated.jsonl", "curated.rejected.jsonl"):  # the sidecars came along, through the same filesystem
        assert Provenance.from_json(memory.cat(f"/out/{name}{SIDECAR_SUFFIX}")) == provenance
        assert read(f"memory://out/{name}") == provenance


@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_memory_output_is_never_replaced_unless_ours(memory, traces, tiny_model_path):
    memory.pipe("/in/traces.jsonl", traces)
    foreign = b"PAR1 someone else's bytes"
    memory.pipe("/out/scored.parquet", foreign)

    refused = _invoke("score", "memory://in/traces.jsonl", "-o", "memory://out/scored.parquet",
                      "--model", tiny_model_path)
    _one_line_error(refused, "memory://out/scored.parquet", "already exists", "--overwrite")
    assert memory.cat("/out/scored.parquet") == foreign
    refused = _invoke("score", "memory://in/traces.jsonl", "-o", "memory://out/scored.parquet",
                      "--model", tiny_model_path, "--overwrite")
    _one_line_error(refused, "does not record that localnat wrote it")
    assert memory.cat("/out/scored.parquet") == foreign

    # a .jsonl is ours when its sidecar is there: --overwrite replaces it (and the sidecar), without it nothing moves
    _score("memory://in/traces.jsonl", "memory://out/scored.jsonl", tiny_model_path)
    first = memory.cat("/out/scored.jsonl")
    _one_line_error(_invoke("score", "memory://in/traces.jsonl", "-o", "memory://out/scored.jsonl", "--model",
                            tiny_model_path, "--window", "1"), "already exists")
    assert memory.cat("/out/scored.jsonl") == first
    _score("memory://in/traces.jsonl", "memory://out/scored.jsonl", tiny_model_path, "--window", "1", "--overwrite")
    assert memory.cat("/out/scored.jsonl") != first
    assert read("memory://out/scored.jsonl").window == 1
    # without its sidecar the same file is no longer known to be ours
    memory.rm("/out/scored.jsonl" + SIDECAR_SUFFIX)
    second = memory.cat("/out/scored.jsonl")
    _one_line_error(_invoke("score", "memory://in/traces.jsonl", "-o", "memory://out/scored.jsonl", "--model",
                            tiny_model_path, "--overwrite"), "does not record that localnat wrote it")
    assert memory.cat("/out/scored.jsonl") == second
    assert sorted(memory.find("/")) == ["/in/traces.jsonl", "/out/scored.jsonl", "/out/scored.parquet"]


@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_remote_input_checkpoints_key_on_content(memory, traces, tiny_model_path, tmp_path, monkeypatch):
    """A rerun on the same remote bytes reuses the checkpoints; new bytes at the same URL are scored afresh (neither
    `datasets`' cache nor the checkpoints serve the old rows)."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    memory.pipe("/in/traces.jsonl", traces)
    args = ("--checkpoint-rows", "4", "--overwrite")
    first = _score("memory://in/traces.jsonl", "memory://out/a.parquet", tiny_model_path, *args)
    assert "Resumed" not in first.output
    again = _score("memory://in/traces.jsonl", "memory://out/a.parquet", tiny_model_path, *args)
    assert "All 12 rows reused" in again.output
    assert len(list((tmp_path / "cache" / "localnat-remote").glob("*/traces.jsonl"))) == 1

    changed = traces.replace(b"The answer is", b"So the answer is")
    assert changed != traces
    memory.pipe("/in/traces.jsonl", changed)
    fresh = _score("memory://in/traces.jsonl", "memory://out/a.parquet", tiny_model_path, *args)
    assert "reused" not in fresh.output
    with memory.open("/out/a.parquet", "rb") as f:
        responses = pq.read_table(f, columns=["response"]).column("response").to_pylist()
    assert responses == [json.loads(line)["response"] for line in changed.decode().splitlines()]


@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_calibrate_inspect_publish_pull_take_urls(memory, reference, tmp_path):
    """The other commands that read SCORED (calibrate, inspect, publish) read it from a URL with its provenance, and
    pull writes to a URL with the provenance in the Parquet footer."""
    rows, provenance, path = reference
    memory.pipe("/scored.parquet", path.read_bytes())
    url = "memory://scored.parquet"

    calibrated = json.loads(_ok("calibrate", url, path, "--json", "--resamples", "20").stdout)
    assert calibrated["provenance"] == {"a": provenance.to_dict(), "b": provenance.to_dict()}
    assert calibrated["spearman"]["lalp"]["value"] == pytest.approx(1.0)

    _ok("inspect", url, "-o", tmp_path / "report.html", "--storage-options", "{}")
    assert f"window {provenance.window}" in (tmp_path / "report.html").read_text()

    _ok("publish", url, "--repo-id", "me/curated", "--dry-run", "--correct-column", "correct",
        "--keep-folder", tmp_path / "repo")
    assert f"{url}" in (tmp_path / "repo" / "README.md").read_text()

    pulled = _ok("pull", tmp_path / "repo", "--config", "scored", "-o", "memory://pulled/scored.parquet")
    assert "(with its provenance)" in pulled.output
    assert _provenance_of_parquet(memory, "/pulled/scored.parquet") == provenance
    with memory.open("/pulled/scored.parquet", "rb") as f:
        assert pq.read_table(f).num_rows == len(rows)


# -------------------------------------------------------------------------------------------------------- file://
@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_file_urls_are_local_paths(traces, tiny_model_path, tmp_path, reference):
    reference, recorded, _ = reference
    (tmp_path / "in.jsonl").write_bytes(traces)
    _score(f"file://{tmp_path}/in.jsonl", f"file://{tmp_path}/scored.jsonl", tiny_model_path)
    rows = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    _close(rows, reference)
    assert read(f"file://{tmp_path}/scored.jsonl") == recorded
    assert (tmp_path / f"scored.jsonl{SIDECAR_SUFFIX}").is_file()
    _one_line_error(_invoke("score", f"file://{tmp_path}/in.jsonl", "-o", f"file://{tmp_path}/scored.jsonl",
                            "--model", tiny_model_path), "already exists")


# ---------------------------------------------------------------------------------------------------------- hf://
@pytest.mark.slow  # the tiny model through the CLI, several runs
def test_hf_urls_against_the_local_hub(hub_server, hub_repo_name, traces, tiny_model_path, reference):
    from datasets import load_dataset
    from huggingface_hub import HfApi, HfFileSystem

    reference, provenance, _ = reference
    api = HfApi()
    repo = api.create_repo(hub_repo_name, repo_type="dataset").repo_id
    api.upload_file(path_or_fileobj=traces, path_in_repo="raw/traces.jsonl", repo_id=repo, repo_type="dataset")
    commits = len(api.list_repo_commits(repo, repo_type="dataset"))
    base = f"hf://datasets/{repo}"

    # .jsonl out: the file and its provenance sidecar land in ONE commit, made with the --storage-options token
    hub_server.auth_headers.clear()
    result = _score(f"{base}/raw/traces.jsonl", f"{base}/scored/scored.jsonl", tiny_model_path,
                    "--storage-options", json.dumps({"token": "hf_from_storage_options"}))
    assert f"{base}/scored/scored.jsonl{SIDECAR_SUFFIX}" in result.output
    assert set(hub_server.auth_headers) == {"Bearer hf_from_storage_options"}
    history = api.list_repo_commits(repo, repo_type="dataset")
    assert len(history) == commits + 1
    assert set(api.list_repo_files(repo, repo_type="dataset")) >= {"scored/scored.jsonl",
                                                                   f"scored/scored.jsonl{SIDECAR_SUFFIX}"}
    loaded = load_dataset("json", data_files=f"{base}/scored/scored.jsonl", split="train")
    _close(loaded.to_list(), reference)
    assert read(f"{base}/scored/scored.jsonl") == provenance

    # .parquet out, read back through HfFileSystem: the provenance is in the footer
    _score(f"{base}/raw/traces.jsonl", f"{base}/scored.parquet", tiny_model_path)
    fs = HfFileSystem()
    assert _provenance_of_parquet(fs, f"datasets/{repo}/scored.parquet") == provenance
    loaded = load_dataset("parquet", data_files=f"{base}/scored.parquet", split="train")
    _close(loaded.to_list(), reference)
    # rank-teachers straight from the Hub
    ranked = json.loads(_ok("rank-teachers", f"{base}/scored.parquet", "--json", "--resamples", "20").stdout)
    assert ranked["provenance"] == provenance.to_dict()

    # a file the user put there is refused, and no commit is made
    api.upload_file(path_or_fileobj=b"question,response\nq,r\n", path_in_repo="mine.csv", repo_id=repo,
                    repo_type="dataset")
    commits = len(api.list_repo_commits(repo, repo_type="dataset"))
    for flags in ((), ("--overwrite",)):
        _one_line_error(_invoke("score", f"{base}/raw/traces.jsonl", "-o", f"{base}/mine.csv", "--model",
                                tiny_model_path, *flags), f"{base}/mine.csv")
    assert len(api.list_repo_commits(repo, repo_type="dataset")) == commits
    assert fs.cat(f"datasets/{repo}/mine.csv") == b"question,response\nq,r\n"


# ------------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, expected", [
    ("{token: x}", ["--storage-options is not valid JSON", "column 2", "--storage-options '{\"anon\": true}'"]),
    ('["anon"]', ["must be a JSON object, got a list"]),
])
def test_bad_storage_options_are_one_line(text, expected, memory):
    for command in (["score", "memory://x.jsonl", "-o", "memory://y.parquet"], ["rank-teachers", "memory://x.parquet"],
                    ["select", "memory://x.parquet", "-o", "memory://y.parquet"]):
        _one_line_error(_invoke(*command, "--storage-options", text), *expected)


def test_remote_errors_are_one_line(memory, traces, tiny_model_path):
    def fails(*args):
        return _invoke("score", *args, "--model", tiny_model_path)

    _one_line_error(fails("s3://bucket/traces.jsonl", "-o", "memory://out.parquet"),
                    "s3:// needs the package s3fs", "pip install s3fs")
    _one_line_error(fails("gs://bucket/traces.jsonl", "-o", "memory://out.parquet"), "pip install gcsfs")
    _one_line_error(fails("nosuch://bucket/traces.jsonl", "-o", "memory://out.parquet"), "Unknown protocol nosuch://")
    _one_line_error(fails("memory://missing.jsonl", "-o", "memory://out.parquet"),
                    "'memory://missing.jsonl' does not exist")
    memory.pipe("/in/traces.jsonl", traces)
    _one_line_error(fails("memory://in", "-o", "memory://out.parquet"), "is a folder")
    _one_line_error(fails("memory://in/traces.jsonl", "-o", "memory://out"), "a remote OUTPUT is one")
    _one_line_error(fails("memory://in/traces.jsonl", "-o", "memory://out.txt"), "Unknown output type '.txt'")
    memory.pipe("/in/latin1.jsonl", traces.replace(b"Maria", b"Mar\xeda", 1))
    _one_line_error(fails("memory://in/latin1.jsonl", "-o", "memory://out.parquet"),  # names the URL, not the copy
                    "'memory://in/latin1.jsonl' is not valid UTF-8", "line 1")
    assert sorted(memory.find("/")) == ["/in/latin1.jsonl", "/in/traces.jsonl"]


def test_an_hf_output_in_a_missing_repo_is_refused_before_scoring(hub_server, memory, traces, tiny_model_path):
    memory.pipe("/in/traces.jsonl", traces)
    result = _invoke("score", "memory://in/traces.jsonl", "-o", "hf://datasets/test-user/no-such-repo/s.parquet",
                     "--model", tiny_model_path)
    _one_line_error(result, "its Hub repo (or revision) does not exist", "hf repos create")
    assert "Scoring" not in result.output
