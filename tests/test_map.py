"""`Dataset.map(scorer, batched=True)` on a real `datasets.Dataset`."""

from __future__ import annotations

import pytest
from datasets import Dataset

from hf_localnat import ColumnError, LocalNaturalnessScorer, output_features


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
    for got, want in zip(out, expected, strict=True):
        assert got["score_error"] == want["score_error"]
        if want["lalp"] is None:
            assert got["lalp"] is None
        else:  # batch composition differs from the direct call: SPEC §6 float32 tolerance
            assert got["lalp"] == pytest.approx(want["lalp"], abs=1e-4)
    assert out[1]["score_error"] == "empty_response"


def test_map_names_the_missing_column(tiny_model, smol_tokenizer):
    ds = Dataset.from_dict({"text": ["Hello."]})
    with pytest.raises(ColumnError, match="response_column="):
        ds.map(LocalNaturalnessScorer(tiny_model, smol_tokenizer), batched=True)
