"""The docs site: `mkdocs build --strict` passes (every link and anchor resolves, every page is in the nav, SPEC.md is
included whole), and every `hf_localnat.…` name that README.md, docs/*.md and SPEC.md mention exists.

The code blocks of these pages are run by tests/test_readme_snippets.py.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Every Markdown source a reader sees: the README, the docs pages, and the SPEC (which docs/spec.md includes).
PAGES = [ROOT / "README.md", ROOT / "SPEC.md", *sorted(DOCS.glob("*.md"))]
#: File names that look like dotted names: the provenance sidecar and the DataTrove step's provenance file.
FILE_NAMES = {"hf_localnat.json"}

# `hf_localnat.a.b` not preceded by a word character, `.`, `/` or `-` (so `out.jsonl.hf_localnat.json` and
# `hf_localnat/io/read.py` are file names, not Python names).
_DOTTED = re.compile(r"(?<![\w./-])hf_localnat(?:\.[A-Za-z_]\w*)+")
_FROM_IMPORT = re.compile(r"^\s*from (hf_localnat(?:\.\w+)*) import \(?([\w, ]+)\)?", re.M)


def mentioned_names(text: str) -> set[str]:
    """Every dotted `hf_localnat.…` name in `text`, and `from hf_localnat.x import a, b` as `hf_localnat.x.a`, …."""
    names = {m for m in _DOTTED.findall(text) if m not in FILE_NAMES}
    for module, imported in _FROM_IMPORT.findall(text):
        names |= {f"{module}.{name.split(' as ')[0].strip()}" for name in imported.split(",") if name.strip()}
    return names


def resolve(name: str) -> object:
    """The object `name` names: the longest importable module prefix, then attributes.

    Raises:
        LookupError: no such module or attribute, saying which part is missing.
    """
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and not module_name.startswith(error.name) and error.name != module_name:
                raise  # the module exists but one of its own imports is missing: a broken install, not a bad name
            continue
        for i, attribute in enumerate(parts[cut:], start=cut):
            if not hasattr(obj, attribute):
                raise LookupError(f"{name}: {'.'.join(parts[:i])} has no attribute {attribute!r}")
            obj = getattr(obj, attribute)
        return obj
    raise LookupError(f"{name}: no module {parts[0]!r}")


def test_mentioned_names_reads_dotted_names_and_imports():
    text = ("`hf_localnat.io.to_long(ds)` and hf_localnat.scores.SCORES; out.jsonl.hf_localnat.json, `hf_localnat.json`,"
            " hf_localnat/io/read.py\nfrom hf_localnat.hub.space import metric_folder, publish_metric_space\n")
    assert mentioned_names(text) == {"hf_localnat.io.to_long", "hf_localnat.scores.SCORES", "hf_localnat.hub.space",
                                     "hf_localnat.hub.space.metric_folder", "hf_localnat.hub.space.publish_metric_space"}
    assert resolve("hf_localnat.io.to_long").__name__ == "to_long"
    with pytest.raises(LookupError, match="hf_localnat.provenance has no attribute 'read'"):
        resolve("hf_localnat.provenance.read")  # the README once named it


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_python_path_exists(page):
    missing = []
    for name in sorted(mentioned_names(page.read_text(encoding="utf-8"))):
        try:
            resolve(name)
        except LookupError as error:
            missing.append(str(error))
    assert not missing, f"{page.name} names Python paths that do not exist:\n" + "\n".join(missing)


def test_the_docs_name_some_python_paths():
    assert len(set().union(*(mentioned_names(p.read_text(encoding="utf-8")) for p in PAGES))) >= 15


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert sorted(p.name for p in DOCS.glob("*.md") if f": {p.name}" not in nav) == []


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (pip install -e '.[test]')")
def test_mkdocs_strict_build(tmp_path):
    """Strict: a broken link or anchor, a page outside the nav, or a missing include fails the build."""
    site = tmp_path / "site"
    result = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    spec = (site / "spec" / "index.html").read_text(encoding="utf-8")
    for heading in re.findall(r"^## (\d+\. .+)$", (ROOT / "SPEC.md").read_text(encoding="utf-8"), flags=re.M)[:3]:
        assert heading.split(". ", 1)[1].split(" ")[0] in spec, heading  # SPEC.md's sections are on the page
    assert "--8&lt;--" not in spec and "--8<--" not in spec


def test_the_readme_links_to_files_that_exist():
    """README.md is read on GitHub, outside the docs site: each relative link names a file or folder of the clone."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {m.split("#")[0] for m in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", m)}
    assert "docs/python.md" in targets
    assert sorted(t for t in targets if t and not (ROOT / t).exists()) == []
