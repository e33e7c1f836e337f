"""Nothing lost: every output is written beside its target and renamed into place, and `--overwrite` replaces only a
file or a folder this project wrote. Kills are real: a child process is sent SIGKILL while it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from datasets import Dataset

from hf_localnat.errors import OutputExistsError
from hf_localnat.io import OUTPUT_MARKER, atomic_output, load_input, save_output

ROWS = {"question": ["q1", "q2"], "response": ["A. B.", "C."]}


def _leftovers(folder: Path) -> list[str]:
    """Hidden entries (temporary files or folders) in `folder`."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".localnat") or ".localnat-" in p.name)


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file under `path` (or `path` itself) -> its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["out.jsonl", "out.json", "out.parquet", "out.csv", "folder"])
def test_an_existing_output_is_refused_byte_for_byte_then_replaced_with_overwrite(tmp_path, name):
    target = save_output(Dataset.from_dict(ROWS), tmp_path / name)
    before = _snapshot(target)
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        save_output(Dataset.from_dict({"question": ["new"], "response": ["x"]}), tmp_path / name)
    assert _snapshot(target) == before
    save_output(Dataset.from_dict({"question": ["new"], "response": ["x"]}), tmp_path / name, overwrite=True)
    assert load_input(str(target))["question"] == ["new"]
    assert _leftovers(tmp_path) == []


def test_overwrite_never_replaces_a_folder_this_project_did_not_write(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for target in (mine, tmp_path / "mine" / "sub" / ".."):  # `..` is folded before the check
        with pytest.raises(OutputExistsError, match="localnat did not write"):
            save_output(Dataset.from_dict(ROWS), target, overwrite=True)
    assert (mine / "notes.txt").read_text() == "my notes" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # the parent of a file output: `dir/a/..` is `dir` itself
    with pytest.raises(OutputExistsError, match="localnat did not write"):
        save_output(Dataset.from_dict(ROWS), f"{mine}/a/..", overwrite=True)
    assert (mine / "notes.txt").read_text() == "my notes"


def test_a_folder_written_here_is_marked_and_may_be_replaced(tmp_path):
    folder = save_output(Dataset.from_dict(ROWS), tmp_path / "saved")
    assert (folder / OUTPUT_MARKER).is_file()
    reloaded = load_input(str(folder))  # memory-mapped from the folder being replaced
    save_output(reloaded.select([1]), folder, overwrite=True)
    assert load_input(str(folder))["question"] == ["q2"] and (folder / OUTPUT_MARKER).is_file()


def test_symlinks_are_refused_unless_overwrite(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("{}\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "elsewhere" / "nothing.jsonl")
    for target in (link, dangling):
        with pytest.raises(OutputExistsError, match="symbolic link"):
            save_output(Dataset.from_dict(ROWS), target)
    assert real.read_text() == "{}\n" and not (tmp_path / "elsewhere").exists()
    save_output(Dataset.from_dict(ROWS), link, overwrite=True)  # written through the link, which stays a link
    assert link.is_symlink() and load_input(str(real))["question"] == ["q1", "q2"]
    save_output(Dataset.from_dict(ROWS), dangling, overwrite=True)
    assert load_input(str(tmp_path / "elsewhere" / "nothing.jsonl")).num_rows == 2


def test_output_equal_to_input(tmp_path):
    for name in ("data.jsonl", "data.parquet", "data"):
        path = save_output(Dataset.from_dict(ROWS), tmp_path / name)
        loaded = load_input(str(path))
        save_output(loaded.map(lambda row: {"n": len(row["response"])}), path, overwrite=True)
        assert load_input(str(path)).to_dict() == {**ROWS, "n": [5, 2]}
    assert _leftovers(tmp_path) == []


def test_an_error_inside_a_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(target) as staged:
            staged.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------ real kills
_WRITER = textwrap.dedent("""
    import sys
    from datasets import Dataset
    from hf_localnat.io import save_output
    rows = int(sys.argv[2])
    text = "a reasonably long response sentence that takes some time to serialise. " * 8
    data = Dataset.from_dict({"question": [f"q{i}" for i in range(rows)], "response": [text] * rows})
    print("ready", flush=True)
    save_output(data, sys.argv[1], overwrite=True)
""")


def _kill_while_writing(tmp_path: Path, target: Path, rows: int) -> bool:
    """Start a process that writes `rows` rows to `target`; SIGKILL it as soon as its temporary output appears.
    Returns whether the kill happened mid-write (the temporary output was seen while the process ran)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(rows)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    seen = False
    while process.poll() is None and time.monotonic() < deadline:
        if any(p.name.startswith(f".{target.name}.localnat-tmp-") for p in target.parent.iterdir()):
            seen = True
            time.sleep(0.05)  # let it write a little
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return seen and process.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("name", ["data.jsonl", "saved"])
def test_sigkill_mid_write_leaves_the_old_output_and_a_rerun_cleans_up(tmp_path, name):
    old = Dataset.from_dict({"question": ["old"], "response": ["kept"]})
    target = save_output(old, tmp_path / name)
    before = _snapshot(target)
    assert _kill_while_writing(tmp_path, target, 200_000), "the writer finished before it could be killed"
    assert _snapshot(target) == before  # the old output, byte for byte
    assert _leftovers(tmp_path), "the killed writer's temporary output should still be there"
    # the next write to the same target removes what the killed one left
    save_output(Dataset.from_dict(ROWS), target, overwrite=True)
    assert load_input(str(target))["question"] == ["q1", "q2"] and _leftovers(tmp_path) == []
