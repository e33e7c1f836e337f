"""Agent traces scored turn by turn (SPEC §14) against a plain reference written here: for every turn and every
window, one `apply_chat_template` rendering, one tokenization with offsets, one forward pass, a float32 log-softmax.

Cases: a template that writes tool calls and one that does not (calls written into the content), ShareGPT observation
turns, the observation cap, share windows, truncation, turns that start with a newline; the fast path (one pass over
the whole rendering) and the plain per-turn path; then the trace columns and the reasons of bad traces.
"""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
import torch

from hf_localnat import LocalNaturalnessScorer
from hf_localnat.data.make_agent_traces import openai_rows, sharegpt_rows

# A template that writes tool calls and the tools (Hermes / Qwen style), for a copy of the tiny model's folder.
CALLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if m.get('tool_calls') %}{% for c in m['tool_calls'] %}\n<tool_call>\n"
    "{{ {'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson }}\n</tool_call>"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ROLES = {"human": "user", "gpt": "assistant", "observation": "tool", "function": "tool"}


# ------------------------------------------------------------------------------------------------ the reference
def _turns(conversation: list[dict]) -> list[dict]:
    """Turns as plain OpenAI messages: roles named, calls' arguments parsed (what SPEC §14 reads)."""
    out = []
    for turn in conversation:
        role = turn.get("role") or turn.get("from")
        message = {"role": ROLES.get(role, role), "content": turn.get("content", turn.get("value")) or ""}
        if turn.get("tool_calls"):
            message["tool_calls"] = [{"type": "function", "function": {
                "name": c["function"]["name"],
                "arguments": json.loads(a) if isinstance(a := c["function"]["arguments"], str) else a}}
                for c in turn["tool_calls"]]
        out.append(message)
    return out


def _cap(tokenizer, text: str, cap: int) -> str:
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if cap == 0 or len(offsets) <= cap:
        return text
    first, last = math.ceil(cap / 2), cap // 2
    tail = offsets[len(offsets) - last][0] if last else len(text)
    return f"{text[:offsets[first - 1][1]]}\n[... {len(offsets) - first - last} tokens left out ...]\n{text[tail:]}"


def _writes_calls(tokenizer) -> bool:
    probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "localnat_probe", "arguments": {}}}]}]
    return "localnat_probe" in tokenizer.apply_chat_template(probe, tokenize=False)


def _in_content(message: dict) -> dict:
    calls = message.pop("tool_calls", None) or []
    message["content"] += "".join(
        "\n<tool_call>\n" + json.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                                       ensure_ascii=False) + "\n</tool_call>" for c in calls)
    return message


def _scored(model, tokenizer, messages: list[dict], tools, max_length: int):
    """Log-probs and ranks of the last assistant turn of `messages` in its own rendering; None when too long."""
    full = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tools=tools, tokenize=False, add_generation_prompt=True)
    assert full.startswith(prompt)
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoding["input_ids"]
    if len(ids) > max_length:
        return None
    positions = [j for j, (a, b) in enumerate(encoding["offset_mapping"]) if (b - 1 if b > a else a) >= len(prompt)]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, -1)
    values = [logprobs[j - 1, ids[j]].item() for j in positions]
    ranks = [1 + int((logits[j - 1] > logits[j - 1, ids[j]]).sum()) for j in positions]
    return values, ranks


def reference(model, tokenizer, conversation, tools=None, *, window=4, cap=1024, max_length=10**6, drop=2) -> dict:
    """Every score of one trace by SPEC §14, the slow way."""
    turns = _turns(conversation)
    starts = [i for i, t in enumerate(turns) if t["role"] == "assistant"]
    head_end = starts[0]
    calls = _writes_calls(tokenizer)
    messages = [t if calls else _in_content(dict(t)) for t in turns[:starts[-1] + 1]]
    for i in range(head_end, len(messages)):
        if messages[i]["role"] != "assistant":
            messages[i] = {**messages[i], "content": _cap(tokenizer, messages[i]["content"], cap)}
    units, pending = [], []
    for message in messages[head_end:]:
        pending.append(message)
        if message["role"] == "assistant":
            units.append(pending)
            pending = []
    head = messages[:head_end]

    def turn_input(i: int, w: int):
        truncated = False
        while w <= i:
            got = _scored(model, tokenizer, head + [m for u in units[w:i + 1] for m in u], tools, max_length)
            if got is not None:
                return got, truncated
            w, truncated = w + 1, True
        return None, True

    steps, galp, galp_drop, lalp_drop, ranks, truncated = [], [], [], [], [], False
    for i in range(len(units)):
        k = window if isinstance(window, int) else (int(window[:-1]) * i + 99) // 100
        own, cut = turn_input(i, max(0, i - k))
        whole, cut_whole = turn_input(i, 0)
        truncated |= cut or cut_whole
        if own is None:
            steps.append(None)
            continue
        steps.append(sum(own[0]) / len(own[0]))
        lalp_drop.append(own[0][drop:])
        galp += whole[0]
        galp_drop += whole[0][drop:]
        ranks += whole[1]
    scored = [s for s in steps if s is not None]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    drops = [mean(x) for x in lalp_drop if x]
    return {"lalp": mean(scored), "galp": mean(galp), "lalp_steps": steps, "galp_drop": mean(galp_drop),
            "lalp_drop": mean(drops), "rsr": sum(min(r, 100) for r in ranks) / max(-sum(galp), 1e-12),
            "num_steps": len(units), "truncated": truncated}


