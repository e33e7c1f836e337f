"""`Dataset.map(scorer, batched=True)` on a real `datasets.Dataset`."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datasets import Dataset

from hf_localnat import ColumnError, LocalNaturalnessScorer, output_features

from .test_scorer import assert_close


def test_map_adds_spec_columns_equal_to_score(tiny_model, smol_tokenizer):
    rows = {"question": ["What is 2+2?", "Name a colour.", None],
            "response": ["2 + 2 = 4. The answer is 4.", "", "Blue. It is a colour."]}
    ds = Dataset.from_dict(rows)
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer)
    features = ds.features.copy()
    features.update(output_features())
    out = ds.map(scorer, batched=True, batch_size=2, features=features)
    assert out.column_names == ["question", "response", *output_features()]
    expected = scorer.score(rows["response"], rows["question"])
    got = [{key: row[key] for key in output_features()} for row in out]
    assert [set(row) for row in got] == [set(row) for row in expected]
    assert_close(got, expected, 1e-4)  # every column; batch composition differs: SPEC §6 float32 tolerance
    assert out[1]["score_error"] == "empty_response"


def test_map_names_the_missing_column(tiny_model, smol_tokenizer):
    ds = Dataset.from_dict({"text": ["Hello."]})
    with pytest.raises(ColumnError, match="response_column="):
        ds.map(LocalNaturalnessScorer(tiny_model, smol_tokenizer), batched=True)


# ------------------------------------------------------------------- the named door: no `features=`, any batch mix
# The first batches are all scored (every `score_error` is None, so `datasets` would type that column `null`), a
# later one holds an empty row, another a missing one. `datasets` must never have to guess a column's type.
MIXED = {
    "question": ["What is 2+2?", "Name a colour.", "Q?", "Q?", None, "Q?"],
    "response": ["2 + 2 = 4. The answer is 4.", "Blue. It is a colour.", "One. Two.", "", "Three. Four.", None],
}


def _expected(scorer, rows: dict) -> list[dict]:
    return [{**row, **record} for row, record in zip(
        [dict(zip(rows, values)) for values in zip(*rows.values())], scorer.score(rows["response"], rows["question"]),
        strict=True)]


def _assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key in w:
            if key in ("lalp", "galp") and w[key] is not None:  # batch composition differs: SPEC §6 tolerance
                assert g[key] == pytest.approx(w[key], abs=1e-4)
            elif key == "lalp_steps":
                assert g[key] == pytest.approx(w[key], abs=1e-4) if w[key] and None not in w[key] else g[key] == w[key]
            else:
                assert g[key] == w[key], key


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_plain_map_types_every_column_whatever_the_batches(tiny_model, smol_tokenizer, batch_size):
    ds = Dataset.from_dict(MIXED)
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer)
    out = ds.map(scorer, batched=True, batch_size=batch_size)
    expected_features = ds.features.copy()
    expected_features.update(output_features())
    assert out.features == expected_features
    _assert_rows_equal(out.to_list(), _expected(scorer, MIXED))
    assert out["score_error"][3:] == ["empty_response", None, "missing_response"]


@pytest.mark.slow
def test_plain_map_with_num_proc_and_remove_columns(tiny_model, smol_tokenizer):
    ds = Dataset.from_dict(MIXED)
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer)
    out = ds.map(scorer, batched=True, batch_size=1, num_proc=2, remove_columns=["question"])
    assert out.column_names == ["response", *output_features()]
    assert out.features["score_error"] == output_features()["score_error"]
    want = [{k: v for k, v in row.items() if k != "question"} for row in _expected(scorer, MIXED)]
    _assert_rows_equal(out.to_list(), want)


@pytest.mark.slow
def test_plain_map_on_an_iterable_dataset(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer)
    want = _expected(scorer, MIXED)
    streamed = Dataset.from_dict(MIXED).to_iterable_dataset(num_shards=2).map(scorer, batched=True, batch_size=2)
    _assert_rows_equal(list(streamed), want)
    # Arrow-formatted batches (a table in, a table out): the input columns are kept, every column typed.
    arrow = Dataset.from_dict(MIXED).to_iterable_dataset().with_format("arrow").map(scorer, batched=True, batch_size=2)
    table = pa.concat_tables([batch for batch in arrow.iter(batch_size=2)])
    assert table.schema.field("score_error").type == pa.string()
    _assert_rows_equal(table.to_pylist(), want)


def test_arrow_formatted_dataset_keeps_its_columns(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer)
    out = Dataset.from_dict(MIXED).with_format("arrow").map(scorer, batched=True, batch_size=2).with_format(None)
    assert out.column_names == ["question", "response", *output_features()]
    _assert_rows_equal(out.to_list(), _expected(scorer, MIXED))
