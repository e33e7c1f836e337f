"""One call per command (issue 34): `hf_localnat.score`, `hf_localnat.estimate` and `hf_localnat.segment` are the jobs
of `localnat score`, `estimate` and `segment`. On the same inputs the Python call and the command give the same
numbers, files, provenance and text (the command prints the result's `str()`, its `--json` is `to_dict()`); inputs may
be paths, `NAME=INPUT`, `{teacher: source}` or a `datasets.Dataset`. And `ds.map(scorer)` rows keep their provenance
through `scorer.save` into `select` and `publish` (issue 34, item 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

import hf_localnat
from hf_localnat.cli import main
from hf_localnat.io import load_input, read_provenance
from hf_localnat.provenance import of_dataset

TEXT = "First we add {n} and {n}. Then we check the sum.\n\nSo the answer is {s}. Done."


def _rows(teacher: str, n: int = 4) -> list[dict]:
    return [{"question": f"What is {i} + {i}?", "response": TEXT.format(n=i, s=2 * i + (teacher == "qwq")),
             "correct": teacher == "r1" or i % 2 == 0} for i in range(n)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _timeless(text: str) -> str:
    """`text` without what differs from run to run: times and rates."""
    text = re.sub(r"Time: [\d.]+ s; \d+ response tokens/s", "Time: T", text)
    return re.sub(r"in [\d.]+ s \(no model call\)", "in T (no model call)", text)


def test_estimate_python_equals_the_command(tmp_path, tiny_model_path):
    r1, qwq = _write(tmp_path / "r1.jsonl", _rows("r1")), _write(tmp_path / "qwq.jsonl", _rows("qwq"))
    args = ["estimate", f"r1={r1}", f"qwq={qwq}", "--model", str(tiny_model_path), "--window", "2", "--gpu", "h200",
            "--gpus", "2", "--sample-questions", "3", "--seed", "1"]
    runner = CliRunner()
    as_json, table = runner.invoke(main, [*args, "--json"]), runner.invoke(main, args)
    assert as_json.exit_code == 0 and table.exit_code == 0, as_json.output + table.output
    result = hf_localnat.estimate({"r1": str(r1), "qwq": str(qwq)}, model=str(tiny_model_path), window=2, gpu="h200",
                                  gpus=2, sample_questions=3, seed=1, progress=False)
    assert json.loads(as_json.stdout) == result.to_dict()
    assert table.stdout == str(result) + "\n"
    assert result.to_dict()["sample"] == {"questions": 3, "seed": 1} and result.counts.rows == 6
    # the same rows as one Dataset with a teacher column: the same counts
    rows = [{**row, "teacher": t} for t, path in (("r1", r1), ("qwq", qwq)) for row in _rows(t)]
    again = hf_localnat.estimate(Dataset.from_list(rows), model=str(tiny_model_path), window=2, gpu="h200", gpus=2,
                                 sample_questions=3, seed=1, progress=False)
    assert again.to_dict() == result.to_dict()
    # what a notebook shows: the table of the four ways to score, with their FLOPs and hours
    frame = result.to_pandas()
    assert list(frame["method"]) == ["exact LALP (every window)", "exact LALP, question computed once",
                                     "blockmask approximation", "GALP alone"]
    assert list(frame["flops"]) == [result.projection.flops[k] for k in ("lalp", "lalp_shared_prefix", "blockmask",
                                                                         "galp")]
    html = result._repr_html_()
    assert "<table>" in html and "exact LALP, question computed once" in html and "model_tokens" in html
    assert "http" not in html and "<script" not in html


def test_score_python_equals_the_command(tmp_path, tiny_model_path, monkeypatch):
    import datasets

    r1, qwq = _write(tmp_path / "r1.jsonl", _rows("r1")), _write(tmp_path / "qwq.jsonl", _rows("qwq"))
    options = ["--model", str(tiny_model_path), "--window", "2", "--checkpoint-rows", "3", "--scores", "all",
               "--sample-questions", "3", "--seed", "1"]
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache-cli"))  # each door scores
    command = CliRunner().invoke(main, ["score", f"r1={r1}", f"qwq={qwq}", "-o", str(tmp_path / "cli.parquet"),
                                        *options])
    assert command.exit_code == 0, command.output
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache-py"))
    result = hf_localnat.score({"r1": str(r1), "qwq": str(qwq)}, str(tmp_path / "py.parquet"),
                               model=str(tiny_model_path), window=2, checkpoint_rows=3, scores="all",
                               sample_questions=3, seed=1, progress=False)
    # the same rows and scores, the same provenance (in the file, on the result, carried by its dataset)
    assert load_input(str(tmp_path / "py.parquet")).to_list() == load_input(str(tmp_path / "cli.parquet")).to_list()
    assert result.dataset.to_list() == load_input(str(tmp_path / "cli.parquet")).to_list()
    recorded = read_provenance(str(tmp_path / "cli.parquet"))
    assert recorded == read_provenance(str(tmp_path / "py.parquet")) == result.provenance == of_dataset(result.dataset)
    assert recorded.sample == {"questions": 3, "seed": 1}
    # the same text: the command prints the result
    assert _timeless(command.stdout) == _timeless(str(result).replace("py.parquet", "cli.parquet") + "\n")
    assert result.path == tmp_path / "py.parquet" and result.to_dict()["output"] == str(tmp_path / "py.parquet")
    assert result.to_dict()["provenance"] == recorded.to_dict() and result.summary["rows"] == 6
    # both doors share the checkpoints: the Python call after the command scores nothing
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache-cli"))
    reused = hf_localnat.score([f"r1={r1}", f"qwq={qwq}"], None, model=str(tiny_model_path), window=2,
                               checkpoint_rows=3, scores="all", sample_questions=3, seed=1, progress=False)
    assert reused.summary["reused_rows"] == 6 and "All 6 rows reused" in str(reused) and reused.path is None
    assert reused.dataset.to_list() == result.dataset.to_list()
    assert result.to_pandas()["lalp"].tolist() == result.dataset["lalp"]
    assert "<table>" in result._repr_html_() and "Rows: 6; scored: 6" in result._repr_html_()


def test_score_reads_a_dataset_as_its_file(tmp_path, tiny_model_path):
    path = _write(tmp_path / "r1.jsonl", _rows("r1"))
    from_file = hf_localnat.score(str(path), None, model=str(tiny_model_path), teacher="r1", progress=False)
    from_rows = hf_localnat.score(Dataset.from_list(_rows("r1")), None, model=str(tiny_model_path), teacher="r1",
                                  progress=False)
    assert from_rows.dataset.to_list() == from_file.dataset.to_list()
    with pytest.raises(hf_localnat.ConfigError, match="An input must be"):
        hf_localnat.score([42], None, model=str(tiny_model_path))


def test_segment_python_equals_the_command(tmp_path, tiny_model_path):
    from .test_segment_llm import KEY, ROWS, Endpoint

    server = Endpoint()
    try:
        Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
        command = CliRunner().invoke(main, [
            "segment", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "cli.jsonl"), "--api-base", server.url,
            "--model", "fake-llm", "--api-key-env", "FAKE_KEY", "--retries", "1", "--max-retries", "0",
            "--chunk-sentences", "3", "--cache", str(tmp_path / "cli.sqlite")], env={"FAKE_KEY": KEY})
        assert command.exit_code == 0, command.output
        requests = server.chat_requests
        monkeypatch_env = pytest.MonkeyPatch()
        monkeypatch_env.setenv("FAKE_KEY", KEY)
        try:
            result = hf_localnat.segment(str(tmp_path / "in.jsonl"), str(tmp_path / "py.jsonl"), api_base=server.url,
                                         model="fake-llm", api_key_env="FAKE_KEY", retries=1, max_retries=0,
                                         chunk_sentences=3, cache=str(tmp_path / "py.sqlite"))
        finally:
            monkeypatch_env.undo()
        assert server.chat_requests == 2 * requests  # its own cache: the same requests again
    finally:
        server.close()
    from hf_localnat.scoring.prepare.segment_llm import read_steps_record

    assert (tmp_path / "py.jsonl").read_text() == (tmp_path / "cli.jsonl").read_text()
    recorded = read_steps_record(str(tmp_path / "cli.jsonl"))
    assert read_steps_record(str(tmp_path / "py.jsonl")) == recorded == result.steps
    sidecar = json.loads((tmp_path / "cli.jsonl.hf_localnat.json").read_text())
    assert {k: v for k, v in result.to_dict().items() if k not in ("output", "steps", "seconds")} == sidecar["run"]
    seconds = re.compile(r"; [\d.]+ s\.")
    assert (seconds.sub("", command.stdout).replace("cli.jsonl", "X")
            == seconds.sub("", str(result)).replace("py.jsonl", "X") + "\n")
    assert result.to_pandas()["steps"].map(lambda s: None if s is None else list(s)).tolist() == result.dataset["steps"]


def test_map_rows_keep_their_provenance_through_save_into_select_and_publish(tmp_path, tiny_model_path):
    scorer = hf_localnat.LocalNaturalnessScorer(str(tiny_model_path), window=2)
    rows = Dataset.from_list([{**row, "teacher": t} for t in ("r1", "qwq") for row in _rows(t)])
    scored = rows.map(scorer, batched=True)  # the README's headline: no provenance on the rows
    assert of_dataset(scored) is None
    scored.to_parquet(str(tmp_path / "bare.parquet"))
    bare = CliRunner().invoke(main, ["publish", str(tmp_path / "bare.parquet"), "--repo-id", "u/x", "--dry-run"])
    assert bare.exit_code == 1 and "does not record how it was scored" in bare.output

    for name in ("scored.parquet", "scored.jsonl"):
        path = scorer.save(scored, tmp_path / name)
        assert read_provenance(str(path)) == scorer.provenance()
        selected = CliRunner().invoke(main, ["select", str(path), "-o", str(tmp_path / f"kept-{name}")])
        assert selected.exit_code == 0, selected.output
        assert f"Scored with: {scorer.provenance().describe()}." in selected.output
        assert "not recorded" not in selected.output
        published = CliRunner().invoke(main, ["publish", str(path), "--repo-id", "u/x", "--dry-run", "--keep-folder",
                                              str(tmp_path / f"repo-{name}")])
        assert published.exit_code == 0, published.output
    assert (tmp_path / "scored.jsonl.hf_localnat.json").is_file()
    with pytest.raises(hf_localnat.ColumnError, match="not scored"):
        scorer.save(rows, tmp_path / "unscored.parquet")
