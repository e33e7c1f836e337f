"""The dataset card: metadata round-trips, holds every field the issue names, and merges into a user's card without
ever losing the user's text (it refuses, changing nothing, when the managed section cannot be located)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_localnat.hub.card import (
    MARK_END,
    MARK_START,
    LocalNatCardParams,
    card_summary,
    citation,
    escape,
    locate_section,
    merge_card,
    render_card,
)
from hf_localnat.errors import ConfigError, PublishError

ROOT = Path(__file__).resolve().parents[1]


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
                   "localnat publish scored.parquet --repo-id x/y", citation(), "2048",
                   "intervals are 95% confidence intervals"):
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


# --- locating the managed section: unambiguously or not at all --------------------------------------------------------
def published(user_before: str = "# My dataset\n\nNotes I wrote by hand.\n", user_after: str = "", **params) -> str:
    """A card as a first publish leaves it, with the user's text around the managed section."""
    card = str(merge_card(f"---\nlicense: mit\n---\n{user_before}", render_card(make_params(**params))))
    return card + user_after


def body_outside_section(card: str) -> tuple[str, str]:
    text = DatasetCard(card).text
    start, end = locate_section(text)
    return text[:start], text[end:]


def test_republish_after_the_user_deleted_the_end_marker_refuses_and_keeps_their_notes():
    # the bug of issue 13: the user adds notes and deletes the end line; a republish used to delete the notes
    card = published().replace(MARK_END + "\n", "") + "\n## Our notes\n\nDo not lose me.\n"
    with pytest.raises(PublishError, match=r"nothing was changed: the <!-- localnat:end --> line is missing; put it back"):
        merge_card(card, render_card(make_params(package_version="10.0.0")))
    message = _refusal(card)
    assert "\n" not in message and "rerun the same command" in message


def _refusal(card: str) -> str:
    with pytest.raises(PublishError) as info:
        merge_card(card, render_card(make_params()))
    return str(info.value)


@pytest.mark.parametrize("damage, says", [
    (lambda c: c.replace(MARK_START + "\n", ""), "localnat:start --> line is missing"),
    (lambda c: c + "\n" + MARK_START + "\nmy paragraph\n", "2 start and 1 end marker lines"),
    (lambda c: c + "\n" + MARK_END + "\n", "1 start and 2 end marker lines"),
    (lambda c: c.replace(MARK_START, "@@").replace(MARK_END, MARK_START).replace("@@", MARK_END),
     "comes before the"),
    (lambda c: c + f"\nWe keep our notes above the {MARK_END} line.\n", "appears inside a line"),
    (lambda c: c + f"\n    {MARK_START} \n", "2 start and 1 end marker lines"),
])
def test_a_section_that_cannot_be_located_is_refused_with_the_repair(damage, says):
    message = _refusal(damage(published()))
    assert says in message and "nothing was changed" in message and "\n" not in message


def test_the_old_end_less_double_start_card_is_refused_not_emptied():
    # a first merge of an end-less card used to append a second start marker; the next merge then deleted the
    # paragraph between the two starts
    card = published().replace(MARK_END + "\n", "") + "\nMy paragraph.\n"
    legacy = card + "\n" + render_card(make_params()).text.split("\n\n", 1)[1]
    assert legacy.count(MARK_START) == 2
    assert "2 start and 1 end" in _refusal(legacy)


def test_a_card_with_no_marker_gets_the_section_appended():
    card = merge_card("# Mine\n\nText.\n", render_card(make_params()))
    before, after = body_outside_section(str(card))
    assert before.strip() == "# Mine\n\nText." and after == "\n"


@pytest.mark.parametrize("name", ["x <!-- localnat:end -->", "<!-- localnat:start -->", "a\n<!-- localnat:end -->\nb"])
def test_a_teacher_named_like_a_marker_cannot_cut_the_section(name):
    ranking = [{"rank": 1, "teacher": name, "mean_lalp": -0.4}, {"rank": 2, "teacher": "b", "mean_lalp": -0.5}]
    first = published(user_after="\nFooter.\n", ranking=ranking, mix={"lalp": {name: 1.0}}, pretty_name=name)
    assert DatasetCard(first).text.count(MARK_START) == 1 and DatasetCard(first).text.count(MARK_END) == 1
    second = str(merge_card(first, render_card(make_params(package_version="10.0.0", ranking=ranking))))
    text = DatasetCard(second).text
    assert "`9.9.9`" not in text and "`10.0.0`" in text  # no stale numbers survive after a cut marker
    assert text.rstrip().endswith("Footer.") and text.count(MARK_END) == 1


def test_raw_html_and_markdown_in_user_strings_do_not_reach_the_card():
    evil = "<img src=x onerror=alert(1)> **bold** [link](http://e.vil) | pipe `tick`"
    card = str(render_card(make_params(
        pretty_name=evil, student_model=evil, source_dataset=evil, selection_options={"correct_column": evil},
        ranking=[{"rank": 1, "teacher": evil, "mean_lalp": -0.4}], mix={"lalp": {evil: 1.0}},
        reproduce_command="localnat publish x ``` echo")))
    body = DatasetCard(card).text
    assert "<img" not in body and "**bold**" not in body and "[link](" not in body
    assert body.count(escape(evil)) >= 4 and escape(evil).startswith("&lt;img")
    ranking_rows = [line for line in body.splitlines() if line.startswith("| 1 |")]
    assert ranking_rows and all(line.count(" | ") == 2 for line in ranking_rows)  # the pipe did not add a cell
    assert "````bash\nlocalnat publish x ``` echo\n````" in body  # a longer fence keeps the command whole


