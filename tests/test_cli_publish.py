"""`localnat publish` and `localnat demo` through click: real files, the real local Hub server, the real model once."""

from __future__ import annotations

import os
import re

import pytest
import yaml
from click.testing import CliRunner
from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi

from hf_localnat.cli import main
from hf_localnat.hub.curate import curate
from hf_localnat.io import save_output
from hf_localnat.io import read_provenance as read
from hf_localnat.provenance import Provenance

from .test_publish import USER, curated_configs

CONFIGS = ("lalp", "galp", "scored", "rejected")


# How the hand-written rows of `curated_configs` claim to be scored (as `localnat score` would record it).
RECORDED = Provenance(window=2, segmenter="line", prompt_format="plain", max_length=None, mode="exact",
                      dtype="float32", student={"kind": "hub", "id": "org/student", "revision": "c" * 40},
                      version="0.1.0")


@pytest.fixture
def scored_file(tmp_path, hub_repo_name):
    return save_output(curated_configs(hub_repo_name)["scored"], tmp_path / "scored.parquet", provenance=RECORDED)


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.slow
def test_publish_cli_round_trip(hub_server, scored_file, hub_repo_name, tmp_path):
    repo_id = f"{USER}/{hub_repo_name}"
    expected = curate(load_dataset("parquet", data_files=str(scored_file), split="train")).configs
    before = len(hub_server.requests)
    dry = invoke("publish", str(scored_file), "--repo-id", repo_id, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert len(hub_server.requests) == before and "Would push" in dry.output
    assert re.search(r"data/lalp/train-[0-9a-f]{16}\.parquet", dry.output) and "images/localnat-distribution.png" in dry.output

    result = invoke("publish", str(scored_file), "--repo-id", repo_id, "--license", "apache-2.0",
                    "--keep-folder", str(tmp_path / "kept"))
    assert result.exit_code == 0, result.output
    assert "Published" in result.output and "Visibility: private" in result.output
    assert "teacher" in result.output and "Mix report" in result.output
    assert os.environ["HF_TOKEN"] not in result.output
    for name in CONFIGS:
        rows = expected[name].to_list()
        assert load_dataset(repo_id, name, split="train").to_list() == rows
        assert load_dataset(str(tmp_path / "kept"), name, split="train").to_list() == rows

    card = DatasetCard.load(repo_id, repo_type="dataset")
    meta = yaml.safe_load(card.content.split("---\n")[1])
    assert meta["license"] == "apache-2.0" and [c["config_name"] for c in meta["configs"]] == list(CONFIGS)
    facts = meta["localnat"]  # what the file records, not publish's defaults
    assert (facts["student_model"], facts["student_revision"], facts["window"], facts["segmenter"],
            facts["prompt_format"]) == ("org/student", "c" * 40, 2, "line", "plain")
    assert "localnat pull" in card.text and "--dry-run --keep-folder rebuilt" in card.text
    assert "![LALP and GALP distributions per teacher](images/localnat-distribution.png)" in card.text
    assert HfApi().file_exists(repo_id, "images/localnat-distribution.png", repo_type="dataset")

    refused = invoke("publish", str(scored_file), "--repo-id", repo_id)
    assert refused.exit_code == 1 and "already exists" in refused.output and "--overwrite" in refused.output
    pr = invoke("publish", str(scored_file), "--repo-id", repo_id, "--create-pr", "--top-k", "2")
    assert pr.exit_code == 0 and "Pull request:" in pr.output, pr.output
    both = invoke("publish", str(scored_file), "--repo-id", repo_id, "--create-pr", "--overwrite")
    assert both.exit_code == 2 and "not both" in both.output
    bad = invoke("publish", str(scored_file), "--repo-id", "no-namespace")
    assert bad.exit_code == 1 and "NAMESPACE/NAME" in bad.output


def test_publish_keep_folder_never_writes_into_an_existing_folder(hub_server, scored_file, hub_repo_name, tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_bytes(b"my \x00 bytes")
    requests = len(hub_server.requests)
    for flags in ([], ["--overwrite"]):  # --overwrite is about the Hub repo, never about a folder of the user's
        result = invoke("publish", str(scored_file), "--repo-id", f"{USER}/{hub_repo_name}", "--keep-folder",
                        str(kept), *flags)
        assert result.exit_code == 1 and "localnat did not write" in result.output
        assert [p.name for p in kept.iterdir()] == ["mine.txt"] and (kept / "mine.txt").read_bytes() == b"my \x00 bytes"
    assert len(hub_server.requests) == requests  # refused before anything was sent


@pytest.mark.slow
def test_reproduce_command_rebuilds_the_same_selection(hub_server, scored_file, hub_repo_name, tmp_path,
                                                       monkeypatch):
    repo_id = f"{USER}/{hub_repo_name}"
    assert invoke("publish", str(scored_file), "--repo-id", repo_id).exit_code == 0
    command = DatasetCard.load(repo_id, repo_type="dataset").text.split("## Reproduce\n\n```bash\n")[1].split("\n")[0]
    pull_part, publish_part = command.split(" && ")
    (tmp_path / "reader").mkdir()
    monkeypatch.chdir(tmp_path / "reader")
    pulled = invoke(*pull_part.split()[1:])
    assert pulled.exit_code == 0, pulled.output
    assert read("scored.parquet") == RECORDED and RECORDED.describe() in pulled.output
    assert invoke(*publish_part.split()[1:]).exit_code == 0
    for name in CONFIGS:
        assert (load_dataset("rebuilt", name, split="train").to_list()
                == load_dataset(repo_id, name, split="train").to_list())


def test_publish_refuses_flags_that_contradict_the_record_and_needs_them_without_one(scored_file, tmp_path):
    for flags, needle in ((["--window", "4"], "--window 4 contradicts the input, which was scored with window 2"),
                          (["--model", "smollm2-135m-instruct"], "--model smollm2-135m-instruct contradicts"),
                          (["--segmenter", "sentence"], "--segmenter sentence contradicts")):
        refused = invoke("publish", str(scored_file), "--repo-id", "u/x", "--dry-run", *flags)
        assert refused.exit_code == 1 and needle in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1
    agreeing = invoke("publish", str(scored_file), "--repo-id", "u/x", "--dry-run", "--window", "2", "--model",
                      "org/student", "--model-revision", "cccc")
    assert agreeing.exit_code == 0, agreeing.output
    bare = tmp_path / "bare.parquet"
    curated_configs("bare")["scored"].to_parquet(str(bare))  # records nothing
    refused = invoke("publish", str(bare), "--repo-id", "u/x", "--dry-run")
    assert refused.exit_code == 1 and "does not record how it was scored" in refused.output
    stated = invoke("publish", str(bare), "--repo-id", "u/x", "--dry-run", "--model", "org/m", "--window", "3",
                    "--keep-folder", str(tmp_path / "stated"))
    assert stated.exit_code == 0, stated.output
    card = DatasetCard((tmp_path / "stated" / "README.md").read_text())
    assert card.data.to_dict()["localnat"]["window"] == 3 and "stated by the publisher" in card.text


def test_demo_refuses_a_non_empty_folder_before_scoring(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    for flags in ([], ["--overwrite"]):  # not a folder localnat wrote: refused even with --overwrite
        result = invoke("demo", "-o", str(tmp_path), *flags)
        assert result.exit_code == 1 and "localnat did not write" in result.output and "Traceback" not in result.output
        assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"] and (tmp_path / "mine.txt").read_text() == "x"
    (tmp_path / "file").write_bytes(b"\x00bytes")
    result = invoke("demo", "-o", str(tmp_path / "file"))
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.output
    assert (tmp_path / "file").read_bytes() == b"\x00bytes"


@pytest.mark.slow
def test_demo_end_to_end_offline(tmp_path, monkeypatch, hub_server, scored_sample):
    """The README's main job, for real: the embedded model scores the whole bundled sample (about 90 s)."""
    monkeypatch.delenv("HF_TOKEN")  # no token needed
    requests = len(hub_server.requests)  # HF_ENDPOINT points at this server: the only "network" there is
    out = tmp_path / "localnat-demo"
    result = invoke("demo", "-o", str(out), "--data", "sample")
    assert result.exit_code == 0, result.output
    assert len(hub_server.requests) == requests
    for needle in ("teacher-clear", "Mix report", f'load_dataset("{out}", "lalp")', "Wrote the would-be Hub repo"):
        assert needle in result.output
    # the verdict lines, as the ranking of the same rows gives them (SPEC §13)
    verdicts = curate(scored_sample, correct_column="correct").ranking.verdicts
    assert [line.split(": ")[0] for line in verdicts] == ["LALP", "GALP"]
    assert "How sure is the ranking" in result.output and all(f"  {line}" in result.output for line in verdicts)
    assert all(result.output.count(line) == 1 for line in verdicts)  # each verdict once, at the end
    assert (out / "images" / "localnat-distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>") and "step report" in result.output
    card = DatasetCard((out / "README.md").read_text())
    assert card.data.license == "apache-2.0" and card.data.to_dict()["localnat"]["student_model"] == "smollm2-135m-instruct"
    recorded = read(out)  # every config's Parquet file records the same provenance
    assert recorded.student["kind"] == "embedded" and recorded.window == 4 and recorded.dtype == "float32"

    scored = load_dataset(str(out), "scored", split="train")
    assert len(scored) == len(scored_sample)
    # the demo's scores are the library's (scored once per session by the selection tests' fixture)
    reference = {(r["question_id"], r["teacher"]): r for r in scored_sample}
    for row in scored:
        ref = reference[(row["question_id"], row["teacher"])]
        assert row["lalp"] == pytest.approx(ref["lalp"], abs=1e-4) and row["galp"] == pytest.approx(ref["galp"], abs=1e-4)
    # the folder is self-consistent: selecting again from its `scored` config gives its `lalp`/`galp`/`rejected`
    again = curate(scored, correct_column="correct").configs
    for name in ("lalp", "galp", "rejected"):
        assert load_dataset(str(out), name, split="train").to_list() == again[name].to_list()
    lalp = load_dataset(str(out), split="train")  # `lalp` is the default config
    assert len(lalp) == len(set(scored_sample["question_id"])) and all(lalp["correct"])
