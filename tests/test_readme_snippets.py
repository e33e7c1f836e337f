"""Every fenced code block of README.md, of the docs pages (docs/*.md), and of the dataset card `localnat publish`
writes, runs as written.

A block is marked by an HTML comment on the line before its fence (invisible on GitHub and on the Hub):

    <!-- snippet: needs-gpu -->                         not run here: it needs a GPU (or a GPU cluster)
    <!-- snippet: needs-hub -->                         not run here: it needs the real Hub (or a cloud bucket)
    <!-- snippet: needs-llm -->                         not run here: it needs an LLM endpoint (`localnat segment`
                                                        runs against a real local one in test_segment_llm_server.py)
    <!-- snippet: setup -->                             not run here: it builds the environment these tests run in
    <!-- snippet: benchmark -->                         not run here: a measurement of minutes that rewrites
                                                        benchmarks/RESULTS.md
    <!-- snippet: hub-model=ORG/NAME -->                run, with the Hub model ORG/NAME replaced by the embedded
                                                        student (its name in a shell block; its converted folder,
                                                        which transformers also loads, in a Python block)
    <!-- snippet: files=traces.jsonl,scored.parquet --> run in a folder holding these prepared files (PREPARED
                                                        below) and these files of the clone (linked)

Blocks in `python` and `bash` are run (a bash block with `set -eo pipefail`, the venv's bin first on PATH, in a fresh
folder; a Python block as a script there); every other language (`text`: printed output, `bibtex`) is not a
command. Publishing and pulling go to the local Hub server of tests/hub_server.py (HF_ENDPOINT points there), so only
the real Hub's models and datasets count as `needs-hub`.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The Markdown pages whose code blocks run: the README and every docs page (docs/spec.md includes SPEC.md, which
#: holds no code block).
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("python", "bash")
SKIP_MARKERS = {
    "needs-gpu": "needs a GPU",
    "needs-hub": "needs the real Hub",
    "needs-llm": "needs an LLM endpoint (tests/test_segment_llm_server.py runs `localnat segment` against one)",
    "setup": "builds the environment these tests run in (.ci/run runs `make test`)",
    "benchmark": "a measurement of minutes that rewrites benchmarks/RESULTS.md",
}
VALUE_MARKERS = ("hub-model", "files")
#: The embedded student's name, as `--model` takes it.
EMBEDDED_NAME = "smollm2-135m-instruct"
#: Seconds one snippet may take (the slowest, the DataTrove pipeline, takes well under a minute).
SNIPPET_TIMEOUT_S = 600

_FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*snippet:\s*(.*?)\s*-->\s*$")


@dataclass
class Snippet:
    """One fenced code block: where it is, its language and code, and the markers on the line before it."""

    source: str
    line: int
    language: str
    code: str
    flags: set[str] = field(default_factory=set)
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        for flag in sorted(self.flags):
            if flag in SKIP_MARKERS:
                return SKIP_MARKERS[flag]
        return None

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.skip_reason is None

    @property
    def files(self) -> list[str]:
        return [name for value in self.values.get("files", []) for name in value.split(",") if name]

    def substituted(self, embedded_folder: str) -> str:
        """The code with each marked Hub model replaced by the embedded student."""
        code = self.code
        for model in self.values.get("hub-model", []):
            if self.language == "python":
                code = code.replace(repr(model), repr(embedded_folder)).replace(f'"{model}"', repr(embedded_folder))
            else:
                code = code.replace(model, EMBEDDED_NAME)
        return code


def extract_snippets(text: str, source: str) -> list[Snippet]:
    """Every fenced code block of the Markdown `text`, with the `<!-- snippet: ... -->` markers just above it.

    Raises:
        ValueError: a marker that is not on the line right before a fence, or a fence that is never closed.
    """
    lines = text.splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if marker and not (i + 1 < len(lines) and _FENCE.match(lines[i + 1])):
            raise ValueError(f"{source}:{i + 1}: a snippet marker must be on the line right before a fence")
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), None)
        if end is None:
            raise ValueError(f"{source}:{i + 1}: the fence is never closed")
        snippet = Snippet(source, i + 1, language, "\n".join(lines[i + 1:end]) + "\n")
        above = _MARKER.match(lines[i - 1]) if i else None
        for token in (above.group(1).split() if above else []):
            name, _, value = token.partition("=")
            if value:
                snippet.values.setdefault(name, []).append(value)
            else:
                snippet.flags.add(name)
        snippets.append(snippet)
        i = end + 1
    return snippets


def readme_snippets() -> list[Snippet]:
    """The code blocks of README.md and of every docs page, each named by its page's path and line."""
    return [snippet for page in PAGES
            for snippet in extract_snippets(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))]


# --- fast: the markers and the code itself -------------------------------------------------------------------------

