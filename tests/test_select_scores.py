"""`select --by SCORE` follows the score's direction (SPEC §11): the kept response is the best in its own direction,
the lowest for `rsr`; a column of unknown direction is refused in one line naming `--direction`."""

from __future__ import annotations

from collections import defaultdict

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat import ConfigError
from hf_localnat.cli import main
from hf_localnat.io import load_input
from hf_localnat.sample import SAMPLE_PATH
from hf_localnat.selection.select import mix_report, select_responses


def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def scored_all(tmp_path_factory, tiny_model_path) -> str:
    """The bundled sample (8 questions x 4 teachers) scored with every score by the CLI on the tiny model."""
    out = tmp_path_factory.mktemp("select-scores") / "scored.parquet"
    _ok(CliRunner().invoke(main, ["score", str(SAMPLE_PATH), "-o", str(out), "--model", str(tiny_model_path),
                                  "--scores", "all"]))
    return str(out)


def _best_per_question(rows: list[dict], by: str, lowest: bool) -> dict[str, float]:
    per: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row[by] is not None:
            per[row["question_id"]].append(row[by])
    return {q: (min if lowest else max)(values) for q, values in per.items()}


@pytest.mark.parametrize("by,lowest", [("rsr", True), ("galp_drop", False), ("lalp", False)])
def test_select_by_a_score_keeps_the_best_response_in_its_direction(scored_all, tmp_path, by, lowest):
    out = tmp_path / "curated.parquet"
    result = _ok(CliRunner().invoke(main, ["select", scored_all, "-o", str(out), "--by", by]))
    rows = load_input(scored_all).to_list()
    kept = load_input(str(out)).to_list()
    best = _best_per_question(rows, by, lowest)
    assert len(best) == 8 and {r["question_id"] for r in kept} == set(best)
    assert all(r[by] == best[r["question_id"]] for r in kept)
    if lowest:  # the lowest rsr is not the highest: the direction decided, not the sort's default
        assert any(r["rsr"] != max(x["rsr"] for x in rows if x["question_id"] == r["question_id"]) for r in kept)
    rejected = load_input(str(tmp_path / "curated.rejected.parquet")).to_list()
    outranked = "higher_rsr" if lowest else f"lower_{by}"
    assert {r["rejection_reason"] for r in rejected} == {outranked}
    assert f"{by.upper()} kept" in result.output and "LALP kept" in result.output


