"""Every door takes `scores=` / `--scores` and gives the numbers of `LocalNaturalnessScorer.score` (SPEC §11):
`Dataset.map`, the CLI (with its checkpoints keyed by the scores asked for), DataTrove and Ray."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat import LocalNaturalnessScorer, output_features
from hf_localnat.cli import main
from hf_localnat.io import load_input, read_provenance

ALL = ("lalp", "galp", "lalp_drop", "galp_drop", "rsr")
ROWS = {
    "question": ["What is 2+2?", "Name a colour.", "Q?", "Q?", None, "Q?"],
    "response": ["2 + 2 = 4. The answer is 4.", "Blue. It is a colour.", "", "One. Two. Three.", "Ok. Fine.", None],
}


def _same_scores(got: list[dict], want: list[dict], columns=ALL) -> None:
    """Every score column within SPEC §6's float32 tolerance (rsr relative), `None` exactly where `want` has none."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["score_error"] == w["score_error"]
        for name in columns:
            assert (g[name] is None) == (w[name] is None), (name, g[name], w[name])
            if w[name] is not None:
                assert math.isclose(g[name], w[name], rel_tol=1e-4 if name == "rsr" else 0,
                                    abs_tol=0 if name == "rsr" else 1e-4), (name, g[name], w[name])


def test_map_types_the_columns_asked_for_whatever_the_batches(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores="rsr,galp_drop")
    ds = Dataset.from_dict(ROWS)
    out = ds.map(scorer, batched=True, batch_size=1)  # no features=: a batch of one error row still types rsr
    expected = ds.features.copy()
    expected.update(output_features(scorer.config.scores))
    assert out.features == expected
    assert out.column_names[-2:] == ["galp_drop", "rsr"] and "lalp_drop" not in out.column_names
    _same_scores(out.to_list(), scorer.score(ROWS["response"], ROWS["question"]), ("lalp", "galp", "galp_drop", "rsr"))
    assert out["rsr"][2] is None and out["score_error"][2] == "empty_response"
    mapped = scorer.map(ds, batch_size=4)
    assert mapped.features == expected and mapped.column_names == out.column_names


