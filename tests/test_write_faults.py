"""Environment faults while writing (issue 21, item 2): no space left (ENOSPC), permission denied, a read-only file
system (EROFS), an I/O error (EIO) or a folder that vanished, at every write (outputs, sidecars, checkpoints, repo
folders, reports, plots, the metric and model caches). Each is one line (a `WriteError`) naming the path and the
cause, saying the old output is intact and that a rerun resumes; nothing partial is left at the target and every
other output stays as it was. Errors are injected at the write calls, and once for real on a 64 KiB tmpfs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.errors import WriteError
from hf_localnat.io import atomic_output, load_input, save_output
from hf_localnat.provenance import Provenance

PROVENANCE = Provenance(4, "sentence", "auto", None, "exact", "float32",
                        {"kind": "hub", "id": "a/b", "revision": "0" * 40}, "0.1.0")
FAULTS = [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO, errno.ENOENT]
CAUSES = {errno.ENOSPC: "no space left", errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
          errno.EIO: "input/output error", errno.ENOENT: "is gone"}


def _fault(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _assert_one_line(message: str, path, code: int) -> None:
    assert "\n" not in message.strip(), message
    assert str(path) in message and CAUSES[code] in message, message
    assert "intact" in message and "rerun" in message and "resumes" in message, message


def _error_line(result) -> str:
    """The command's one error line (progress bars aside), checking there is one and no traceback."""
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _dataset(tag: str) -> Dataset:
    return Dataset.from_dict({"question": [f"q-{tag}"], "lalp": [-1.0], "galp": [-1.0]})


@pytest.mark.parametrize("code", FAULTS)
@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet", "out"])
def test_a_failing_rename_leaves_the_old_output_and_its_sidecar(tmp_path, monkeypatch, name, code):
    target = tmp_path / name
    save_output(_dataset("old"), target, provenance=PROVENANCE)
    before = _snapshot(tmp_path)

    def refuse(src, dst):
        raise OSError(code, os.strerror(code), str(src), None, str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr("hf_localnat.io.write._exchange", lambda a, b: False)
    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(WriteError) as caught:
        save_output(_dataset("new"), target, overwrite=True, provenance=PROVENANCE)
    _assert_one_line(str(caught.value), target, code)
    assert caught.value.errno == code and isinstance(caught.value, OSError)
    assert _snapshot(tmp_path) == before  # nothing partial, the old output and sidecar intact


@pytest.mark.parametrize("code", FAULTS)
def test_a_sidecar_that_cannot_be_written_leaves_the_output_as_it_was(tmp_path, monkeypatch, code):
    """The output and its sidecar are both complete before either is renamed: a failing sidecar write never leaves
    a new file beside an old sidecar."""
    target = tmp_path / "out.jsonl"
    save_output(_dataset("old"), target, provenance=PROVENANCE)
    before = _snapshot(tmp_path)
    write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name.endswith(".hf_localnat.json") or ".hf_localnat.json" in self.name:
            raise _fault(code)
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(WriteError) as caught:
        save_output(_dataset("new"), target, overwrite=True, provenance=PROVENANCE)
    assert str(target) in str(caught.value)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("code", FAULTS)
def test_select_keeps_both_old_outputs_when_the_rejected_rows_cannot_be_written(tmp_path, monkeypatch, code):
    scored = tmp_path / "scored.jsonl"
    Dataset.from_dict({"question": ["a", "a"], "teacher": ["x", "y"], "response": ["r1", "r2"], "lalp": [-1.0, -2.0],
                       "galp": [-1.0, -2.0]}).to_json(scored)
    out = tmp_path / "out"
    out.mkdir()
    args = ["select", str(scored), "-o", str(out / "sel.jsonl"), "--overwrite"]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = _snapshot(out)
    to_json = Dataset.to_json

    def fail_on_rejected(self, path, *args, **kwargs):
        if "rejected" in str(path):
            raise _fault(code)  # no file name, as a full disk reports it from write()
        return to_json(self, path, *args, **kwargs)

    monkeypatch.setattr(Dataset, "to_json", fail_on_rejected)
    line = _error_line(CliRunner().invoke(main, args))
    assert line.startswith("Error: Cannot write") and CAUSES[code] in line
    assert _snapshot(out) == before  # the kept rows were not replaced either


def test_a_read_error_of_another_file_is_not_called_a_write_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "out.txt"):
            open(tmp_path / "elsewhere" / "input.txt")  # noqa: SIM115 - an input that is missing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])  # each scores with the model: two causes suffice
