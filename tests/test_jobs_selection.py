"""The jobs past scoring from Python (issue 34): `hf_localnat.rank_teachers`, `select`, `inspect`, `calibrate`,
`publish` and `pull` give what their commands give on the same inputs (the same numbers, files and provenance), take
what a user holds (paths, `Dataset`s, `{teacher: source}`), and their results show themselves (`__str__` is the
command's text, `to_dict()` its `--json`, `to_pandas()`, and `_repr_html_()` with the table, the evidence and an
inline SVG)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datasets import Dataset, load_dataset

import hf_localnat
from hf_localnat.cli import main
from hf_localnat.io import load_input, read_provenance, save_output
from hf_localnat.provenance import of_dataset


def _cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def scored_files(tiny_scored_sample, tmp_path_factory) -> dict[str, str]:
    """The tiny-model scores of the bundled sample as files: all rows, and two teachers each in `a` and `b`."""
    folder = tmp_path_factory.mktemp("scored")
    provenance = of_dataset(tiny_scored_sample)
    teachers = sorted(set(tiny_scored_sample["teacher"]))
    first = tiny_scored_sample.filter(lambda r: r["teacher"] in teachers[:2])
    second = tiny_scored_sample.filter(lambda r: r["teacher"] in teachers[2:])
    return {name: str(save_output(ds, folder / f"{name}.parquet", provenance=provenance))
            for name, ds in (("all", tiny_scored_sample), ("a", first), ("b", second))}


class _Tables(HTMLParser):
    """The cells of every <table>, the <svg> elements and the text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.svgs = 0
        self.polylines = 0
        self.text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self.svgs += 1
        elif tag in ("polyline", "circle"):
            self.polylines += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def _column(table: list[list[str]], name: str) -> list[str]:
    index = table[0].index(name)
    return [row[index] for row in table[1:]]


# ------------------------------------------------------------------------------------------- the same as the CLI
def test_rank_teachers_equals_the_command(scored_files, tmp_path):
    cli = _cli("rank-teachers", scored_files["a"], scored_files["b"], "--json", "--resamples", "300", "--seed", "3",
               "--correct-column", "correct")
    result = hf_localnat.rank_teachers([scored_files["a"], scored_files["b"]], resamples=300, seed=3,
                                       correct_column="correct")
    assert json.loads(cli.stdout) == json.loads(json.dumps(result.to_dict()))
    text = _cli("rank-teachers", scored_files["a"], scored_files["b"], "--resamples", "300", "--seed", "3",
                "--correct-column", "correct")
    assert text.stdout == str(result) + "\n"
    assert text.stdout.startswith("Scored with: ") and "Pooled 2 inputs (32 rows, in this order)" in text.stdout
    # the library result's own attributes are the job result's
    assert result.order("lalp") == result.ranking.order("lalp") and result.verdicts == result.ranking.verdicts


def test_select_equals_the_command_files_and_provenance(scored_files, tmp_path):
    args = ["--correct-column", "correct", "--top-k", "2", "--teacher-quota", "3"]
    cli = _cli("select", scored_files["all"], "-o", str(tmp_path / "cli.parquet"), "--json", *args)
    result = hf_localnat.select(scored_files["all"], tmp_path / "py.parquet", correct_column="correct", top_k=2,
                                teacher_quota=["3"])
    expected = json.loads(cli.stdout)
    got = result.to_dict()
    for key in ("output", "rejected_output"):
        assert Path(expected.pop(key)).name.replace("cli", "py") == Path(got.pop(key)).name
    assert expected == json.loads(json.dumps(got))
    for name in ("", ".rejected"):
        a, b = tmp_path / f"cli{name}.parquet", tmp_path / f"py{name}.parquet"
        assert load_input(str(a)).to_list() == load_input(str(b)).to_list()
        assert read_provenance(a) == read_provenance(b) == read_provenance(scored_files["all"])
    assert result.kept.num_rows == expected["kept"]


def test_select_slice_equals_the_command(scored_files, tmp_path):
    cli = _cli("select", scored_files["all"], "-o", str(tmp_path / "cli.jsonl"), "--slice", "top", "--fraction",
               "0.25")
    result = hf_localnat.select(scored_files["all"], tmp_path / "py.jsonl", slice="top", fraction=0.25)
    assert cli.stdout == str(result).replace("py.jsonl", "cli.jsonl") + "\n"
    assert load_input(str(tmp_path / "cli.jsonl")).to_list() == load_input(str(tmp_path / "py.jsonl")).to_list()
    assert read_provenance(tmp_path / "py.jsonl") == read_provenance(scored_files["all"])


