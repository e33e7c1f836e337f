"""End-to-end tests of tests/hub_server.py with the real Hugging Face clients (nothing mocked).

conftest.py points HF_ENDPOINT at the local server before huggingface_hub / datasets / evaluate
are imported; the `hub_server` fixture runs it for the session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pyarrow = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

datasets = pytest.importorskip("datasets")
evaluate = pytest.importorskip("evaluate")
from huggingface_hub import (  # noqa: E402
    CommitOperationAdd,
    DatasetCard,
    HfApi,
    hf_hub_download,
    metadata_update,
    snapshot_download,
)
from huggingface_hub.errors import (  # noqa: E402
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)

USER = "test-user"


def _commit_posts(server) -> list:
    return [r for r in server.requests if r.method == "POST" and "/commit/" in r.path]


@pytest.fixture
def api(hub_server) -> HfApi:
    return HfApi(endpoint=hub_server.url)


@pytest.fixture
def dataset_repo(api: HfApi, hub_repo_name: str) -> str:
    return api.create_repo(hub_repo_name, repo_type="dataset").repo_id


def test_endpoint_env_points_at_server(hub_server):
    from huggingface_hub import constants

    assert constants.ENDPOINT == hub_server.url == os.environ["HF_ENDPOINT"]
    assert HfApi().whoami()["name"] == USER


def test_create_repos_private_and_exist_ok(api: HfApi, hub_repo_name: str):
    url = api.create_repo(hub_repo_name, repo_type="dataset", private=True)
    assert url.repo_id == f"{USER}/{hub_repo_name}" and url.repo_type == "dataset"
    assert api.create_repo(hub_repo_name, repo_type="dataset", exist_ok=True).repo_id == url.repo_id
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(hub_repo_name, repo_type="dataset")
    assert err.value.response.status_code == 409

    info = api.dataset_info(url.repo_id)
    assert info.private is True and len(info.sha) == 40 and [s.rfilename for s in info.siblings] == [".gitattributes"]
    with pytest.raises(RepositoryNotFoundError):  # invisible without a token
        HfApi(endpoint=api.endpoint, token=False).dataset_info(url.repo_id)

    space = api.create_repo(f"{hub_repo_name}-space", repo_type="space", space_sdk="gradio")
    assert api.space_info(space.repo_id).sdk == "gradio"
    model = api.create_repo(f"{hub_repo_name}-model")
    assert api.repo_info(model.repo_id).id == model.repo_id


@pytest.mark.slow
def test_push_to_hub_two_configs_round_trip(hub_server, dataset_repo: str):
    rows_a = {"text": ["a cat", "a dog", "a bird"], "score": [0.5, 1.5, -2.0]}
    rows_b = {"text": ["x", "y"], "score": [1.0, 2.0]}
    before, seen = len(_commit_posts(hub_server)), len(hub_server.requests)
    datasets.Dataset.from_dict(rows_a).push_to_hub(dataset_repo, config_name="a")
    assert len(_commit_posts(hub_server)) == before + 1  # one commit per publish
    b = datasets.Dataset.from_dict(rows_b)
    datasets.DatasetDict(train=b, test=b).push_to_hub(dataset_repo, config_name="b")
    assert len(_commit_posts(hub_server)) == before + 2

    loaded_a = datasets.load_dataset(dataset_repo, "a", split="train")
    assert loaded_a.to_dict() == rows_a
    loaded_b = datasets.load_dataset(dataset_repo, "b")
    assert set(loaded_b) == {"train", "test"} and loaded_b["test"].to_dict() == rows_b

    card = DatasetCard.load(dataset_repo, repo_type="dataset")
    assert {c["config_name"] for c in card.data.to_dict()["configs"]} == {"a", "b"}
    assert not any(r.status >= 500 for r in hub_server.requests[seen:])  # earlier tests may have injected some


def test_upload_folder_is_one_commit_and_downloads_round_trip(api: HfApi, hub_server, dataset_repo: str,
                                                               tmp_path: Path, png_1x1: bytes):
    folder = tmp_path / "upload"
    (folder / "data").mkdir(parents=True)
    (folder / "images").mkdir()
    (folder / "README.md").write_text("---\nlicense: apache-2.0\ntags:\n- localnat\n---\n# Test card\n")
    (folder / "images" / "plot.png").write_bytes(png_1x1)
    for i in range(2):
        pq.write_table(pyarrow.table({"x": list(range(i, i + 5))}), folder / "data" / f"part-{i}.parquet")

    before = api.list_repo_commits(dataset_repo, repo_type="dataset")
    info = api.upload_folder(folder_path=folder, repo_id=dataset_repo, repo_type="dataset", commit_message="all")
    after = api.list_repo_commits(dataset_repo, repo_type="dataset")
    assert len(after) == len(before) + 1 and after[0].commit_id == info.oid and after[0].title == "all"
    assert after[1].commit_id == before[0].commit_id

    files = set(api.list_repo_files(dataset_repo, repo_type="dataset"))
    assert files == {".gitattributes", "README.md", "images/plot.png", "data/part-0.parquet", "data/part-1.parquet"}
    siblings = {s.rfilename: s for s in api.dataset_info(dataset_repo, files_metadata=True).siblings}
    assert siblings["images/plot.png"].lfs is not None and siblings["data/part-0.parquet"].lfs is not None
    assert siblings["README.md"].lfs is None
    assert api.file_exists(dataset_repo, "images/plot.png", repo_type="dataset")
    assert not api.file_exists(dataset_repo, "images/nope.png", repo_type="dataset")
    assert api.dataset_info(dataset_repo).card_data["license"] == "apache-2.0"

    png = hf_hub_download(dataset_repo, "images/plot.png", repo_type="dataset")
    assert Path(png).read_bytes() == png_1x1
    snap = Path(snapshot_download(dataset_repo, repo_type="dataset"))
    for path in files - {".gitattributes"}:
        assert (snap / path).read_bytes() == (folder / path).read_bytes()

    # tree: non-recursive, pagination, missing path
    top = {e.path for e in api.list_repo_tree(dataset_repo, repo_type="dataset")}
    assert top == {".gitattributes", "README.md", "data", "images"}
    hub_server.tree_page_size = 2
    try:
        paged = {e.path for e in api.list_repo_tree(dataset_repo, repo_type="dataset", recursive=True)}
    finally:
        hub_server.tree_page_size = 1000
    assert files < paged and any("cursor=" in r.path for r in hub_server.requests)
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(dataset_repo, path_in_repo="missing", repo_type="dataset"))
    paths = api.get_paths_info(dataset_repo, ["README.md", "data", "nope"], repo_type="dataset")
    assert [p.path for p in paths] == ["README.md", "data"]

    # an unchanged re-upload is a no-op (preupload reports matching oids)
    api.upload_folder(folder_path=folder, repo_id=dataset_repo, repo_type="dataset")
    assert len(api.list_repo_commits(dataset_repo, repo_type="dataset")) == len(after)


def test_range_reads_through_hffilesystem(api: HfApi, hub_server, dataset_repo: str):
    from huggingface_hub import HfFileSystem

    api.upload_file(path_or_fileobj=b"0123456789", path_in_repo="digits.txt", repo_id=dataset_repo,
                    repo_type="dataset")
    fs = HfFileSystem(endpoint=api.endpoint)
    with fs.open(f"datasets/{dataset_repo}/digits.txt", "rb", block_size=4, cache_type="none") as f:
        f.seek(3)
        assert f.read(4) == b"3456"
    assert any(r.status == 206 and r.path.endswith("/digits.txt") for r in hub_server.requests)
    assert fs.ls(f"datasets/{dataset_repo}", detail=False)


def test_parent_commit_mismatch_is_412_and_atomic(api: HfApi, hub_server, dataset_repo: str):
    old = api.dataset_info(dataset_repo).sha
    new = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=dataset_repo,
                          repo_type="dataset", parent_commit=old).oid
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(dataset_repo, repo_type="dataset", commit_message="stale", parent_commit=old,
                          operations=[CommitOperationAdd("g.txt", b"never")])
    assert err.value.response.status_code == 412
    assert api.dataset_info(dataset_repo).sha == new
    assert not api.file_exists(dataset_repo, "g.txt", repo_type="dataset")


def test_create_pr_leaves_main_unchanged(api: HfApi, dataset_repo: str):
    main_before = api.dataset_info(dataset_repo).sha
    info = api.upload_file(path_or_fileobj=b"proposal", path_in_repo="pr.txt", repo_id=dataset_repo,
                           repo_type="dataset", create_pr=True)
    assert info.pr_revision == "refs/pr/1" and info.pr_num == 1
    assert api.dataset_info(dataset_repo).sha == main_before
    assert not api.file_exists(dataset_repo, "pr.txt", repo_type="dataset")
    assert api.dataset_info(dataset_repo, revision="refs/pr/1").sha == info.oid
    path = hf_hub_download(dataset_repo, "pr.txt", repo_type="dataset", revision="refs/pr/1")
    assert Path(path).read_bytes() == b"proposal"
    # a second commit on the PR ref (revision is URL-encoded by the client)
    api.upload_file(path_or_fileobj=b"more", path_in_repo="pr2.txt", repo_id=dataset_repo, repo_type="dataset",
                    revision="refs/pr/1")
    assert set(api.list_repo_files(dataset_repo, repo_type="dataset", revision="refs/pr/1")) >= {"pr.txt", "pr2.txt"}
    refs = api.list_repo_refs(dataset_repo, repo_type="dataset", include_pull_requests=True)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"] and refs.branches[0].target_commit == main_before


def test_dataset_card_push_and_metadata_update(dataset_repo: str):
    card = DatasetCard("---\nlicense: mit\n---\n# Hello\n")
    card.push_to_hub(dataset_repo, repo_type="dataset")
    metadata_update(dataset_repo, {"tags": ["nlp"]}, repo_type="dataset")
    loaded = DatasetCard.load(dataset_repo, repo_type="dataset")
    assert loaded.data.license == "mit" and loaded.data.tags == ["nlp"] and "# Hello" in loaded.text


@pytest.mark.slow
def test_fault_injection_retries(api: HfApi, hub_server, dataset_repo: str):
    # The commit POST itself is NOT retried by huggingface_hub (a retry could duplicate a commit).
    head = api.dataset_info(dataset_repo).sha
    hub_server.inject_faults(1, status=503, path_contains="/commit/", method="POST")
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=dataset_repo, repo_type="dataset")
    assert err.value.response.status_code == 503 and api.dataset_info(dataset_repo).sha == head

    # preupload goes through http_backoff: a 503 and a dropped connection are retried transparently.
    hub_server.inject_faults(1, status=503, path_contains="/preupload/", method="POST")
    hub_server.inject_faults(1, path_contains="/lfs-upload/", method="PUT", reset=True)
    n = len(hub_server.requests)
    api.upload_file(path_or_fileobj=b"\0binary", path_in_repo="y.bin", repo_id=dataset_repo, repo_type="dataset")
    seen = [(r.method, r.status) for r in hub_server.requests[n:] if "preupload" in r.path or "lfs-upload" in r.path]
    assert seen == [("POST", 503), ("POST", 200), ("PUT", 0), ("PUT", 200)]
    assert all(rule.remaining == 0 for rule in hub_server.faults)
    hub_server.clear_faults()


def test_push_to_hub_does_not_retry_a_412(hub_server, dataset_repo: str):
    # datasets 5.2 wraps create_commit in a retry loop for 409/412, but it tests `err.__context__` for an
    # HfHubHTTPError while huggingface_hub 2.x chains an httpx2.HTTPStatusError: the retry never fires.
    hub_server.inject_faults(1, status=412, path_contains="/commit/", method="POST")
    with pytest.raises(HfHubHTTPError) as err:
        datasets.Dataset.from_dict({"x": [1]}).push_to_hub(dataset_repo)
    assert err.value.response.status_code == 412
    assert [r.status for r in _commit_posts(hub_server)[-1:]] == [412]


def test_commit_is_atomic_when_an_operation_is_invalid(api: HfApi, hub_server, dataset_repo: str):
    import base64
    import json
    import urllib.error
    import urllib.request

    head = api.dataset_info(dataset_repo).sha
    lines = [{"key": "header", "value": {"summary": "half", "description": ""}},
             {"key": "file", "value": {"path": "ok.txt", "content": base64.b64encode(b"ok").decode(),
                                       "encoding": "base64"}},
             {"key": "lfsFile", "value": {"path": "big.bin", "algo": "sha256", "oid": "0" * 64, "size": 1}}]
    request = urllib.request.Request(
        f"{hub_server.url}/api/datasets/{dataset_repo}/commit/main", method="POST",
        data=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        headers={"Authorization": f"Bearer {os.environ['HF_TOKEN']}", "Content-Type": "application/x-ndjson"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 422
    assert api.dataset_info(dataset_repo).sha == head
    assert not api.file_exists(dataset_repo, "ok.txt", repo_type="dataset")


def test_token_sent_but_never_echoed(api: HfApi, hub_server):
    token = os.environ["HF_TOKEN"]
    api.whoami()
    assert f"Bearer {token}" in hub_server.auth_headers
    assert not any(token.encode() in entry for entry in hub_server.response_log)
    assert not any(token in r.path for r in hub_server.requests)


METRIC_SCRIPT = '''
import datasets
import evaluate


class LocalNaturalness(evaluate.Metric):
    """Counts exact matches between predictions and references."""

    def _info(self):
        return evaluate.MetricInfo(
            description="exact match count",
            citation="",
            inputs_description="predictions and references (strings)",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return {"exact_match_count": sum(p == r for p, r in zip(predictions, references))}
'''


def test_evaluate_load_metric_from_space(api: HfApi, hub_server):
    # evaluate.load("ns/name") fetches spaces/ns/name/resolve/<rev>/<name>.py: the script must be named after the Space.
    space = api.create_repo("local_naturalness", repo_type="space", space_sdk="gradio", exist_ok=True).repo_id
    api.create_commit(space, repo_type="space", commit_message="Add metric", operations=[
        CommitOperationAdd("local_naturalness.py", METRIC_SCRIPT.encode()),
        CommitOperationAdd("README.md", b"---\ntitle: Local Naturalness\nsdk: gradio\ntags:\n- evaluate\n- metric\n---\n"),
    ])
    metric = evaluate.load(space)
    assert metric.compute(predictions=["a", "b", "c"], references=["a", "x", "c"]) == {"exact_match_count": 2}
    assert any(r.path.startswith(f"/spaces/{space}/resolve/main/local_naturalness.py") for r in hub_server.requests)