def _score(args: list[str]):
    result = CliRunner().invoke(main, ["score", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scores-cli") / "traces.jsonl"
    rows = [dict(zip(ROWS, values)) for values in zip(*ROWS.values())]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_writes_every_score_and_records_its_direction(traces, tmp_path, tiny_model_path):
    out = tmp_path / "scored.parquet"
    _score([str(traces), "-o", str(out), "--model", str(tiny_model_path), "--scores", "all", "--drop-tokens", "1"])
    got = load_input(str(out)).to_list()
    assert list(got[0])[-3:] == ["lalp_drop", "galp_drop", "rsr"]
    want = LocalNaturalnessScorer(str(tiny_model_path), scores="all", drop_tokens=1).score(ROWS["response"],
                                                                                           ROWS["question"])
    _same_scores(got, want)
    provenance = read_provenance(out)
    assert provenance.scores == ALL and provenance.drop_tokens == 1
    assert provenance.directions == {"lalp": "higher", "galp": "higher", "lalp_drop": "higher", "galp_drop": "higher",
                                     "rsr": "lower"}
    assert json.loads(provenance.to_json())["directions"]["rsr"] == "lower"


def test_scores_change_the_cache_key_and_a_speed_knob_does_not(traces, tmp_path, tiny_model_path):
    base = [str(traces), "--model", str(tiny_model_path), "--checkpoint-rows", "2"]
    _score([*base, "-o", str(tmp_path / "a.parquet")])
    knob = _score([*base, "-o", str(tmp_path / "b.parquet"), "--batch-tokens", "64"])
    assert "All 6 rows reused" in knob.output
    drop = _score([*base, "-o", str(tmp_path / "c.parquet"), "--drop-tokens", "5"])  # no drop score: changes nothing
    assert "All 6 rows reused" in drop.output
    more = _score([*base, "-o", str(tmp_path / "d.parquet"), "--scores", "lalp,rsr"])
    assert "reused" not in more.output
    assert "rsr" in load_input(str(tmp_path / "d.parquet")).column_names
    assert "rsr" not in load_input(str(tmp_path / "a.parquet")).column_names
    again = _score([*base, "-o", str(tmp_path / "e.parquet"), "--scores", "rsr,galp"])  # the same set, another order
    assert "All 6 rows reused" in again.output


def test_an_unknown_score_is_one_line(traces, tmp_path):
    result = CliRunner().invoke(main, ["score", str(traces), "-o", str(tmp_path / "x.parquet"), "--scores", "grape"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].startswith("Error: Unknown score 'grape'")


@pytest.mark.slow
def test_datatrove_step_writes_the_scores_asked_for(tmp_path, tiny_model_path):
    pytest.importorskip("datatrove")
    from datatrove.data import Document

    import hf_localnat.datatrove as dt

    step = dt.LocalNaturalnessScorer(str(tiny_model_path), scores="all", dtype="float32", batch_size=4,
                                     output_folder=str(tmp_path))
    docs = [Document(text=r, id=str(i), metadata={"question": q})
            for i, (q, r) in enumerate(zip(ROWS["question"], ROWS["response"], strict=True)) if isinstance(r, str)]
    got = [doc.metadata for doc in step.run(iter(docs))]
    want = LocalNaturalnessScorer(str(tiny_model_path), scores="all").score([d.text for d in docs],
                                                                             [d.metadata["question"] for d in docs])
    _same_scores(got, want)
    assert read_provenance(tmp_path).scores == ALL
    assert dt.parquet_schema(scores="all").names[-3:] == ["lalp_drop", "galp_drop", "rsr"]


@pytest.mark.slow
def test_ray_engine_writes_the_scores_asked_for(tmp_path, tiny_model_path):
    ray = pytest.importorskip("ray")
    from hf_localnat.scoring.ray_engine import score_with_ray

    scorer = LocalNaturalnessScorer(str(tiny_model_path), scores="all")
    out = tmp_path / "ray.parquet"
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        score_with_ray(scorer, Dataset.from_dict(ROWS), out, batch_size=2, shard_rows=4)
    finally:
        ray.shutdown()
    got = load_input(str(out)).to_list()
    _same_scores(got, scorer.score(ROWS["response"], ROWS["question"]))
    assert read_provenance(out).scores == ALL


@pytest.mark.slow
def test_the_evaluate_module_returns_the_scores_asked_for(tiny_model_path):
    import evaluate

    metric_dir = Path(__file__).resolve().parents[1] / "metric" / "local_naturalness"
    responses, questions = ROWS["response"][:4], ROWS["question"][:4]
    got = evaluate.load(str(metric_dir)).compute(predictions=responses, questions=questions,
                                                 model_id=str(tiny_model_path), scores="rsr,lalp_drop")
    want = LocalNaturalnessScorer(str(tiny_model_path), scores="rsr,lalp_drop").score(responses, questions)
    assert sorted(got) == sorted(["lalp", "galp", "lalp_drop", "rsr", "lalp_steps", "score_error", "mean_lalp",
                                  "mean_galp", "mean_lalp_drop", "mean_rsr"])
    rows = [{name: got[name][i] for name in ("lalp", "galp", "lalp_drop", "rsr", "score_error")} for i in range(4)]
    _same_scores(rows, want, ("lalp", "galp", "lalp_drop", "rsr"))
    rsr = [r["rsr"] for r in want if r["rsr"] is not None]
    assert math.isclose(got["mean_rsr"], sum(rsr) / len(rsr), rel_tol=1e-4)


def test_estimate_says_the_other_scores_cost_no_extra_model_tokens(traces, tiny_model_path):
    result = CliRunner().invoke(main, ["estimate", str(traces), "--model", str(tiny_model_path)])
    assert result.exit_code == 0, result.output
    assert "rsr, galp_drop, lalp_drop" in result.output and "no extra model tokens" in result.output