def test_inspect_equals_the_command(scored_files, tmp_path):
    _cli("inspect", scored_files["all"], "-o", str(tmp_path / "cli.html"), "--correct-column", "correct")
    result = hf_localnat.inspect(scored_files["all"], tmp_path / "py.html", correct_column="correct")
    assert (tmp_path / "cli.html").read_text() == (tmp_path / "py.html").read_text() == result.html
    assert str(result).startswith(f"Wrote {tmp_path / 'py.html'} (") and "needs no network" in str(result)
    page = _parse(result._repr_html_())
    assert "Step report" in "".join(page.text)


def test_calibrate_equals_the_command(scored_files):
    cli = _cli("calibrate", scored_files["a"], scored_files["a"], "--and-a", scored_files["b"], "--and-b",
               scored_files["b"], "--json", "--resamples", "200")
    result = hf_localnat.calibrate([scored_files["a"], scored_files["b"]], [scored_files["a"], scored_files["b"]],
                                   resamples=200)
    assert json.loads(cli.stdout) == json.loads(json.dumps(result.to_dict(), default=float))
    text = _cli("calibrate", scored_files["all"], scored_files["all"], "--resamples", "200")
    assert text.stdout == str(hf_localnat.calibrate(scored_files["all"], scored_files["all"], resamples=200)) + "\n"


def test_publish_dry_run_and_pull_equal_the_commands(scored_files, tmp_path):
    cli = _cli("publish", scored_files["all"], "--repo-id", "you/x", "--dry-run", "--keep-folder",
               str(tmp_path / "cli"), "--correct-column", "correct", "--slices", "0.25")
    lines: list[str] = []
    result = hf_localnat.publish(scored_files["all"], "you/x", dry_run=True, keep_folder=tmp_path / "py",
                                 correct_column="correct", slices=0.25, echo=lines.append)
    assert cli.stdout == str(result).replace(str(tmp_path / "py"), str(tmp_path / "cli")) + "\n"
    assert lines[0].startswith("Scored with: ") and lines[0] in cli.stderr
    files = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "py") for p in (tmp_path / "py").rglob("*") if p.is_file())
    for name in files:
        if name.suffix == ".parquet":
            assert load_input(str(tmp_path / "cli" / name)).to_list() == load_input(str(tmp_path / "py" / name)).to_list()
            assert read_provenance(tmp_path / "py" / name) == read_provenance(scored_files["all"])
    assert (tmp_path / "cli" / "README.md").read_text() == (tmp_path / "py" / "README.md").read_text()

    pulled_cli = _cli("pull", str(tmp_path / "py"), "--config", "scored", "-o", str(tmp_path / "cli.parquet"))
    pulled = hf_localnat.pull(str(tmp_path / "py"), tmp_path / "py.parquet", config="scored")
    assert pulled_cli.stdout == str(pulled).replace("py.parquet", "cli.parquet") + "\n"
    assert "Wrote 32 rows of" in pulled_cli.stdout
    assert load_input(str(tmp_path / "py.parquet")).to_list() == load_input(str(tmp_path / "cli.parquet")).to_list()
    # the pulled rows carry their provenance in memory: they publish again with no flag
    assert of_dataset(pulled.dataset) == read_provenance(scored_files["all"])
    again = hf_localnat.publish(pulled.dataset, "you/y", dry_run=True, correct_column="correct")
    assert again.curated.configs["lalp"].to_list() == result.curated.configs["lalp"].to_list()


# ------------------------------------------------------------------------------------------------ what users hold
def test_a_dataset_and_a_teacher_dict_rank_as_the_files_do(scored_files, tiny_scored_sample):
    from_files = hf_localnat.rank_teachers([scored_files["a"], scored_files["b"]], resamples=200).to_dict()
    from_dataset = hf_localnat.rank_teachers(tiny_scored_sample, resamples=200).to_dict()
    for key in ("teachers", "evidence", "pairwise", "orders"):
        assert from_files[key] == from_dataset[key]
    assert from_dataset["inputs"] == ["<Dataset 1: 32 rows>"] and from_dataset["provenance"] == from_files["provenance"]
    by_teacher = {t: tiny_scored_sample.filter(lambda r, t=t: r["teacher"] == t).remove_columns("teacher")
                  for t in dict.fromkeys(tiny_scored_sample["teacher"])}
    from_dict = hf_localnat.rank_teachers(by_teacher, resamples=200).to_dict()
    assert {t["teacher"]: t["mean_lalp"] for t in from_dict["teachers"]} == pytest.approx(
        {t["teacher"]: t["mean_lalp"] for t in from_files["teachers"]})
    assert from_dict["inputs"][0].startswith(next(iter(by_teacher)) + "=<Dataset 1: ")


