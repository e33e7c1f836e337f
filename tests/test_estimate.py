"""`localnat estimate`: its SPEC §10 counts equal counts made here, independently, from the definition (§2–§5)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.scoring.estimate import GPU_PEAK_TFLOPS, MEASURED_MFU, TokenCounts, count_row
from hf_localnat.scoring.prepare.segment import segment

ROWS = [
    {"question": "What is 2 + 2?", "response": "First, 2 + 2 = 4. Check: 4 - 2 = 2. So the answer is 4."},
    {"question": "Name a colour.", "response": "Blue.\n\nRed is one too. Green as well! And yellow? Yes."},
    {"question": "Long one.", "response": " ".join(f"Step {i} adds {i} to the total." for i in range(40))},
    {"question": "Empty.", "response": "   "},
]


def _by_the_definition(tokenizer, question: str, response: str, window: int, max_length: int) -> tuple[int, ...]:
    """(steps, response_tokens, window_tokens, model_tokens, galp_tokens) of one row, from SPEC §2–§5 and §10."""
    prefix = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                           tokenize=True, return_dict=False)
    encoded = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    spans = segment(response, "sentence")
    owner = []  # SPEC §2: a token belongs to the step holding its last character (its start when empty)
    for a, b in offsets:
        char = b - 1 if b > a else a
        owner.append(next(j for j, (s, e) in enumerate(spans) if s <= char < e))
    inputs = []
    for i in range(len(spans)):
        mine = [t for t, o in enumerate(owner) if o == i]
        if not mine:
            continue
        w = max(0, i - window)
        first = min(t for t, o in enumerate(owner) if o >= w)
        full = list(prefix) + ids[first:mine[-1] + 1]
        inputs.append(full if len(full) <= max_length else full[:len(prefix)] + full[len(full) - (max_length - len(prefix)):]
                      if len(prefix) + len(mine) <= max_length else full[:max_length])
    galp = len(prefix) + min(len(ids), max_length - len(prefix))
    windows = sum(len(x) for x in inputs)
    return len(spans), len(ids), windows, len(prefix) + windows - len(prefix) * len(inputs), galp


@pytest.mark.parametrize("window,max_length", [(4, 1024), (1, 1024), (2, 60)])
def test_counts_equal_the_definition(tiny_model_path, smol_tokenizer, window, max_length, tmp_path):
    path = tmp_path / "traces.jsonl"
    Dataset.from_list(ROWS).to_json(path)
    result = CliRunner().invoke(main, ["estimate", str(path), "--model", str(tiny_model_path), "--window", str(window),
                                       "--max-length", str(max_length), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    want = TokenCounts(rows=len(ROWS))
    for row in ROWS[:3]:
        steps, response, windows, model, galp = _by_the_definition(smol_tokenizer, row["question"], row["response"],
                                                                   window, max_length)
        want.add(TokenCounts(0, steps, response, windows, model, galp))
    assert {k: got[k] for k in ("rows", "steps", "response_tokens", "window_tokens", "model_tokens", "galp_tokens")} \
        == {k: v for k, v in want.to_dict().items() if k not in ("errors", "whole_prefix_share")}
    assert got["errors"] == {"empty_response": 1}
    assert got["model_tokens"] < got["window_tokens"]  # each question once instead of once per window
    assert got["flops"]["lalp"] == 2 * got["params"] * got["window_tokens"]
    hours = got["projection"]["hours"]["lalp"]
    assert hours == pytest.approx(got["flops"]["lalp"] / (GPU_PEAK_TFLOPS["h100"] * 1e12 * MEASURED_MFU) / 3600)


def test_count_row_drops_context_then_cuts_the_step():
    # P of 3, steps of 4 and 4 tokens, window 1, max_length 6: step 1's window P+8 is cut to 6 (context dropped)
    assert count_row(3, [(0, 4), (4, 8)], 8, window=1, max_length=6) == (12, 3 + 3 + 3, 6)


@pytest.mark.slow
def test_estimate_reads_the_shapes_and_projects_on_several_gpus(tiny_model_path, tmp_path):
    conversations = [[{"from": "human", "value": r["question"]}, {"from": "gpt", "value": r["response"]}]
                     for r in ROWS[:2]]
    Dataset.from_dict({"conversations": conversations}).to_json(tmp_path / "a.jsonl")
    Dataset.from_list(ROWS[:2]).to_json(tmp_path / "flat.jsonl")
    runner = CliRunner()
    shaped = runner.invoke(main, ["estimate", f"r1={tmp_path / 'a.jsonl'}", "--model", str(tiny_model_path),
                                  "--gpu", "h200", "--gpus", "8", "--mfu", "0.5", "--json"])
    flat = runner.invoke(main, ["estimate", str(tmp_path / "flat.jsonl"), "--model", str(tiny_model_path), "--json"])
    assert shaped.exit_code == 0 and flat.exit_code == 0, shaped.output + flat.output
    a, b = json.loads(shaped.stdout), json.loads(flat.stdout)
    assert a["window_tokens"] == b["window_tokens"] and a["model_tokens"] == b["model_tokens"]
    assert a["projection"]["gpus"] == 8 and a["projection"]["hours"]["lalp"] == pytest.approx(
        b["projection"]["hours"]["lalp"] * (989 * MEASURED_MFU) / (989 * 0.5 * 8))
    table = runner.invoke(main, ["estimate", str(tmp_path / "flat.jsonl"), "--model", str(tiny_model_path)])
    assert "window_tokens" in table.output and "blockmask approximation" in table.output


def test_score_counts_a_sample_of_a_large_input_and_scales_it(tiny_model_path, monkeypatch):
    from hf_localnat.scoring import estimate

    rows = Dataset.from_list([ROWS[0]] * 9)  # equal rows: the scaled sample must give the exact totals
    options = dict(model=str(tiny_model_path), revision=None, window=2, segmenter="sentence", prompt_format="auto",
                   max_length=None, response_part="full")
    exact, _ = estimate.estimate_rows(rows, **options)
    monkeypatch.setattr(estimate, "SCORE_SAMPLE_ROWS", 3)
    scaled, _, sampled = estimate.sampled_estimate(rows, **options)
    assert sampled and scaled.to_dict() == {**exact.to_dict(), "errors": {}}


@pytest.mark.slow
def test_score_prints_the_estimate_of_its_input_before_it_starts(tiny_model_path, tmp_path):
    """`localnat score`'s one-line estimate holds the counts `localnat estimate` gives for the same input (both under
    2,000 rows: exact), and the projection of the path it runs (each question computed once)."""
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    runner = CliRunner()
    counted = runner.invoke(main, ["estimate", str(tmp_path / "in.jsonl"), "--model", str(tiny_model_path), "--json"])
    scored = runner.invoke(main, ["score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.parquet"),
                                  "--model", str(tiny_model_path)])
    assert counted.exit_code == 0 and scored.exit_code == 0, counted.output + scored.output
    got = json.loads(counted.stdout)
    line = next(line for line in scored.output.splitlines() if line.startswith("Estimate: "))
    assert (f"{got['rows']} rows, {got['steps']} steps, {got['response_tokens']} response tokens; "
            f"{got['window_tokens']} window tokens ({got['model_tokens']} with each question computed once), "
            f"{got['galp_tokens']} GALP tokens; {got['flops']['lalp_shared_prefix']:.2g} FLOPs") in line
    # the time is that of this run's device, the CPU here: measured, and said so
    assert re.search(r"; (under a second|about \d+ (s|min)) on this CPU \(measured [1-3] forward pass(es)? of "
                     r"(\d+ x )?\d+ tokens\)\.$", line), line
    assert scored.output.index("Estimate: ") < scored.output.index("Rows: ")  # before scoring, not after


def test_durations_are_said_as_a_person_says_them():
    from hf_localnat.scoring.estimate import duration_phrase

    assert [duration_phrase(s) for s in (0, 0.99, 1, 59.4, 59.6, 90, 725, 3569, 3600, 9000)] == [
        "under a second", "under a second", "about 1 s", "about 59 s", "about 1 min", "about 2 min", "about 12 min",
        "about 59 min", "about 1.0 h", "about 2.5 h"]


def test_estimate_device_cpu_measures_this_machine(tiny_model_path, tmp_path):
    """`estimate --device cpu` loads the student and times a few forward passes here; its times are the token
    counts at that rate, and the GPU projection is still there, named as one."""
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    runner = CliRunner()
    args = ["estimate", str(tmp_path / "in.jsonl"), "--model", str(tiny_model_path), "--device", "cpu"]
    got = runner.invoke(main, [*args, "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    device = report["device"]
    assert device["where"] == "this CPU" and re.fullmatch(r"measured [1-3] forward pass(es)? of (\d+ x )?\d+ tokens",
                                                           device["how"])
    assert device["seconds"]["lalp"] == pytest.approx(report["window_tokens"] / device["tokens_per_second"])
    assert device["seconds"]["lalp_shared_prefix"] == pytest.approx(report["model_tokens"] / device["tokens_per_second"])
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "projected time on 1 x H100" in table.output and "\nOn this CPU (measured " in table.output
    assert "about under" not in table.output


def test_estimate_device_names_a_gpu_projection(tiny_model_path, tmp_path):
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    got = CliRunner().invoke(main, ["estimate", str(tmp_path / "in.jsonl"), "--model", str(tiny_model_path),
                                    "--device", "h200", "--gpus", "2", "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    assert report["device"]["where"] == "2 H200" and report["device"]["how"].startswith("projected from FLOPs at 27% MFU")
    # the H200's published bf16 peak is the H100's, and both projections run on 2 of them
    assert report["device"]["seconds"]["lalp"] == pytest.approx(report["projection"]["hours"]["lalp"] * 3600)


def test_known_gpu_names():
    from hf_localnat.scoring.estimate import known_gpu

    assert [known_gpu(n) for n in ("NVIDIA H100 80GB HBM3", "NVIDIA L40S", "NVIDIA L4", "NVIDIA A10",
                                   "AMD Instinct MI300X", "NVIDIA GH200 480GB")] == [
        "h100", "l40s", "l4", "a10", "mi300x", None]


@pytest.mark.parametrize(("device", "message"), [
    ("tpu9", "Unknown device 'tpu9'; use cpu, cuda, cuda:N or a GPU name (a10, a100, "),
    ("cuda", "Device 'cuda': no CUDA GPU is visible here; use --device cpu, or a GPU name"),
])
def test_estimate_device_errors_are_one_line(tiny_model_path, tmp_path, device, message):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is visible: --device cuda is valid here")
    Dataset.from_list(ROWS).to_json(tmp_path / "in.jsonl")
    got = CliRunner().invoke(main, ["estimate", str(tmp_path / "in.jsonl"), "--model", str(tiny_model_path),
                                    "--device", device])
    assert got.exit_code != 0 and "Traceback" not in got.output
    assert got.output.strip().splitlines()[-1].startswith(f"Error: {message}"), got.output
