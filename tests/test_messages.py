"""Curated rows train as they are (SPEC §9): `messages` on the kept rows of `select` and of every published selection,
and one real TRL `SFTTrainer` step on a file `localnat select` wrote."""

from __future__ import annotations

import pyarrow as pa
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ColumnError
from hf_localnat.io import load_input, save_output
from hf_localnat.selection.messages import add_messages, conversation_array
from hf_localnat.selection.select import select_responses

from .test_pool import RECORDED


def _turns(question, response):
    return [{"role": "user", "content": question}, {"role": "assistant", "content": response}]


def _rows(**extra) -> Dataset:
    return Dataset.from_dict({"question": ["a", "a", None, "b"], "response": ["r1", "r2", "r3", "r4"],
                              "teacher": ["x", "y", "x", "y"], "lalp": [-1.0, -2.0, -1.0, None],
                              "galp": [-1.0, -0.5, -1.0, None], **extra})


def test_conversation_array_is_two_turns_per_row_and_a_null_question_is_empty():
    built = conversation_array(pa.chunked_array([["1+1?"], [None]]), pa.array(["2.", "Hi."]))
    assert built.to_pylist() == [_turns("1+1?", "2."), _turns("", "Hi.")]
    assert built.type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def test_kept_rows_carry_messages_and_rejected_rows_do_not():
    lalp = select_responses(_rows())
    assert lalp.selected["messages"][:] == [_turns("a", "r1"), _turns("", "r3")]
    assert "messages" not in lalp.rejected.column_names
    galp = select_responses(_rows(), by="galp")
    assert galp.selected["messages"][:] == [_turns("a", "r2"), _turns("", "r3")]
    assert "messages" not in select_responses(_rows(), with_messages=False).selected.column_names
    bare = _rows().remove_columns("response")  # nothing to train on: no messages, no error
    assert "messages" not in select_responses(bare).selected.column_names


def test_a_conversation_the_row_came_from_is_kept_as_it_is():
    own = [{"content": "be brief", "role": "system"}, {"content": "A?", "role": "user"},
           {"content": "r1", "role": "assistant"}]  # keys in another order, a system turn
    selection = select_responses(_rows(messages=[own, None, None, None]))
    assert selection.selected["messages"][:] == [own, _turns("", "r3")]
    assert selection.rejected["messages"][:] == [None, None]  # an input column: kept, not filled
    all_null = select_responses(_rows(messages=[None] * 4))  # a column of nulls only (type null)
    assert all_null.selected["messages"][:] == [_turns("a", "r1"), _turns("", "r3")]
    with pytest.raises(ColumnError, match="rename the input's 'messages' column"):
        add_messages(_rows(messages=["text", None, None, None]), [True, True, True, True])


def test_publish_writes_messages_into_every_selection_and_the_trl_lines_into_the_card(tmp_path):
    from .test_pool import _hand

    a, b = _hand(tmp_path, "a.parquet", "x"), _hand(tmp_path, "b.parquet", "y", lalp=[-3.0, -0.5])
    folder = tmp_path / "repo"
    result = CliRunner().invoke(main, ["publish", a, b, "--repo-id", "you/curated", "--dry-run", "--keep-folder",
                                       str(folder)])
    assert result.exit_code == 0, result.output
    for config in ("lalp", "galp"):
        kept = load_input(str(next((folder / "data" / config).glob("*.parquet"))))
        assert kept["messages"][:] == [_turns(q, r) for q, r in zip(kept["question"], kept["response"], strict=True)]
    for config in ("scored", "rejected"):
        assert "messages" not in load_input(str(next((folder / "data" / config).glob("*.parquet")))).column_names
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert ('dataset = load_dataset("you/curated", "lalp", split="train")\n'
            'args = SFTConfig(output_dir="out", bf16=torch.cuda.is_available())   # bf16 on a GPU, float32 on a CPU\n'
            'trainer = SFTTrainer(model="org/student", train_dataset=dataset, args=args)\n'
            "trainer.train()") in card
    assert "from trl import SFTConfig, SFTTrainer" in card


@pytest.mark.slow  # imports TRL and trains one step: ~10 s
def test_one_trl_sft_step_on_a_file_localnat_select_wrote(tmp_path, tiny_scored_sample, tiny_model_path):
    trl = pytest.importorskip("trl")
    from datasets import load_dataset

    scored = save_output(tiny_scored_sample, tmp_path / "scored.parquet")
    curated = tmp_path / "curated.parquet"
    result = CliRunner().invoke(main, ["select", str(scored), "-o", str(curated), "--correct-column", "correct"])
    assert result.exit_code == 0, result.output
    dataset = load_dataset("parquet", data_files=str(curated), split="train")
    assert dataset["messages"][0][1]["role"] == "assistant"
    args = trl.SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=1, report_to=[],
                         use_cpu=True, max_length=256, save_strategy="no", logging_steps=1)
    trainer = trl.SFTTrainer(model=str(tiny_model_path), train_dataset=dataset, args=args)
    output = trainer.train()
    assert output.global_step == 1 and output.training_loss > 0


def test_a_sharegpt_conversation_becomes_trl_messages_and_is_kept_as_input_conversations():
    sharegpt = [[{"from": "system", "value": "Think."}, {"from": "human", "value": "a"}, {"from": "gpt", "value": "r1"}],
                [{"from": "human", "value": "a"}, {"from": "gpt", "value": "r2"}], None,
                [{"from": "human", "value": "b"}, {"from": "gpt", "value": "r4"}]]
    kept = select_responses(_rows(conversations=sharegpt), by="lalp").selected
    assert "conversations" not in kept.column_names and kept["input_conversations"][0] == sharegpt[0]
    by_response = dict(zip(kept["response"], kept["messages"], strict=True))
    assert by_response["r1"] == [{"role": "system", "content": "Think."}, *_turns("a", "r1")]  # every turn, renamed
    assert by_response["r3"] == _turns("", "r3")  # no conversation on that row: built from question and response