def test_an_unscored_input_without_a_teacher_is_told_to_score_first(tmp_path, sample_rows):
    rows = [{k: v for k, v in r.items() if k != "teacher"} for r in sample_rows]
    path = save_output(Dataset.from_list(rows), tmp_path / "raw.jsonl")
    for command in (["select", str(path), "-o", str(tmp_path / "o.parquet")], ["rank-teachers", str(path)],
                    ["inspect", str(path), "-o", str(tmp_path / "r.html")]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and "not scored" in result.output and "localnat score" in result.output
        assert "'teacher'" not in result.output, result.output


# ------------------------------------------------------------------------------------------- accuracy (item 7)
def test_accuracy_beside_the_scores_and_ranking_on_correct_responses_only(scored_files, tiny_scored_sample):
    ranking = hf_localnat.rank_teachers(scored_files["all"], correct_column="correct", resamples=500)
    # a plain reference: per question the share of the teacher's judged responses that are correct, averaged over
    # the questions it has a judged response to
    for line in ranking.teachers:
        rows = [r for r in tiny_scored_sample if r["teacher"] == line.teacher and r["correct"] is not None]
        by_question: dict[str, list[bool]] = {}
        for r in rows:
            by_question.setdefault(r["question_id"], []).append(r["correct"])
        expected = np.mean([np.mean(v) for v in by_question.values()])
        assert line.accuracy == pytest.approx(expected)
        assert line.accuracy_ci[0] <= line.accuracy <= line.accuracy_ci[1]
    text = str(ranking)
    assert "accuracy" in text.splitlines()[1] and "Accuracy: the share of each teacher's judged responses" in text
    assert ranking.to_dict()["teachers"][0]["accuracy_ci"] == list(ranking.teachers[0].accuracy_ci)
    # without the column, nothing about accuracy (the --json of before)
    plain = hf_localnat.rank_teachers(scored_files["all"], resamples=500)
    assert "accuracy" not in json.dumps(plain.to_dict()) and "accuracy" not in str(plain)
    assert [t.means for t in plain.teachers] == [t.means for t in ranking.teachers]
    assert [t.cis for t in plain.teachers] == [t.cis for t in ranking.teachers]  # the same resamples

    only = hf_localnat.rank_teachers(scored_files["all"], correct_column="correct", correct_only=True, resamples=500)
    correct_rows = tiny_scored_sample.filter(lambda r: r["correct"] is True)
    reference = hf_localnat.rank_teachers(correct_rows, resamples=500)
    assert [t.means for t in only.teachers] == [t.means for t in reference.teachers]
    assert only.order("lalp") == reference.order("lalp") and "correct responses only" in str(only)
    cli = CliRunner().invoke(main, ["rank-teachers", scored_files["all"], "--correct-only"])
    assert cli.exit_code == 1 and "--correct-column" in cli.output


# ------------------------------------------------------------------------------- results that show themselves
def test_the_ranking_shows_its_table_evidence_and_p_order_plot(scored_files):
    ranking = hf_localnat.rank_teachers(scored_files["all"], correct_column="correct", resamples=300)
    page = _parse(ranking._repr_html_())
    table = page.tables[0]
    assert _column(table, "teacher") == ranking.order("lalp")
    assert _column(table, "mean LALP") == [f"{t.means['lalp']:.4g}" for t in ranking.teachers]
    assert _column(table, "accuracy") == [f"{t.accuracy:.4g}" for t in ranking.teachers]
    evidence = page.tables[1]
    assert _column(evidence, "LALP p_top") == [f"{ranking.evidence['lalp'].p_top[t]:.4g}" for t in ranking.order()]
    if ranking.below_floor:  # too few questions for p_order(n) or a projection (SPEC §13, issue 36): no plot
        assert page.svgs == 0 and all(e.projected_p_order_by_n == {} for e in ranking.evidence.values())
    else:
        assert page.svgs == 1 and page.polylines >= 2  # the p_order(n) plot, inline
    assert all(line in "".join(page.text) for line in ranking.verdicts)
    assert "http" not in ranking._repr_html_().replace("https://arxiv", "")  # nothing fetched
    frame = ranking.to_pandas()
    assert list(frame["teacher"]) == ranking.order("lalp") and list(frame["mean LALP"]) == [
        t.means["lalp"] for t in ranking.teachers]


def test_the_selection_and_calibration_show_their_tables(scored_files):
    selection = hf_localnat.select(scored_files["all"], correct_column="correct")
    page = _parse(selection._repr_html_())
    mix = page.tables[0]
    assert _column(mix, "teacher") == selection.mix.teachers
    assert _column(mix, "LALP kept") == [str(selection.mix.counts["lalp"][t]) for t in selection.mix.teachers]
    reasons = dict(zip(_column(page.tables[1], "rejection_reason"), _column(page.tables[1], "rows"), strict=True))
    assert reasons == {r: str(n) for r, n in selection.reason_counts.items()}
    assert selection.output is None and "Wrote" not in str(selection)  # nothing written without an output
    assert selection.to_pandas()["LALP kept"].sum() == selection.kept.num_rows

    calibration = hf_localnat.calibrate(scored_files["all"], scored_files["all"], resamples=200)
    page = _parse(calibration._repr_html_())
    assert _column(page.tables[0], "score") == ["LALP", "GALP"]
    assert _column(page.tables[0], "Spearman") == [f"{calibration.spearman[s].value:.4g}" for s in ("lalp", "galp")]
    assert calibration.verdict in "".join(page.text)


# ------------------------------------------------------------------------------- other libraries' bars (item 7)
def test_the_commands_show_no_other_librarys_progress_bars(scored_files, tmp_path, sample_rows):
    import os
    import subprocess
    import sys

    raw = save_output(Dataset.from_list(sample_rows), tmp_path / "raw.jsonl")  # loading it makes `datasets` build
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for args in (["rank-teachers", str(raw)], ["select", scored_files["all"], "-o", str(tmp_path / "o.jsonl")]):
        done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", *args], capture_output=True, text=True,
                              env=env, timeout=300)
        for bar in ("Generating train split", "Creating json from Arrow format", "Map", "Loading weights", "it/s"):
            assert bar not in done.stderr, done.stderr
    assert (tmp_path / "o.jsonl").exists()


