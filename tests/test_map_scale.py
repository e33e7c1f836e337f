"""`Dataset.map` at scale: fingerprint and cache across processes, `with_rank` + `num_proc`, streaming, schemas.

Datasets are read from JSON files (so `map` writes and reuses arrow cache files); the model is the tiny random Llama
saved as a folder.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from datasets.fingerprint import Hasher

import hf_localnat
from hf_localnat import LocalNaturalnessScorer, output_features

from .test_scorer import assert_close

REPO_ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    {"question": f"What is {i} + {i}?", "response": f"First, {i} + {i} = {2 * i}. Check: {2 * i} - {i} = {i}. So {2 * i}."}
    for i in range(8)
]


@pytest.fixture
def jsonl(tmp_path) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def _load(path: Path, cache: Path):
    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


# ------------------------------------------------------------------------------------------------ pickling, hashing
@pytest.mark.slow
def test_pickle_carries_configuration_only(tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=2)
    before = Hasher.hash(scorer)
    scorer.score(["One. Two."], ["Q?"])
    assert scorer._model is not None
    payload = pickle.dumps(scorer)
    assert len(payload) < 4096 and b"torch" not in payload  # no weights, no tensors
    copy = pickle.loads(payload)
    assert copy._model is None and copy._tokenizer is None and copy.config == scorer.config
    assert Hasher.hash(scorer) == Hasher.hash(copy) == before  # loading the model does not change the fingerprint
    assert copy.score(["One. Two."], ["Q?"]) == scorer.score(["One. Two."], ["Q?"])


# A value other than the default for every field of the definition and every speed knob.
DEFINITION_CHANGES = {"window": 3, "segmenter": "line", "prompt_format": "plain", "max_length": 64,
                      "mode": "blockmask", "response_part": "thinking"}
DEFINITION_CHANGES.update(scores="rsr", drop_tokens=3)
DEFINITION_CHANGES.update(steps_provenance={"model": "glm-4.5-air", "prompt_sha256": "0" * 64, "chunk_sentences": 80})  # drop_tokens with a drop score only (SPEC §11): see the loop
DEFINITION_CHANGES.update(max_observation_tokens=16)  # the observation cap, with segmenter="turns" only (SPEC §14)
COMPUTE_CHANGES = {"batch_tokens": 2048, "reuse_galp": False, "padding_side": "left", "bucket_ratio": 0.0,
                   "prefix_reuse": True, "prefix_reuse_min_tokens": 4, "packing": False, "oom_backoff": False,
                   "prefetch_rows": 3, "prepare_workers": 2}


def test_change_lists_cover_every_field():
    from dataclasses import fields

    from hf_localnat.scoring.config import ComputeOptions, ScoringDefinition

    assert set(DEFINITION_CHANGES) == {f.name for f in fields(ScoringDefinition)}
    assert set(COMPUTE_CHANGES) == {f.name for f in fields(ComputeOptions)}


def test_fingerprint_changes_with_every_definition_field_and_never_with_a_speed_knob(tiny_model_path, monkeypatch):
    path = str(tiny_model_path)
    base = Hasher.hash(LocalNaturalnessScorer(path))
    assert Hasher.hash(LocalNaturalnessScorer(path)) == base
    for name, value in {**DEFINITION_CHANGES, "dtype": "bfloat16", "question_column": "q", "response_column": "text",
                        "messages_column": "conversations", "steps_column": "s"}.items():
        if name == "drop_tokens":  # it changes no number unless a drop score is written
            assert Hasher.hash(LocalNaturalnessScorer(path, drop_tokens=value)) == base
            drop = Hasher.hash(LocalNaturalnessScorer(path, scores="galp_drop"))
            assert Hasher.hash(LocalNaturalnessScorer(path, scores="galp_drop", drop_tokens=value)) != drop
            continue
        if name == "max_observation_tokens":  # the cap reads observations, which only agent traces have (SPEC §14)
            turns = Hasher.hash(LocalNaturalnessScorer(path, segmenter="turns"))
            assert Hasher.hash(LocalNaturalnessScorer(path, segmenter="turns", max_observation_tokens=value)) != turns
            continue
        if name == "steps_provenance":  # how given steps were made (SPEC §12): only with segmenter="given"
            given = Hasher.hash(LocalNaturalnessScorer(path, segmenter="given"))
            assert Hasher.hash(LocalNaturalnessScorer(path, segmenter="given", steps_provenance=value)) != given
            continue
        assert Hasher.hash(LocalNaturalnessScorer(path, **{name: value})) != base, name
    for name, value in COMPUTE_CHANGES.items():
        assert Hasher.hash(LocalNaturalnessScorer(path, **{name: value})) == base, name
    assert Hasher.hash(LocalNaturalnessScorer(path, **COMPUTE_CHANGES, device="cpu")) == base
    state = LocalNaturalnessScorer(path).fingerprint_state()
    assert state["provenance"]["student"]["kind"] == "folder" and len(state["provenance"]["student"]["sha256"]) == 64
    monkeypatch.setattr(hf_localnat, "__version__", "9.9.9")
    assert Hasher.hash(LocalNaturalnessScorer(path)) != base


def test_private_datasets_hook_still_works(tiny_model_path):
    """The one private `datasets` hook we use (see `scoring.hf_datasets`): fails loudly if a release moves it."""
    from datasets.utils import _dill

    LocalNaturalnessScorer(str(tiny_model_path))
    assert LocalNaturalnessScorer in _dill.Pickler.dispatch, "datasets.utils._dill.pklregister no longer registers"
    a = LocalNaturalnessScorer(str(tiny_model_path), batch_tokens=64)
    assert pickle.loads(pickle.dumps(a)).config.batch_tokens == 64  # ordinary pickling keeps the knob
    assert _dill.dumps(a) == _dill.dumps(LocalNaturalnessScorer(str(tiny_model_path)))  # the hash ignores it


def test_folder_fingerprint_follows_the_weights_not_the_copy(tiny_model_path, tmp_path):
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from hf_localnat.scoring.fingerprint import folder_identity

    folder = tmp_path / "student"
    shutil.copytree(tiny_model_path, folder)
    first = LocalNaturalnessScorer(str(folder)).provenance().student
    assert first["sha256"] == folder_identity(tiny_model_path)["sha256"]  # a copy has the same content hash
    before = Hasher.hash(LocalNaturalnessScorer(str(folder)))
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.model.norm.weight.mul_(1.5)  # new weights, same config and file sizes
    model.save_pretrained(folder)
    after = LocalNaturalnessScorer(str(folder)).provenance().student
    assert after["sha256"] != first["sha256"] and Hasher.hash(LocalNaturalnessScorer(str(folder))) != before


def test_large_weight_files_are_hashed_by_samples(tmp_path, monkeypatch):
    from hf_localnat.scoring import fingerprint

    monkeypatch.setattr(fingerprint, "FULL_HASH_BYTES", 1000)
    monkeypatch.setattr(fingerprint, "HEAD_BYTES", 100)
    monkeypatch.setattr(fingerprint, "SAMPLE_BLOCK_BYTES", 10)
    monkeypatch.setattr(fingerprint, "SAMPLE_BLOCKS", 4)
    path = tmp_path / "model.safetensors"
    data = bytearray(range(256)) * 40  # 10240 bytes: sampled
    digests = set()
    for offset in (None, 50, 100 + (10240 - 110) // 3, 10239):  # the head, a sampled block, the last byte
        changed = bytearray(data)
        if offset is not None:
            changed[offset] ^= 0xFF
        path.write_bytes(changed)
        os.utime(path, ns=(1, len(digests) + 1))
        digests.add(fingerprint.file_digest(path))
    assert len(digests) == 4


@pytest.mark.slow
def test_in_memory_model_fingerprint_follows_the_weights(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def fresh():
        return AutoModelForCausalLM.from_pretrained(tiny_model_path), AutoTokenizer.from_pretrained(tiny_model_path)

    model, tokenizer = fresh()
    first = Hasher.hash(LocalNaturalnessScorer(model, tokenizer))
    assert Hasher.hash(LocalNaturalnessScorer(*fresh())) == first  # same weights loaded again: same fingerprint
    with torch.no_grad():
        model.model.norm.weight.mul_(1.5)
    assert Hasher.hash(LocalNaturalnessScorer(model, tokenizer)) != first


@pytest.mark.slow
def test_hub_model_fingerprint_pins_the_resolved_commit(hub_server, hub_repo_name, tiny_model_path, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(hub_repo_name).repo_id
    first = api.upload_folder(repo_id=repo, folder_path=tiny_model_path).oid
    scorer = LocalNaturalnessScorer(repo)
    assert scorer.provenance().student == {"kind": "hub", "id": repo, "revision": first}
    before = Hasher.hash(scorer)
    (tmp_path / "NOTES.md").write_text("changed")
    api.upload_file(repo_id=repo, path_or_fileobj=str(tmp_path / "NOTES.md"), path_in_repo="NOTES.md")
    assert Hasher.hash(LocalNaturalnessScorer(repo)) != before  # main moved: a new fingerprint
    assert Hasher.hash(LocalNaturalnessScorer(repo, revision=first)) == before
    assert Hasher.hash(LocalNaturalnessScorer(repo, revision="0" * 40)) != before  # the revision is part of it
    # A copy (what a map worker gets) keeps the resolution and loads that commit, not the moved branch.
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.score(["One. Two."], ["Q?"]) == LocalNaturalnessScorer(str(tiny_model_path)).score(["One. Two."], ["Q?"])
    assert copy.source.revision == first


# --------------------------------------------------------------------------------------- cache across processes
MAP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datasets import load_dataset
    from hf_localnat import LocalNaturalnessScorer
    from hf_localnat.provenance import of_dataset

    data, cache, model, window, batch_tokens = sys.argv[1:6]
    ds = load_dataset("json", data_files=data, split="train", cache_dir=cache)
    scorer = LocalNaturalnessScorer(model, window=int(window), batch_tokens=int(batch_tokens))
    out = scorer.map(ds, batch_size=4)
    print(json.dumps({"cache_files": [f["filename"] for f in out.cache_files], "loaded": scorer._model is not None,
                      "lalp": list(out["lalp"]), "window": of_dataset(out).window}))
    """
)


