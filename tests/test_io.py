"""Reading every INPUT kind (files by suffix, save_to_disk folders, Hub ids on the local Hub) and writing outputs."""

from __future__ import annotations

import pytest
from datasets import Dataset, DatasetDict

from hf_localnat.errors import InputError, OutputExistsError
from hf_localnat.io import load_input, save_output

ROWS = {"question": ["q1", "q2"], "response": ["A. B.", "C."], "steps": [[0.5, None], [1.0]]}


@pytest.mark.parametrize("name", ["out.jsonl", "out.json", "out.parquet", "folder"])
def test_save_then_load_round_trips(tmp_path, name):
    ds = Dataset.from_dict(ROWS)
    path = save_output(ds, tmp_path / name)
    back = load_input(str(path))
    assert back.to_dict() == ds.to_dict()


def test_csv_round_trips_flat_columns(tmp_path):
    ds = Dataset.from_dict({"question": ["q1", "q2"], "lalp": [-1.5, None]})
    back = load_input(str(save_output(ds, tmp_path / "out.csv")))
    assert back["question"] == ["q1", "q2"] and back[0]["lalp"] == -1.5 and back[1]["lalp"] is None


def test_json_is_one_array(tmp_path):
    import json

    path = save_output(Dataset.from_dict(ROWS), tmp_path / "out.json")
    assert [row["question"] for row in json.loads(path.read_text())] == ["q1", "q2"]


def test_refuses_to_overwrite_unless_asked(tmp_path):
    ds = Dataset.from_dict(ROWS)
    for name in ("out.parquet", "folder"):
        save_output(ds, tmp_path / name)
        with pytest.raises(OutputExistsError, match="--overwrite"):
            save_output(ds, tmp_path / name)
    # a folder can be replaced by a dataset memory-mapped from it
    reloaded = load_input(str(tmp_path / "folder"))
    save_output(reloaded.select([1]), tmp_path / "folder", overwrite=True)
    assert load_input(str(tmp_path / "folder"))["question"] == ["q2"]


def test_dataset_dict_folder_needs_a_valid_split(tmp_path):
    DatasetDict(train=Dataset.from_dict(ROWS), test=Dataset.from_dict({"question": ["t"]})).save_to_disk(tmp_path / "dd")
    assert load_input(str(tmp_path / "dd")).num_rows == 2
    assert load_input(str(tmp_path / "dd"), split="test")["question"] == ["t"]
    with pytest.raises(InputError, match="no split 'dev'"):
        load_input(str(tmp_path / "dd"), split="dev")


def test_bad_inputs_say_why(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="Unknown file type '.txt'"):
        load_input(str(tmp_path / "notes.txt"))
    with pytest.raises(InputError, match="not one written by `save_to_disk`"):
        load_input(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_input(str(tmp_path / "missing.jsonl"))
    with pytest.raises(InputError, match="Unknown output type"):
        save_output(Dataset.from_dict(ROWS), tmp_path / "out.xlsx")


def test_hub_dataset_id_with_config_and_split(hub_server, hub_repo_name):
    from huggingface_hub import HfApi

    repo = HfApi().create_repo(hub_repo_name, repo_type="dataset").repo_id
    DatasetDict(train=Dataset.from_dict(ROWS), test=Dataset.from_dict({"question": ["t"], "response": ["u"],
                                                                       "steps": [[0.0]]})).push_to_hub(repo, "math")
    assert load_input(repo, config="math", split="test")["question"] == ["t"]
    assert load_input(repo, config="math").to_dict() == ROWS  # train by default
    with pytest.raises(InputError, match="Cannot load"):
        load_input(repo + "-missing", split="train")