def test_quiet_libraries_restores_every_setting():
    import datasets
    import huggingface_hub.utils as hub_utils

    from hf_localnat.jobs.progress import ours_shown, quiet_libraries

    assert datasets.is_progress_bar_enabled() and ours_shown()
    hub_before = hub_utils.are_progress_bars_disabled()
    with quiet_libraries():
        assert not datasets.is_progress_bar_enabled() and hub_utils.are_progress_bars_disabled() and ours_shown()
    assert datasets.is_progress_bar_enabled() and hub_utils.are_progress_bars_disabled() == hub_before
    datasets.disable_progress_bars()  # the user turned bars off: ours stay off too
    try:
        with quiet_libraries():
            assert not ours_shown()
    finally:
        datasets.enable_progress_bars()


def test_counts_of_one_read_in_the_singular():
    from hf_localnat.champ import format_correct_counts
    from hf_localnat.selection.rank import LeftOutTeacher

    assert "of 1 row (" in format_correct_counts(["number_match"])
    assert "(1 row: 1 non-finite" in LeftOutTeacher("t", 1, 1).describe()


def test_the_p_order_plot_on_enough_questions(tiny_scored_sample):
    """Past the floor of 20 questions (SPEC §13) the ranking draws p_order(n) inline: the tiny-model scores of the
    sample, its 8 questions taken three times under new ids (24 questions)."""
    from datasets import concatenate_datasets

    copies = [tiny_scored_sample.map(lambda r, k=k: {"question_id": f"{r['question_id']}-{k}",
                                                     "question": f"{r['question']} ({k})"}) for k in range(3)]
    ranking = hf_localnat.rank_teachers(concatenate_datasets(copies), resamples=300)
    assert not ranking.below_floor and ranking.num_questions == 24
    page = _parse(ranking._repr_html_())
    assert page.svgs == 1 and page.polylines >= 2
    curve = ranking.evidence["lalp"].p_order_by_n
    titles = [f"LALP p_order({n}) = {p:.2f}" for n, p in curve.items()]
    assert curve and all(title in "".join(page.text) for title in titles)  # each point, with its value on hover


def test_the_demo_report_leaves_the_verdicts_to_its_end(tiny_scored_sample):
    """`localnat demo` printed each verdict twice (issue 34, item 7): its curation report leaves them out, and the
    demo prints them once, under "How sure is the ranking" (`jobs.demo`; end to end in test_cli_publish)."""
    from hf_localnat.hub.curate import curate, report

    curated = curate(tiny_scored_sample, correct_column="correct", num_resamples=200)
    verdicts = curated.ranking.verdicts
    assert verdicts and all(report(curated).count(line) == 1 for line in verdicts)
    assert not any(line in report(curated, verdicts=False) for line in verdicts)
    assert "Mix report" in report(curated, verdicts=False)