# ------------------------------------------------------------------------------------------------------ cases
@pytest.fixture(scope="module")
def calls_model_path(tiny_model_path, tmp_path_factory):
    """A copy of the tiny model's folder whose chat template writes tool calls."""
    folder = tmp_path_factory.mktemp("tiny-calls")
    for item in tiny_model_path.iterdir():
        shutil.copy(item, folder / item.name)
    (folder / "chat_template.jinja").write_text(CALLS_TEMPLATE)
    return folder


def _check(model_path, conversations, tools=None, **options):
    options.setdefault("max_length", 1024)
    scorer_options = {k: v for k, v in options.items() if k in ("window", "max_length")}
    if "cap" in options:
        scorer_options["max_observation_tokens"] = options["cap"]
    ref_options = {k: v for k, v in options.items() if k in ("window", "cap", "max_length")}
    tools = tools or [None] * len(conversations)
    results = {}
    for reuse in (True, False):  # the fast path and the plain per-turn path
        scorer = LocalNaturalnessScorer(str(model_path), dtype="float32", device="cpu", segmenter="turns",
                                        scores="all", reuse_galp=reuse, batch_tokens=4096, **scorer_options)
        results[reuse] = scorer.score(conversations, tools=tools)
    model, tokenizer = scorer.model, scorer.tokenizer
    for conversation, tool, fast, plain in zip(conversations, tools, results[True], results[False], strict=True):
        want = reference(model, tokenizer, conversation, tool, **ref_options)
        for got in (fast, plain):
            assert got["score_error"] is None and got["num_steps"] == want["num_steps"]
            assert got["truncated"] == want["truncated"]
            for key in ("lalp", "galp", "galp_drop", "lalp_drop", "rsr"):
                assert got[key] == pytest.approx(want[key], abs=1e-4), key
            assert [s is None for s in got["lalp_steps"]] == [s is None for s in want["lalp_steps"]]
            assert [s for s in got["lalp_steps"] if s is not None] == pytest.approx(
                [s for s in want["lalp_steps"] if s is not None], abs=1e-4)
    return results[True]


def test_a_template_that_writes_tool_calls(calls_model_path):
    rows = openai_rows()[:3]
    scored = _check(calls_model_path, [r["messages"] for r in rows], [r["tools"] for r in rows], window=1)
    assert scored[0]["num_tool_calls"] == 3


@pytest.mark.slow  # about a minute on 2 shared cores: the reference runs every window alone
def test_a_template_that_does_not_write_calls_gets_them_in_the_content(tiny_model_path):
    rows = openai_rows()[3:6]
    _check(tiny_model_path, [r["messages"] for r in rows], [r["tools"] for r in rows], window=2)


@pytest.mark.slow
def test_sharegpt_observation_turns_the_cap_and_share_windows(tiny_model_path):
    conversations = [r["conversations"] for r in sharegpt_rows()[:3]]
    _check(tiny_model_path, conversations, window="50%", cap=16)
    _check(tiny_model_path, conversations[:2], window=0, cap=0)


@pytest.mark.slow
def test_truncation_leaves_out_the_oldest_units_then_the_turn(tiny_model_path):
    conversations = [r["messages"] for r in openai_rows()[:3]]
    scored = _check(tiny_model_path, conversations, window=3, max_length=260)
    assert any(r["truncated"] for r in scored)