def _map_in_fresh_process(tmp_path: Path, jsonl: Path, model: Path, window: int, batch_tokens: int = 16384) -> dict:
    script = tmp_path / "map_once.py"
    script.write_text(MAP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(script), str(jsonl), str(tmp_path / "cache"), str(model), str(window), str(batch_tokens)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fresh_process_cache_hits_on_reruns_and_speed_knobs_and_misses_on_the_window(tmp_path, jsonl, tiny_model_path):
    first = _map_in_fresh_process(tmp_path, jsonl, tiny_model_path, window=4)
    assert first["loaded"] and len(first["cache_files"]) == 1 and "/cache-" in first["cache_files"][0]
    second = _map_in_fresh_process(tmp_path, jsonl, tiny_model_path, window=4)
    assert not second["loaded"], "the second run scored again instead of reading the cache"
    assert second["cache_files"] == first["cache_files"] and second["lalp"] == first["lalp"]
    knob = _map_in_fresh_process(tmp_path, jsonl, tiny_model_path, window=4, batch_tokens=64)
    assert not knob["loaded"], "a speed knob (batch_tokens) threw the cache away"
    assert knob["cache_files"] == first["cache_files"]
    changed = _map_in_fresh_process(tmp_path, jsonl, tiny_model_path, window=1, batch_tokens=64)
    assert changed["loaded"] and changed["cache_files"] != first["cache_files"]
    assert changed["lalp"] != first["lalp"]
    assert [first["window"], second["window"], changed["window"]] == [4, 4, 1]  # the results carry their provenance


# --------------------------------------------------------------------------------------------- with_rank, num_proc
@pytest.mark.slow
def test_with_rank_num_proc_2_equals_one_process_and_resumes_missing_shards(tmp_path, jsonl, tiny_model_path):
    ds = _load(jsonl, tmp_path / "cache")
    scorer = LocalNaturalnessScorer(str(tiny_model_path))
    single = scorer.map(ds, batch_size=2, load_from_cache_file=False, keep_in_memory=True)
    scorer._model = scorer._tokenizer = None  # the parent must not need a model for the workers

    parallel = scorer.map(ds, batch_size=2, with_rank=True, num_proc=2)
    assert scorer._model is None  # loaded lazily in each worker only
    _assert_same_rows(parallel, single)  # other processes (and, on a GPU host, other devices): SPEC §6 tolerance
    shards = [Path(f["filename"]) for f in parallel.cache_files]
    assert [s.name[-21:] for s in shards] == ["_00000_of_00002.arrow", "_00001_of_00002.arrow"]

    # An interrupted run: shard 1 never finished. The rerun recomputes only that shard.
    kept = shards[0].stat().st_mtime_ns
    shards[1].unlink()
    resumed = scorer.map(ds, batch_size=2, with_rank=True, num_proc=2)
    assert shards[0].stat().st_mtime_ns == kept and shards[1].is_file()
    _assert_same_rows(resumed, single)


def _assert_same_rows(got, want) -> None:
    """Every column equal, scores within SPEC §6's float32 tolerance (no bit equality across processes or devices)."""
    assert got.column_names == want.column_names and got.num_rows == want.num_rows
    inputs = [c for c in want.column_names if c not in output_features()]
    assert got.select_columns(inputs).to_list() == want.select_columns(inputs).to_list()
    assert_close([{k: r[k] for k in output_features()} for r in got],
                 [{k: r[k] for k in output_features()} for r in want], 1e-4)


def test_rank_places_the_model_on_cpu_without_a_gpu_and_on_its_gpu_with_one(tiny_model_path):
    import torch

    scorer = LocalNaturalnessScorer(str(tiny_model_path))
    out = scorer({"question": ["Q?"], "response": ["One. Two."]}, rank=1)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert str(scorer.model.device) == (f"cuda:{1 % gpus}" if gpus else "cpu") and out["score_error"] == [None]


# ---------------------------------------------------------------------------------------- streaming and schemas
def test_streaming_equals_non_streaming(tmp_path, jsonl, tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path))
    regular = scorer.map(_load(jsonl, tmp_path / "cache"), batch_size=3)
    streamed = load_dataset("json", data_files=str(jsonl), split="train", streaming=True).map(
        scorer, batched=True, batch_size=3
    )
    assert list(streamed) == regular.to_list()
    typed = scorer.map(load_dataset("json", data_files=str(jsonl), split="train", streaming=True), batch_size=3)
    assert typed.features == regular.features and list(typed) == regular.to_list()


