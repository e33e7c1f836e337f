"""`select --where`: validity filters checked before choosing, against a plain per-row reference, with their reasons in
the rejected rows, their counts in the summary, and one-line errors for a bad filter or column."""

from __future__ import annotations

import json
import math
import operator

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ColumnError, ConfigError
from hf_localnat.io import load_input, save_output
from hf_localnat.selection.select import select_responses
from hf_localnat.selection.slices import score_slices
from hf_localnat.selection.where import Condition, parse_condition, parse_conditions

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _traces(seed: int = 0, num_questions: int = 40, teachers: int = 3) -> dict:
    """Scored agent-trace rows with every awkward value: null and NaN trace columns, a null `resolved`, int steps."""
    rng = np.random.default_rng(seed)
    rows = {"question": [], "response": [], "teacher": [], "lalp": [], "galp": [], "repeat_share": [], "error_share": [],
            "num_steps": [], "resolved": []}
    for q in range(num_questions):
        for t in range(teachers):
            rows["question"].append(f"task {q}")
            rows["response"].append(f"trace {q}-{t}")
            rows["teacher"].append(f"t{t}")
            rows["lalp"].append(None if rng.random() < 0.05 else float(np.round(rng.normal(-1, 0.3), 2)))
            rows["galp"].append(None if rows["lalp"][-1] is None else float(np.round(rng.normal(-1, 0.3), 2)))
            kind = rng.random()
            rows["repeat_share"].append(None if kind < 0.05 else math.nan if kind < 0.1
                                        else float(rng.choice([0.0, 0.25, 0.5, 0.75])))
            rows["error_share"].append(None if rng.random() < 0.05 else float(np.round(rng.random(), 1)))
            rows["num_steps"].append(int(rng.integers(1, 12)))
            rows["resolved"].append([True, True, False, None][int(rng.integers(4))])
    return rows


