"""The dataset card: metadata round-trips, holds every field the issue names, and merges into a user's card."""

from __future__ import annotations

import pytest
import yaml
from huggingface_hub import DatasetCard

from hf_localnat.hub.card import (
    GRAPE_BIBTEX,
    MARK_END,
    MARK_START,
    PAPER_BIBTEX,
    LocalNatCardParams,
    card_summary,
    merge_card,
    render_card,
)
from hf_localnat.errors import ConfigError


def make_params(**overrides) -> LocalNatCardParams:
    values = dict(
        pretty_name="Curated math traces", repo_id="test-user/curated", student_model="Qwen/Qwen2.5-0.5B-Instruct",
        student_revision="a" * 40, student_provenance={"original_model": "Qwen/Qwen2.5-0.5B-Instruct"},
        window=4, segmenter="sentence", prompt_format="chat", package_version="9.9.9",
        scoring_options={"max_length": 2048, "dtype": "float32"}, source_dataset="traces.jsonl",
        selection_options={"correct_only": True}, counts={"scored": 1500, "lalp": 500, "galp": 500, "rejected": 1000},
        ranking=[{"rank": 1, "teacher": "teacher-b", "mean_lalp": -0.412, "lalp_95ci": (-0.45, -0.38)},
                 {"rank": 2, "teacher": "teacher-a", "mean_lalp": -0.733, "lalp_95ci": (-0.80, -0.66)}],
        mix={"lalp": {"teacher-b": 0.7, "teacher-a": 0.3}, "galp": {"teacher-b": 0.2, "teacher-a": 0.8}},
        plot_path="images/localnat-distribution.png", reproduce_command="localnat publish scored.parquet --repo-id x/y",
        license="apache-2.0",
    )
    values.update(overrides)
    return LocalNatCardParams(**values)


def test_metadata_round_trips_and_holds_the_fields():
    card = render_card(make_params())
    text = str(card)
    assert DatasetCard(text).data.to_dict() == card.data.to_dict()
    meta = yaml.safe_load(text.split("---\n")[1])  # plain YAML, as the Hub reads it
    assert meta["license"] == "apache-2.0" and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["1K<n<10K"] and {"localnat", "lalp", "distillation"} <= set(meta["tags"])
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert list(configs) == ["lalp", "galp", "scored", "rejected"]
    assert configs["lalp"]["default"] is True and sum(bool(c.get("default")) for c in configs.values()) == 1
    assert configs["galp"]["data_files"] == [{"split": "train", "path": "data/galp/*.parquet"}]
    assert meta["localnat"]["student_revision"] == "a" * 40 and meta["localnat"]["window"] == 4
    assert meta["localnat"]["package_version"] == "9.9.9" and meta["localnat"]["counts"]["lalp"] == 500


def test_body_says_how_it_was_selected():
    text = str(render_card(make_params()))
    for needle in ("higher is better", "Qwen/Qwen2.5-0.5B-Instruct", "a" * 40, "`sentence`", "`chat`", "`9.9.9`",
                   "| 1 | teacher-b | -0.412 | [-0.450, -0.380] |", "| teacher-b | 70.0% | 20.0% |",
                   "![LALP and GALP distributions per teacher](images/localnat-distribution.png)",
                   'load_dataset("test-user/curated", "lalp", split="train")',
                   "localnat publish scored.parquet --repo-id x/y", PAPER_BIBTEX, GRAPE_BIBTEX, "2048"):
        assert needle in text, needle
    assert text.count(MARK_START) == 1 and text.count(MARK_END) == 1


def test_empty_configs_are_left_out_and_an_empty_selection_is_refused():
    card = render_card(make_params(counts={"scored": 8, "lalp": 8, "galp": 8, "rejected": 0}))
    assert [c["config_name"] for c in card.data.to_dict()["configs"]] == ["lalp", "galp", "scored"]
    with pytest.raises(ConfigError, match="`lalp` selection is empty"):
        make_params(counts={"scored": 8, "lalp": 0})
    with pytest.raises(ConfigError, match="Unknown config"):
        make_params(counts={"lalp": 1, "best": 1})


USER_CARD = """---
license: mit
tags:
- my-tag
configs:
- config_name: raw
  data_files: data/raw/*.parquet
  default: true
annotations_creators:
- machine-generated
---

# My dataset

Notes I wrote by hand.
"""


def test_merge_keeps_the_users_text_and_metadata_and_replaces_only_our_section():
    first = merge_card(USER_CARD, render_card(make_params()))
    meta = first.data.to_dict()
    assert meta["license"] == "mit"  # the user's value wins for keys they set
    assert meta["annotations_creators"] == ["machine-generated"]
    assert meta["tags"][0] == "my-tag" and "localnat" in meta["tags"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"raw", "lalp", "galp", "scored", "rejected"}
    assert configs["lalp"].get("default") is True and "default" not in configs["raw"]
    assert "Notes I wrote by hand." in first.text and first.text.index("Notes") < first.text.index(MARK_START)

    # republishing replaces the managed section in place; the user's edits around it stay
    edited = str(first).replace("Notes I wrote by hand.", "Notes I wrote by hand, edited.") + "\nA footer.\n"
    second = merge_card(edited, render_card(make_params(package_version="10.0.0")))
    assert second.text.count(MARK_START) == 1 and "`10.0.0`" in second.text and "`9.9.9`" not in second.text
    assert "edited." in second.text and second.text.rstrip().endswith("A footer.")
    assert DatasetCard(str(second)).data.to_dict() == second.data.to_dict()


def test_summary_is_title_and_ranking():
    summary = card_summary(str(render_card(make_params())))
    assert summary.startswith("# Curated math traces\n\n## Teacher ranking")
    assert "teacher-b" in summary and "Citation" not in summary
