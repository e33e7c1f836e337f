"""`Dataset.map(scorer, batched=True)` on a real `datasets.Dataset`."""

from __future__ import annotations

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
