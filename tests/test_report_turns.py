"""`inspect` on agent traces (SPEC §14): each trace turn by turn, the task and observations grey, the observations
over the cap marked with the student's token count, each assistant turn shaded by its own score; checked by parsing
the HTML against the rows."""

from __future__ import annotations

import json
from html import unescape
from html.parser import HTMLParser

import pytest

from hf_localnat.io import load_input, save_output
from hf_localnat.report.html import build_report
from hf_localnat.report.svg import DivergingScale

CAP = 16
LONG = " ".join(f"line {k}: ok" for k in range(60))  # far over 16 tokens


class _Turns(HTMLParser):
    """Every `<div class="turn ...">`: its classes, style, title, text and the text of its `capped` badge."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[dict] = []
        self._depth = 0  # divs open inside the current turn
        self._badge = False
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "div" and "turn" in (attrs.get("class") or "").split():
            self.turns.append({"class": attrs["class"].split(), "style": attrs.get("style", ""),
                               "title": attrs.get("title"), "text": "", "badge": ""})
            self._depth = 1
        elif tag == "div" and self._depth:
            self._depth += 1
        if tag == "span" and self._depth and "capped" in (attrs.get("class") or ""):
            self._badge = True

    def handle_endtag(self, tag):
        if tag == "div" and self._depth:
            self._depth -= 1
        if tag == "span":
            self._badge = False

    def handle_data(self, data):
        if self._depth:
            self.turns[-1]["badge" if self._badge else "text"] += data


def _trace(task: int, teacher: str, scores: list[float], long_observation: bool) -> dict:
    messages = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": f"Task {task}."}]
    for k in range(len(scores)):
        if k:
            messages.append({"role": "tool", "content": LONG if long_observation and k == 1 else f"out {k}"})
        messages.append({"role": "assistant", "content": f"{teacher} step {k} of task {task}.",
                         "tool_calls": [{"type": "function", "function": {
                             "name": "bash", "arguments": json.dumps({"command": f"run {k}"})}}]})
    return {"question": f"Task {task}.", "teacher": teacher, "messages": messages, "lalp": sum(scores) / len(scores),
            "galp": sum(scores) / len(scores) - 0.1, "lalp_steps": scores, "num_steps": len(scores),
            "score_error": None}


@pytest.fixture
def traces(tmp_path):
    rows = [_trace(0, "careful", [-1.0, -0.5, -2.5], True), _trace(0, "sloppy", [-3.0, -1.5], False),
            _trace(1, "careful", [-0.8, -1.2], False), _trace(1, "sloppy", [-2.0, -2.2, -0.3], True)]
    source = tmp_path / "traces.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))  # read as the Hub shape: turns typed as JSON
    return load_input(str(save_output(load_input(str(source)), tmp_path / "scored.parquet"))), rows


def test_traces_turn_by_turn_with_capped_observations_and_shaded_turns(traces, smol_tokenizer):
    dataset, rows = traces
    count = lambda text: len(smol_tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    html = build_report(dataset, segmenter="turns", num_questions=2, least_natural=1, max_observation_tokens=CAP,
                        count_tokens=count, num_resamples=50)
    parser = _Turns()
    parser.feed(html)
    assert parser.scripts == 0
    scale = DivergingScale.of([s for r in rows for s in r["lalp_steps"]])
    shown = [t for t in parser.turns]
    # both questions, every teacher's trace, every turn in order (then the least natural turn of each teacher)
    per_trace = [2 + 2 * len(r["lalp_steps"]) - 1 for r in rows]
    assert len(shown) >= sum(per_trace)
    position = 0
    for row, size in zip(rows, per_trace, strict=True):
        turns = shown[position:position + size]
        position += size
        assert [t["class"][1] for t in turns] == ["head", "head"] + ["asst", "obs"] * (len(row["lalp_steps"]) - 1) + [
            "asst"]
        assistants = [t for t in turns if "asst" in t["class"]]
        for i, (turn, score) in enumerate(zip(assistants, row["lalp_steps"], strict=True)):
            assert turn["style"] == f"background:{scale.color(score)}"  # shaded by its own score
            assert turn["title"] == f"turn {i + 1}/{len(row['lalp_steps'])}: {score:.4f}"
            assert f"{row['teacher']} step {i} of task" in turn["text"] and '"command": "run ' in turn["text"]
        for turn in (t for t in turns if "obs" in t["class"]):
            tokens = count(turn["text"].split("observation", 1)[1])
            if tokens > CAP:  # marked with its count and what the student saw
                assert turn["badge"] == f"capped: {tokens} tokens; the student saw its first 8 and last 8"
            else:
                assert turn["badge"] == ""
    assert sum(bool(t["badge"]) for t in shown[:sum(per_trace)]) == 2
    assert ".turn.obs{color:#8a8a8a" in html  # observations grey
    # the least natural turn of each teacher comes with the observations it answered
    least = shown[sum(per_trace):]
    assert [t["title"] for t in least if "asst" in t["class"]] == ["turn 3/3: -2.5000", "turn 1/2: -3.0000"]
    assert "the assistant turns of column 'messages' (SPEC §14; observations capped at 16 tokens)" in unescape(html)


def test_without_a_tokenizer_long_observations_may_be_capped_and_mismatches_are_unshaded(traces):
    dataset, rows = traces
    wrong = dataset.map(lambda r, i: {"num_steps": r["num_steps"] + (i == 2)}, with_indices=True)
    html = build_report(wrong, segmenter="turns", num_questions=2, least_natural=0, max_observation_tokens=CAP,
                        num_resamples=50)
    parser = _Turns()
    parser.feed(html)
    badges = [t["badge"] for t in parser.turns if t["badge"]]
    assert badges == ["may be capped: over 16 tokens, the student saw only its first 8 and last 8 tokens"] * 2
    assert "but the row was scored with num_steps=3 (2 turn scores)" in unescape(html)
    unshaded = [t for t in parser.turns if "asst" in t["class"] and t["title"].endswith("/?: no score")]
    assert len(unshaded) == 2  # the two assistant turns of the mismatched row, grey
    assert all(t["style"] == f"background:{DivergingScale.of([0.0]).color(None)}" for t in unshaded)


@pytest.mark.slow  # scores the bundled ShareGPT agent traces with the tiny model: 20-60 s on 2 shared cores
def test_inspect_of_traces_scored_with_the_tiny_model(tmp_path, tiny_model_path, smol_tokenizer):
    from click.testing import CliRunner

    from hf_localnat.cli import main
    from hf_localnat.sample import SAMPLE_PATH

    source = SAMPLE_PATH.parent / "agent_traces_sharegpt.jsonl"
    scored, report = tmp_path / "agents.parquet", tmp_path / "traces.html"
    result = CliRunner().invoke(main, ["score", str(source), "-o", str(scored), "--model", str(tiny_model_path),
                                       "--segmenter", "turns", "--question-column", "task_id",
                                       "--max-observation-tokens", "64"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["inspect", str(scored), "-o", str(report), "--num-questions", "1",
                                       "--least-natural", "0"])
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    parser = _Turns()
    parser.feed(html)
    rows = list(load_input(str(scored)))
    scale = DivergingScale.of([s for r in rows for s in r["lalp_steps"] if s is not None])
    shown = {}  # each shown row, found by its assistant turns' titles and colours
    for row in rows:
        titles = [f"turn {i + 1}/{row['num_steps']}: {s:.4f}" for i, s in enumerate(row["lalp_steps"])]
        turns = [t for t in parser.turns if t["title"] in titles]
        if len(turns) == row["num_steps"]:
            shown[row["teacher"]] = row
            assert [t["style"] for t in turns] == [f"background:{scale.color(s)}" for s in row["lalp_steps"]]
    assert len(shown) >= 2  # the chosen question's traces, every teacher's
    count = lambda text: len(smol_tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    observations = [t for t in parser.turns if "obs" in t["class"]]
    capped = [t for t in observations if count(t["text"].split("observation", 1)[1]) > 64]
    assert capped and all(t["badge"].startswith("capped: ") and t["badge"].endswith("first 32 and last 32")
                          for t in capped)
    assert all(not t["badge"] for t in observations if t not in capped)


def test_inspect_command_takes_the_cap_of_a_file_that_does_not_record_it(traces, tmp_path):
    from click.testing import CliRunner

    from hf_localnat.cli import main

    dataset, _ = traces
    path = save_output(dataset, tmp_path / "plain.parquet")
    report = tmp_path / "traces.html"
    result = CliRunner().invoke(main, ["inspect", str(path), "-o", str(report), "--segmenter", "turns",
                                       "--max-observation-tokens", str(CAP), "--least-natural", "0"])
    assert result.exit_code == 0, result.output
    parser = _Turns()
    parser.feed(report.read_text(encoding="utf-8"))
    assert [t["badge"] for t in parser.turns if t["badge"]] == [
        "may be capped: over 16 tokens, the student saw only its first 8 and last 8 tokens"] * 2