def test_turns_that_start_with_a_newline_keep_all_their_tokens(tiny_model_path):
    """The careful teacher's last turn starts with "\\n": located by character offsets, every one of its tokens is
    scored (a token-id scan for the turn's text mislocates such turns)."""
    from hf_localnat.io.turns import read_turns
    from hf_localnat.scoring.config import ScoringConfig
    from hf_localnat.scoring.prepare.turns import prepare_trace

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    conversation = openai_rows()[0]["messages"]
    last = read_turns(conversation)[-1].content
    assert last.startswith("\n")
    row = prepare_trace(tokenizer, ScoringConfig(segmenter="turns"), 4096, 0, conversation, {})
    window, span = row.galp_source[-1]
    start, end = row.windows[window].spans[span]
    text = tokenizer.decode(row.windows[window].input_ids[start:end])
    assert text == last + "<|im_end|>\n"


@pytest.mark.slow
def test_the_embedded_student_sharegpt_and_openai(smol_model, embedded_path):
    _check(embedded_path, [r["conversations"] for r in sharegpt_rows()[:2]], window=1, cap=32)
    rows = openai_rows()[:2]
    _check(embedded_path, [r["messages"] for r in rows], [r["tools"] for r in rows], window="50%")


# ------------------------------------------------------------------------------------------ columns and reasons
def test_trace_columns_and_bad_traces(tiny_model_path):
    rows = openai_rows()
    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu", segmenter="turns")
    bad_call = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]
    no_assistant = [{"role": "user", "content": "Q"}, {"role": "tool", "content": "x"}]
    got = scorer.score([rows[1]["messages"], rows[2]["messages"], bad_call, no_assistant, None, "text"])
    looping, sloppy = got[0], got[1]
    assert looping["repeat_share"] == pytest.approx(3 / 6) and looping["num_steps"] == 6
    assert sloppy["error_share"] == pytest.approx(2 / 3) and sloppy["num_tool_calls"] == 3
    assert 0 < sloppy["observation_share"] < 1
    assert [r["score_error"] for r in got[2:]] == ["invalid_tool_call", "invalid_conversation",
                                                    "missing_response", "invalid_conversation"]
    assert got[3]["lalp_steps"] == [] and got[2]["num_tool_calls"] is None


def test_error_share_reads_the_capped_observations(tiny_model_path):
    """SPEC §14: the cap comes first and every input below it, the trace columns included, sees the capped turns:
    an error line in the part the cap leaves out is not counted."""
    middle = "ok " * 60 + "Error: disk full" + " ok" * 60
    trace = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "run"},
             {"role": "tool", "content": middle}, {"role": "assistant", "content": "done"}]
    capped, uncapped = (LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu",
                                               segmenter="turns", max_observation_tokens=cap).score([trace])[0]
                        for cap in (8, 0))
    assert capped["error_share"] == 0.0 and uncapped["error_share"] == 1.0


def test_a_template_that_does_not_render_incrementally(tiny_model_path, tmp_path):
    folder = tmp_path / "odd"
    shutil.copytree(tiny_model_path, folder)
    # the generation prompt differs from how an assistant turn starts: no rendering extends its prompt
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}")
    scorer = LocalNaturalnessScorer(str(folder), dtype="float32", device="cpu", segmenter="turns")
    [row] = scorer.score([openai_rows()[0]["messages"]])
    assert row["score_error"] == "template_not_incremental"


