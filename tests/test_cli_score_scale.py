"""`localnat score` at scale: --num-proc 2 on CPU gives the rows one process gives; --adapter scores a PEFT-adapted
student."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from hf_localnat.cli import main
from hf_localnat.io import load_input


@pytest.mark.slow
def test_num_proc_2_equals_one_process(tmp_path, tiny_model_path):
    rows = [{"question": f"What is {n} * 3?", "response": f"We multiply. {n} * 3 = {3 * n}. The answer is {3 * n}."}
            for n in range(10)] + [{"question": "q", "response": ""}]
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = {}
    for procs in (1, 2):
        out = tmp_path / f"scored-{procs}.parquet"
        result = CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(tiny_model_path),
                                           "--map-batch-size", "3", "--num-proc", str(procs)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs[procs] = load_input(str(out)).to_list()
    assert len(outputs[2]) == len(rows) and outputs[2][-1]["score_error"] == "empty_response"
    for one, two in zip(outputs[1], outputs[2], strict=True):
        assert one["response"] == two["response"] and one["score_error"] == two["score_error"]
        assert one["num_tokens"] == two["num_tokens"] and one["num_steps"] == two["num_steps"]
        for key in ("lalp", "galp"):
            assert (one[key] is None) == (two[key] is None)
            assert one[key] is None or math.isclose(one[key], two[key], abs_tol=1e-4)


@pytest.mark.slow
def test_adapter_is_merged_into_the_student_and_keys_the_cache(tmp_path, tiny_model_path):
    """A LoRA adapter made here on the tiny model: --adapter scores with base + adapter (the merged model's numbers),
    not the base model's, and the adapter is part of the scorer's identity."""
    peft = pytest.importorskip("peft")
    import torch
    from transformers import AutoModelForCausalLM

    from hf_localnat.scoring.scorer import LocalNaturalnessScorer

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype="float32")
    lora = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                     init_lora_weights=False))  # random B: the adapter matters
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    merged = lora.merge_and_unload().eval()

    rows = [{"question": "What is 2 + 5?", "response": "We add. 2 + 5 = 7. The answer is 7."},
            {"question": "Name a colour.", "response": "Blue is one. Red is another."}]
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(tiny_model_path),
                                       "--adapter", str(adapter)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = load_input(str(out)).to_list()
    expected = LocalNaturalnessScorer(merged, str(tiny_model_path)).score(
        [r["response"] for r in rows], questions=[r["question"] for r in rows])
    plain = LocalNaturalnessScorer(str(tiny_model_path)).score(
        [r["response"] for r in rows], questions=[r["question"] for r in rows])
    for g, e, p in zip(got, expected, plain, strict=True):
        assert math.isclose(g["lalp"], e["lalp"], abs_tol=1e-4) and math.isclose(g["galp"], e["galp"], abs_tol=1e-4)
        assert abs(g["lalp"] - p["lalp"]) > 1e-3  # the adapter changed the student

    with_adapter = LocalNaturalnessScorer(str(tiny_model_path), adapter=str(adapter))
    assert with_adapter.provenance().student["adapter"]["kind"] == "folder"
    assert with_adapter.fingerprint() != LocalNaturalnessScorer(str(tiny_model_path)).fingerprint()