def _passes(value, condition: Condition) -> bool:
    """Plain reference of one filter on one value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if condition.op is None:
        return value is (not condition.negate)
    return _OPS[condition.op](value, condition.value)


FILTERS = ["repeat_share < 0.5", "error_share <= 0.2", "resolved"]


def test_parse_forms_and_canonical_text():
    assert parse_condition("repeat_share<0.5") == Condition("repeat_share", "<", 0.5)
    assert parse_condition("  num_steps >= 3 ").reason == "where:num_steps >= 3"
    assert parse_condition("error_share!=-1e-3").text == "error_share != -0.001"
    assert parse_condition("resolved") == Condition("resolved")
    assert parse_condition("not  truncated") == Condition("truncated", negate=True)
    assert parse_condition("not_done").column == "not_done"  # a name that starts with "not" is a name
    assert parse_conditions("resolved") == [Condition("resolved")]
    assert parse_conditions(["resolved", "resolved "]) == [Condition("resolved")]  # the same filter counts once


@pytest.mark.parametrize("expression", ["repeat_share << 0.5", "repeat_share < abc", "__import__('os')", "a and b",
                                        "0.5 > repeat_share", "", "not", "resolved == true", "x < inf", "x < 1e999"])
def test_a_bad_filter_is_one_line_naming_the_option_and_the_forms(expression):
    with pytest.raises(ConfigError) as raised:
        parse_condition(expression)
    message = str(raised.value)
    assert "--where" in message and "COLUMN OP NUMBER" in message and "\n" not in message


def test_select_where_matches_a_plain_reference():
    rows = _traces()
    dataset = Dataset.from_dict(rows)
    selection = select_responses(dataset, by="lalp", where=FILTERS)
    conditions = parse_conditions(FILTERS)
    # plain reference: no_score first, then the first failed filter, then the best lalp per question among the rest
    expected_reason, best = [], {}
    for i in range(dataset.num_rows):
        if rows["lalp"][i] is None:
            expected_reason.append("no_score")
            continue
        failed = next((c.reason for c in conditions if not _passes(rows[c.column][i], c)), None)
        expected_reason.append(failed)
        if failed is None and (rows["question"][i] not in best or rows["lalp"][i] > rows["lalp"][best[rows["question"][i]]]):
            best[rows["question"][i]] = i
    kept = sorted(best.values())
    assert sorted(zip(selection.selected["question"], selection.selected["teacher"], strict=True)) == sorted(
        (rows["question"][i], rows["teacher"][i]) for i in kept)
    rejected = [i for i in range(dataset.num_rows) if i not in set(kept)]
    want = [expected_reason[i] or "lower_lalp" for i in rejected]
    assert list(selection.rejected["rejection_reason"]) == want
    assert selection.where == tuple(FILTERS)
    counts = selection.reason_counts
    assert all(counts[f"where:{f}"] == want.count(f"where:{f}") > 0 for f in FILTERS)
    summary = selection.summary()
    assert f"{counts['where:repeat_share < 0.5']} where:repeat_share < 0.5" in summary
    assert ("Filters (before choosing): " + "; ".join(f"{f} rejected {counts[f'where:{f}']}" for f in FILTERS)
            in summary)
    # every other check behaves as without filters on the rows that pass them
    passing = [i for i, r in enumerate(expected_reason) if r is None]
    plain = select_responses(dataset.select(passing), by="lalp")
    assert sorted(plain.selected["response"]) == sorted(selection.selected["response"])


def test_null_and_nan_fail_every_filter_even_not_equal():
    dataset = Dataset.from_dict({"question": ["a"] * 4, "teacher": list("wxyz"), "lalp": [-1.0, -2.0, -3.0, -4.0],
                                 "repeat_share": [None, math.nan, 0.0, 1.0], "resolved": [None, True, True, False]})
    out = select_responses(dataset, where=["repeat_share != 0.5"], top_k=4)
    assert sorted(out.selected["teacher"]) == ["y", "z"]
    assert list(out.rejected["rejection_reason"]) == ["where:repeat_share != 0.5"] * 2
    out = select_responses(dataset, where=["not resolved"], top_k=4)
    assert list(out.selected["teacher"]) == ["z"]
    out = select_responses(dataset, where=["resolved"], top_k=4)
    assert list(out.selected["teacher"]) == ["x", "y"]


def test_filters_come_before_correctness_and_the_quantile():
    dataset = Dataset.from_dict({"question": ["a"] * 4, "teacher": list("wxyz"), "lalp": [-1.0, -2.0, -3.0, -4.0],
                                 "ok": [False, True, True, True], "num_steps": [1, 2, 30, 4]})
    out = select_responses(dataset, where=["num_steps < 10"], correct_column="ok", quantile=0.5, top_k=4)
    assert list(out.rejected["rejection_reason"]) == ["incorrect", "where:num_steps < 10", "below_threshold"]
    assert out.threshold == pytest.approx(-3.0)  # the quantile of the 2 candidates left (-2, -4)


def test_a_column_error_names_the_filter_and_the_fix():
    dataset = Dataset.from_dict(_traces(num_questions=2) | {"model": ["m"] * 6})
    with pytest.raises(ColumnError, match=r"--where 'repeat_shar < 0.5' reads column 'repeat_shar'.*did you mean "
                                          r"'repeat_share'\?"):
        select_responses(dataset, where=["repeat_shar < 0.5"])
    with pytest.raises(ColumnError, match=r"trace column: score the traces with `localnat score --segmenter turns`"):
        select_responses(dataset.remove_columns("repeat_share"), where=["observation_share < 0.9"])
    with pytest.raises(ColumnError, match=r"'resolved' holds true/false; write --where resolved or --where \"not "):
        select_responses(dataset, where=["resolved == 1"])
    with pytest.raises(ColumnError, match=r"'num_steps' holds int64, not true/false; compare it, e.g. --where "
                                          r"\"num_steps == 1\""):
        select_responses(dataset, where=["num_steps"])
    with pytest.raises(ColumnError, match=r"'model' holds string, not numbers"):
        select_responses(dataset, where=["model > 1"])


def test_slices_take_only_rows_that_pass():
    dataset = Dataset.from_dict(_traces(seed=1))
    slices = score_slices(dataset, by="lalp", fraction=0.25, where=FILTERS)
    passing = select_responses(dataset, where=FILTERS, top_k=10**6).selected.num_rows  # every row that passes
    top = slices["top"]
    assert top.num_candidates == passing and top.where == tuple(FILTERS)
    assert all(r["resolved"] and r["repeat_share"] < 0.5 and r["error_share"] <= 0.2 for r in top.rows)
    assert "passing repeat_share < 0.5 and error_share <= 0.2 and resolved" in top.rule


# ------------------------------------------------------------------------------------------------------------- CLI
def test_cli_where_writes_reasons_and_counts(tmp_path):
    source = save_output(Dataset.from_dict(_traces()), tmp_path / "traces.parquet")
    out = tmp_path / "curated.parquet"
    args = ["select", str(source), "-o", str(out)] + sum((["--where", f] for f in FILTERS), [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rejected = load_input(str(tmp_path / "curated.rejected.parquet"))
    reasons = rejected["rejection_reason"]
    counts = {f: reasons.count(f"where:{f}") for f in FILTERS}
    assert all(counts.values())
    assert "Filters (before choosing): " + "; ".join(f"{f} rejected {n}" for f, n in counts.items()) in result.output
    kept = load_input(str(out))
    assert all(r["resolved"] and r["repeat_share"] < 0.5 and r["error_share"] <= 0.2 for r in kept)
    as_json = CliRunner().invoke(main, args + ["--json", "--overwrite"])
    report = json.loads(as_json.output)
    assert report["where"] == FILTERS and report["rejection_reasons"]["where:resolved"] == counts["resolved"]


@pytest.mark.parametrize(("flag", "message"), [
    ("repeat_share <", "Error: --where 'repeat_share <' is not a filter; write COLUMN OP NUMBER"),
    ("nope > 1", "Error: --where 'nope > 1' reads column 'nope', which the data does not have"),
])
def test_cli_bad_where_is_one_line(tmp_path, flag, message):
    source = save_output(Dataset.from_dict(_traces(num_questions=2)), tmp_path / "traces.parquet")
    result = CliRunner().invoke(main, ["select", str(source), "-o", str(tmp_path / "out.parquet"), "--where", flag])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if "Error" in line]
    assert len(error_lines) == 1 and error_lines[0].rstrip().endswith((".", "?"))
    assert not (tmp_path / "out.parquet").exists()


def test_cli_slice_with_where(tmp_path):
    source = save_output(Dataset.from_dict(_traces()), tmp_path / "traces.parquet")
    out = tmp_path / "top.parquet"
    result = CliRunner().invoke(main, ["select", str(source), "-o", str(out), "--slice", "top", "--fraction", "0.2",
                                       "--where", "resolved"])
    assert result.exit_code == 0, result.output
    assert "passing resolved" in result.output and all(load_input(str(out))["resolved"])
