"""Shared pytest fixtures for hf_localnat."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# --- local Hub server ---
# huggingface_hub, datasets and evaluate read HF_ENDPOINT (and friends) at import time, so the
# environment must point at the local server before any test module imports them.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HUB_PORT = _free_port()
HUB_TOKEN = "hf_test_token_123"
_HF_HOME = Path(tempfile.mkdtemp(prefix="hf_home_"))
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_HUB_DISABLE_XET="1",
    HF_TOKEN=HUB_TOKEN,
    HF_HOME=str(_HF_HOME),
    HF_DATASETS_CACHE=str(_HF_HOME / "datasets"),
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_UPDATE_DOWNLOAD_COUNTS="false",  # evaluate would otherwise HEAD an S3 bucket
    HF_HUB_DISABLE_PROGRESS_BARS="1",
)
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "HUGGINGFACE_CO_STAGING"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory):
    """A local Hub (tests/hub_server.py) on HF_ENDPOINT's port for the whole session."""
    spec = importlib.util.spec_from_file_location("hub_server", Path(__file__).with_name("hub_server.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hub_server", module)  # dataclasses need the module registered
    spec.loader.exec_module(module)
    with module.HubServer(tmp_path_factory.mktemp("hub"), port=HUB_PORT) as server:
        yield server


@pytest.fixture
def hub_repo_name() -> str:
    """A unique repo name (without namespace) for one test."""
    return f"repo-{uuid.uuid4().hex[:10]}"