def test_a_student_without_a_chat_template_is_refused_in_one_line(tiny_model_path, tmp_path):
    from hf_localnat.errors import TokenizerError

    folder = tmp_path / "plain"
    shutil.copytree(tiny_model_path, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    scorer = LocalNaturalnessScorer(str(folder), dtype="float32", device="cpu", segmenter="turns")
    with pytest.raises(TokenizerError, match=re.escape("has none; use a student with a chat template")):
        scorer.score([openai_rows()[0]["messages"]])


# ------------------------------------------------------------------------------------------------------ the doors
DOOR_COLUMNS = ("lalp", "galp", "rsr", "num_tool_calls", "repeat_share", "error_share", "observation_share")


def _same(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["score_error"] == w["score_error"]
        for name in DOOR_COLUMNS:
            assert (g[name] is None) == (w[name] is None), name
            if w[name] is not None:
                assert g[name] == pytest.approx(w[name], rel=1e-4, abs=1e-4), name


@pytest.fixture(scope="module")
def openai_file(tmp_path_factory):
    from hf_localnat.data.make_agent_traces import write_fixtures

    folder = tmp_path_factory.mktemp("agent-fixtures")
    write_fixtures(folder)
    return folder / "agent_traces_openai.jsonl"


def _want(tiny_model_path, **options):
    rows = openai_rows()
    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu", segmenter="turns",
                                    scores="lalp,galp,rsr", **options)
    return scorer.score([r["messages"] for r in rows], tools=[r["tools"] for r in rows])


@pytest.mark.slow  # four scorings of 12 traces and an estimate: about a minute on 2 shared cores
def test_map_and_the_cli_on_a_json_typed_file(openai_file, tiny_model_path, tmp_path):
    from click.testing import CliRunner
    from datasets import load_dataset

    from hf_localnat.cli import main
    from hf_localnat.io import load_input, read_provenance

    want = _want(tiny_model_path, window=1)
    ds = load_dataset("json", data_files=str(openai_file), split="train")  # messages: List(Json)
    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu", segmenter="turns",
                                    scores="lalp,galp,rsr", window=1)
    mapped = ds.map(scorer, batched=True, batch_size=5)
    _same(mapped.to_list(), want)
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(main, ["score", str(openai_file), "-o", str(out), "--model", str(tiny_model_path),
                                       "--segmenter", "turns", "--window", "1", "--scores", "lalp,galp,rsr",
                                       "--teacher-column", "model"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "agent traces in 'messages'" in result.output
    scored = load_input(str(out))
    _same(scored.to_list(), want)
    assert scored[0]["tools"] == openai_rows()[0]["tools"]  # the conversation and tools are kept as they were
    provenance = read_provenance(out)
    assert provenance.segmenter == "turns" and provenance.turns["max_observation_tokens"] == 1024
    assert provenance.turns["calls_in_content"] is True and len(provenance.turns["chat_template_sha256"]) == 64
    capped = tmp_path / "capped.parquet"
    CliRunner().invoke(main, ["score", str(openai_file), "-o", str(capped), "--model", str(tiny_model_path),
                              "--segmenter", "turns", "--window", "1", "--scores", "lalp,galp,rsr",
                              "--max-observation-tokens", "8"], catch_exceptions=False)
    from hf_localnat.errors import ProvenanceError
    from hf_localnat.io import pool_provenance

    with pytest.raises(ProvenanceError, match="turns differs"):
        pool_provenance([str(out), str(capped)])
    estimate = CliRunner().invoke(main, ["estimate", str(openai_file), "--model", str(tiny_model_path),
                                         "--segmenter", "turns", "--teacher-column", "model"])
    assert estimate.exit_code == 0, estimate.output
    assert "Trace columns (SPEC §14), mean per teacher" in estimate.output
    assert re.search(r"teacher-looping\s+6\.000\s+5\.250\s+0\.500", estimate.output)


def test_flat_reading_says_what_it_leaves_out_and_names_call_only_turns(openai_file, tiny_model_path, tmp_path):
    from click.testing import CliRunner

    from hf_localnat.cli import main
    from hf_localnat.io import load_input

    out = tmp_path / "flat.parquet"
    result = CliRunner().invoke(main, ["score", str(openai_file), "-o", str(out), "--model", str(tiny_model_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "left out of the score, per row on average" in result.output and "--segmenter turns" in result.output
    errors = load_input(str(out))["score_error"]
    assert errors.count("tool_call_only_response") == 1 and errors.count(None) == 11


@pytest.mark.slow
def test_the_evaluate_module_ray_and_datatrove(tiny_model_path, tmp_path, openai_file):
    import evaluate
    from pathlib import Path

    rows = openai_rows()
    want = _want(tiny_model_path, window=1)
    metric_dir = Path(__file__).resolve().parents[1] / "metric" / "local_naturalness"
    got = evaluate.load(str(metric_dir)).compute(messages=[r["messages"] for r in rows],
                                                 tools=[r["tools"] for r in rows], segmenter="turns", window=1,
                                                 model_id=str(tiny_model_path), scores="rsr", dtype="float32")
    _same([{name: got[name][i] for name in (*DOOR_COLUMNS, "score_error")} for i in range(len(rows))], want)

    ray = pytest.importorskip("ray")
    from hf_localnat.io import load_input
    from hf_localnat.scoring.ray_engine import score_with_ray

    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", segmenter="turns", window=1,
                                    scores="lalp,galp,rsr")
    out = tmp_path / "ray.parquet"
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        score_with_ray(scorer, str(openai_file), out, batch_size=4, shard_rows=6)
    finally:
        ray.shutdown()
    _same(load_input(str(out)).to_list(), want)

    pytest.importorskip("datatrove")
    from datatrove.data import Document

    import hf_localnat.datatrove as dt

    step = dt.LocalNaturalnessScorer(str(tiny_model_path), segmenter="turns", window=1, scores="lalp,galp,rsr",
                                     dtype="float32", batch_size=5)
    docs = [Document(text=json.dumps(r["messages"]), id=str(i), metadata={"tools": r["tools"]})
            for i, r in enumerate(rows)]
    _same([doc.metadata for doc in step.run(iter(docs))], want)