def test_declared_features_keep_the_schema_of_empty_and_all_error_batches(tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path))
    errors = Dataset.from_dict({"question": ["Q?", "Q?", "Q?"], "response": ["", "  ", "One. Two."]})
    out = scorer.map(errors, batch_size=2)  # first batch: only errors, every score None
    assert out.features == scorer.features_for(errors)
    assert list(out["score_error"]) == ["empty_response", "empty_response", None] and out["lalp"][:2] == [None, None]
    empty = scorer.map(errors.select([]))
    assert empty.num_rows == 0 and list(empty.features) == ["question", "response", *output_features()]
    assert list(scorer(errors[:2])) == list(output_features())  # __call__ returns exactly the declared columns


@pytest.mark.slow
def test_given_steps_mode_reads_a_list_of_strings_column(tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path), segmenter="given", steps_column="steps")
    steps = [["First, 2 + 2 = 4.", " So 4."], ["One step only."], None, ["Check.", " ", " Done."]]
    ds = Dataset.from_dict({"question": ["Q1?", "Q2?", "Q3?", "Q4?"], "steps": steps})
    out = scorer.map(ds, batch_size=4)
    assert out.to_list() == [{**row, **res} for row, res in zip(ds.to_list(), scorer.score(steps=steps,
                             questions=ds["question"]), strict=True)]
    assert out["score_error"][2] == "missing_steps" and list(out["num_steps"])[:2] == [2, 1]
