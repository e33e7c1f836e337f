"""`localnat inspect` / `hf_localnat.report`: the step report, parsed with html.parser and rendered in headless Chromium.

Rows are really scored (the tiny random Llama); expected values are derived from the scored rows, the library's own
ranking and a plain recomputation of the selections in the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import ConfigError, ProvenanceError
from hf_localnat.io import save_output
from hf_localnat.provenance import of_dataset
from hf_localnat.report import build_report, write_report
from hf_localnat.scoring.prepare.segment import segment
from hf_localnat.selection.rank import rank_teachers

HOSTILE_TEACHER = '<script>alert("t")</script>&teacher'
HOSTILE_RESPONSE = 'First <script>alert(1)</script> step. Then "quoted" & <b>bold</b>.\n\n<img src=x onerror=alert(2)> end.'


class _Page(HTMLParser):
    """Tags, attributes, text, and the steps of every `.resp` block (span title -> text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.blocks: list[list[tuple[str | None, str]]] = []  # per .resp div: (title of the step span, text)
        self._depth = 0  # inside a .resp div
        self._title: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "div" and attrs.get("class") == "resp":
            self._depth = 1
            self.blocks.append([])
        elif self._depth and tag == "div":
            self._depth += 1
        if self._depth and tag == "span":
            self._title.append(attrs.get("title"))

    def handle_endtag(self, tag):
        if self._depth and tag == "span" and self._title:
            self._title.pop()
        if self._depth and tag == "div":
            self._depth -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._depth:
            self.blocks[-1].append((self._title[-1] if self._title else None, data))


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def score(rows: list[dict], model_path, **options) -> Dataset:
    from hf_localnat import LocalNaturalnessScorer

    scorer = LocalNaturalnessScorer(str(model_path), dtype="float32", device="cpu", **options)
    return scorer.map(Dataset.from_list(rows), batch_size=64, keep_in_memory=True)


@pytest.fixture
def scored(tiny_scored_sample):
    return tiny_scored_sample


def shaded_blocks(page: _Page) -> list[list[tuple[str, str]]]:
    """The `.resp` blocks whose every piece of text is a step span with a score title."""
    return [b for b in page.blocks if b and all(t and t.startswith("step ") for t, _ in b)]


@pytest.mark.slow
def test_report_is_self_contained_and_shows_every_part(scored):
    html = build_report(scored, correct_column="correct", source="sample.parquet")
    page = parse(html)
    tags = {t for t, _ in page.tags}
    assert "script" not in tags and "img" not in tags and "link" not in tags and "iframe" not in tags
    for _, attrs in page.tags:  # no request anywhere: no URL in any attribute
        assert not any("http" in (v or "") or "//" in (v or "") for k, v in attrs.items() if k != "content")
    assert "svg" in tags and sum(t == "style" for t, _ in page.tags) == 1
    text = "".join(page.text)
    ranking = rank_teachers(scored)
    for t in ranking.teachers:  # every teacher's line, with the library's means and intervals
        assert f"{t.mean_lalp:.4f}" in text and f"[{t.lalp_ci[0]:.4f}, {t.lalp_ci[1]:.4f}]" in text
    for heading in ("Teacher ranking", "The mix", "Questions, every step shaded", "least natural steps"):
        assert heading in text


def test_the_teacher_summary_shows_p_top_winner_share_and_the_verdicts(scored):
    html = build_report(scored, correct_column="correct")
    text = "".join(parse(html).text)
    evidence = rank_teachers(scored).evidence["lalp"]
    assert "LALP p_top" in text and "LALP winner share" in text
    for t in evidence.order:  # each teacher's row ends with its p_top and winner share
        row = html.split(f'<td class="l">{t}</td>')[1].split("</tr>")[0]
        assert row.endswith(f"<td>{evidence.p_top[t]:.2f}</td><td>{evidence.winner_share[t]:.2f}</td>")
    assert evidence.verdict in text and evidence.verdict.startswith("LALP: ")


def test_every_shown_step_is_the_scored_step_with_its_exact_score(scored):
    html = build_report(scored, correct_column="correct")
    page = parse(html)
    by_text = {}
    for row in scored:
        by_text.setdefault(row["response"], row)
    blocks = shaded_blocks(page)
    assert blocks, "no shaded response in the report"
    whole = 0
    for block in blocks:
        text = "".join(piece for _, piece in block)
        row = by_text.get(text)
        if row is None:  # a least-natural-steps quote (context + step), not a whole response
            continue
        whole += 1
        spans = segment(row["response"])
        assert len(spans) == row["num_steps"]
        # pieces of one span may arrive as several text events: group by title, in order
        titles = list(dict.fromkeys(t for t, _ in block))
        assert len(titles) == row["num_steps"]
        for j, title in enumerate(titles):
            step_text = "".join(p for t, p in block if t == title)
            a, b = spans[j]
            assert step_text == row["response"][a:b]
            expected = row["lalp_steps"][j]
            assert title == f"step {j + 1}/{row['num_steps']}: " + (
                "no score (no token of its own)" if expected is None else f"{expected:.4f}")
    assert whole >= len(set(scored["teacher"]))  # at least one question's responses, every teacher


def _plain_picks(rows: list[dict], by: str) -> dict[str, int]:
    best: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row[by] is None or row["correct"] is not True:
            continue
        q = row["question_id"]
        if q not in best or row[by] > rows[best[q]][by]:
            best[q] = i
    return best


def test_default_questions_are_where_lalp_and_galp_disagree_most(scored):
    # GALP negated: its picks then differ from LALP's on most questions, so the choice is exercised
    scored = scored.map(lambda r: {"galp": None if r["galp"] is None else -r["galp"]})
    rows = scored.to_list()
    lalp, galp = _plain_picks(rows, "lalp"), _plain_picks(rows, "galp")
    gaps = sorted(((rows[lalp[q]]["lalp"] - rows[galp[q]]["lalp"]) + (rows[galp[q]]["galp"] - rows[lalp[q]]["galp"]), q)
                  for q in lalp if q in galp and lalp[q] != galp[q])
    expected = [q for _, q in sorted(gaps, key=lambda g: -g[0])][:2]
    html = build_report(scored, correct_column="correct", num_questions=2)
    section = html[html.index("Questions, every step shaded"):html.index("least natural steps of each teacher")]
    assert len(expected) == 2
    assert [unescape(h) for h in re.findall(r"<h3>(.*?)</h3>", section)] == expected
    assert f"The {len(expected)} of {len(gaps)} questions where the LALP and GALP selections differ most" in html


def test_hostile_names_and_responses_are_escaped(tiny_model_path, tmp_path):
    rows = [{"question_id": 'q"1<x>', "question": "Why <script>alert(3)</script>?", "teacher": HOSTILE_TEACHER,
             "response": HOSTILE_RESPONSE},
            {"question_id": 'q"1<x>', "question": "Why <script>alert(3)</script>?", "teacher": "plain",
             "response": "A plain answer. It is fine."}]
    scored = score(rows, tiny_model_path)
    html = build_report(scored, questions=['q"1<x>'], title="<script>t</script>")
    page = parse(html)
    assert not any(t in ("script", "img", "x") for t, _ in page.tags)
    assert not any("onerror" in attrs for _, attrs in page.tags)
    text = "".join(page.text)
    assert HOSTILE_TEACHER in text and "Why <script>alert(3)</script>?" in text and 'q"1<x>' in text
    assert any("".join(p for _, p in b) == HOSTILE_RESPONSE for b in shaded_blocks(page))
    out = write_report(tmp_path / "r.html", html)
    assert out.read_text(encoding="utf-8") == html


def test_steps_from_another_segmenter_are_refused_or_flagged(scored):
    with pytest.raises(ProvenanceError, match="--segmenter paragraph contradicts"):
        build_report(scored, segmenter="paragraph")  # the scores record 'sentence'
    unrecorded = Dataset.from_list(scored.to_list())  # rows that do not record how they were scored
    assert of_dataset(unrecorded) is None
    html = build_report(unrecorded, segmenter="paragraph", num_questions=1)
    text = "".join(parse(html).text)
    mismatched = sum(len(segment(r, "paragraph")) != n for r, n in zip(scored["response"], scored["num_steps"]))
    assert mismatched > 0
    assert "scored with another segmenter? Shown without shading." in text


def test_given_steps_come_from_their_column(tiny_model_path):
    rows = [{"question_id": "q1", "question": "2+2?", "teacher": t, "steps": steps}
            for t, steps in (("a", ["Two plus two. ", "That is 4."]), ("b", ["It is ", "four, ", "so 4."]))]
    scored = score(rows, tiny_model_path, segmenter="given")
    page = parse(build_report(scored, questions=["q1"]))  # the segmenter comes from the recorded provenance
    texts = ["".join(p for _, p in b) for b in shaded_blocks(page)]
    assert "Two plus two. That is 4." in texts and "It is four, so 4." in texts


@pytest.mark.slow
def test_size_bound_is_kept_and_stated(scored):
    full = build_report(scored)
    bound = len(full.encode()) - 2000
    small = build_report(scored, max_bytes=bound)
    assert len(small.encode()) <= bound and "bounds above were halved until it fit" in small
    with pytest.raises(ConfigError, match="does not fit"):
        build_report(scored, max_bytes=2000)


def test_cli_inspect_writes_and_refuses(scored, tmp_path):
    source = tmp_path / "scored.parquet"
    save_output(scored, source, provenance=of_dataset(scored))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["inspect", str(source), "-o", str(out), "--correct-column", "correct"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and out.read_text().startswith("<!DOCTYPE html>")
    assert of_dataset(scored).describe() in unescape(out.read_text())
    again = CliRunner().invoke(main, ["inspect", str(source), "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = CliRunner().invoke(main, ["inspect", str(source), "-o", str(tmp_path / "x.html"), "--question", "nope"])
    errors = [line for line in unknown.output.splitlines() if line.startswith("Error:")]
    assert unknown.exit_code == 1 and len(errors) == 1 and "not in the scored file" in errors[0]
    bad = CliRunner().invoke(main, ["inspect", str(source), "-o", str(tmp_path / "x.txt")])
    assert bad.exit_code == 1 and "ending in .html" in bad.output


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
                shutil.which("chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium; "
                                             ".ci/run installs it)")
def test_renders_in_headless_chromium(scored, tmp_path):
    html = build_report(scored, correct_column="correct", title="Browser check")
    page = write_report(tmp_path / "report.html", html)
    base = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    assert "Browser check" in "".join(rendered.text)
    assert sum(t == "svg" for t, _ in rendered.tags) >= 3  # two score panels and the legend
    assert len(shaded_blocks(rendered)) == len(shaded_blocks(parse(html)))
    shot = tmp_path / "report.png"
    run = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", run.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank canvas


def test_report_and_calibration_never_import_torch():
    code = ("import sys, hf_localnat.report, hf_localnat.selection.calibrate, hf_localnat.cli.inspect; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
