"""`localnat install-metric`: `evaluate.load("local_naturalness")` by name, from a folder outside the checkout, in a
fresh HF_HOME, offline and against a Hub without the Space; and the built wheel carries the metric module."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hf_localnat import LocalNaturalnessScorer
from hf_localnat.hub.metric_cache import VERSION_KEY

from .test_metric import QUESTIONS, RESPONSES, _as_metric

REPO = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO / "metric" / "local_naturalness"
CACHED_MODULE = "evaluate_modules.metrics.evaluate-metric--local_naturalness."
STALE_HINT = "run `localnat install-metric`"

LOAD = """
import json, sys, warnings
warnings.simplefilter("always")
import evaluate
module = evaluate.load("local_naturalness")
out = {"module": type(module).__module__}
if len(sys.argv) > 1:
    responses, questions = json.loads(sys.argv[2]), json.loads(sys.argv[3])
    out["result"] = module.compute(predictions=responses, questions=questions, model_id=sys.argv[1], window=1)
print("RESULT " + json.dumps(out))
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens there


def _env(home: Path, **extra: str) -> dict[str, str]:
    """This test session's environment with a fresh HF_HOME (every cache under it) and this checkout importable."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_DATASETS_CACHE", "HF_MODULES_CACHE", "HF_METRICS_CACHE", "HF_EVALUATE_CACHE")}
    env.update(HF_HOME=str(home), PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]), **extra)
    return env


def _offline(home: Path) -> dict[str, str]:
    return _env(home, HF_HUB_OFFLINE="1", HF_EVALUATE_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _install(env: dict[str, str], cwd: Path) -> str:
    return _run(["-c", "from hf_localnat.cli import main; main(prog_name='localnat')", "install-metric"], env, cwd).stdout


def _load(env: dict[str, str], cwd: Path, *args: str) -> tuple[dict, str]:
    done = _run(["-c", LOAD, *args], env, cwd)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), done.stderr


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_install_then_load_by_name_offline_and_against_a_hub_without_the_space(tmp_path, tiny_model_path, hub_server):
    home, project = tmp_path / "hf_home", tmp_path / "project"
    project.mkdir()
    modules = home / "modules" / "evaluate_modules" / "metrics"
    other = modules / "evaluate-metric--accuracy" / ("a" * 64) / "accuracy.py"  # another module: never touched
    other.parent.mkdir(parents=True)
    other.write_text("# accuracy\n")
    before_other = _snapshot(other.parents[1])

    out = _install(_offline(home), project)
    installed = next(modules.glob("evaluate-metric--local_naturalness/*/local_naturalness.py"))
    assert "Installed the metric local_naturalness" in out and str(installed) in out
    assert installed.read_bytes() == (METRIC_DIR / "local_naturalness.py").read_bytes()
    assert _snapshot(other.parents[1]) == before_other
    first = _snapshot(home)
    assert "nothing changed" in _install(_offline(home), project)
    assert _snapshot(home) == first  # same files, same bytes, same modification times

    args = (str(tiny_model_path), json.dumps(RESPONSES), json.dumps(QUESTIONS))
    expected = _as_metric(LocalNaturalnessScorer(str(tiny_model_path), window=1).score(RESPONSES, QUESTIONS))
    offline, stderr = _load(_offline(home), project, *args)
    assert offline["module"].startswith(CACHED_MODULE) and offline["result"] == expected
    assert STALE_HINT not in stderr

    seen = len(hub_server.requests)
    online, _ = _load(_env(home, HF_ENDPOINT=hub_server.url), project, *args)
    assert online["module"].startswith(CACHED_MODULE) and online["result"] == expected
    asked = [r for r in hub_server.requests[seen:] if "evaluate-metric/local_naturalness" in r.path]
    assert asked and all(r.status == 404 for r in asked)  # evaluate did ask the Hub first, which has no such Space
    assert _snapshot(other.parents[1]) == before_other


@pytest.mark.slow
def test_a_copy_from_another_version_warns_and_install_replaces_it(tmp_path):
    home, project = tmp_path / "hf_home", tmp_path / "project"
    project.mkdir()
    env = _offline(home)
    _install(env, project)
    module_dir = home / "modules" / "evaluate_modules" / "metrics" / "evaluate-metric--local_naturalness"
    (current,) = [p for p in module_dir.iterdir() if p.is_dir()]
    meta_path = current / "local_naturalness.json"
    meta = json.loads(meta_path.read_text())
    # What an older hf-localnat left: its version beside the same code, and a copy of older code in its own folder.
    meta_path.write_text(json.dumps({**meta, VERSION_KEY: "0.0.1"}))
    older = module_dir / ("b" * 64)
    shutil.copytree(current, older)
    (older / "local_naturalness.py").write_text("# older code\n" + (current / "local_naturalness.py").read_text())
    os.utime(older / "local_naturalness.py", (0, 0))  # evaluate loads the newest copy: the current one
    foreign = module_dir / ("c" * 64)  # a copy evaluate downloaded itself (no version recorded): kept
    shutil.copytree(current, foreign)
    (foreign / "local_naturalness.json").write_text(json.dumps({"original file path": "x", "local file path": "y"}))
    os.utime(foreign / "local_naturalness.py", (0, 0))

    loaded, stderr = _load(env, project)
    assert loaded["module"].startswith(CACHED_MODULE + current.name)
    assert STALE_HINT in stderr and "installed by hf-localnat 0.0.1" in stderr

    out = _install(env, project)
    assert f"Removed the copy of another hf-localnat version: {older}" in out and "Installed the metric" in out
    assert not older.exists() and foreign.is_dir()
    assert json.loads(meta_path.read_text())[VERSION_KEY] == meta[VERSION_KEY]
    assert STALE_HINT not in _load(env, project)[1]


@pytest.mark.slow
def test_the_wheel_carries_the_metric_and_publish_finds_it(tmp_path):
    source = tmp_path / "src"  # a copy of the sources: the build writes build/ and *.egg-info beside them
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_metric")
    shutil.copytree(REPO / "hf_localnat", source / "hf_localnat", ignore=ignore)
    shutil.copytree(METRIC_DIR, source / "metric" / "local_naturalness", ignore=ignore)
    _run(["-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), "."],
         os.environ.copy(), source)
    (wheel,) = (tmp_path / "dist").glob("hf_localnat-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name.rsplit("/", 1)[-1]: archive.read(name) for name in archive.namelist()
                    if name.startswith("hf_localnat/_metric/local_naturalness/")}
        archive.extractall(tmp_path / "site")  # a pure wheel's install is its extraction
    expected = {p.name: p.read_bytes() for p in METRIC_DIR.iterdir() if p.is_file()}
    assert {"local_naturalness.py", "README.md", "app.py", "requirements.txt"} <= set(packaged)
    assert packaged == expected

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    found = _run(["-c", "from hf_localnat.hub.space import metric_folder; print(metric_folder())"], env, tmp_path)
    assert Path(found.stdout.strip()) == tmp_path / "site" / "hf_localnat" / "_metric" / "local_naturalness"