def test_extract_snippets_reads_fences_and_markers():
    text = ("x\n<!-- snippet: needs-hub files=a.jsonl,b.parquet hub-model=org/m -->\n```bash\nls\n```\n\n"
            "````python\nprint('```')\n````\n```\nplain\n```\n")
    first, second, third = extract_snippets(text, "t.md")
    assert (first.line, first.language, first.code, first.flags) == (3, "bash", "ls\n", {"needs-hub"})
    assert first.files == ["a.jsonl", "b.parquet"] and first.values["hub-model"] == ["org/m"]
    assert first.skip_reason == "needs the real Hub" and not first.runs
    assert (second.language, second.code, second.runs) == ("python", "print('```')\n", True)
    assert (third.language, third.runs) == ("", False)
    with pytest.raises(ValueError, match="right before a fence"):
        extract_snippets("<!-- snippet: needs-gpu -->\n\n```bash\nls\n```\n", "t.md")
    with pytest.raises(ValueError, match="never closed"):
        extract_snippets("```bash\nls\n", "t.md")


def test_every_readme_block_is_run_or_marked():
    snippets = readme_snippets()
    assert len(snippets) > 20 and {s.source for s in snippets} >= {"README.md", "docs/python.md", "docs/cli.md"}
    for snippet in snippets:
        assert snippet.language, f"{snippet.id}: give the fence a language (text for printed output)"
        unknown = snippet.flags - set(SKIP_MARKERS) | set(snippet.values) - set(VALUE_MARKERS)
        assert not unknown, f"{snippet.id}: unknown snippet marker(s) {sorted(unknown)}"
        for model in snippet.values.get("hub-model", []):
            assert model in snippet.code, f"{snippet.id}: marked hub-model {model} is not in the block"
        for name in snippet.files:
            assert name in PREPARED or (ROOT / name).exists(), \
                f"{snippet.id}: {name!r} is neither prepared ({sorted(PREPARED)}) nor a file of the clone"
    assert sum(s.runs for s in snippets) >= 15


@pytest.mark.parametrize("snippet", [s for s in readme_snippets() if s.language in RUN_LANGUAGES],
                         ids=lambda s: s.id)
def test_readme_block_parses(snippet, tmp_path):
    """Python blocks compile and bash blocks pass `bash -n`, skipped ones included."""
    code = snippet.substituted("/embedded")
    if snippet.language == "python":
        ast.parse(code, filename=snippet.id)
    else:
        result = subprocess.run(["bash", "-n"], input=code, text=True, capture_output=True)
        assert result.returncode == 0, f"{snippet.id}: {result.stderr}"


# --- slow: run them ------------------------------------------------------------------------------------------------

#: The files a snippet may ask for with `files=`; built once by `prepared` below.
PREPARED = {
    "traces.jsonl": "the bundled sample's first 3 questions x 4 teachers (question, response, teacher, correct)",
    "traces/": "a folder holding traces.jsonl (a DataTrove reader's input)",
    "scored.parquet": "traces.jsonl scored by `localnat score` with the embedded student",
    "scored/": "a DataTrove writer's folder: scored.parquet's rows as JSON Lines, and hf_localnat.json",
    "a.parquet": "scored.parquet's rows of teacher-clear and teacher-terse",
    "b.parquet": "scored.parquet's rows of teacher-verbose and teacher-odd",
    "teacher-a.jsonl": "traces.jsonl's rows of teacher-clear",
    "teacher-b.jsonl": "traces.jsonl's rows of teacher-terse",
    "curated.parquet": "`localnat select` of scored.parquet's first 2 questions (2 rows: a cheap SFT run)",
    "localnat-demo/": "the repo folder `localnat publish --dry-run --keep-folder` writes for scored.parquet",
    "agents.parquet": "the bundled OpenAI agent traces (hf_localnat/data/agent_traces_openai.jsonl) scored turn by "
                      "turn with the embedded student (--segmenter turns, lalp, galp and rsr)",
}


