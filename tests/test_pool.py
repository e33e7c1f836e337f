"""`io.pool.pool_scored` and the commands that take several SCORED inputs: teachers scored separately and pooled
rank and select as if scored in one file; inputs scored differently are refused in one line."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ColumnError, InputError, ProvenanceError
from hf_localnat.io import load_input, save_output
from hf_localnat.io.pool import pool_scored
from hf_localnat.provenance import DEFINITION_FIELDS, Provenance, of_dataset
from hf_localnat.selection.rank import rank_teachers
from hf_localnat.selection.select import select_responses

RECORDED = Provenance(window=4, segmenter="sentence", prompt_format="auto", max_length=None, mode="exact",
                      dtype="float32", student={"kind": "hub", "id": "org/student", "revision": "a" * 40},
                      version="0.1.0")


def _hand(tmp_path, name: str, teacher: str, provenance: Provenance | None = RECORDED, **columns):
    rows = {"question": ["q1", "q2"], "response": [f"{teacher} one.", f"{teacher} two."], "teacher": [teacher] * 2,
            "lalp": [-1.0, -2.0], "galp": [-1.5, -1.0], **columns}
    return str(save_output(Dataset.from_dict(rows), tmp_path / name, provenance=provenance))


def _other(value):
    """A value of the same kind as `value` that differs from it (for any definition field, present or future)."""
    if value is None:
        return 512
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, tuple):  # the score columns written (SPEC §11)
        return (*value, "rsr")
    return f"not-{value}"


# ------------------------------------------------------------------------------------------------- the library
@pytest.mark.parametrize("field", DEFINITION_FIELDS)
def test_inputs_scored_under_different_definitions_are_refused_naming_the_field(tmp_path, field):
    # drop_tokens is part of the definition only when a drop score is written (SPEC §11)
    base = dataclasses.replace(RECORDED, scores="all", drop_tokens=2) if field == "drop_tokens" else RECORDED
    value = getattr(base, field)
    a = _hand(tmp_path, "a.parquet", "x", base)
    b = _hand(tmp_path, "b.parquet", "y", dataclasses.replace(base, **{field: _other(value)}))
    with pytest.raises(ProvenanceError) as e:
        pool_scored([a, b])
    message = str(e.value)
    assert message.startswith(f"Cannot pool {a} and {b}: {field} differs (") and "\n" not in message
    assert "rescore one of them" in message


def test_window_mismatch_message_names_both_values(tmp_path):
    a = _hand(tmp_path, "a.parquet", "x")
    b = _hand(tmp_path, "b.parquet", "y", dataclasses.replace(RECORDED, window=2))
    with pytest.raises(ProvenanceError, match=r"^Cannot pool .*a\.parquet and .*b\.parquet: window differs \(4 vs 2\); "
                                              r"rescore one of them with the other's setting\.$"):
        pool_scored([a, b])


def test_student_mismatch_is_refused(tmp_path):
    a = _hand(tmp_path, "a.parquet", "x")
    other = dataclasses.replace(RECORDED, student={"kind": "hub", "id": "org/student", "revision": "b" * 40})
    b = _hand(tmp_path, "b.jsonl", "y", other)
    with pytest.raises(ProvenanceError, match=r"student differs \(org/student@aaaaaaaaaaaa vs "
                                              r"org/student@bbbbbbbbbbbb\)"):
        pool_scored([a, b])


def test_an_input_without_provenance_among_recorded_ones_is_refused(tmp_path):
    a = _hand(tmp_path, "a.parquet", "x")
    bare = _hand(tmp_path, "bare.jsonl", "y", provenance=None)
    for order in ([a, bare], [bare, a]):
        with pytest.raises(ProvenanceError) as e:
            pool_scored(order)
        assert f"{bare} records no provenance" in str(e.value) and "\n" not in str(e.value)
    pooled, provenance = pool_scored([a, bare], ignore_provenance=True)
    assert provenance is None and pooled.num_rows == 4
    both_bare, provenance = pool_scored([bare, _hand(tmp_path, "bare2.jsonl", "z", provenance=None)])
    assert provenance is None and both_bare.num_rows == 4


def test_rows_in_order_columns_unified_and_versions_named(tmp_path):
    a = _hand(tmp_path, "a.parquet", "x", correct=[None, None])
    b = _hand(tmp_path, "b.jsonl", "y", dataclasses.replace(RECORDED, version="0.2.0"), correct=[True, False],
              source=["s", "t"])
    pooled, provenance = pool_scored([a, b])
    assert pooled["teacher"][:] == ["x", "x", "y", "y"]
    assert pooled["correct"][:] == [None, None, True, False] and pooled["source"][:] == [None, None, "s", "t"]
    assert provenance == dataclasses.replace(RECORDED, version="0.1.0 + 0.2.0")
    assert of_dataset(pooled) is None  # no part's own provenance rides along
    single, recorded = pool_scored([a])
    assert recorded == RECORDED and single.num_rows == 2
    with pytest.raises(InputError, match="given twice"):
        pool_scored([a, a])
    with pytest.raises(InputError, match="No scored input"):
        pool_scored([])


def test_an_integer_column_and_a_float_column_pool_as_floats(tmp_path):
    rows = {"question": ["q1"], "teacher": ["y"], "lalp": [-1], "galp": [-2]}  # JSON Lines integers
    a = _hand(tmp_path, "a.parquet", "x")
    b = str(save_output(Dataset.from_dict(rows), tmp_path / "b.jsonl", provenance=RECORDED))
    pooled, _ = pool_scored([a, b])
    assert pooled.features["lalp"].dtype == "float64" and pooled["lalp"][:] == [-1.0, -2.0, -1.0]
    c = str(save_output(Dataset.from_dict({**rows, "lalp": ["high"]}), tmp_path / "c.parquet", provenance=RECORDED))
    with pytest.raises(ColumnError, match="column 'lalp' holds double in .*a.parquet and string in .*c.parquet"):
        pool_scored([a, c])


def test_question_ids_equal_texts_stay_one_question(tmp_path):
    a = _hand(tmp_path, "a.parquet", "x", question_id=["P1", "P2"])
    b = _hand(tmp_path, "b.parquet", "y")  # no ids: takes a's for the same texts
    c = str(save_output(Dataset.from_dict({"question": ["q1", "q3"], "teacher": ["z", "z"], "lalp": [-1.0, -1.0],
                                           "galp": [-1.0, -1.0]}), tmp_path / "c.parquet", provenance=RECORDED))
    pooled, _ = pool_scored([a, b, c])
    from hf_localnat.selection.layout import question_id

    assert pooled["question_id"][:] == ["P1", "P2", "P1", "P2", "P1", question_id("q3")]
    clash = _hand(tmp_path, "clash.parquet", "y", question_id=["P1", "P9"])
    with pytest.raises(ColumnError, match=r"the question 'q2' has question id 'P2' in .*a.parquet and 'P9' in "):
        pool_scored([a, clash])


@pytest.fixture(scope="module")
def scored_apart(tmp_path_factory, sample_rows, tiny_model_path):
    """The bundled sample scored twice with the tiny model: its first two teachers in one file, the other two in
    another (as a team adds a teacher later), and all four in one file."""
    from hf_localnat import LocalNaturalnessScorer

    folder = tmp_path_factory.mktemp("pool")
    teachers = list(dict.fromkeys(r["teacher"] for r in sample_rows))
    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu")
    paths = {}
    for name, keep in (("a", teachers[:2]), ("b", teachers[2:]), ("both", teachers)):
        rows = [r for r in sample_rows if r["teacher"] in keep]
        scored = scorer.map(Dataset.from_list(rows), batch_size=64, keep_in_memory=True)
        paths[name] = str(save_output(scored, folder / f"{name}.parquet"))
    return paths


def _close(a: dict, b: dict, tol: float = 1e-4) -> None:
    """Two JSON-like values equal, floats within `tol`."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            _close(x, y, tol)
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y)
            for u, v in zip(x, y, strict=True):
                _close({"v": u}, {"v": v}, tol)
        elif isinstance(x, float):
            assert y == pytest.approx(x, abs=tol), key
        else:
            assert x == y, key


