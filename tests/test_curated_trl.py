"""Curated agent traces keep their conversation and `tools` columns as they were (SPEC §14), and TRL's `SFTTrainer`
trains on them as written: OpenAI `messages` + `tools` (tool calls, arguments as a JSON string or an object, tools
whose parameters differ, so `datasets` types them as JSON) and ShareGPT `conversations` with observation turns."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from datasets import Dataset, load_dataset

from hf_localnat.cli import main
from hf_localnat.io import load_input, save_output

_TOOLS = [
    {"type": "function", "function": {"name": "bash", "description": "Run a shell command.", "parameters": {
        "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
    {"type": "function", "function": {"name": "edit", "description": "Replace text in a file.", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "old": {"type": "string"},
                                         "new": {"type": "string"}}, "required": ["path", "old", "new"]}}},
]


def _call(name: str, arguments, as_text: bool) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(arguments) if as_text
                                             else arguments}}


def _openai_trace(task: int, teacher: str, loops: int) -> dict:
    messages = [{"role": "system", "content": "You fix bugs with the tools."},
                {"role": "user", "content": f"Task {task}: `add` returns a - b. Fix it."}]
    for _ in range(loops):
        messages += [{"role": "assistant", "content": "Let me look.",
                      "tool_calls": [_call("bash", {"command": "cat ops.py"}, as_text=True)]},
                     {"role": "tool", "content": "def add(a, b):\n    return a - b\n"}]
    messages += [{"role": "assistant", "content": "I replace the minus.",
                  "tool_calls": [_call("edit", {"path": "ops.py", "old": "a - b", "new": "a + b"}, as_text=False)]},
                 {"role": "tool", "content": "Edited ops.py."},
                 {"role": "assistant", "content": "\nFixed: `add` now returns a + b."}]
    return {"instance_id": f"task-{task}", "model": teacher, "resolved": task % 2 == 0 or teacher == "careful",
            "messages": messages, "tools": _TOOLS, "lalp": -1.0 - 0.1 * loops - 0.01 * task,
            "galp": -1.1 - 0.05 * loops, "repeat_share": (loops - 1) / loops if loops else 0.0}


def _sharegpt_trace(task: int, teacher: str, steps: int) -> dict:
    turns = [{"from": "human", "value": f"Task {task}: make the tests pass. You are at a terminal."}]
    for k in range(steps):
        turns += [{"from": "gpt", "value": f"Step {k}.\n```bash\npytest -q\n```"},
                  {"from": "observation", "value": "1 failed" if k < steps - 1 else "3 passed"}]
    turns.append({"from": "gpt", "value": "The tests pass."})
    return {"task_id": f"task-{task}", "teacher": teacher, "conversations": turns,
            "lalp": -1.0 - 0.2 * steps + 0.01 * task, "galp": -1.0, "error_share": (steps - 1) / steps}


def _scored_file(tmp_path, rows: list[dict], name: str):
    """`rows` written as JSON Lines and read back by `datasets` (turns with different keys become its JSON type, as
    on the Hub), saved as the scored Parquet file `select` reads."""
    source = tmp_path / f"{name}.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return save_output(load_input(str(source)), tmp_path / f"{name}.parquet")


#: A ChatML template that also writes the tools and the tool calls (SmolLM2's writes neither), so that the test sees
#: what TRL hands the template from the curated row.
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n<tools>{{ tools | tojson }}</tools><|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function'] | tojson }}</tool_call>{% endfor %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _train(tmp_path, curated, tiny_model_path, steps: int = 2):
    """Two optimizer steps of TRL's `SFTTrainer` on the curated file, read the way TRL's docs read a dataset."""
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset("parquet", data_files=str(curated), split="train")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    tokenizer.chat_template = TOOL_TEMPLATE
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=steps, per_device_train_batch_size=1,
                     max_length=1024, report_to="none", save_strategy="no", use_cpu=True, logging_steps=1,
                     dataloader_num_workers=0)
    trainer = SFTTrainer(model=str(tiny_model_path), args=args, train_dataset=dataset, processing_class=tokenizer)
    output = trainer.train()
    assert trainer.state.global_step == steps and math.isfinite(output.training_loss)
    return trainer


@pytest.mark.slow  # two short TRL runs on the tiny model: 30-90 s on 2 shared cores
def test_curated_agent_traces_keep_their_columns_and_train_with_trl(tmp_path, tiny_model_path):
    # --- OpenAI messages + tools: kept exactly as they were, then trained on
    openai = [_openai_trace(task, teacher, loops) for task in range(3)
              for teacher, loops in (("careful", 0), ("looping", 3))]
    path = _scored_file(tmp_path, openai, "openai")
    curated = tmp_path / "curated.parquet"
    result = CliRunner().invoke(main, ["select", str(path), "-o", str(curated), "--question-column", "instance_id",
                                       "--teacher-column", "model", "--where", "repeat_share < 0.5",
                                       "--where", "resolved"])
    assert result.exit_code == 0, result.output
    kept = load_dataset("parquet", data_files=str(curated), split="train")
    assert kept.num_rows == 3 and set(kept["model"]) == {"careful"}
    source = {(r["instance_id"], r["model"]): r for r in openai}
    for row in kept:
        assert row["messages"] == source[row["instance_id"], row["model"]]["messages"]  # as they were: no key added
        assert row["tools"] == _TOOLS
    trainer = _train(tmp_path, curated, tiny_model_path)
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert "Edited ops.py." in text and "Fixed: `add` now returns a + b." in text
    assert '"name": "edit"' in text and '"required": ["path", "old", "new"]' in text  # TRL passed the tools column
    assert text.count("<tool_call>") == 1 and '"new": "a + b"' in text  # the loop-free trace's call, as it was

    # --- ShareGPT with observation turns: `messages` with the roles chat templates know, the conversation kept
    sharegpt = [_sharegpt_trace(task, teacher, steps) for task in range(2)
                for teacher, steps in (("steady", 2), ("flailing", 5))]
    path = _scored_file(tmp_path, sharegpt, "sharegpt")
    curated = tmp_path / "curated-sharegpt.parquet"
    result = CliRunner().invoke(main, ["select", str(path), "-o", str(curated), "--question-column", "task_id",
                                       "--where", "error_share <= 0.5"])
    assert result.exit_code == 0, result.output
    kept = load_dataset("parquet", data_files=str(curated), split="train")
    assert kept.num_rows == 2 and set(kept["teacher"]) == {"steady"}
    source = {(r["task_id"], r["teacher"]): r for r in sharegpt}
    roles = {"human": "user", "gpt": "assistant", "observation": "tool"}
    for row in kept:
        turns = source[row["task_id"], row["teacher"]]["conversations"]
        assert row["input_conversations"] == turns
        assert row["messages"] == [{"role": roles[t["from"]], "content": t["value"]} for t in turns]
    trainer = _train(tmp_path, curated, tiny_model_path)
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert "<|im_start|>tool\n3 passed" in text and "<|im_start|>observation" not in text


def test_sharegpt_traces_without_a_response_column_get_messages(tmp_path):
    from hf_localnat.selection.select import select_responses

    rows = [_sharegpt_trace(0, "steady", 1), _sharegpt_trace(0, "flailing", 3)]
    selection = select_responses(Dataset.from_list(rows), question_column="task_id")
    (row,) = selection.selected
    assert [t["role"] for t in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert row["input_conversations"] == rows[0]["conversations"]
    assert "messages" not in selection.rejected.column_names
