"""`localnat pull` through click, against the local Hub server."""

from __future__ import annotations

import os

import pytest

from click.testing import CliRunner
from datasets import Dataset

from hf_localnat.cli import main
from hf_localnat.io import load_input
from hf_localnat.hub.publish import RetryPolicy, publish_folder
from hf_localnat.hub.repo_folder import write_repo_folder

from .test_publish import USER, card_for, curated_configs


@pytest.mark.slow
def test_pull_cli(hub_server, tmp_path, hub_repo_name):
    repo_id = f"{USER}/{hub_repo_name}"
    configs = curated_configs(hub_repo_name)
    folder = write_repo_folder(tmp_path / "repo", configs, card_for(configs, repo_id))
    publish_folder(folder, repo_id, retry=RetryPolicy(base_delay=0.01))
    runner = CliRunner()

    out = tmp_path / "galp.parquet"
    result = runner.invoke(main, ["pull", repo_id, "--config", "galp", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "# Test curated set" in result.output and "## Teacher ranking" in result.output
    assert f"Wrote 3 rows of {repo_id} (galp) to {out}" in result.output
    assert Dataset.from_parquet(str(out)).to_list() == configs["galp"].to_list()
    assert os.environ["HF_TOKEN"] not in result.output

    out.write_bytes(b"the user's own bytes")
    again = runner.invoke(main, ["pull", repo_id, "--config", "galp", "-o", str(out)])
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.output and "Traceback" not in again.output
    assert out.read_bytes() == b"the user's own bytes"
    replaced = runner.invoke(main, ["pull", repo_id, "--config", "lalp", "-o", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert Dataset.from_parquet(str(out)).to_list() == configs["lalp"].to_list()
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("notes")
    refused = runner.invoke(main, ["pull", repo_id, "-o", str(folder), "--overwrite"])  # not a folder localnat wrote
    assert refused.exit_code == 1 and "localnat did not write" in refused.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "notes"
    pulled = runner.invoke(main, ["pull", repo_id, "-o", str(tmp_path / "pulled")])
    again = runner.invoke(main, ["pull", repo_id, "--config", "galp", "-o", str(tmp_path / "pulled"), "--overwrite"])
    assert pulled.exit_code == 0 and again.exit_code == 0, again.output  # a folder localnat wrote is replaced
    assert load_input(str(tmp_path / "pulled")).to_list() == configs["galp"].to_list()
    assert not [p for p in tmp_path.iterdir() if ".localnat-" in p.name]
    missing = runner.invoke(main, ["pull", f"{USER}/nope-{hub_repo_name}", "-o", str(tmp_path / "x.parquet")])
    assert missing.exit_code == 1 and "was not found on the Hub" in missing.output


@pytest.mark.parametrize(("command", "hint"), [
    (["pull", "someone/curated", "-o", "{tmp}/out.parquet"], "Offline, pull a local repo folder instead."),
    (["score", "someone/traces", "-o", "{tmp}/out.parquet"],
     "Offline, pass a local file (or the cached 'someone/traces' with HF_DATASETS_OFFLINE=1)."),
    (["score", "hf://datasets/someone/traces/a.jsonl", "-o", "{tmp}/out.parquet"], "Offline, use a local file."),
], ids=["pull", "score-hub-id", "score-hf-url"])
def test_the_hub_without_network_is_one_line_at_once(tmp_path, command, hint):
    """No Hub to reach (a closed port on this machine, as a machine without network sees it): one line, no retry
    lines and no traceback, in seconds (huggingface_hub alone retried each request five times, a line each, for about
    25 s; an hf:// URL ended in an httpx traceback)."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", *(c.format(tmp=tmp_path) for c in command)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and time.monotonic() - start < 30
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == [f"Error: Cannot reach the Hub at http://127.0.0.1:{port} (Connection refused); check your "
                     f"network (or HF_ENDPOINT), then rerun. {hint}"], lines
    assert not (tmp_path / "out.parquet").exists()
