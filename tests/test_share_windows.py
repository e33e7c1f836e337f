"""Share windows (`window="P%"`, SPEC §12) on every compute path against a plain reference written here, and the
whole-prefix share with its warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat import ConfigError, LocalNaturalnessScorer
from hf_localnat.cli import main
from hf_localnat.scoring.compute.blockmask import blockmask_allowed
from hf_localnat.scoring.config import ScoringConfig
from hf_localnat.scoring.estimate import count_row
from hf_localnat.scoring.prepare.rows import prepare_row
from hf_localnat.scoring.prepare.windows import (mean_whole_prefix_share, row_windows, whole_prefix_share,
                                                 whole_prefix_warning)

SLOW = pytest.mark.slow
QUESTION = "Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?"
SENTENCES = [
    "Tom starts with 3 boxes.", " Each box has 12 pencils.", " So he has 3 * 12 = 36 pencils.", " He gives away 5.\n\n",
    "That leaves 36 - 5 = 31.", " Check: 31 + 5 = 36.", " Yes, that is right.", " The answer is 31.",
    " Nothing else to add.", " Done.", " Really done.", " Truly.", " The end.",
]


def steps_of(n: int) -> list[str]:
    """`n` given steps (SPEC §1 partition: their concatenation is the response)."""
    return SENTENCES[:n]


def k_of(share: int, i: int) -> int:
    """SPEC §12 written out: ceil(P·i/100) with real division, then checked against the integer form."""
    import math

    k = math.ceil(share * i / 100)
    assert k == (share * i + 99) // 100
    return k


def reference(model, tokenizer, steps: list[str], question: str, share: int) -> dict:
    """SPEC §2–4 and §12 directly: one forward pass per step over P + the steps max(0, i - k_i) .. i, full logits."""
    response = "".join(steps)
    bounds = [sum(len(s) for s in steps[:j]) for j in range(len(steps) + 1)]
    enc = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    owner = []
    for a, b in enc["offset_mapping"]:
        char = b - 1 if b > a else a
        owner.append(next(j for j in range(len(steps)) if bounds[j] <= char < bounds[j + 1]))
    prefix = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                           tokenize=True, return_dict=False)

    def logprobs(inputs, count):
        with torch.no_grad():
            out = model(torch.tensor([inputs])).logits[0].float().log_softmax(-1)
        return [out[p - 1, inputs[p]].item() for p in range(len(inputs) - count, len(inputs))]

    step_means, step_lps = [], []
    for i in range(len(steps)):
        tokens = [t for t, o in enumerate(owner) if o == i]
        if not tokens:
            step_means.append(None)
            continue
        first_step = max(0, i - k_of(share, i))
        a_w = min(t for t, o in enumerate(owner) if o >= first_step)
        lps = logprobs(prefix + ids[a_w:tokens[-1] + 1], len(tokens))
        step_means.append(sum(lps) / len(lps))
        step_lps += lps
    scored = [s for s in step_means if s is not None]
    galp = logprobs(prefix + ids, len(ids))
    return {"lalp": sum(scored) / len(scored), "lalp_steps": step_means, "galp": sum(galp) / len(galp),
            "token_mean": sum(step_lps) / len(step_lps)}


def check_against_reference(model, tokenizer, shares, counts, **options):
    for share in shares:
        scorer = LocalNaturalnessScorer(model, tokenizer, window=f"{share}%", segmenter="given", **options)
        rows = scorer.score(steps=[steps_of(n) for n in counts], questions=[QUESTION] * len(counts))
        for n, row in zip(counts, rows, strict=True):
            want = reference(model, tokenizer, steps_of(n), QUESTION, share)
            assert row["score_error"] is None and row["num_steps"] == n
            assert abs(row["lalp"] - want["lalp"]) <= 1e-4, (share, n)
            assert abs(row["galp"] - want["galp"]) <= 1e-4
            for got, expected in zip(row["lalp_steps"], want["lalp_steps"], strict=True):
                assert abs(got - expected) <= 1e-4, (share, n)
            if share == 100:  # SPEC §6: every step sees its whole prefix, so the token-weighted mean is GALP
                assert abs(want["token_mean"] - row["galp"]) <= 1e-4


@pytest.mark.parametrize("options", [{}, pytest.param({"reuse_galp": False, "batch_tokens": 64}, marks=SLOW),
                                     pytest.param({"prefix_reuse": True}, marks=SLOW),
                                     pytest.param({"packing": True}, marks=SLOW)],
                         ids=["default", "plain", "prefix_reuse", "packing"])
def test_share_windows_match_the_plain_reference_on_the_tiny_model(tiny_model, smol_tokenizer, options):
    check_against_reference(tiny_model, smol_tokenizer, (5, 25, 100), (1, 6, 13), **options)


def test_share_windows_match_the_plain_reference_on_the_embedded_model(smol_model, smol_tokenizer):
    check_against_reference(smol_model, smol_tokenizer, (5, 25, 100), (2, 6, 9, 13))


def test_a_share_window_is_recorded_as_written_and_changes_the_fingerprint(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, window="10%")
    assert scorer.config.window == "10%" and scorer.provenance().window == "10%"
    assert json.loads(scorer.provenance().to_json())["definition"]["window"] == "10%"
    assert "window 10%" in scorer.provenance().describe()
    other = LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=4)
    assert scorer.fingerprint_state() != other.fingerprint_state()
    assert LocalNaturalnessScorer(tiny_model, smol_tokenizer, window="4").config.window == 4


@pytest.mark.parametrize("bad", ["0%", "101%", "-1", "ten%", "10 %%", 1.5, True, -2])
def test_bad_windows_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError, match="share of the preceding steps"):
        LocalNaturalnessScorer(window=bad)


def test_whole_prefix_share_of_six_steps_at_k4_is_five_sixths_as_the_engine_builds_them(smol_tokenizer):
    """5 of 6 steps start at step 0, counted both by the function and from the windows the engine builds."""
    steps = steps_of(6)
    ids = smol_tokenizer("".join(steps), add_special_tokens=False)["input_ids"]
    row = prepare_row(smol_tokenizer, ScoringConfig(segmenter="given", window=4), 10_000, 0, None, QUESTION, steps, {})
    assert row.num_steps == 6 and all(a < e for a, e in row.token_ranges)
    prefix = list(range(row.prefix_length))
    _, windows = row_windows(0, prefix, ids, row.token_ranges, 4, 10_000, reuse_galp=False)
    whole = sum(w.input_ids[len(prefix):] == ids[:row.token_ranges[w.step][1]] for w in windows)
    assert whole / len(windows) == whole_prefix_share([True] * 6, 4) == 5 / 6
    for share in ("5%", "25%", "50%", "100%"):
        _, windows = row_windows(0, prefix, ids, row.token_ranges, share, 10_000, reuse_galp=False)
        whole = sum(w.input_ids[len(prefix):] == ids[:row.token_ranges[w.step][1]] for w in windows)
        assert whole / len(windows) == whole_prefix_share([True] * 6, share)
    assert whole_prefix_share([True] * 6, "100%") == 1.0
    assert whole_prefix_share([False, True, True], 1) == 0.5  # unscored steps count in neither part
    assert whole_prefix_share([False], 4) is None
    assert mean_whole_prefix_share([[None, -1.0, -2.0], [], [-1.0] * 6], 4) == pytest.approx((1 + 5 / 6) / 2)


def test_the_warning_names_the_share_and_suggests_a_share_window():
    assert whole_prefix_warning(0.5, 4) is None and whole_prefix_warning(None, 4) is None
    line = whole_prefix_warning(5 / 6, 4)
    assert "83%" in line and "window 4" in line and "--window 10%" in line and "\n" not in line


@pytest.mark.parametrize("window", [0, 3, "10%", "34%", "100%"])
def test_counts_equal_the_windows_the_engine_builds(window):
    """SPEC §10 counts of share windows go through the same window start as the windows themselves."""
    ranges = [(0, 3), (3, 5), (5, 5), (5, 9), (9, 10), (10, 14), (14, 15), (15, 20)]
    prefix, ids = [1, 2, 3], list(range(100, 120))
    for max_length in (1000, 12):
        _, windows = row_windows(0, prefix, ids, ranges, window, max_length, reuse_galp=False)
        window_tokens, model_tokens, _ = count_row(len(prefix), ranges, len(ids), window, max_length)
        assert window_tokens == sum(len(w) for w in windows)
        assert model_tokens == len(prefix) + sum(len(w) - len(prefix) for w in windows)


@pytest.mark.parametrize("window", [0, 2, "25%", "100%"])
def test_the_blockmask_lets_each_step_see_exactly_its_window_in_the_first_layer(window):
    """Query position q predicts token q + 1: it sees P and the response tokens of steps window_start(step) ..."""
    owner = [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 8]
    p = 2
    allowed = blockmask_allowed(p, owner, window)
    for q in range(p, p + len(owner) - 1):
        step = owner[q + 1 - p]
        k = window if isinstance(window, int) else (int(window[:-1]) * step + 99) // 100
        for key in range(p + len(owner)):
            want = key <= p - 1 or key == q or (key <= q and owner[key - p] >= max(0, step - k))
            assert bool(allowed[q, key]) == want, (window, q, key)


def test_estimate_and_score_report_the_whole_prefix_share_and_warn(tiny_model_path, tmp_path):
    rows = [{"question": QUESTION, "teacher": "a", "steps": steps_of(6)},
            {"question": QUESTION, "teacher": "b", "steps": steps_of(13)}]
    Dataset.from_list(rows).to_json(tmp_path / "in.jsonl")
    runner = CliRunner()
    base = [str(tmp_path / "in.jsonl"), "--model", str(tiny_model_path), "--segmenter", "given"]
    at_k4 = runner.invoke(main, ["estimate", *base, "--json"])
    assert at_k4.exit_code == 0, at_k4.output
    assert json.loads(at_k4.stdout)["whole_prefix_share"] == pytest.approx((5 / 6 + 5 / 13) / 2)
    assert whole_prefix_warning((5 / 6 + 5 / 13) / 2, 4) in at_k4.stderr
    shared = runner.invoke(main, ["estimate", *base, "--window", "10%"])
    assert shared.exit_code == 0, shared.output
    share = (2 / 6 + 2 / 13) / 2
    assert f"Whole-prefix share: {share:.2f} of the scored steps see their whole prefix with window 10%" in shared.stdout
    assert "Warning" not in shared.stderr
    scored = runner.invoke(main, ["score", *base, "--window", "10%", "-o", str(tmp_path / "out.jsonl")])
    assert scored.exit_code == 0, scored.output
    assert f"Whole-prefix share: {share:.2f}" in scored.stdout and "window 10%" in scored.stdout
    recorded = json.loads((tmp_path / "out.jsonl.hf_localnat.json").read_text())
    assert recorded["definition"]["window"] == "10%"
    ranked = runner.invoke(main, ["rank-teachers", str(tmp_path / "out.jsonl"), "--resamples", "10"])
    assert f"Whole-prefix share: {share:.2f}" in ranked.stderr, ranked.output
    warned = runner.invoke(main, ["score", *base, "-o", str(tmp_path / "k4.jsonl")])
    assert warned.exit_code == 0 and whole_prefix_warning((5 / 6 + 5 / 13) / 2, 4) in warned.stderr


def test_the_card_states_a_share_window_and_llm_steps_as_recorded():
    """A share window and the steps' provenance travel from the provenance into the card's metadata and table."""
    from hf_localnat.hub.card import LocalNatCardParams, card_metadata, managed_section
    from hf_localnat.hub.curate import card_scoring_facts
    from hf_localnat.provenance import Provenance

    steps = {"kind": "llm", "model": "zai-org/GLM-4.5-Air", "endpoint_model": "glm-4.5-air", "prompt_sha256": "ab" * 32,
             "chunk_sentences": 80, "sentences": "pysbd", "response_part": "full"}
    provenance = Provenance("10%", "given", "auto", None, "exact", "float32", {"kind": "embedded", "name": "x"},
                            "0.1.0", steps_provenance=steps)
    assert Provenance.from_json(provenance.to_json()) == provenance
    assert "window 10%, given steps (LLM steps (zai-org/GLM-4.5-Air, endpoint glm-4.5-air" in provenance.describe()
    params = LocalNatCardParams(pretty_name="x", package_version="0.1.0", counts={"scored": 2, "lalp": 1, "galp": 1},
                                **card_scoring_facts(provenance))
    metadata = card_metadata(params)
    assert metadata["localnat"]["window"] == "10%" and metadata["localnat"]["llm_steps"] == steps
    section = managed_section(params)
    assert "the 10% of the preceding step(s)" in section and "glm-4.5-air" in section


@SLOW
def test_the_evaluate_module_and_the_datatrove_step_take_a_share_window(tiny_model, tiny_model_path, smol_tokenizer,
                                                                        tmp_path):
    """The window goes through unchanged: the `evaluate` module's numbers are the scorer's with the same share, and
    the DataTrove step records it as written."""
    import evaluate

    from hf_localnat import datatrove as dt

    steps = [steps_of(6), steps_of(13)]
    module = evaluate.load(str(Path(__file__).resolve().parents[1] / "metric" / "local_naturalness"))
    got = module.compute(predictions=steps, questions=[QUESTION] * 2, model=tiny_model, tokenizer=smol_tokenizer,
                         device="cpu", dtype="float32", window="25%")
    want = LocalNaturalnessScorer(tiny_model, smol_tokenizer, segmenter="given", window="25%").score(
        steps=steps, questions=[QUESTION] * 2)
    assert got["lalp"] == [row["lalp"] for row in want]
    assert got["lalp"] != [row["lalp"] for row in LocalNaturalnessScorer(
        tiny_model, smol_tokenizer, segmenter="given", window=4).score(steps=steps, questions=[QUESTION] * 2)]
    step = dt.LocalNaturalnessScorer(str(tiny_model_path), output_folder=str(tmp_path), window="10%")
    assert step._scorer_for(0).provenance().window == "10%"
