"""The dataset_scripts/ recipes, end to end: real scoring (a tiny random Llama), the local Hub server, load_dataset."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import load_dataset
from huggingface_hub import DatasetCard

SCRIPTS = Path(__file__).resolve().parents[1] / "dataset_scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"dataset_scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(p.stem for p in SCRIPTS.glob("*.py")))
def test_every_script_has_help(script):
    result = CliRunner().invoke(load_script(script).main, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output
    if script.startswith("curate"):
        assert "--repo-id" in result.output


@pytest.mark.slow
def test_curate_mixed_teachers_end_to_end(hub_server, tiny_model_path, hub_repo_name, tmp_path):
    from hf_localnat.sample import SAMPLE_PATH

    repo_id = f"test-user/{hub_repo_name}"
    token = os.environ["HF_TOKEN"]
    args = [str(SAMPLE_PATH), "--repo-id", repo_id, "--model", str(tiny_model_path), "--correct-column", "correct",
            "--token", token, "--license", "apache-2.0", "--keep-folder", str(tmp_path / "kept")]
    result = CliRunner().invoke(load_script("curate_mixed_teachers").main, args)
    assert result.exit_code == 0, result.output
    assert "2/3 Teacher ranking" in result.output and "Published" in result.output and token not in result.output
    for name in ("lalp", "galp", "scored", "rejected"):
        assert (load_dataset(repo_id, name, split="train").to_list()
                == load_dataset(str(tmp_path / "kept"), name, split="train").to_list())
    lalp = load_dataset(repo_id, "lalp", split="train")
    assert len(lalp) == 8 and all(lalp["correct"]) and lalp["lalp"] == [max(
        r["lalp"] for r in load_dataset(repo_id, "scored", split="train") if r["question_id"] == q and r["correct"])
        for q in lalp["question_id"]]
    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert token not in card.content and "--token" not in card.content
    assert "python dataset_scripts/curate_mixed_teachers.py" in card.content
    meta = card.data.to_dict()["localnat"]
    assert meta["student_model"] == str(tiny_model_path.resolve()) and meta["window"] == 4
    assert meta["dtype"] == "float32" and "| student sha256 |" in card.text
