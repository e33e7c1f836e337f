"""`rank-teachers` with likelihood scores and trace signals side by side (teacher-ranking-proxy's comparison as one
command): one readable table of teacher means, one evidence table with a row per score and its agreement with a
known ranking, the best agreement marked; checked against a plain reference computed in the test."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from hf_localnat.cli import main
from hf_localnat.io import save_output

BY = ["lalp", "rsr", "num_steps", "error_share"]
DIRECTIONS = {"num_steps": "lower", "error_share": "lower"}
TRUTH = {"teacher-clear": 61.2, "teacher-verbose": 55.5, "teacher-terse": 52.0, "teacher-odd": 40.1}


@pytest.fixture
def traces_file(tmp_path, tiny_scored_sample):
    """The bundled sample scored with the tiny model (lalp, galp, num_steps), with `rsr` and a trace column
    `error_share` added by hand (deterministic, a different order from the scores')."""
    rows = tiny_scored_sample
    rng = np.random.default_rng(0)
    scored = rows.add_column("rsr", [float(v) for v in np.round(rng.normal(5.4, 0.1, rows.num_rows), 4)])
    scored = scored.add_column("error_share", [float(v) for v in np.round(rng.random(rows.num_rows) * 0.5, 2)])
    return save_output(scored, tmp_path / "traces.parquet"), scored


def _reference(scored) -> dict[str, dict]:
    """Per score: the teacher means (every teacher answers every question once), the best teacher in the score's
    direction and Kendall's tau-b of the signed means with the truth."""
    out = {}
    for s in BY:
        means = {t: float(np.mean([r[s] for r in scored if r["teacher"] == t])) for t in TRUTH}
        signed = {t: (-m if DIRECTIONS.get(s, "lower" if s == "rsr" else "higher") == "lower" else m)
                  for t, m in means.items()}
        tau = stats.kendalltau([signed[t] for t in TRUTH], list(TRUTH.values())).statistic
        out[s] = {"means": means, "best": max(signed, key=signed.get), "tau": float(tau)}
    return out


@pytest.mark.slow  # scores the sample with the tiny model (tiny_scored_sample): 20-40 s on 2 busy cores
def test_four_scores_and_signals_in_one_readable_table_with_truth(tmp_path, traces_file):
    path, scored = traces_file
    truth = tmp_path / "truth.csv"
    truth.write_text("teacher,value\n" + "".join(f"{t},{v}\n" for t, v in TRUTH.items()))
    args = ["rank-teachers", str(path), "--resamples", "200", "--truth", str(truth)]
    args += sum((["--by", s] for s in BY), []) + sum((["--direction", f"{s}={d}"] for s, d in DIRECTIONS.items()), [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    reference = _reference(scored)

    # the teacher table: one `mean (rank)` cell per score, narrow enough for a terminal
    start = lines.index("Mean of each score per teacher (its rank in the score's direction):")
    header = lines[start + 1]
    assert header.split() == ["teacher", "n", *[s.upper() for s in BY]] and len(header) <= 100
    for line in lines[start + 3:start + 7]:
        teacher = line[2:].split()[0]
        for s, cell in zip(BY, line.split("  ")[-len(BY):], strict=True):
            assert float(cell.split()[0]) == pytest.approx(reference[s]["means"][teacher], abs=1e-4)

    # the evidence table: one row per score, its best teacher, and its tau-b against the truth
    start = lines.index("Evidence per score (SPEC §13), one row per score:")
    head = lines[start + 1].split()
    assert head[:3] == ["score", "better", "best"] and head[-4:] == ["tau-b", "Spearman", "pairs", "top-1"]
    rows = {line.split()[0].lower(): line for line in lines[start + 3:start + 3 + len(BY)]}
    assert list(rows) == BY
    for s, line in rows.items():
        cells = line.split()
        assert cells[1] == ("lower" if s in DIRECTIONS or s == "rsr" else "higher")
        assert cells[2] == reference[s]["best"]
        tau = next(c for c in cells if re.fullmatch(r"[+-]\d\.\d{3}", c))  # the first signed cell is tau-b
        assert float(tau) == pytest.approx(reference[s]["tau"], abs=1e-3)
        assert len(line) <= 125
    best = max(BY, key=lambda s: reference[s]["tau"])
    assert [s for s, line in rows.items() if line.endswith("<- best")] == [best]
    assert f"Best agreement: {best.upper()} (tau-b lead over" in result.stdout

    # the same numbers in --json
    data = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)
    for s in BY:
        assert data["evidence"][s]["truth"]["kendall_tau_b"]["value"] == pytest.approx(reference[s]["tau"])
    assert data["truth_lead"]["score"] == best


@pytest.mark.slow
def test_two_scores_keep_their_intervals(traces_file):
    path, _ = traces_file
    result = CliRunner().invoke(main, ["rank-teachers", str(path), "--resamples", "100"])
    assert result.exit_code == 0, result.output
    assert "LALP# GALP#" in result.stdout and "95% CI" in result.stdout
    assert "Evidence per score (SPEC §13), one row per score:" in result.stdout
    assert "tau-b" not in result.stdout  # no truth, no truth columns
