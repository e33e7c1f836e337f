"""The import direction (docs/architecture.md): the package and the selection/Hub commands never load torch or
transformers, and `selection/` and `hub/` never import scoring internals. Checked in fresh interpreters (what a user
gets) and statically over every import statement, lazy ones included."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .test_publish import USER, curated_configs

PACKAGE = Path(__file__).resolve().parents[1] / "hf_localnat"
HEAVY = ("torch", "transformers")

PROBE = """
import json, sys
from hf_localnat.cli import main
try:
    main(sys.argv[1:], prog_name="localnat")
    code = 0
except SystemExit as exit:
    code = exit.code
print("PROBE " + json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _probe(*args: str, cwd: Path) -> dict:
    """Run `localnat ARGS` in a fresh interpreter; its exit code and which of torch/transformers it loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    line = [x for x in done.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(line[-1].removeprefix("PROBE ")) | {"output": done.stdout + done.stderr}


def test_import_hf_localnat_loads_neither_torch_nor_transformers(tmp_path):
    code = f"import sys, hf_localnat; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("command", ["rank-teachers", "select", "publish", "pull"])
def test_help_of_the_selection_and_hub_commands_loads_neither(tmp_path, command):
    probe = _probe(command, "--help", cwd=tmp_path)
    assert probe["code"] == 0 and "Usage: localnat" in probe["output"] and probe["loaded"] == []


@pytest.mark.slow
def test_the_selection_and_hub_commands_load_neither_when_they_run(tmp_path, hub_server, hub_repo_name):
    scored = tmp_path / "scored.parquet"
    curated_configs(hub_repo_name)["scored"].to_parquet(str(scored))
    repo_id = f"{USER}/{hub_repo_name}"
    runs = {
        "rank-teachers": ["rank-teachers", str(scored), "--json", "--resamples", "20"],
        "select": ["select", str(scored), "-o", str(tmp_path / "kept.parquet")],
        # the file records no provenance, so publish needs the student and window stated
        "publish": ["publish", str(scored), "--repo-id", repo_id, "--model", "smollm2-135m-instruct", "--window", "4"],
        "pull": ["pull", repo_id, "--config", "lalp", "-o", str(tmp_path / "pulled.parquet")],
    }
    for name, args in runs.items():  # in this order: pull reads what publish pushed
        probe = _probe(*args, cwd=tmp_path)
        assert probe["code"] == 0, (name, probe["output"][-2000:])
        assert probe["loaded"] == [], (name, probe["loaded"])
    assert (tmp_path / "kept.parquet").is_file() and (tmp_path / "pulled.parquet").is_file()


def _imports(path: Path) -> set[str]:
    """Absolute names of every module an `import` statement in `path` names (relative ones resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.level and node.module else (node.module if not node.level else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from .. import scoring`
    return names


@pytest.mark.parametrize("layer", ["selection", "hub"])
def test_selection_and_hub_never_import_scoring_torch_or_transformers(layer):
    forbidden = ("torch", "transformers", "hf_localnat.scoring", "hf_localnat.cli")
    found = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }
    assert not found, sorted(found)


def test_the_static_check_sees_relative_and_lazy_imports(tmp_path):
    # The check above must not pass vacuously: scoring/ itself imports torch, lazily and relatively too.
    names = set().union(*(_imports(p) for p in (PACKAGE / "scoring").rglob("*.py")))
    assert "torch" in names and "hf_localnat.scoring.compute.forward" in names and "hf_localnat.errors" in names


#: What each layer may import of the package (README/docs "Architecture": cli -> jobs -> scoring | selection | hub |
#: report -> io -> records, provenance, scores, errors, wording); the base modules are allowed to every layer.
BASE = ("hf_localnat.errors", "hf_localnat.records", "hf_localnat.provenance", "hf_localnat.scores",
        "hf_localnat.wording")


def _package_imports(path: Path) -> set[str]:
    """The `hf_localnat` modules `path` imports (a name imported from a module counts as that module)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
               for p in PACKAGE.rglob("*.py")}
    found = {name if name in modules else name.rsplit(".", 1)[0] for name in _imports(path)
             if name.startswith("hf_localnat")} & modules
    return {name for name in found if not any(other.startswith(name + ".") for other in found)}  # `from .. import x`


def test_io_imports_nothing_above_it():
    found = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted((PACKAGE / "io").rglob("*.py"))
        for name in _package_imports(path)
        if not (name.startswith("hf_localnat.io") or name in BASE)
    }
    assert not found, sorted(found)


def test_no_import_circle_in_the_package():
    # Lazy imports included: a circle of modules that import each other, even inside functions, is a tangle.
    graph = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"):
             _package_imports(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    graph = {module: {n for n in names if n in graph and n != module} for module, names in graph.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                circles.append(path[path.index(name):] + [name])
            elif name not in state:
                visit(name, path + [name])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, circles