def test_a_marker_in_a_code_block_value_is_refused():
    with pytest.raises(ConfigError, match="marker"):
        render_card(make_params(reproduce_command=f"echo {MARK_END}"))


# --- metadata ----------------------------------------------------------------------------------------------------------
def test_a_user_config_named_like_ours_is_refused_unless_it_reads_our_files():
    user = "---\nconfigs:\n- config_name: lalp\n  data_files: my/own/*.csv\n---\n# Mine\n"
    with pytest.raises(PublishError, match=r"own config 'lalp' \(reading my/own/\*.csv\).*Rename your config"):
        merge_card(user, render_card(make_params()))
    # our own earlier config (pinned to one file in our folder) is ours to replace
    ours = "---\nconfigs:\n- config_name: lalp\n  data_files:\n  - split: train\n    path: data/lalp/train-1.parquet\n---\n"
    merged = merge_card(ours, render_card(make_params())).data.to_dict()["configs"]
    assert [c["config_name"] for c in merged] == ["lalp", "galp", "scored", "rejected"]
    assert merged[0]["data_files"] == [{"split": "train", "path": "data/lalp/*.parquet"}]


def test_tags_given_as_a_string_are_kept():
    merged = merge_card("---\ntags: mine\ntask_categories: summarization\n---\nx\n", render_card(make_params()))
    assert merged.data.tags[0] == "mine" and "localnat" in merged.data.tags
    assert merged.data.task_categories == ["summarization", "text-generation"]


def test_a_card_with_no_front_matter_keeps_its_text_and_gains_ours():
    merged = merge_card("# Plain README\n\nNo metadata here.\n", render_card(make_params()))
    assert merged.data.license == "apache-2.0" and merged.data.configs[0]["config_name"] == "lalp"
    assert DatasetCard(str(merged)).text.lstrip("\n").startswith("# Plain README\n\nNo metadata here.\n\n")


@pytest.mark.parametrize("front", ["license: mit\ntags: [a\n", "- a list\n- not a mapping\n"])
def test_invalid_yaml_front_matter_is_refused_with_the_fix(front):
    with pytest.raises(PublishError, match=r"front matter .* is not a valid YAML mapping .* nothing was changed; fix"):
        merge_card(f"---\n{front}---\n# Mine\n", render_card(make_params()))


# --- the user's text survives any sequence of publishes ------------------------------------------------------------
# User text: any Unicode except the marker text itself (a card holding it is refused, tested above) and `\r` (the
# card library reads `\r\n` only in the front matter). A `---` line first would be read as front matter.
user_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=80).filter(
    lambda t: "localnat:" not in t and not t.lstrip().startswith("---"))
names = st.text(max_size=20)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=user_text, after=user_text, edits=st.lists(st.tuples(names, user_text), min_size=1, max_size=3))
def test_user_text_outside_the_section_survives_any_sequence_of_publishes(before, after, edits):
    card = merge_card(f"---\nlicense: mit\n---\n# Title\n{before}", render_card(make_params()))
    text = DatasetCard(str(card)).text
    start, end = locate_section(text)
    kept_before, after = text[:start], text[end:] + after
    assert before.rstrip("\n") in kept_before
    card = str(card) + after[len(text) - end:]
    for teacher, added in edits:
        ranking = [{"rank": 1, "teacher": teacher, "mean_lalp": -0.4}]
        card = str(merge_card(card, render_card(make_params(ranking=ranking, pretty_name=teacher or "x",
                                                            mix={"lalp": {teacher: 1.0}}))))
        text = DatasetCard(card).text
        start, end = locate_section(text)
        assert text[:start] == kept_before and text[end:] == after
        card += added  # the user edits the card between publishes
        after += added


# --- the template, the stated confidence and the one citation ---------------------------------------------------------
def test_the_stated_confidence_comes_from_the_parameter_and_empty_blocks_are_left_out():
    text = render_card(make_params(confidence=0.9)).text
    assert "intervals are 90% confidence intervals" in text and "95%" not in text
    bare = render_card(make_params(ranking=[], mix={}, plot_path=None, reproduce_command=None)).text
    for heading in ("## Teacher ranking", "## Teacher share", "## Score distributions", "## Reproduce"):
        assert heading not in bare
    assert "$" not in bare and "## Citation" in bare


def test_one_bibtex_source_for_card_readme_and_metric():
    entries = citation()
    assert entries.count("@article{") == 2 and "2510.03988" in entries and "2502.04194" in entries
    for readme in (ROOT / "README.md", ROOT / "metric" / "local_naturalness" / "README.md"):
        blocks = re.findall(r"```bibtex\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
        assert [b.strip() for b in blocks] == [entries], readme
    module = ast.parse((ROOT / "metric" / "local_naturalness" / "local_naturalness.py").read_text(encoding="utf-8"))
    assigned = {t.id: node.value for node in module.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["_CITATION"]).strip() == entries


def test_templates_are_package_data():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hf_localnat"]
    package = ROOT / "hf_localnat"
    shipped = {p for pattern in data for p in package.glob(pattern)}
    assert {package / "hub" / "templates" / "card.md", package / "hub" / "templates" / "citation.bib"} <= shipped
