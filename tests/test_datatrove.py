"""`hf_localnat.datatrove.LocalNaturalnessScorer` as a DataTrove step: a real LocalPipelineExecutor over JSON Lines
with the tiny random Llama, the writer's folder read back by `localnat select` / `rank-teachers` / `publish`,
hostile documents, DataTrove's completion markers, rank placement, and the folder reader without any model."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import pytest

pytest.importorskip("datatrove")
pytest.importorskip("orjson")

from click.testing import CliRunner  # noqa: E402
from datatrove.data import Document  # noqa: E402
from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter  # noqa: E402

import hf_localnat.datatrove as dt  # noqa: E402
from hf_localnat.cli import main  # noqa: E402
from hf_localnat.errors import ConfigError, InputError, ProvenanceError  # noqa: E402
from hf_localnat.io import load_input, read_provenance  # noqa: E402
from hf_localnat.provenance import FOLDER_FILE  # noqa: E402
from hf_localnat.scoring.scorer import LocalNaturalnessScorer  # noqa: E402

TOLERANCE = 1e-4  # SPEC §6, float32

# 4 questions x 3 teachers, short responses (the tiny model's 49K-word softmax costs per token).
QUESTIONS = {"q1": "What is 2 + 2?", "q2": "What is 3 * 4?", "q3": "Name a prime.", "q4": "What is 10 / 2?"}
RESPONSES = {
    "clear": ["2 + 2 = 4. The answer is 4.", "3 * 4 = 12. So the answer is 12.", "2 is prime. The answer is 2.",
              "10 / 2 = 5. The answer is 5."],
    "terse": ["4.", "12.", "7.", "5."],
    "odd": ["Bananas sing. Four, perhaps. It is 4.", "Twelve clouds. 12 then.", "Primes? Maybe 9. No, 3.",
            "Half of ten is purple. 5."],
}


def _rows() -> list[dict]:
    return [{"id": f"{teacher}-{q}", "question": QUESTIONS[q], "question_id": q, "teacher": teacher,
             "response": RESPONSES[teacher][i]}
            for teacher in RESPONSES for i, q in enumerate(QUESTIONS)]


def _count_loads(monkeypatch) -> list[int]:
    """Count model loads in this process (LocalPipelineExecutor with workers=1 runs its tasks here)."""
    calls: list[int] = []
    load = LocalNaturalnessScorer._load

    def counted(self):
        if not self.is_loaded:
            calls.append(1)
        return load(self)

    monkeypatch.setattr(LocalNaturalnessScorer, "_load", counted)
    return calls


def _pipeline(traces: Path, out: Path, nested: Path, model: Path) -> list:
    return [
        JsonlReader(str(traces), text_key="response"),
        dt.LocalNaturalnessScorer(str(model), output_folder=str(out), batch_size=4, dtype="float32"),
        JsonlWriter(str(out), expand_metadata=True),  # metadata keys as columns, .jsonl.gz shards
        ParquetWriter(str(nested), schema=dt.parquet_schema(  # nested `metadata`, one struct column
            [("question", "string"), ("question_id", "string"), ("teacher", "string")], expand_metadata=False)),
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_path):
    """The pipeline run once over two JSON Lines files on 2 tasks; then the same pipeline again (all tasks done),
    and again after one completion marker is removed. Model loads are counted for each."""
    root = tmp_path_factory.mktemp("datatrove")
    traces, out, nested, logs = root / "traces", root / "scored", root / "nested", root / "logs"
    traces.mkdir()
    rows = _rows()
    for part in range(2):
        (traces / f"part{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[part::2]))
    mp = pytest.MonkeyPatch()
    try:
        loads = _count_loads(mp)

        def execute():
            before = len(loads)
            result = LocalPipelineExecutor(_pipeline(traces, out, nested, tiny_model_path), tasks=2, workers=1,
                                           logging_dir=str(logs)).run()
            return result, len(loads) - before

        first, first_loads = execute()
        first_stats = dt.read_stats(logs)  # stats.json holds the latest run's tasks only
        stats_0 = (logs / "stats" / "00000.json").read_text()
        again, again_loads = execute()
        (logs / "completions" / "00001").unlink()
        partial, partial_loads = execute()
    finally:
        mp.undo()
    return dict(root=root, rows=rows, out=out, nested=nested, logs=logs, first=first, first_loads=first_loads,
                again=again, again_loads=again_loads, partial_loads=partial_loads, stats_0=stats_0,
                first_stats=first_stats)


@pytest.fixture(scope="module")
def direct(run, tiny_model_path) -> dict[str, dict]:
    """The same rows scored by `LocalNaturalnessScorer.score` in one call, by id."""
    rows = run["rows"]
    scores = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32").score(
        [r["response"] for r in rows], [r["question"] for r in rows])
    return {r["id"]: s for r, s in zip(rows, scores, strict=True)}


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return abs(a - b) <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["out", "nested"])
def test_the_writers_folder_holds_the_scorers_numbers(run, direct, folder):
    scored = load_input(str(run[folder]))
    assert scored.num_rows == len(run["rows"]) and "response" in scored.column_names and "text" not in scored.column_names
    assert sorted(scored["id"]) == sorted(direct)
    for row in scored:
        want = direct[row["id"]]
        assert row["response"] == next(r["response"] for r in run["rows"] if r["id"] == row["id"])
        for key in ("lalp", "galp", "lalp_steps"):
            assert _close(row[key], want[key]), (row["id"], key, row[key], want[key])
        assert [row[k] for k in ("num_steps", "num_tokens", "truncated", "score_error")] == [
            want[k] for k in ("num_steps", "num_tokens", "truncated", "score_error")]


@pytest.mark.slow
def test_stats_provenance_and_one_model_load_per_task(run, direct, tiny_model_path):
    assert run["first_loads"] == 2  # one per task, never per batch
    stats = run["first_stats"]
    assert stats["total"] == 12 and stats["scored"] == 12 and stats["model_loads"] == 2
    assert stats["batches"] == 4 and stats["response_tokens"] == sum(s["num_tokens"] for s in direct.values())
    provenance = read_provenance(str(run["out"]))
    assert provenance == LocalNaturalnessScorer(str(tiny_model_path), dtype="float32").provenance()
    assert json.loads((run["out"] / FOLDER_FILE).read_text()) == provenance.to_dict()
    assert read_provenance(str(run["nested"])) is None  # no step wrote there: nothing is claimed


@pytest.mark.slow
def test_a_rerun_skips_completed_tasks(run):
    assert run["again"] is None and run["again_loads"] == 0  # DataTrove: "all tasks have already been completed"
    assert run["partial_loads"] == 1  # only task 1, whose completion marker was removed, ran again
    assert (run["logs"] / "stats" / "00000.json").read_text() == run["stats_0"]
    assert load_input(str(run["out"])).num_rows == len(run["rows"])  # task 1 rewrote its own shard, no duplicates


@pytest.mark.slow
def test_select_rank_and_publish_read_the_writers_folder(run, direct, tmp_path):
    runner = CliRunner()
    best = {}
    for r in run["rows"]:
        if best.get(r["question_id"]) is None or direct[r["id"]]["lalp"] > direct[best[r["question_id"]]]["lalp"]:
            best[r["question_id"]] = r["id"]
    for folder in ("out", "nested"):
        kept_path = tmp_path / f"kept-{folder}.parquet"
        result = runner.invoke(main, ["select", str(run[folder]), "-o", str(kept_path)])
        assert result.exit_code == 0, result.output
        kept = load_input(str(kept_path))
        assert dict(zip(kept["question_id"], kept["id"])) == best
    assert "Scored with: student " in runner.invoke(main, ["select", str(run["out"]), "-o",
                                                           str(tmp_path / "again.parquet")]).output
    ranked = runner.invoke(main, ["rank-teachers", str(run["out"]), "--json", "--resamples", "20"])
    assert ranked.exit_code == 0, ranked.output
    assert json.loads(ranked.stdout)["provenance"] == read_provenance(str(run["out"])).to_dict()
    published = runner.invoke(main, ["publish", str(run["out"]), "--repo-id", "u/x", "--dry-run", "--keep-folder",
                                     str(tmp_path / "repo")])
    assert published.exit_code == 0, published.output
    from huggingface_hub import DatasetCard

    card = DatasetCard((tmp_path / "repo" / "README.md").read_text())
    assert card.data.to_dict()["localnat"]["student_model"] == read_provenance(str(run["out"])).student_name
    assert "stated by the publisher" not in card.text


# ---------------------------------------------------------------------------------------------- hostile documents
def test_hostile_documents_get_their_reason_and_go_on(tiny_model_path):
    step = dt.LocalNaturalnessScorer(str(tiny_model_path), batch_size=3, dtype="float32")
    docs = [
        Document(text=5, id="int"), Document(text="", id="empty"), Document(text="   \n", id="blank"),
        Document(text="Fine. \ud800 broken.", id="surrogate"), Document(text=["a", "list"], id="list"),
        Document(text="2 + 2 = 4. So 4.", id="good", metadata={"question": "What is 2 + 2?"}),
        Document(text="2 + 2 = 4.", id="bad-question", metadata={"question": 7}),
    ]
    out = list(step.run(iter(docs)))
    assert [d.id for d in out] == [d.id for d in docs]  # none dropped, order kept
    reasons = {d.id: d.metadata["score_error"] for d in out}
    assert reasons == {"int": "invalid_response", "empty": "empty_response", "blank": "empty_response",
                       "surrogate": "invalid_response", "list": "invalid_response", "good": None,
                       "bad-question": "invalid_question"}
    assert out[1].metadata["lalp"] is None and out[1].metadata["lalp_steps"] == []
    assert out[5].metadata["lalp"] < 0 and out[5].metadata["num_steps"] == 2
    stats = step.stats.stats
    assert stats["score_error_invalid_response"].total == 3 and stats["score_error_empty_response"].total == 2
    assert stats["score_error_invalid_question"].total == 1 and stats["scored"].total == 1
    assert stats["no_question"].total == 5 and stats["total"].total == 7 and stats["model_loads"].total == 1


def test_writable_hostile_documents_reach_the_writer(tiny_model_path, tmp_path):
    # DataTrove's own writers cannot write a non-string text or a lone surrogate (len(text), orjson): those two are
    # for the step alone. Whitespace and a list of strings do go through a real executor and writer.
    docs = [Document(text="   ", id="blank", metadata={"question": "Q?"}),
            Document(text=["not", "a string"], id="list", metadata={"question": "Q?"})]
    LocalPipelineExecutor([docs, dt.LocalNaturalnessScorer(str(tiny_model_path), output_folder=str(tmp_path / "o")),
                           JsonlWriter(str(tmp_path / "o"), expand_metadata=True)],
                          tasks=1, logging_dir=str(tmp_path / "logs")).run()
    scored = load_input(str(tmp_path / "o"))
    assert dict(zip(scored["id"], scored["score_error"])) == {"blank": "empty_response", "list": "invalid_response"}
    stats = dt.read_stats(tmp_path / "logs")
    assert stats["total"] == 2 and stats["score_error_empty_response"] == 1 and stats["score_error_invalid_response"] == 1


# ------------------------------------------------------------------------------------ construction, devices, provenance
def test_options_are_checked_when_the_pipeline_is_built():
    with pytest.raises(ConfigError, match="`window` must be"):
        dt.LocalNaturalnessScorer("m", window=-1)
    with pytest.raises(ConfigError, match="`batch_size` must be a positive integer"):
        dt.LocalNaturalnessScorer("m", batch_size=0)
    with pytest.raises(ConfigError, match="Unknown segmenter"):
        dt.LocalNaturalnessScorer("m", segmenter="words")
    with pytest.raises(TypeError):
        dt.LocalNaturalnessScorer("m", no_such_option=1)
    step = dt.LocalNaturalnessScorer("m", prefix_reuse=False, window=2)  # a speed knob passes through
    assert step.scorer_kwargs["prefix_reuse"] is False and step._scorer is None  # nothing built or loaded yet
    import dill  # SlurmPipelineExecutor pickles the pipeline with dill, LocalPipelineExecutor's workers with pickle

    for restored in (pickle.loads(pickle.dumps(step)), dill.loads(dill.dumps(step))):
        assert restored.scorer_kwargs == step.scorer_kwargs and restored._scorer is None


def test_rank_r_runs_on_cuda_r_mod_device_count_else_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dt.LocalNaturalnessScorer("m")._scorer_for(3).device_arg is None  # resolves to cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for rank, device in ((0, "cuda:0"), (1, "cuda:1"), (3, "cuda:1"), (4, "cuda:0")):
        assert dt.LocalNaturalnessScorer("m")._scorer_for(rank).device_arg == device
    assert dt.LocalNaturalnessScorer("m", device="cpu")._scorer_for(1).device_arg == "cpu"  # an explicit device wins


def test_a_folder_that_records_another_provenance_is_refused(tiny_model_path, tmp_path):
    step = dt.LocalNaturalnessScorer(str(tiny_model_path), output_folder=str(tmp_path), window=3)
    other = dataclasses.replace(step._scorer_for(0).provenance(), window=2)
    (tmp_path / FOLDER_FILE).write_text(other.to_json())
    with pytest.raises(ProvenanceError, match="records scores made with .*window 2.*this step scores with .*window 3"):
        list(step.run(iter([Document(text="A. B.", id="x")])))
    same = dt.LocalNaturalnessScorer(str(tiny_model_path), output_folder=str(tmp_path), window=2)
    assert list(same.run(iter([]))) == []  # the same provenance: accepted, the file is left as it is
    assert (tmp_path / FOLDER_FILE).read_text() == other.to_json()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_without_datatrove_the_step_says_what_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "datatrove" or m.startswith("datatrove.")] or ["datatrove"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import datatrove...` now fails as if it were missing
    spec = importlib.util.spec_from_file_location("hf_localnat._datatrove_missing", dt.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the module itself still imports
    with pytest.raises(ImportError, match=r'^Please install `datatrove` to use LocalNaturalnessScorer '
                                          r"\(`pip install datatrove orjson`: hf-localnat's `datatrove` extra\)\.$"):
        module.LocalNaturalnessScorer("m")


# ------------------------------------------------------------------------------------- reading a DataTrove folder
def _write(writer, docs):
    with writer:
        for doc in docs:
            writer.write(doc, rank=0)


def _docs():
    return [Document(text="A. B.", id="d0", metadata={"question": "Q0", "teacher": "t", "lalp": -1.0,
                                                      "lalp_steps": [-1.0, None]}),
            Document(text="C.", id="d1", metadata={"question": "Q1", "teacher": "u", "lalp": None,
                                                   "lalp_steps": []})]


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "parquet"])
@pytest.mark.parametrize("expand", [True, False])
def test_load_input_reads_a_datatrove_folder_flat_or_nested(tmp_path, kind, expand):
    import pyarrow as pa

    if kind == "parquet":
        schema = dt.parquet_schema([("question", "string"), ("teacher", "string")], expand_metadata=expand)
        writer = ParquetWriter(str(tmp_path), schema=schema, expand_metadata=expand)
    else:
        writer = JsonlWriter(str(tmp_path), compression="gzip" if kind.endswith("gz") else None,
                             expand_metadata=expand)
    _write(writer, _docs())
    [shard] = tmp_path.iterdir()
    assert shard.name.endswith(f"00000.{kind}")
    loaded = load_input(str(tmp_path))
    assert loaded["response"] == ["A. B.", "C."] and loaded["id"] == ["d0", "d1"]
    assert loaded["question"] == ["Q0", "Q1"] and loaded["teacher"] == ["t", "u"]
    assert loaded["lalp"] == [-1.0, None] and loaded["lalp_steps"] == [[-1.0, None], []]
    assert "metadata" not in loaded.column_names and "text" not in loaded.column_names
    assert pa.types.is_floating(loaded.data.table.schema.field("lalp").type)


def test_a_metadata_key_wins_over_a_top_level_column_as_expand_metadata_would(tmp_path):
    _write(JsonlWriter(str(tmp_path), compression=None),
           [Document(text="R.", id="top", metadata={"id": "from-metadata", "response": "kept as response"})])
    loaded = load_input(str(tmp_path))
    assert loaded["id"] == ["from-metadata"] and loaded["response"] == ["kept as response"]
    assert loaded["text"] == ["R."]  # a response column exists: text is not renamed over it


def test_a_folder_of_mixed_or_no_shards_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not one written by `save_to_disk`.*nor by a DataTrove writer"):
        load_input(str(tmp_path))
    _write(JsonlWriter(str(tmp_path / "sub"), compression=None), _docs())
    _write(ParquetWriter(str(tmp_path), schema=dt.parquet_schema()), _docs())
    with pytest.raises(InputError, match="holds both JSON Lines and Parquet shards"):
        load_input(str(tmp_path))


# ------------------------------------------------------------------------------------------ dataset_scripts recipe
def _script():
    spec = importlib.util.spec_from_file_location(
        "dataset_scripts_datatrove_score", Path(__file__).resolve().parents[1] / "dataset_scripts" / "datatrove_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipe_builds_the_same_pipeline_for_slurm(tmp_path):
    import dill
    from datatrove.executor import SlurmPipelineExecutor

    script = _script()
    pipeline = script.build_pipeline(str(tmp_path / "in"), str(tmp_path / "out"), model="org/student", window=3)
    assert [type(step).__name__ for step in pipeline] == ["JsonlReader", "LocalNaturalnessScorer", "JsonlWriter"]
    executor = script.build_executor(pipeline, logging_dir=str(tmp_path / "logs"), tasks=8, workers=-1, slurm=True,
                                     partition="gpu", gpus_per_task=1)
    assert isinstance(executor, SlurmPipelineExecutor) and executor.gpus_per_task == 1 and executor.world_size == 8
    restored = dill.loads(dill.dumps(executor))  # what `run()` writes as executor.pik for the job array
    assert restored.pipeline[1].scorer_kwargs["window"] == 3


@pytest.mark.slow
def test_the_recipe_runs_here_then_select_reads_its_folder(tmp_path, tiny_model_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()[:6]))
    out = str(tmp_path / "out")
    args = [str(tmp_path / "in"), out, "--model", str(tiny_model_path), "--window", "2", "--dtype", "float32"]
    result = CliRunner().invoke(_script().main, args)
    assert result.exit_code == 0, result.output
    assert "Scored 6 of 6 documents in this run; without a score: none." in result.output
    assert f"localnat select {out} -o curated.parquet" in result.output
    assert read_provenance(out).window == 2 and load_input(out).num_rows == 6
    again = CliRunner().invoke(_script().main, args)
    assert again.exit_code == 0 and "Nothing to do: every task is complete" in again.output