def test_a_checkpoint_that_cannot_be_written_is_one_line_and_the_rerun_resumes(tmp_path, monkeypatch,
                                                                              tiny_model_path, code):
    import datasets
    import pyarrow.parquet as pq

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{n}", "response": f"Step one. Step {n}."}) + "\n"
                            for n in range(4)))
    out = tmp_path / "scored.jsonl"
    args = ["score", str(data), "-o", str(out), "--model", str(tiny_model_path), "--checkpoint-rows", "2"]
    write_table, calls = pq.write_table, []

    def second_chunk_fails(table, where, *a, **k):
        calls.append(where)
        if len(calls) == 2:
            raise _fault(code)
        return write_table(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", second_chunk_fails)
    line = _error_line(CliRunner().invoke(main, args))
    chunks = sorted((tmp_path / "cache").glob("localnat-score/*/chunk-*"))
    assert line.startswith("Error: Cannot write") and str(chunks[0].parent) in line and CAUSES[code] in line
    assert [c.name[:12] for c in chunks] == ["chunk-00000-"] and not out.exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if ".localnat-tmp-" in p.name]
    monkeypatch.setattr(pq, "write_table", write_table)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "Resumed: reused 2 of 4 rows" in again.output, again.output


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_reports_plots_repo_folders_and_caches_are_one_line(tmp_path, monkeypatch, code):
    from huggingface_hub import DatasetCard

    from hf_localnat.hub import metric_cache
    from hf_localnat.hub.repo_folder import write_repo_folder
    from hf_localnat.report.html import write_report
    from hf_localnat.scoring import models

    old = tmp_path / "old"
    old.mkdir()
    (old / "report.html").write_text("old report")
    (tmp_path / "metric").mkdir()  # the metric cache's folder exists; its file cannot be written
    before = _snapshot(tmp_path)
    write_text = Path.write_text

    def refuse_bytes(self, *args, **kwargs):
        raise _fault(code)

    monkeypatch.setattr(Path, "write_text", refuse_bytes)
    with pytest.raises(WriteError) as caught:
        write_report(old / "report.html", "<html>new</html>", overwrite=True)
    _assert_one_line(str(caught.value), old / "report.html", code)
    with pytest.raises(WriteError) as caught:  # the card is written with write_text
        write_repo_folder(tmp_path / "repo", {"lalp": _dataset("x")}, DatasetCard("---\n---\ncard"))
    _assert_one_line(str(caught.value), tmp_path / "repo", code)
    monkeypatch.setattr(Path, "write_text", write_text)

    real_open = open

    def full_open(file, mode="r", *args, **kwargs):
        if "x" in mode or "w" in mode:
            raise _fault(code)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_open)
    with pytest.raises(WriteError) as caught:
        metric_cache._write_if_different(tmp_path / "metric" / "local_naturalness.py", b"code")
    _assert_one_line(str(caught.value), tmp_path / "metric" / "local_naturalness.py", code)
    monkeypatch.setattr("builtins.open", real_open)

    mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if "model-cache" in str(self):
            raise _fault(code)
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    monkeypatch.setattr(models, "embedded_gguf", lambda: (tmp_path / "model.gguf", "0.1.2"))
    target = tmp_path / "model-cache" / "smollm2"
    with pytest.raises(WriteError) as caught:
        models.convert_embedded_model(target)
    _assert_one_line(str(caught.value), target, code)
    assert "HF_LOCALNAT_CACHE" in str(caught.value)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert _snapshot(tmp_path) == before


def test_a_plot_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    from hf_localnat.selection.plot import plot_teacher_distributions

    data = Dataset.from_dict({"question": ["a", "a"], "teacher": ["x", "y"], "lalp": [-1.0, -2.0],
                              "galp": [-1.0, -2.0]})
    path = tmp_path / "plot.png"
    path.write_bytes(b"old plot")

    def refuse(src, dst):
        raise _fault(errno.ENOSPC)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError) as caught:
        plot_teacher_distributions(data, path, teachers=["x", "y"], overwrite=True)
    _assert_one_line(str(caught.value), path, errno.ENOSPC)
    assert path.read_bytes() == b"old plot" and [p.name for p in tmp_path.iterdir()] == ["plot.png"]


# ----------------------------------------------------------------------------------------------- a real disk
@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (we run as root); skipped where it cannot be mounted."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(done.stderr or done.stdout).strip() or done.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_leaves_the_old_output_and_the_rerun_resumes(tmp_path, small_disk, monkeypatch,
                                                                            tiny_model_path):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")  # the checkpoints, not on the disk
    long = " ".join(f"Then step {i} adds {i} to the running total." for i in range(40))
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{n}", "response": long}) + "\n" for n in range(10)))
    out = small_disk / "scored.jsonl"
    out.write_text("old output\n")
    (small_disk / "other-files").write_bytes(b"x" * 48 * 1024)  # a nearly full disk: ~12 KiB left, the output ~25
    before = _snapshot(small_disk)
    args = ["score", str(data), "-o", str(out), "--model", str(tiny_model_path), "--overwrite",
            "--checkpoint-rows", "5"]
    line = _error_line(CliRunner().invoke(main, args))
    assert line.startswith("Error: Cannot write")
    _assert_one_line(line, out, errno.ENOSPC)
    assert _snapshot(small_disk) == before  # the old output, and no partial file
    rerun = CliRunner().invoke(main, [*args[:3], str(tmp_path / "scored.jsonl"), *args[4:]])
    assert rerun.exit_code == 0 and "All 10 rows reused" in rerun.output, rerun.output
    assert load_input(str(tmp_path / "scored.jsonl")).num_rows == 10