def test_a_threshold_on_a_lower_is_better_score_is_a_maximum(scored_all):
    data = load_input(scored_all)
    rsr = sorted(data["rsr"])
    median = rsr[len(rsr) // 2]
    selection = select_responses(data, by="rsr", threshold=median, top_k=4)
    assert max(selection.selected["rsr"]) <= median
    below = [r for r in selection.rejected.to_list() if r["rejection_reason"] == "below_threshold"]
    assert below and all(r["rsr"] > median for r in below)
    assert f"RSR <= {median:.4f}" in selection.summary()
    worst_tenth = select_responses(data, by="rsr", quantile=0.1, top_k=4)  # drops the highest tenth of rsr
    assert max(worst_tenth.selected["rsr"]) <= rsr[-1] and rsr[-1] not in worst_tenth.selected["rsr"]


def test_a_column_of_unknown_direction_is_refused_in_one_line_naming_the_option(scored_all, tmp_path):
    data = load_input(scored_all).map(lambda row: {"my_score": row["num_tokens"]})
    path = tmp_path / "mine.parquet"
    data.to_parquet(path)
    result = CliRunner().invoke(main, ["select", str(path), "-o", str(tmp_path / "c.parquet"), "--by", "my_score"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert "'my_score' has no known direction" in last and "--direction my_score=higher" in last
    _ok(CliRunner().invoke(main, ["select", str(path), "-o", str(tmp_path / "c.parquet"), "--by", "my_score",
                                  "--direction", "my_score=lower"]))
    kept = load_input(str(tmp_path / "c.parquet")).to_list()
    assert all(r["my_score"] == min(x["my_score"] for x in data.to_list() if x["question_id"] == r["question_id"])
               for r in kept)
    with pytest.raises(ConfigError, match="--direction"):
        select_responses(data, by="my_score")


def test_a_score_the_input_was_not_scored_with_names_the_fix(tmp_path):
    data = Dataset.from_dict({"question_id": ["q"], "teacher": ["a"], "lalp": [-1.0], "galp": [-1.0]})
    path = tmp_path / "old.parquet"
    data.to_parquet(path)
    result = CliRunner().invoke(main, ["select", str(path), "-o", str(tmp_path / "c.parquet"), "--by", "rsr"])
    assert result.exit_code != 0
    assert "no 'rsr' column: score it with `localnat score --scores rsr`" in result.output.strip().splitlines()[-1]


def test_the_mix_report_compares_any_scores():
    data = Dataset.from_dict({"question_id": ["q1", "q1", "q2", "q2"], "teacher": ["a", "b", "a", "b"],
                              "lalp": [-1.0, -2.0, -1.0, -2.0], "galp": [-1.0, -2.0, -2.0, -1.0],
                              "rsr": [9.0, 3.0, 9.0, 3.0]})
    report = mix_report(data, scores=["rsr", "lalp", "galp"])
    assert report.counts == {"rsr": {"a": 0, "b": 2}, "lalp": {"a": 2, "b": 0}, "galp": {"a": 1, "b": 1}}
    assert report.title.endswith("under RSR, LALP and under GALP")
    assert mix_report(data).title == "Mix report: each teacher's share of the selection under LALP and under GALP"


def test_publish_a_config_per_score_and_the_card_says_which_chose_in_which_direction(scored_all, tmp_path):
    from datasets import load_dataset

    folder = tmp_path / "repo"
    result = _ok(CliRunner().invoke(main, ["publish", scored_all, "--repo-id", "you/curated", "--dry-run",
                                           "--keep-folder", str(folder), "--by", "rsr", "--by", "lalp"]))
    assert "RSR kept" in result.output and "LALP kept" in result.output and "GALP kept" in result.output
    rows = load_input(scored_all).to_list()
    for by, lowest in (("rsr", True), ("lalp", False), ("galp", False)):
        kept = load_dataset(str(folder), by, split="train").to_list()
        best = _best_per_question(rows, by, lowest)
        assert len(kept) == 8 and all(r[by] == best[r["question_id"]] for r in kept), by
    assert load_dataset(str(folder), split="train")["selected_by"] == ["rsr"] * 8  # the first --by is the default
    rejected = load_dataset(str(folder), "rejected", split="train")
    assert set(rejected["rejection_reason"]) == {"higher_rsr"}
    card = (folder / "README.md").read_text()
    assert "`rsr` (lower is better, default config), `lalp` (higher is better), `galp` (higher is better)" in card
    assert "the `rsr` config keeps, per question, the response with the lowest `rsr`" in card
    assert "share in `rsr`" in card and "--by rsr --by lalp" in card
    import yaml

    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["localnat"]["selected_by"] == {"rsr": "lower", "lalp": "higher", "galp": "higher"}
    assert [c["config_name"] for c in metadata["configs"] if c.get("default")] == ["rsr"]


def test_publish_refuses_a_column_of_unknown_direction_before_any_work(scored_all, tmp_path):
    result = CliRunner().invoke(main, ["publish", scored_all, "--repo-id", "you/curated", "--dry-run",
                                       "--by", "num_tokens"])
    assert result.exit_code != 0 and "--direction num_tokens=higher" in result.output.strip().splitlines()[-1]


def test_inspect_shows_the_mix_under_every_score_the_file_holds(scored_all, tmp_path):
    out = tmp_path / "report.html"
    _ok(CliRunner().invoke(main, ["inspect", scored_all, "-o", str(out)]))
    html = out.read_text()
    assert "<th>RSR kept (lower is better)</th>" in html and "<th>LALP kept</th>" in html
    assert "<th>GALP_DROP kept (higher is better)</th>" in html and "(by RSR)" in html
