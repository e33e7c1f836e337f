"""Shared fixtures: an isolated Hugging Face home, a local Hub server, the embedded SmolLM2 student and a tiny random
Llama on its tokenizer. Environment variables are set here, before any Hugging Face library is imported by a test."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# --- isolated caches and the local Hub server's endpoint (before huggingface_hub / datasets are imported) ----------
# huggingface_hub, datasets and evaluate read HF_ENDPOINT (and friends) at import time. Nothing goes to the user's real
# caches: the converted embedded model (converting it takes ~20 s) and matplotlib's font cache live in the project's
# ignored `.cache/` folder, kept between sessions; everything else the libraries write goes to a throwaway folder that
# is removed when the session ends.
PROJECT_CACHE = Path(__file__).resolve().parents[1] / ".cache"
os.environ["HF_LOCALNAT_CACHE"] = str(PROJECT_CACHE / "hf_localnat")
os.environ["MPLCONFIGDIR"] = str(PROJECT_CACHE / "matplotlib")
os.environ["XDG_CACHE_HOME"] = str(PROJECT_CACHE / "xdg")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HUB_PORT = _free_port()
HUB_TOKEN = "hf_test_token_123"
_HF_HOME = Path(tempfile.mkdtemp(prefix="hf_home_"))
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_HUB_DISABLE_XET="1",
    HF_TOKEN=HUB_TOKEN,
    HF_HOME=str(_HF_HOME),
    HF_DATASETS_CACHE=str(_HF_HOME / "datasets"),
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_UPDATE_DOWNLOAD_COUNTS="false",  # evaluate would otherwise HEAD an S3 bucket
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    TOKENIZERS_PARALLELISM="false",
)
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "HUGGINGFACE_CO_STAGING"):
    os.environ.pop(_var, None)


#: Fixtures that load the embedded SmolLM2's weights: a test that uses one (directly or through another fixture) is slow.
EMBEDDED_FIXTURES = {"smol_model", "scored_sample"}
#: Doctests that load the embedded model.
EMBEDDED_DOCTESTS = {"hf_localnat.scoring.scorer.LocalNaturalnessScorer"}


def pytest_collection_modifyitems(config, items):
    """Mark `slow` every test that loads the embedded model, so that `-m "not slow"` is the fast loop."""
    for item in items:
        if EMBEDDED_FIXTURES & set(getattr(item, "fixturenames", ())) or item.name in EMBEDDED_DOCTESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_tests_never_load_the_embedded_model(request, monkeypatch):
    """The `slow` marker covers every test that loads the embedded model's weights: a test outside it that tries
    (in this process) fails, saying so."""
    if request.node.get_closest_marker("slow") is not None:
        return
    from transformers import PreTrainedModel

    from hf_localnat.scoring.models import EMBEDDED_GGUF, EMBEDDED_MODEL

    load = PreTrainedModel.from_pretrained.__func__

    def guarded(cls, path, *args, **kwargs):
        if EMBEDDED_MODEL in str(path).lower() or kwargs.get("gguf_file") == EMBEDDED_GGUF:
            pytest.fail(f"{request.node.nodeid} loads the embedded model ({path}): mark it @pytest.mark.slow")
        return load(cls, path, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(guarded))


#: A test outside the `slow` marker that takes longer than this (setup, call and teardown) is named at the end of
#: the run, so that `-m "not slow"` stays a fast loop: mark it `slow`, or make it cheaper.
FAST_LOOP_BUDGET_S = 2.0


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Name the tests not marked `slow` that took over `FAST_LOOP_BUDGET_S` (a report, never a failure)."""
    seconds: dict[str, float] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) and "slow" not in getattr(report, "keywords", {}):
                seconds[report.nodeid] = seconds.get(report.nodeid, 0.0) + report.duration
    over = sorted(((s, node) for node, s in seconds.items() if s > FAST_LOOP_BUDGET_S), reverse=True)
    if over:
        terminalreporter.section(f"tests outside the slow marker over {FAST_LOOP_BUDGET_S:.0f} s")
        for s, node in over:
            terminalreporter.write_line(f"{s:6.1f} s  {node}")


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory):
    """A local Hub (tests/hub_server.py) on HF_ENDPOINT's port for the whole session."""
    spec = importlib.util.spec_from_file_location("hub_server", Path(__file__).with_name("hub_server.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hub_server", module)  # dataclasses need the module registered
    spec.loader.exec_module(module)
    with module.HubServer(tmp_path_factory.mktemp("hub"), port=HUB_PORT) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_leftover_hub_faults(request):
    """Clear the Hub server's injected faults before and after every test that uses it, also when the test fails."""
    server = request.getfixturevalue("hub_server") if "hub_server" in request.fixturenames else None
    if server is not None:
        server.clear_faults()
    yield
    if server is not None:
        server.clear_faults()


@pytest.fixture
def hub_repo_name() -> str:
    """A unique repo name (without namespace) for one test."""
    return f"repo-{uuid.uuid4().hex[:10]}"



@pytest.fixture(scope="session")
def embedded_path() -> Path:
    """Folder of the embedded SmolLM2-135M-Instruct, converted from its GGUF once."""
    from hf_localnat.scoring.models import convert_embedded_model

    return convert_embedded_model()


@pytest.fixture(scope="session")
def smol_tokenizer(embedded_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_path)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, smol_tokenizer) -> Path:
    """A tiny random Llama (2 layers, hidden 64) on the SmolLM2 tokenizer, saved as a folder; seconds to build.

    `initializer_range` is large so that log-probs differ clearly between contexts (a near-uniform model would make
    comparisons between windows meaningless)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smol_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        initializer_range=0.5, bos_token_id=smol_tokenizer.bos_token_id, eos_token_id=smol_tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    smol_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype="float32").eval()


@pytest.fixture(scope="session")
def smol_model(embedded_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(embedded_path, dtype="float32").eval()


@pytest.fixture(scope="session")
def sample_rows() -> list[dict]:
    """The bundled multi-teacher sample (8 questions x 4 teachers)."""
    import json

    from hf_localnat.sample import SAMPLE_PATH

    return [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_scored_sample(sample_rows, tiny_model_path):
    """The bundled sample scored once per session with the tiny model folder (float32, CPU, default options), through
    `scorer.map`; shared by the calibration and step-report tests."""
    from datasets import Dataset

    from hf_localnat import LocalNaturalnessScorer

    scorer = LocalNaturalnessScorer(str(tiny_model_path), dtype="float32", device="cpu")
    return scorer.map(Dataset.from_list(sample_rows), batch_size=64, keep_in_memory=True)


# --- selection helper (branch `select`): the bundled sample scored once per session with the embedded student -------
@pytest.fixture(scope="session")
def scored_sample(smol_model, smol_tokenizer):
    """The bundled sample (8 questions x 4 teachers) scored through `Dataset.map` with the embedded SmolLM2 in
    float32 (default options: window 4, sentence steps, chat prompt). About 90 s on 2 CPU cores; shared by the
    ranking, selection, plot and CLI tests."""
    from hf_localnat import LocalNaturalnessScorer, output_features
    from hf_localnat.sample import load_sample

    dataset = load_sample()
    features = dataset.features.copy()
    features.update(output_features())
    scorer = LocalNaturalnessScorer(smol_model, smol_tokenizer)
    return dataset.map(scorer, batched=True, batch_size=64, features=features)


@pytest.fixture(scope="session")
def png_1x1() -> bytes:
    """A valid 1x1 red PNG, built by hand (a real image file for card and upload tests)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0")) + chunk(b"IEND", b"")