@pytest.mark.slow  # scoring the sample three times with the tiny model: ~5 s
def test_pooled_files_rank_and_select_as_the_single_file(scored_apart):
    pooled, provenance = pool_scored([scored_apart["a"], scored_apart["b"]])
    single, recorded = pool_scored([scored_apart["both"]])
    assert provenance == recorded and pooled.num_rows == single.num_rows
    _close(rank_teachers(pooled, num_resamples=200).to_dict(), rank_teachers(single, num_resamples=200).to_dict())
    for by in ("lalp", "galp"):
        picks = [{(r["question_id"], r["teacher"]) for r in select_responses(d, by=by, correct_column="correct")
                  .selected} for d in (pooled, single)]
        assert picks[0] == picks[1]


# ------------------------------------------------------------------------------------------------------ the CLI
def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.mark.slow
def test_cli_pooled_files_rank_select_and_inspect_as_the_single_file(scored_apart, tmp_path):
    runner = CliRunner()
    a, b, both = scored_apart["a"], scored_apart["b"], scored_apart["both"]
    pooled = json.loads(_ok(runner.invoke(main, ["rank-teachers", a, b, "--json", "--resamples", "100"])).stdout)
    single = json.loads(_ok(runner.invoke(main, ["rank-teachers", both, "--json", "--resamples", "100"])).stdout)
    assert pooled.pop("inputs") == [a, b] and single.pop("inputs") == [both]
    _close(pooled, single)
    table = _ok(runner.invoke(main, ["rank-teachers", a, b, "--resamples", "50"])).stdout
    assert f"Pooled 2 inputs (32 rows, in this order): {a}, {b}." in table

    _ok(runner.invoke(main, ["select", a, b, "-o", str(tmp_path / "pooled.parquet"), "--correct-column", "correct"]))
    _ok(runner.invoke(main, ["select", both, "-o", str(tmp_path / "one.parquet"), "--correct-column", "correct"]))
    kept = [load_input(str(tmp_path / f"{n}.parquet")) for n in ("pooled", "one")]
    assert [{(r["question_id"], r["teacher"]) for r in k} for k in kept][0] == \
        {(r["question_id"], r["teacher"]) for r in kept[1]}
    _ok(runner.invoke(main, ["inspect", a, b, "-o", str(tmp_path / "report.html")]))
    assert a in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_cli_commands_take_several_inputs_and_refuse_different_definitions(tmp_path):
    runner = CliRunner()
    a, b = _hand(tmp_path, "a.parquet", "x"), _hand(tmp_path, "b.parquet", "y", lalp=[-3.0, -0.5])
    data = json.loads(_ok(runner.invoke(main, ["rank-teachers", a, b, "--json", "--resamples", "20"])).stdout)
    assert data["inputs"] == [a, b] and [t["teacher"] for t in data["teachers"]] == ["x", "y"]
    assert data["num_questions"] == 2 and data["provenance"] == RECORDED.to_dict()
    out = tmp_path / "kept.jsonl"
    result = _ok(runner.invoke(main, ["select", a, b, "-o", str(out)])).stdout
    assert f"Pooled 2 inputs (4 rows, in this order): {a}, {b}." in result
    kept = load_input(str(out))
    assert sorted(zip(kept["question"], kept["teacher"])) == [("q1", "x"), ("q2", "y")]  # best lalp per question
    assert pool_scored([str(out)])[1] == RECORDED  # the kept file records the pooled provenance

    other = _hand(tmp_path, "w2.parquet", "z", dataclasses.replace(RECORDED, window=2))
    for command in (["rank-teachers"], ["select", "-o", str(tmp_path / "x.parquet")],
                    ["inspect", "-o", str(tmp_path / "x.html")], ["publish", "--repo-id", "u/x", "--dry-run"]):
        result = runner.invoke(main, [command[0], a, other, *command[1:]])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"Error: Cannot pool {a} and {other}: window differs (4 vs 2)" in result.output
    assert not (tmp_path / "x.parquet").exists()
    assert runner.invoke(main, ["rank-teachers"]).exit_code == 2  # SCORED... is required