def clean_env() -> dict[str, str]:
    """This session's environment (its isolated HF_HOME, the local Hub's HF_ENDPOINT) with the venv's bin first on
    PATH, as after `source .venv/bin/activate`, and nothing of pytest's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHON", "VIRTUAL_ENV", "COV_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    return env


def run(args: list[str], cwd: Path, timeout: float = SNIPPET_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=clean_env(), text=True, capture_output=True, timeout=timeout)


def check(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, hub_server, embedded_path) -> Path:
    """A folder of every file in PREPARED, built with the real commands; metric installed in this HF_HOME."""
    import json

    import pyarrow.parquet as pq

    from hf_localnat.sample import SAMPLE_PATH

    folder = tmp_path_factory.mktemp("prepared")
    rows = SAMPLE_PATH.read_text(encoding="utf-8").splitlines(keepends=True)[:12]
    (folder / "traces.jsonl").write_text("".join(rows), encoding="utf-8")
    (folder / "traces").mkdir()
    shutil.copy(folder / "traces.jsonl", folder / "traces" / "traces.jsonl")
    by_teacher = {t: [r for r in rows if json.loads(r)["teacher"] == t] for t in ("teacher-clear", "teacher-terse")}
    (folder / "teacher-a.jsonl").write_text("".join(by_teacher["teacher-clear"]), encoding="utf-8")
    (folder / "teacher-b.jsonl").write_text("".join(by_teacher["teacher-terse"]), encoding="utf-8")
    check(run(["localnat", "score", "traces.jsonl", "-o", "scored.parquet"], folder), "scoring traces.jsonl")
    table = pq.read_table(folder / "scored.parquet")
    teachers = table.column("teacher").to_pylist()
    questions = table.column("question_id").to_pylist()
    for name, keep in (("a.parquet", {"teacher-clear", "teacher-terse"}),
                       ("b.parquet", {"teacher-verbose", "teacher-odd"})):
        pq.write_table(table.filter([t in keep for t in teachers]), folder / name)
    pq.write_table(table.filter([q in ("q01", "q02") for q in questions]), folder / "small.parquet")
    check(run(["localnat", "select", "small.parquet", "-o", "curated.parquet", "--correct-column", "correct"],
              folder), "selecting curated.parquet")
    (folder / "scored").mkdir()
    (folder / "scored" / "00000.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in table.to_pylist()), encoding="utf-8")
    (folder / "scored" / "hf_localnat.json").write_bytes(table.schema.metadata[b"hf_localnat"])
    check(run(["localnat", "publish", "scored.parquet", "--repo-id", "you/demo", "--correct-column", "correct",
               "--dry-run", "--keep-folder", "localnat-demo"], folder), "writing localnat-demo/")
    check(run(["localnat", "score", str(ROOT / "hf_localnat" / "data" / "agent_traces_openai.jsonl"), "-o",
               "agents.parquet", "--segmenter", "turns", "--teacher-column", "model", "--question-column",
               "instance_id", "--scores", "lalp,galp,rsr"], folder, timeout=2 * SNIPPET_TIMEOUT_S),
          "scoring agents.parquet")  # 56 turns in exact mode: minutes on a busy CPU
    check(run(["localnat", "install-metric"], folder), "localnat install-metric")
    missing = [name for name in PREPARED if not (folder / name).exists()]
    assert not missing, missing
    return folder


def run_snippet(snippet: Snippet, prepared: Path, embedded_path: Path, cwd: Path) -> None:
    """Run `snippet` as written in `cwd` (after copying its `files=` from `prepared`); fail with its output."""
    for name in snippet.files:
        target = cwd / name.rstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)  # a file of the clone may sit in a folder (hf_localnat/data/)
        if name not in PREPARED:  # a file of the clone, as in a checkout
            target.symlink_to(ROOT / name.rstrip("/"))
            continue
        source = prepared / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    code = snippet.substituted(str(embedded_path))
    if snippet.language == "python":
        (cwd / "snippet.py").write_text(code, encoding="utf-8")
        result = run([str(Path(sys.executable)), "snippet.py"], cwd)
    else:
        (cwd / "snippet.sh").write_text("set -eo pipefail\n" + code, encoding="utf-8")
        result = run(["bash", "snippet.sh"], cwd)
    check(result, f"{snippet.id} ({snippet.language} block)")


@pytest.mark.slow
@pytest.mark.parametrize("snippet", [s for s in readme_snippets() if s.language in RUN_LANGUAGES],
                         ids=lambda s: s.id)
def test_readme_snippet_runs(snippet, request, embedded_path, tmp_path):
    if snippet.skip_reason:
        pytest.skip(f"{snippet.id} is marked: it {snippet.skip_reason}")
    run_snippet(snippet, request.getfixturevalue("prepared"), embedded_path, tmp_path)


@pytest.mark.slow
def test_card_snippets_run(prepared, embedded_path, tmp_path):
    """The card `localnat publish` writes (to the local Hub): its load, train and reproduce blocks run as written,
    the student it names replaced by the embedded one, as a `hub-model` marker does."""
    folder = tmp_path / "repo"
    check(run(["localnat", "publish", "small.parquet", "--repo-id", "you/card-snippets", "--correct-column", "correct",
               "--keep-folder", str(folder)], prepared), "publishing small.parquet")
    snippets = [s for s in extract_snippets((folder / "README.md").read_text(encoding="utf-8"), "card")
                if s.language in RUN_LANGUAGES]
    assert [s.language for s in snippets] == ["python", "python", "bash"]  # load it, train on it, reproduce
    for snippet in snippets:
        snippet.values["hub-model"] = re.findall(r'SFTTrainer\(model="([^"]+)"', snippet.code)
        cwd = tmp_path / f"block-{snippet.line}"
        cwd.mkdir()
        run_snippet(snippet, prepared, embedded_path, cwd)
    assert (tmp_path / f"block-{snippets[2].line}" / "rebuilt" / "README.md").exists()
