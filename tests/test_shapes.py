"""Input shapes (SPEC §9): every shape becomes long rows, and a (question, response) scores the same in every shape.

The docs' table "Your dataset → the command" is read from docs/data-shapes.md: each of its commands runs as written (plus
the tiny student) on a small local file shaped as that dataset's card states, and its scores must equal those of the
flat file that holds the same (question, response) pairs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat import LocalNaturalnessScorer
from hf_localnat.cli import main
from hf_localnat.io import ShapeError, load_input, to_long
from hf_localnat.io.parts import response_part
from hf_localnat.io.shapes import batch_texts, read_conversations

ROOT = Path(__file__).resolve().parents[1]
SHAPES_PAGE = ROOT / "docs" / "data-shapes.md"  # the page of the table "Your dataset → the command"

THINK = "<think>\nFirst, 2 + 2 = 4. Check: 4 - 2 = 2.\n\nSo it is 4.\n</think>\n\n<answer>4</answer>"
THOUGHT = ("<|begin_of_thought|>\n\nLet me add 3 and 5. That gives 8.\n\nCheck: 8 - 5 = 3.\n\n<|end_of_thought|>\n\n"
           "<|begin_of_solution|>\n\nThe sum is 8.\n\n<|end_of_solution|>")


def _turns(pairs, keys=("role", "content"), roles=("user", "assistant")):
    return [{keys[0]: role, keys[1]: text} for role, text in zip(roles, pairs, strict=True)]


# ------------------------------------------------------------------------------------------- shapes, no model
def test_lists_explode_with_parallel_lists_nulls_and_input_messages():
    ds = Dataset.from_dict({
        "problem": ["1+1?", "2+2?", "3?", "4?"],
        "generations": [["2.", "Two."], ["4."], [], None],
        "correctness_math_verify": [[True, False], [True], [], None],
        "correctness_llama": [None, [True, False], None, None],  # longer than its row's generations: named only
        "finish_reasons": [["stop", "length"], ["stop"], [], None],
        "messages": [_turns(["1+1?", "2."])] * 4,
    })
    long = to_long(ds, question_column="problem", response_columns=["generations"])
    rows = long.dataset.to_list()
    assert [(r["question"], r["response"], r["generation_index"]) for r in rows] == [
        ("1+1?", "2.", 0), ("1+1?", "Two.", 1), ("2+2?", "4.", 0)]
    assert [r["correctness_math_verify"] for r in rows] == [True, False, True]
    assert [r["finish_reasons"] for r in rows] == ["stop", "length", "stop"]
    assert [r["correctness_llama"] for r in rows] == [None, None, [True, False]]  # not exploded: lengths differ
    assert rows[0]["input_messages"] == _turns(["1+1?", "2."]) and "messages" not in rows[0]
    assert long.without_response == 2
    assert long.describe() == ("Read lists of responses: question = 'problem', response = each element of "
                               "'generations', exploded alongside: correctness_math_verify, finish_reasons; no "
                               "teacher; 3 rows from 4 input rows (2 with no response, so no row).")
    named = to_long(ds, question_column="problem", response_columns=["generations"],
                    explode_with=["correctness_llama"]).dataset
    assert named["correctness_llama"] == [None, None, True]  # element 0 of [True, False]; null where missing


def test_conversations_role_content_and_sharegpt_with_a_bad_conversation():
    sharegpt = Dataset.from_dict({"system": ["s"] * 3, "conversations": [
        _turns(["Q1", "A1"], ("from", "value"), ("human", "gpt")),
        _turns(["A2"], ("from", "value"), ("gpt",)),  # no user turn before the assistant turn
        _turns(["Q3a", "A3a", "Q3", "A3", "more?"], ("from", "value"), ("human", "gpt", "human", "gpt", "human")),
    ]})
    long = to_long(sharegpt, teacher="t")
    rows = long.dataset.to_list()
    assert [(r["question"], r["response"], r["input_error"]) for r in rows] == [
        ("Q1", "A1", None), (None, None, "invalid_conversation"), ("Q3", "A3", None)]
    assert rows[0]["conversations"] == sharegpt[0]["conversations"] and rows[0]["teacher"] == "t"
    assert long.describe() == ("Read conversations (ShareGPT from/value) in 'conversations': question = last human "
                               "turn, response = last gpt turn; left out of the score, per row on average: 0.5 "
                               "assistant, 0.0 tool and 1.0 other turns (score every turn with --segmenter turns); "
                               "teacher 't'; 3 rows.")
    chat = Dataset.from_dict({"messages": [[{"role": "system", "content": "S"}, *_turns(["Q", THINK])]]})
    assert to_long(chat).dataset.select_columns(["question", "response"]).to_list() == [
        {"question": "Q", "response": THINK}]


def test_wide_columns_give_a_row_per_column_with_teachers():
    ds = Dataset.from_dict({"question": ["a", "b"], "r1_solution_1": ["x", None], "r1_solution_2": ["y", "z"]})
    long = to_long(ds, response_columns=["r1_solution_1", "r1=r1_solution_2"])
    assert [(r["question"], r["response"], r["generation_index"], r["teacher"]) for r in long.dataset] == [
        ("a", "x", 0, "r1_solution_1"), ("a", "y", 1, "r1"), ("b", "z", 1, "r1")]
    assert long.without_response == 1
    assert to_long(ds, response_columns=["r1_solution_1", "r1_solution_2"], teacher="deepseek").dataset["teacher"] \
        == ["deepseek"] * 3


def test_flat_is_unchanged_and_renames_keep_the_other_column():
    flat = Dataset.from_dict({"question": ["q"], "response": ["r"], "teacher": ["t"]})
    assert to_long(flat).dataset is flat  # nothing to do: the very dataset (memory-mapped data stays so)
    omr = Dataset.from_dict({"problem": ["p"], "generated_solution": ["s"], "generation_model": ["m"],
                             "response": ["an unrelated column"]})
    long = to_long(omr, question_column="problem", response_columns=["generated_solution"],
                   teacher_column="generation_model").dataset
    assert long.to_list() == [{"question": "p", "response": "s", "teacher": "m", "input_response": "an unrelated column"}]


def test_an_input_that_fits_no_shape_lists_its_columns_and_the_flags():
    with pytest.raises(ShapeError) as error:
        to_long(Dataset.from_dict({"problem": ["p"], "sols": [["a"]]}))
    message = str(error.value)
    assert "Columns found: problem (text), sols (list of text)." in message and "--response-column" in message
    assert "\n" not in message
    with pytest.raises(ShapeError, match="--question-column 'nope' is not a column"):
        to_long(Dataset.from_dict({"response": ["r"]}), question_column="nope")
    with pytest.raises(ShapeError, match="holds lists"):
        to_long(Dataset.from_dict({"a": [["x"]], "b": ["y"]}), response_columns=["a", "b"])


def test_the_same_input_read_the_same_way_has_the_same_fingerprint():
    ds = Dataset.from_dict({"q": ["1?"], "gens": [["a", "b"]]})
    one = to_long(ds, question_column="q", response_columns=["gens"]).dataset._fingerprint
    assert one == to_long(ds, question_column="q", response_columns=["gens"]).dataset._fingerprint
    assert one != to_long(ds, question_column="q", response_columns=["gens"], teacher="t").dataset._fingerprint


def test_response_parts():
    assert response_part(THINK, "thinking") == ("First, 2 + 2 = 4. Check: 4 - 2 = 2.\n\nSo it is 4.", None)
    assert response_part(THINK, "answer") == ("4", None)
    assert response_part(THOUGHT, "answer") == ("The sum is 8.", None)
    assert response_part(THOUGHT, "thinking")[0].startswith("Let me add")
    assert response_part("no block", "thinking") == (None, "no_thinking_block")
    assert response_part("<think> open only", "answer") == (None, "no_thinking_block")
    assert response_part(THINK, "full") == (THINK, None)


def test_hostile_conversation_values_fail_their_row_only():
    good = _turns(["Q", "A"])
    texts = batch_texts(lambda name: {"messages": [good, 7, None, [good[0]], "text"]}.get(name), ["messages"],
                        question_column="question", response_column="response")
    assert texts.responses == ["A", None, None, None, None]
    assert texts.errors == [None] + ["invalid_conversation"] * 4
    with pytest.raises(ShapeError):
        read_conversations(pa.array([["not", "turns"]]))


# --------------------------------------------------------------------------------------- the doors, tiny model
def _close(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["score_error"] == w["score_error"] and g["num_steps"] == w["num_steps"]
        for key in ("lalp", "galp"):
            assert (g[key] is None) == (w[key] is None) and (g[key] is None or abs(g[key] - w[key]) <= 1e-4), key


@pytest.mark.slow
def test_map_on_a_conversation_only_dataset_scores_and_keeps_the_column(tiny_model_path):
    conversations = [_turns(["What is 2 + 2?", THINK]), _turns(["Hello?"], roles=("user",)),
                     [{"role": "system", "content": "Be brief."}, *_turns(["Add 3 and 5.", THOUGHT])]]
    ds = Dataset.from_dict({"messages": conversations})
    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=2)
    scored = ds.map(scorer, batched=True)  # as users write it: no arguments
    assert scored["messages"] == conversations
    assert scored["score_error"] == [None, "invalid_conversation", None]
    flat = scorer.score([THINK, THOUGHT], ["What is 2 + 2?", "Add 3 and 5."])
    _close([scored[0], scored[2]], flat)
    thinking = LocalNaturalnessScorer(str(tiny_model_path), window=2, response_part="thinking")
    _close(list(ds.map(thinking, batched=True).select([0, 2])),
           scorer.score([response_part(THINK, "thinking")[0], response_part(THOUGHT, "thinking")[0]],
                        ["What is 2 + 2?", "Add 3 and 5."]))
    assert thinking.score(["no block at all."], ["Q"])[0]["score_error"] == "no_thinking_block"
    assert thinking.provenance().response_part == "thinking"
    assert "thinking part" in thinking.provenance().describe()


# ------------------------------------------------------------------------------------ the docs table, row by row
def _table_commands() -> dict[str, str]:
    text = SHAPES_PAGE.read_text(encoding="utf-8")
    section = text.split("## Your dataset → the command", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| .* \| `(localnat score [^`]+)`.* \|$", section, flags=re.M)
    return {name.split(",")[0].strip(): command for name, command in rows
            if not name.startswith("agent traces")}  # their rows run in test_the_agent_trace_rows_run


def _agent_rows() -> dict[str, str]:
    text = SHAPES_PAGE.read_text(encoding="utf-8")
    section = text.split("## Your dataset → the command", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (agent traces[^|]+?) \| .* \| `(localnat score [^`]+)`.* \|$", section, flags=re.M)
    return {re.search(r"`(agent_traces_\w+\.jsonl)`", name).group(1): command for name, command in rows}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["agent_traces_openai.jsonl", "agent_traces_sharegpt.jsonl"])
def test_the_agent_trace_rows_run(name, tmp_path, tiny_model_path, monkeypatch):
    """The agent-trace rows of the table (SPEC §14) run as written on the fixture files the project writes."""
    import shlex

    from click.testing import CliRunner

    from hf_localnat.cli import main
    from hf_localnat.data.make_agent_traces import write_fixtures
    from hf_localnat.io import load_input

    write_fixtures(tmp_path)
    monkeypatch.chdir(tmp_path)
    command = _agent_rows()[name]
    args = shlex.split(command)[1:] + ["--model", str(tiny_model_path)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored = load_input("scored.parquet")
    assert scored["score_error"] == [None] * scored.num_rows and "repeat_share" in scored.column_names


def _sharegpt(q, a, assistant="gpt"):
    return _turns([q, a], ("from", "value"), ("human", assistant))


QUESTIONS = ["What is 2 + 2?", "Add 3 and 5.", "Name a prime."]
TRACES = [THINK, THOUGHT, "<think>\n2 is prime. It has two divisors.\n</think>\n\n2",
          "<think>\nTwo plus two. That is four.\n</think>\n4", "Seven is prime.\nSo 7."]


def _shaped(name: str, folder: Path) -> list[tuple[str, str, str | None]]:
    """Write the file(s) of dataset `name`'s table row into `folder`, shaped as its card states; return the
    (question, response, teacher) of every long row, in order."""
    q, t = QUESTIONS, TRACES
    if name == "open-r1/OpenR1-Math-220k":
        Dataset.from_dict({
            "problem": q[:3], "solution": ["4", "8", "2"], "answer": ["4", "8", "2"],
            "generations": [[t[0], t[3]], [t[1]], None],
            "correctness_math_verify": [[True, False], [True], None],
            "correctness_llama": [None, [True, True], None], "finish_reasons": [["stop", "stop"], ["stop"], None],
            "messages": [_turns([q[0], t[0]]), _turns([q[1], t[1]]), _turns([q[2], t[2]])],
        }).to_parquet(folder / "openr1.parquet")
        return [(q[0], t[0], "deepseek-r1"), (q[0], t[3], "deepseek-r1"), (q[1], t[1], "deepseek-r1")]
    if name == "open-thoughts/OpenThoughts-114k":
        Dataset.from_dict({"system": ["Think step by step."] * 2,
                           "conversations": [_sharegpt(q[1], t[1]), _sharegpt(q[0], THOUGHT.replace("8", "4"))]}) \
            .to_parquet(folder / "openthoughts.parquet")
        return [(q[1], t[1], "deepseek-r1"), (q[0], THOUGHT.replace("8", "4"), "deepseek-r1")]
    if name == "open-r1/Mixture-of-Thoughts":
        Dataset.from_dict({"messages": [_turns([q[0], t[0]]), _turns([q[2], t[2]])], "num_tokens": [40, 30],
                           "source": ["math", "math"]}).to_parquet(folder / "mixture.parquet")
        return [(q[0], t[0], "deepseek-r1"), (q[2], t[2], "deepseek-r1")]
    if name == "a-m-team/AM-Thinking-v1-Distilled + AM-Qwen3-Distilled":
        for teacher, traces in (("am-thinking", (t[0], t[2])), ("am-qwen3", (t[3], t[4]))):
            turns = [[{"from": "human", "value": q[i], "info": {"model_name": None}},
                      {"from": "assistant", "value": traces[j], "info": {"model_name": teacher}}]
                     for j, i in enumerate((0, 2))]
            Dataset.from_dict({"system": [""] * 2, "conversations": turns}).to_json(folder / f"{teacher}.jsonl")
        return [(q[0], t[0], "am-thinking"), (q[2], t[2], "am-thinking"), (q[0], t[3], "am-qwen3"),
                (q[2], t[4], "am-qwen3")]
    if name == "zwhe99/DeepMath-103K":
        Dataset.from_dict({"question": q[:2], "final_answer": ["4", "8"], "difficulty": [1.0, 2.0],
                           "r1_solution_1": [t[0], t[1]], "r1_solution_2": [t[3], None],
                           "r1_solution_3": [t[4], t[2]]}).to_parquet(folder / "deepmath.parquet")
        return [(q[0], t[0], "deepseek-r1"), (q[0], t[3], "deepseek-r1"), (q[0], t[4], "deepseek-r1"),
                (q[1], t[1], "deepseek-r1"), (q[1], t[2], "deepseek-r1")]
    if name == "simplescaling/s1K-1.1":
        Dataset.from_dict({"question": q[:2], "solution": ["4", "8"],
                           "gemini_thinking_trajectory": ["Two and two. Four.", "Three plus five. Eight."],
                           "gemini_attempt": ["4", "8"],
                           "deepseek_thinking_trajectory": ["2 + 2 = 4.\nDone.", "3 + 5 = 8. Check. Done."],
                           "deepseek_attempt": ["**4**", "**8**"]}).to_parquet(folder / "s1k.parquet")
        return [(q[0], "Two and two. Four.", "gemini"), (q[0], "2 + 2 = 4.\nDone.", "deepseek"),
                (q[1], "Three plus five. Eight.", "gemini"), (q[1], "3 + 5 = 8. Check. Done.", "deepseek")]
    if name == "nvidia/OpenMathReasoning":
        Dataset.from_dict({"problem": q[:3], "generated_solution": [t[4], t[1], t[2]],
                           "generation_model": ["DeepSeek-R1", "QwQ-32B", "DeepSeek-R1"],
                           "problem_type": ["a"] * 3}).to_parquet(folder / "omr.parquet")
        return [(q[0], t[4], "DeepSeek-R1"), (q[1], t[1], "QwQ-32B"), (q[2], t[2], "DeepSeek-R1")]
    raise AssertionError(f"no shaped file for the docs row {name!r}: add one")


SHAPE_FLAGS = {"--question-column", "--response-column", "--messages-column", "--teacher-column", "--teacher",
               "--explode-with"}


def test_the_readme_table_has_a_row_for_every_dataset_of_the_issue():
    assert set(_table_commands()) == {
        "open-r1/OpenR1-Math-220k", "open-thoughts/OpenThoughts-114k", "open-r1/Mixture-of-Thoughts",
        "a-m-team/AM-Thinking-v1-Distilled + AM-Qwen3-Distilled", "zwhe99/DeepMath-103K", "simplescaling/s1K-1.1",
        "nvidia/OpenMathReasoning"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_table_commands()))
def test_each_readme_command_scores_like_the_flat_file(name, tmp_path, tiny_model_path, monkeypatch):
    command = _table_commands()[name]
    expected = _shaped(name, tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    tiny = ["--model", str(tiny_model_path), "--window", "2"]
    args = shlex.split(command)[1:]
    result = runner.invoke(main, [*args, *tiny])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Read " in result.output  # the one line that says what was read
    got = load_input("scored.parquet")
    assert [(r["question"], r["response"], r.get("teacher")) for r in got] == expected
    # the flat file with the same pairs, scored with the same definition (the command's other options)
    Dataset.from_dict({"question": [e[0] for e in expected], "response": [e[1] for e in expected]}) \
        .to_json("flat.jsonl")
    definition, skip = [], False
    for arg in args[args.index("-o") + 2:]:
        if skip:
            skip = False
        elif arg in SHAPE_FLAGS:
            skip = True
        else:
            definition.append(arg)
    flat = runner.invoke(main, ["score", "flat.jsonl", "-o", "flat.parquet", *definition, *tiny])
    assert flat.exit_code == 0, flat.output
    _close(list(got), list(load_input("flat.parquet")))
    assert all(r["score_error"] is None for r in got)


# ------------------------------------------------------------------------- SPEC §9 on the embedded student
@pytest.mark.slow
def test_the_same_pair_scores_the_same_in_every_shape_on_the_embedded_student(smol_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(smol_model, smol_tokenizer, window=2)
    pairs = [(QUESTIONS[0], TRACES[3]), (QUESTIONS[2], TRACES[4]), (QUESTIONS[0], "2 + 2 = 4. Done.")]
    flat = scorer.score([r for _, r in pairs], [q for q, _ in pairs])
    conversations = Dataset.from_dict({"conversations": [_sharegpt(q, r) for q, r in pairs]})
    _close(list(conversations.map(scorer, batched=True)), flat)
    lists = Dataset.from_dict({"problem": [QUESTIONS[0], QUESTIONS[2]],
                               "generations": [[TRACES[3], "2 + 2 = 4. Done."], [TRACES[4]]]})
    long = to_long(lists, question_column="problem", response_columns=["generations"]).dataset
    scored = scorer.map(long)
    _close(list(scored), [flat[0], flat[2], flat[1]])


@pytest.mark.slow
def test_the_metric_takes_messages(tiny_model_path):
    import evaluate

    metric = evaluate.load(str(ROOT / "metric" / "local_naturalness"))
    messages = [_turns(["What is 2 + 2?", THINK]), _turns(["Hi?"], roles=("user",))]
    got = metric.compute(messages=messages, model_id=str(tiny_model_path), window=2)
    assert got["score_error"] == [None, "invalid_conversation"]
    want = LocalNaturalnessScorer(str(tiny_model_path), window=2).score([THINK], ["What is 2 + 2?"])[0]
    assert abs(got["lalp"][0] - want["lalp"]) <= 1e-4 and abs(got["galp"][0] - want["galp"]) <= 1e-4
    thinking = metric.compute(messages=messages[:1], model_id=str(tiny_model_path), window=2, response_part="thinking")
    assert thinking["lalp"][0] != got["lalp"][0]
    with pytest.raises(ValueError, match="not both"):
        metric.compute(messages=messages, predictions=["x", "y"], model_id=str(tiny_model_path))
