"""Pilot slices (`select --slice`, `selection.slices`): each slice holds the right rows, in the score's direction."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ConfigError, SelectionError
from hf_localnat.io import load_input
from hf_localnat.selection.slices import score_slices, slice_bounds


def _rows(num_rows: int = 47, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    lalp = rng.normal(size=num_rows).round(1)  # rounded: ties, broken in input order
    lalp[[3, 11]] = np.nan  # no score
    return {"question": [f"q{i // 3}" for i in range(num_rows)], "response": [f"r{i}" for i in range(num_rows)],
            "teacher": [f"t{i % 3}" for i in range(num_rows)],
            "lalp": [None if math.isnan(v) else float(v) for v in lalp],
            "galp": [None if math.isnan(v) else float(v) - 0.5 for v in lalp[::-1]],
            "rsr": [float(v) for v in rng.gamma(3.0, size=num_rows).round(1)],
            "correct": [bool(v) for v in rng.random(num_rows) < 0.7]}


def _plain(rows: dict, by: str, fraction: float, higher: bool, correct: bool = False) -> dict[str, list[int]]:
    """The slices' row indices by the rule, with a plain sort."""
    keep = [i for i, v in enumerate(rows[by]) if v is not None and (not correct or rows["correct"][i])]
    ordered = sorted(keep, key=lambda i: (-rows[by][i] if higher else rows[by][i], i))
    n, k = len(ordered), int(fraction * len(ordered))
    m = (n - k) // 2
    return {"top": ordered[:k], "middle": ordered[m:m + k], "bottom": ordered[n - k:]}


@pytest.mark.parametrize("by, higher", [("lalp", True), ("rsr", False)])
@pytest.mark.parametrize("fraction, correct", [(0.1, False), (0.25, True), (1 / 3, False)])
def test_each_slice_holds_the_right_rows_in_the_scores_direction(by, higher, fraction, correct):
    rows = _rows()
    slices = score_slices(Dataset.from_dict(rows), by=by, fraction=fraction,
                          correct_column="correct" if correct else None)
    want = _plain(rows, by, fraction, higher, correct)
    for name, part in slices.items():
        assert part.rows["response"] == [rows["response"][i] for i in want[name]], name
        assert set(part.rows["slice"]) == {name} and part.direction == ("higher" if higher else "lower")
        assert part.rows["messages"] == [[{"role": "user", "content": rows["question"][i]},
                                          {"role": "assistant", "content": rows["response"][i]}] for i in want[name]]
        assert part.teacher_counts == {t: n for t in ("t0", "t1", "t2")
                                       if (n := sum(rows["teacher"][i] == t for i in want[name]))}
    best = [rows[by][i] for i in want["top"]]
    worst = [rows[by][i] for i in want["bottom"]]
    assert (min(best) >= max(worst)) if higher else (max(best) <= min(worst))
    taken = want["top"] + want["middle"] + want["bottom"]
    assert len(set(taken)) == len(taken)  # the slices never overlap


def test_bad_fractions_and_slices_are_refused():
    data = Dataset.from_dict(_rows(13))
    with pytest.raises(ConfigError, match="1/3"):
        slice_bounds(10, 0.5)
    with pytest.raises(SelectionError, match="no row"):
        score_slices(data, fraction=0.05)
    with pytest.raises(ConfigError, match="Unknown slice"):
        score_slices(data, names=["upper"])
    with pytest.raises(ConfigError, match="--direction mine=higher"):
        score_slices(data.add_column("mine", [1.0] * 13), by="mine")


def test_select_slice_writes_one_slice_with_its_rule(tmp_path):
    rows = _rows()
    path = tmp_path / "scored.parquet"
    Dataset.from_dict(rows).to_parquet(path)
    runner = CliRunner()
    want = _plain(rows, "lalp", 0.2, True)
    for name in ("top", "middle", "bottom"):
        out = tmp_path / f"{name}.jsonl"
        result = runner.invoke(main, ["select", str(path), "-o", str(out), "--slice", name, "--fraction", "0.2",
                                      "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        written = load_input(str(out))
        assert written["response"] == [rows["response"][i] for i in want[name]]
        assert data["rows"] == len(want[name]) and data["rule"].startswith(f"{name}: positions ") and "by lalp (higher = better), fraction 0.2" in data["rule"]
        assert not (tmp_path / f"{name}.rejected.jsonl").exists()
    result = runner.invoke(main, ["select", str(path), "-o", str(tmp_path / "x.jsonl"), "--slice", "top",
                                  "--fraction", "0.5"])
    assert result.exit_code == 2 and "--fraction" in result.output


def test_publish_slices_writes_three_configs_and_states_the_rule(tmp_path):
    from hf_localnat.io import save_output
    from hf_localnat.provenance import Provenance

    rows = _rows(60, seed=5)
    recorded = Provenance(window=4, segmenter="sentence", prompt_format="auto", max_length=None, mode="exact",
                          dtype="float32", student={"kind": "hub", "id": "org/student", "revision": "c" * 40},
                          version="0.1.0")
    scored = save_output(Dataset.from_dict(rows), tmp_path / "scored.parquet", provenance=recorded)
    kept = tmp_path / "kept"
    result = CliRunner().invoke(main, ["publish", str(scored), "--repo-id", "u/pilot", "--dry-run", "--slices", "0.2",
                                       "--correct-column", "correct", "--keep-folder", str(kept)])
    assert result.exit_code == 0, result.output
    want = _plain(rows, "lalp", 0.2, True, correct=True)
    card = (kept / "README.md").read_text()
    k, n = len(want["top"]), sum(v is not None and c for v, c in zip(rows["lalp"], rows["correct"]))
    assert f"Rule: by lalp (higher = better), fraction 0.2: the {n} rows with a finite lalp and correct true" in card
    assert f"k = floor(0.2 x {n}) = {k}" in card and "--slices 0.2" in card
    for name in ("top", "middle", "bottom"):
        from datasets import load_dataset

        published = load_dataset(str(kept), f"slice_{name}", split="train")
        assert published["response"] == [rows["response"][i] for i in want[name]]
        counts = {t: sum(rows["teacher"][i] == t for i in want[name]) for t in ("t0", "t1", "t2")}
        line = next(line for line in card.splitlines() if line.startswith(f"| slice\\_{name} |"))
        assert line.split("|")[2].strip() == str(k) and [c.strip() for c in line.split("|")[4:7]] == [
            str(counts[t]) for t in ("t0", "t1", "t2")]
