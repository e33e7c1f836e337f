"""The `evaluate` module in metric/local_naturalness, loaded the ways users load it; its numbers are the scorer's."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import evaluate
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, metadata_load

from hf_localnat import ConfigError, LocalNaturalnessScorer
from hf_localnat.cli import main
from hf_localnat.hub.space import METRIC_FILES, publish_metric_space

METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "local_naturalness"
RESPONSES = ["First, 2 + 2 = 4. So the answer is 4.", "", "Blue is a colour. Red is one too. So is green."]
QUESTIONS = ["What is 2 + 2?", "Name a colour.", None]


def _as_metric(rows: list[dict]) -> dict:
    lalp = [r["lalp"] for r in rows]
    galp = [r["galp"] for r in rows]
    return {
        "lalp": lalp, "galp": galp, "lalp_steps": [r["lalp_steps"] for r in rows],
        "score_error": [r["score_error"] for r in rows],
        "mean_lalp": sum(x for x in lalp if x is not None) / sum(x is not None for x in lalp),
        "mean_galp": sum(x for x in galp if x is not None) / sum(x is not None for x in galp),
    }


@pytest.mark.slow
def test_load_from_path_equals_scorer_and_loads_the_model_once(tiny_model_path, caplog):
    module = evaluate.load(str(METRIC_DIR))
    assert type(module).__name__ == "LocalNaturalness"
    expected = _as_metric(LocalNaturalnessScorer(str(tiny_model_path), window=1).score(RESPONSES, QUESTIONS))
    with caplog.at_level(logging.DEBUG, logger="hf_localnat"):
        got = module.compute(predictions=RESPONSES, questions=QUESTIONS, model_id=str(tiny_model_path), window=1)
        for response, question in zip(RESPONSES, QUESTIONS, strict=True):  # add_batch, then compute, same instance
            module.add_batch(predictions=[response], questions=[question])
        batched = module.compute(model_id=str(tiny_model_path), window=1)
    assert got == expected and batched == expected
    loads = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"loading model {tiny_model_path} ")]
    assert len(loads) == 1 and loads[0].startswith(f"loading model {tiny_model_path} (revision None) on ")  # cpu or cuda
    other_window = module.compute(predictions=RESPONSES[:1], model_id=str(tiny_model_path), window=0)
    assert other_window["lalp"] == [LocalNaturalnessScorer(str(tiny_model_path), window=0).score(RESPONSES[:1])[0]["lalp"]]


def test_load_by_name_inside_metric_folder_with_an_in_memory_model(tiny_model, smol_tokenizer, monkeypatch):
    monkeypatch.chdir(METRIC_DIR.parent)
    module = evaluate.load("local_naturalness")
    got = module.compute(predictions=RESPONSES, questions=QUESTIONS, model=tiny_model, tokenizer=smol_tokenizer,
                         device="cpu", dtype="float32", prompt_format="plain")
    want = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="plain").score(RESPONSES, QUESTIONS)
    assert got == _as_metric(want)


def test_given_steps_as_predictions(tiny_model_path):
    module = evaluate.load(str(METRIC_DIR))
    steps = [["First, 2 + 2 = 4.", " So 4."], ["One step."]]
    got = module.compute(predictions=steps, model_id=str(tiny_model_path))
    want = LocalNaturalnessScorer(str(tiny_model_path), segmenter="given").score(steps=steps)
    assert got == _as_metric(want)


def test_metric_card_header():
    meta = metadata_load(METRIC_DIR / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and {"evaluate", "metric"} <= set(meta["tags"])
    card = (METRIC_DIR / "README.md").read_text()
    for section in ("Metric Description", "Intended Uses", "How to Use", "Inputs", "Output Values", "Examples",
                    "Limitations and Bias", "Citation", "Further References"):
        assert f"# {section}" in card, section
    assert "hf-localnat" in (METRIC_DIR / "requirements.txt").read_text()


@pytest.mark.slow
def test_embedded_student_through_evaluate_equals_scorer(smol_model, smol_tokenizer):
    responses, questions = ["2 + 2 = 4. So 4.", "Blue. It is a colour."], ["What is 2 + 2?", "Name a colour."]
    got = evaluate.load(str(METRIC_DIR)).compute(predictions=responses, questions=questions)  # the embedded default
    assert got == _as_metric(LocalNaturalnessScorer(smol_model, smol_tokenizer).score(responses, questions))


# ---------------------------------------------------------------------------------------------- publishing a Space
def test_publish_metric_cli_then_load_from_the_space(hub_server, tiny_model_path):
    namespace = f"org-{uuid.uuid4().hex[:8]}"
    space = f"{namespace}/local_naturalness"
    commits_before = sum(r.method == "POST" and "/commit/" in r.path for r in hub_server.requests)
    result = CliRunner().invoke(main, ["publish-metric", space])
    assert result.exit_code == 0, result.output
    assert f'evaluate.load("{space}")' in result.output
    assert sum(r.method == "POST" and "/commit/" in r.path for r in hub_server.requests) == commits_before + 1
    info = HfApi().space_info(space)
    assert info.sdk == "gradio" and info.private is True
    assert sorted(s.rfilename for s in info.siblings) == sorted([".gitattributes", *METRIC_FILES])

    module = evaluate.load(space)
    assert any(r.path.startswith(f"/spaces/{space}/resolve/") for r in hub_server.requests)
    got = module.compute(predictions=RESPONSES, questions=QUESTIONS, model_id=str(tiny_model_path))
    assert got == _as_metric(LocalNaturalnessScorer(str(tiny_model_path)).score(RESPONSES, QUESTIONS))

    again = CliRunner().invoke(main, ["publish-metric", space])
    assert again.exit_code == 1 and "already exists" in again.output and "--overwrite" in again.output
    assert CliRunner().invoke(main, ["publish-metric", space, "--overwrite"]).exit_code == 0


def test_publish_refuses_a_space_name_evaluate_cannot_load(hub_server):
    with pytest.raises(ConfigError, match="must be called 'local_naturalness'"):
        publish_metric_space("someone/my-metric")
    result = CliRunner().invoke(main, ["publish-metric", "someone/my-metric"])
    assert result.exit_code == 1 and "Error: Space name 'my-metric'" in result.output


def test_publish_metric_space_retries_a_transient_commit_failure(hub_server):
    from hf_localnat.hub.space import publish_metric_space

    namespace = f"org-{uuid.uuid4().hex[:8]}"
    hub_server.inject_faults(1, status=503, path_contains="/commit/", method="POST")
    repo_id = publish_metric_space(f"{namespace}/local_naturalness")
    assert any(r.method == "POST" and "/commit/" in r.path and r.status == 503 for r in hub_server.requests)
    assert "local_naturalness.py" in HfApi().list_repo_files(repo_id, repo_type="space")
