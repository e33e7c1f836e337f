"""`localnat calibrate`: the same rows scored by two students, compared against plain reference computations."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ConfigError
from hf_localnat.selection.calibrate import CalibrationError, calibrate, kendall_tau_b, row_id_columns, spearman
from hf_localnat.selection.rank import rank_teachers


def plain_ranks(values):
    return [sum(w < v for w in values) + (sum(w == v for w in values) + 1) / 2 for v in values]


def plain_pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    num = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return num / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def plain_kendall_b(x, y):
    concordant = discordant = tied_x = tied_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            tied_x += 1
            tied_y += 1
        elif dx == 0:
            tied_x += 1
        elif dy == 0:
            tied_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    n0 = len(x) * (len(x) - 1) / 2
    return (concordant - discordant) / math.sqrt((n0 - tied_x) * (n0 - tied_y))


def test_statistics_match_plain_definitions_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 40).astype(float)
    y = x + rng.integers(-2, 3, 40)
    assert spearman(x, y) == pytest.approx(plain_pearson(plain_ranks(x.tolist()), plain_ranks(y.tolist())), abs=1e-12)
    assert kendall_tau_b(x, y) == pytest.approx(plain_kendall_b(x.tolist(), y.tolist()), abs=1e-12)
    assert np.isnan(spearman(x[:1], y[:1])) and np.isnan(kendall_tau_b(np.ones(5), y[:5]))


def rows_like(scored: Dataset) -> list[dict]:
    return scored.to_list()


def plain_picks(rows, key):
    best = {}
    for row in rows:
        if row["lalp"] is None or row["correct"] is not True:
            continue
        q = row["question_id"]
        if q not in best or row["lalp"] > best[q]["lalp"]:
            best[q] = row
    return {q: key(r) for q, r in best.items()}


@pytest.fixture
def tiny_scored(tiny_scored_sample):
    return tiny_scored_sample


@pytest.mark.slow
def test_tiny_model_against_the_embedded_student(tiny_scored, scored_sample, tmp_path):
    # the proxy's rows in another order: matching is by (question_id, teacher), not position
    proxy = tiny_scored.select(list(range(tiny_scored.num_rows))[::-1])
    result = calibrate(proxy, scored_sample, name_a="tiny", name_b="smollm2", correct_column="correct",
                       num_resamples=300)
    a = {(r["question_id"], r["teacher"]): r for r in proxy.to_list()}
    b = {(r["question_id"], r["teacher"]): r for r in scored_sample.to_list()}
    keys = [k for k in b if a[k]["lalp"] is not None and b[k]["lalp"] is not None]
    assert result.num_rows == len(b) == 32 and result.num_rows_compared["lalp"] == len(keys)
    for by in ("lalp", "galp"):
        x, y = [a[k][by] for k in keys], [b[k][by] for k in keys]
        assert result.spearman[by].value == pytest.approx(plain_pearson(plain_ranks(x), plain_ranks(y)), abs=1e-9)
        assert result.kendall[by].value == pytest.approx(plain_kendall_b(x, y), abs=1e-9)
        for estimate in (result.spearman[by], result.kendall[by]):
            assert -1 <= estimate.ci[0] <= estimate.ci[1] <= 1
    assert result.teacher_order_a == rank_teachers(proxy, num_resamples=10).order("lalp")
    assert result.teacher_order_b == rank_teachers(scored_sample, num_resamples=10).order("lalp")
    picks_a = plain_picks(b_with_proxy_scores := [dict(b[k], lalp=a[k]["lalp"]) for k in b], lambda r: r["teacher"])
    picks_b = plain_picks(list(b.values()), lambda r: r["teacher"])
    both = [q for q in picks_b if q in picks_a]
    assert result.num_questions_picked == len(both)
    assert result.same_pick.value == pytest.approx(sum(picks_a[q] == picks_b[q] for q in both) / len(both))
    assert result.verdict.startswith("Verdict: tiny ") and "smollm2" in result.verdict
    assert len(b_with_proxy_scores) == 32
    # the CLI on the same files: the table and --json agree with the library
    pa, pb = tmp_path / "tiny.parquet", tmp_path / "smol.parquet"
    proxy.to_parquet(str(pa))
    scored_sample.to_parquet(str(pb))
    out = CliRunner().invoke(main, ["calibrate", str(pa), str(pb), "--json", "--resamples", "300",
                                    "--correct-column", "correct"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)  # output also holds stderr (datasets progress bars)
    assert data["spearman"]["lalp"]["value"] == pytest.approx(result.spearman["lalp"].value)
    assert data["verdict"].startswith("Verdict: ") and data["num_rows"] == 32
    table = CliRunner().invoke(main, ["calibrate", str(pa), str(pb), "--resamples", "50"])
    assert table.exit_code == 0 and "row LALP" in table.output and table.output.strip().splitlines()[-1].startswith(
        "Verdict:")


@pytest.mark.slow
def test_a_student_against_itself_stands_in(tiny_scored):
    result = calibrate(tiny_scored, tiny_scored, name_a="x", name_b="y", num_resamples=50)
    assert result.spearman["lalp"].value == pytest.approx(1.0) and result.spearman["lalp"].ci == pytest.approx((1, 1))
    assert result.kendall["galp"].value == pytest.approx(1.0) and result.same_pick.value == 1.0
    assert result.same_teacher_order and result.same_teacher_order_share == 1.0
    assert result.verdict.startswith("Verdict: x can stand in for y on this data")


def test_unmatched_duplicated_and_mismatched_rows_are_refused(tiny_scored, tmp_path):
    whole = tmp_path / "whole.parquet"
    tiny_scored.to_parquet(str(whole))
    part = tmp_path / "part.parquet"
    tiny_scored.select(range(30)).to_parquet(str(part))
    runner = CliRunner()
    out = runner.invoke(main, ["calibrate", str(whole), str(part)])
    errors = [line for line in out.output.splitlines() if line.startswith("Error:")]
    assert out.exit_code == 1 and len(errors) == 1 and "2 only in" in errors[0]
    changed = tiny_scored.map(lambda r, i: {"response": r["response"] + (" x" if i == 3 else "")}, with_indices=True)
    with pytest.raises(CalibrationError, match="different 'response'"):
        calibrate(tiny_scored, changed)
    doubled = Dataset.from_list(tiny_scored.to_list() + tiny_scored.select([0]).to_list())
    with pytest.raises(CalibrationError, match="more than one row"):
        calibrate(doubled, doubled)
    ids = tiny_scored.add_column("id", [f"r{i}" for i in range(tiny_scored.num_rows)])
    assert calibrate(ids, ids, row_id_column="id", num_resamples=10).matched_by == ("id",)


def test_a_question_without_a_kept_response_is_left_out_of_the_share(tiny_scored):
    first = tiny_scored[0]["question_id"]
    data = tiny_scored.map(lambda r: {"correct": False if r["question_id"] == first else r["correct"]})
    with_pick = {q for q, c in zip(data["question_id"], data["correct"]) if c is True}
    result = calibrate(data, data, correct_column="correct", num_resamples=20)
    assert first not in with_pick and result.num_questions_picked == len(with_pick)
    assert result.same_pick.value == 1.0


def test_each_side_may_pool_inputs_scored_one_teacher_at_a_time(tiny_scored, tmp_path):
    """`--and-a` / `--and-b`: A and B split by teacher into two files each give the numbers of the whole files."""
    from hf_localnat.io import save_output

    teachers = sorted(set(tiny_scored["teacher"]))
    first, rest = teachers[:2], teachers[2:]
    paths = {}
    for side in ("a", "b"):
        for name, keep in (("1", first), ("2", rest)):
            part = tiny_scored.filter(lambda row, keep=keep: row["teacher"] in keep)
            paths[side + name] = str(save_output(part, tmp_path / f"{side}{name}.parquet"))
        paths[side] = str(save_output(tiny_scored, tmp_path / f"{side}.parquet"))
    runner = CliRunner()
    common = ["--resamples", "30", "--json"]
    pooled = runner.invoke(main, ["calibrate", paths["a1"], paths["b1"], "--and-a", paths["a2"], "--and-b", paths["b2"],
                                  *common])
    whole = runner.invoke(main, ["calibrate", paths["a"], paths["b"], *common])
    assert pooled.exit_code == 0 and whole.exit_code == 0, pooled.output + whole.output
    got, want = json.loads(pooled.stdout), json.loads(whole.stdout)
    assert got["spearman"] == want["spearman"] and got["same_pick"] == want["same_pick"]


def _generations(num_questions: int = 6, per_teacher: int = 3, seed: int = 0) -> list[dict]:
    """Rows of list-of-generations data (OpenR1's shape): each teacher answers each question several times."""
    rng = np.random.default_rng(seed)
    return [{"question": f"q{q}", "teacher": t, "generation_index": g, "response": f"{t} {q} {g}",
             "lalp": float(rng.normal()), "galp": float(rng.normal())}
            for q in range(num_questions) for t in ("r1", "qwq") for g in range(per_teacher)]


def test_several_generations_per_question_are_matched_by_generation_index_on_their_own():
    rows = _generations()
    proxy = Dataset.from_list(rows[::-1])  # another order: matched by key, not position
    student = Dataset.from_list([dict(r, lalp=r["lalp"] + 0.1 * i) for i, r in enumerate(rows)])
    result = calibrate(proxy, student, num_resamples=50)
    assert result.matched_by == ("question_id", "teacher", "generation_index") and result.num_rows == len(rows)
    x = [r["lalp"] for r in rows]
    y = [r["lalp"] + 0.1 * i for i, r in enumerate(rows)]
    assert result.spearman["lalp"].value == pytest.approx(plain_pearson(plain_ranks(x), plain_ranks(y)), abs=1e-12)
    assert result.kendall["lalp"].value == pytest.approx(plain_kendall_b(x, y), abs=1e-12)
    # without the column the default key is not unique: the error names the option that fixes it
    with pytest.raises(CalibrationError, match="--row-id"):
        calibrate(proxy.remove_columns("generation_index"), student.remove_columns("generation_index"))


def test_row_id_may_be_several_columns(tmp_path):
    rows = [dict(r, sample=r["generation_index"], problem=r["question"]) for r in _generations(seed=1)]
    data = Dataset.from_list(rows).remove_columns("generation_index")
    assert row_id_columns(["problem,teacher", "sample"]) == ("problem", "teacher", "sample")
    with pytest.raises(ConfigError, match="each once"):
        row_id_columns("problem,problem")
    result = calibrate(data, data, row_id_column=["problem", "teacher", "sample"], num_resamples=20)
    assert result.matched_by == ("problem", "teacher", "sample") and result.spearman["lalp"].value == 1.0
    with pytest.raises(CalibrationError, match="problem \\+ teacher"):
        calibrate(data, data, row_id_column="problem,teacher")
    path = tmp_path / "a.parquet"
    data.to_parquet(path)
    runner = CliRunner()
    both = [json.loads(runner.invoke(main, ["calibrate", str(path), str(path), "--json", "--resamples", "20",
                                            *args]).stdout)
            for args in (["--row-id", "problem,teacher", "--row-id", "sample"], ["--row-id", "problem,teacher,sample"])]
    assert both[0]["matched_by"] == ["problem", "teacher", "sample"] and both[0] == both[1]
