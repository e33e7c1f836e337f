"""Publishing a repo folder to the local Hub server and loading it back (real HTTP, real huggingface_hub/datasets)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
from datasets import Dataset, Features, Value, load_dataset
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi

from hf_localnat.hub.card import MARK_END, MARK_START, render_card
from hf_localnat.errors import ConfigError, OutputExistsError, PublishError
from hf_localnat.hub.publish import PUBLISH_ID_KEY, RetryPolicy, _find_landed, publish_folder
from hf_localnat.hub.pull import pull
from hf_localnat.hub.repo_folder import folder_files, write_parquet_shards, write_repo_folder
from hf_localnat.records import output_features

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
USER = "test-user"


def curated_configs(tag: str = "") -> dict[str, Dataset]:
    """Scored rows for 3 questions x 2 teachers and the selections made from them (values written by hand).

    `tag` goes into the questions, so that each test uploads files the server has not seen (it keeps every blob)."""
    features = Features({"question_id": Value("string"), "question": Value("string"), "teacher": Value("string"),
                         "response": Value("string"), **output_features()})
    lalps = [-0.5, -0.9, -1.2, -0.4, -0.7, -0.8]
    galps = [-0.6, -0.5, -1.0, -1.1, -0.9, -0.3]
    rows = [{"question_id": f"q{i // 2}", "question": f"What is {i // 2} + 1?{tag}", "teacher": "ab"[i % 2],
             "response": f"{i // 2} + 1 = {i // 2 + 1}. Done.", "lalp": lalps[i], "galp": galps[i],
             "lalp_steps": [lalps[i], None] if i == 3 else [lalps[i]], "num_steps": 2 if i == 3 else 1,
             "num_tokens": 9, "truncated": False, "score_error": None} for i in range(6)]
    scored = Dataset.from_list(rows, features=features)
    return {"scored": scored, "lalp": scored.select([0, 3, 4]), "galp": scored.select([1, 2, 5]),
            "rejected": scored.select([1, 2, 5])}


def card_for(configs: dict[str, Dataset], repo_id: str | None, **overrides):
    from hf_localnat.hub.card import LocalNatCardParams

    values = dict(pretty_name="Test curated set", repo_id=repo_id, student_model="smollm2-135m-instruct", window=4,
                  segmenter="sentence", prompt_format="auto", package_version="0.1.0",
                  counts={name: len(ds) for name, ds in configs.items()},
                  ranking=[{"rank": 1, "teacher": "b", "mean_lalp": -0.63}, {"rank": 2, "teacher": "a", "mean_lalp": -0.83}],
                  mix={"lalp": {"a": 1 / 3, "b": 2 / 3}}, plot_path="images/localnat-distribution.png",
                  reproduce_command="localnat publish scored.parquet --repo-id x/y", license="apache-2.0")
    values.update(overrides)
    return render_card(LocalNatCardParams(**values))


@pytest.fixture
def repo_id(hub_repo_name) -> str:
    return f"{USER}/{hub_repo_name}"


@pytest.fixture
def configs(repo_id) -> dict[str, Dataset]:
    return curated_configs(f" ({repo_id})")


@pytest.fixture
def folder(tmp_path, configs, repo_id, png_1x1) -> Path:
    return write_repo_folder(tmp_path / "repo", configs, card_for(configs, repo_id),
                             {"localnat-distribution.png": png_1x1})


def commit_posts(server, repo_id: str) -> list:
    return [r for r in server.requests if r.method == "POST" and f"/{repo_id}/commit/" in r.path]


def test_folder_layout_loads_locally(folder, configs):
    paths = [p for p, _ in folder_files(folder)]
    assert paths[0] == "README.md" and paths[-1] == "images/localnat-distribution.png"
    assert [p.split("/")[1] for p in paths[1:-1]] == sorted(configs)
    assert all(re.fullmatch(r"data/\w+/train-[0-9a-f]{16}\.parquet", p) for p in paths[1:-1])
    for name, expected in configs.items():
        assert load_dataset(str(folder), name, split="train").to_list() == expected.to_list()
    assert load_dataset(str(folder), split="train").to_list() == configs["lalp"].to_list()  # lalp is the default


def test_a_rewritten_folder_loads_its_new_rows(tmp_path, configs):
    # datasets caches a local folder by its card's data-file patterns: the content hash in the file names matters
    for rows in (configs["lalp"], configs["galp"]):
        folder = write_repo_folder(tmp_path / "out", {"lalp": rows}, card_for(configs, None, counts={"lalp": 3}),
                                   overwrite=True)
        assert load_dataset(str(folder), "lalp", split="train").to_list() == rows.to_list()


def test_write_repo_folder_refuses_a_non_empty_folder(tmp_path, configs):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    for overwrite in (False, True):  # a folder this project did not write is never replaced
        with pytest.raises(OutputExistsError, match="localnat did not write"):
            write_repo_folder(target, configs, card_for(configs, None), overwrite=overwrite)
        assert [p.name for p in target.iterdir()] == ["keep.txt"] and (target / "keep.txt").read_text() == "mine"
    (target / "keep.txt").unlink()  # an empty folder may be written into
    write_repo_folder(target, configs, card_for(configs, None))
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_repo_folder(target, {"lalp": configs["galp"]}, card_for(configs, None))
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    write_repo_folder(target, configs, card_for(configs, None), overwrite=True)  # ours: replaced
    assert (target / "README.md").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_a_failed_folder_write_leaves_the_old_folder_and_no_staging(tmp_path, configs):
    target = write_repo_folder(tmp_path / "out", configs, card_for(configs, None))
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(FileNotFoundError):  # an image that does not exist fails the write half-way
        write_repo_folder(target, configs, card_for(configs, None), {"plot.png": tmp_path / "missing.png"},
                          overwrite=True)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_publish_then_load_every_config_back(hub_server, folder, configs, repo_id):
    result = publish_folder(folder, repo_id, retry=FAST)
    assert result.created and result.private is True and result.commit_url
    api = HfApi()
    assert api.dataset_info(repo_id).private is True
    assert len(commit_posts(hub_server, repo_id)) == 1  # one commit per publish
    assert len(hub_server.commits(repo_id, "dataset")) == 2  # the repo's initial commit + ours
    assert set(api.list_repo_files(repo_id, repo_type="dataset")) == {".gitattributes", *(p for p, _ in folder_files(folder))}
    for name, expected in configs.items():
        assert load_dataset(repo_id, name, split="train").to_list() == expected.to_list()
    assert load_dataset(repo_id, split="train").to_list() == configs["lalp"].to_list()

    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert card.content == (folder / "README.md").read_text()
    meta = api.dataset_info(repo_id).card_data.to_dict()  # the Hub parsed the YAML
    assert meta["license"] == "apache-2.0" and {c["config_name"] for c in meta["configs"]} == set(configs)


def test_public_flag(hub_server, folder, repo_id):
    assert publish_folder(folder, repo_id, public=True, retry=FAST).private is False
    assert HfApi(token=False).dataset_info(repo_id).private is False


@pytest.mark.slow
def test_refuses_an_existing_repo_then_overwrite_keeps_user_files_and_card(hub_server, tmp_path, folder, configs,
                                                                            repo_id):
    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset")
    user_card = "---\nlicense: mit\ntags:\n- mine\n---\n# Mine\n\nHand-written notes.\n"
    api.create_commit(repo_id, repo_type="dataset", commit_message="user files", operations=[
        CommitOperationAdd("README.md", user_card.encode()), CommitOperationAdd("notes.txt", b"keep me"),
        CommitOperationAdd("data/rejected/old.parquet", b"stale"), CommitOperationAdd("images/localnat-old.png", b"x")])
    head, posts = api.dataset_info(repo_id).sha, len(commit_posts(hub_server, repo_id))

    with pytest.raises(PublishError, match="already exists.*--overwrite.*--create-pr"):
        publish_folder(folder, repo_id, retry=FAST)
    assert api.dataset_info(repo_id).sha == head and len(commit_posts(hub_server, repo_id)) == posts

    result = publish_folder(folder, repo_id, overwrite=True, retry=FAST)
    assert result.deleted == ["data/rejected/old.parquet", "images/localnat-old.png"]
    assert len(commit_posts(hub_server, repo_id)) == posts + 1
    files = set(api.list_repo_files(repo_id, repo_type="dataset"))
    assert "notes.txt" in files and "data/rejected/old.parquet" not in files and "images/localnat-old.png" not in files
    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert "Hand-written notes." in card.text and MARK_START in card.text and card.data.license == "mit"
    assert card.data.tags[0] == "mine" and "localnat" in card.data.tags
    for name, expected in configs.items():
        assert load_dataset(repo_id, name, split="train").to_list() == expected.to_list()

    # republishing replaces our section, it does not add a second one
    publish_folder(folder, repo_id, overwrite=True, retry=FAST)
    again = DatasetCard.load(repo_id, repo_type="dataset")
    assert again.text.count(MARK_START) == 1 and "Hand-written notes." in again.text


def test_create_pr_leaves_main_unchanged(hub_server, tmp_path, folder, configs, repo_id):
    api = HfApi()
    first = write_repo_folder(tmp_path / "v1", {"scored": configs["scored"], "lalp": configs["lalp"]},
                              card_for(configs, repo_id, counts={"scored": 6, "lalp": 3}))
    publish_folder(first, repo_id, retry=FAST)
    head = api.dataset_info(repo_id).sha

    result = publish_folder(folder, repo_id, create_pr=True, retry=FAST)
    assert result.pr_url and result.pr_url.endswith("/discussions/1")
    assert api.dataset_info(repo_id).sha == head
    assert "galp" not in {c["config_name"] for c in DatasetCard.load(repo_id, repo_type="dataset").data.configs}
    pr = load_dataset(repo_id, "galp", split="train", revision="refs/pr/1")
    assert pr.to_list() == configs["galp"].to_list()
    with pytest.raises(ConfigError, match="not both"):
        publish_folder(folder, repo_id, create_pr=True, overwrite=True)
    with pytest.raises(PublishError, match="does not exist"):
        publish_folder(folder, f"{USER}/never-created-{os.getpid()}", create_pr=True, retry=FAST)


def test_dry_run_sends_nothing(hub_server, folder, repo_id):
    before = len(hub_server.requests)
    result = publish_folder(folder, repo_id, dry_run=True)
    assert len(hub_server.requests) == before
    assert result.dry_run and [p for p, _ in result.files] == [p for p, _ in folder_files(folder)]
    assert "Would push" in result.summary() and "README.md" in result.summary()
    with pytest.raises(ConfigError, match="NAMESPACE/NAME"):
        publish_folder(folder, "no-namespace", dry_run=True)


@pytest.mark.parametrize("fault", [dict(status=503), dict(status=429), dict(status=502), dict(reset=True)])
def test_transient_commit_errors_are_retried(hub_server, folder, configs, repo_id, fault):
    hub_server.inject_faults(2, path_contains=f"/{repo_id}/commit/", method="POST", **fault)
    lines: list[str] = []
    result = publish_folder(folder, repo_id, retry=FAST, echo=lines.append)
    hub_server.clear_faults()
    statuses = [r.status for r in commit_posts(hub_server, repo_id)]
    assert statuses == [fault.get("status", 0)] * 2 + [200]
    assert sum("retrying" in line for line in lines) == 2 and result.commit_url
    assert len(hub_server.commits(repo_id, "dataset")) == 2  # exactly one commit landed
    assert load_dataset(repo_id, "lalp", split="train").to_list() == configs["lalp"].to_list()


def test_other_calls_are_retried_too(hub_server, folder, repo_id):
    hub_server.inject_faults(1, status=503, path_contains=f"/api/datasets/{repo_id}", method="GET")
    hub_server.inject_faults(1, status=500, path_contains="/api/repos/create", method="POST")
    publish_folder(folder, repo_id, retry=FAST)
    hub_server.clear_faults()
    assert HfApi().file_exists(repo_id, "README.md", repo_type="dataset")


@pytest.mark.slow
def test_interrupted_publish_leaves_the_repo_as_it_was_then_a_rerun_completes(hub_server, folder, configs, repo_id,
                                                                                capsys):
    api = HfApi()
    # an upload refused midway: the commit is never made, so the repo the run created stays empty ...
    hub_server.inject_faults(1, status=403, path_contains="/lfs-upload/", method="PUT")
    with pytest.raises(PublishError, match="HTTP 403.*Nothing was published"):
        publish_folder(folder, repo_id, retry=FAST)
    assert any(r.status == 403 and "/lfs-upload/" in r.path for r in hub_server.requests)
    hub_server.clear_faults()
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]
    # ... and so does a commit that keeps failing
    hub_server.inject_faults(10, status=503, path_contains=f"/{repo_id}/commit/", method="POST")
    with pytest.raises(PublishError, match="after 4 attempts.*Rerun the same command") as err:
        publish_folder(folder, repo_id, retry=FAST)
    hub_server.clear_faults()
    assert "\n" not in str(err.value)
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]
    # rerunning the same command (no --overwrite needed: the repo is still empty) publishes everything
    publish_folder(folder, repo_id, retry=FAST)
    assert set(api.list_repo_files(repo_id, repo_type="dataset")) == {".gitattributes", *(p for p, _ in folder_files(folder))}
    assert len(hub_server.commits(repo_id, "dataset")) == 2


def test_a_refused_token_is_a_one_line_error_with_the_fix(hub_server, folder, repo_id):
    hub_server.inject_faults(1, status=401, path_contains=f"/api/datasets/{repo_id}", method="GET")
    with pytest.raises(PublishError, match="HTTP 401.*hf auth login") as err:
        publish_folder(folder, repo_id, retry=FAST)
    hub_server.clear_faults()
    assert "\n" not in str(err.value)


def test_a_concurrent_change_is_not_overwritten(hub_server, folder, repo_id):
    hub_server.inject_faults(1, status=412, path_contains=f"/{repo_id}/commit/", method="POST")
    with pytest.raises(PublishError, match="changed while publishing"):
        publish_folder(folder, repo_id, retry=FAST)
    hub_server.clear_faults()
    assert len(commit_posts(hub_server, repo_id)) == 1  # a 412 is not retried blindly


def test_a_commit_that_landed_but_whose_answer_was_lost_is_not_made_twice(hub_server, folder, configs, repo_id):
    # the server applies the commit, then drops the connection instead of answering
    hub_server.inject_faults(1, path_contains=f"/{repo_id}/commit/", method="POST", applied_then_reset=True)
    lines: list[str] = []
    result = publish_folder(folder, repo_id, retry=FAST, echo=lines.append)
    assert [r.status for r in commit_posts(hub_server, repo_id)] == [0]  # one POST, its answer lost, none after
    commits = hub_server.commits(repo_id, "dataset")
    assert len(commits) == 2 and PUBLISH_ID_KEY in commits[0]["message"]  # the initial commit + exactly one of ours
    assert result.commit_url.endswith(f"/commit/{commits[0]['id']}") and result.pr_url is None
    assert sum("retrying" in line for line in lines) == 1
    for name, expected in configs.items():
        assert load_dataset(repo_id, name, split="train").to_list() == expected.to_list()


def test_retry_after_is_honoured(hub_server, folder, repo_id):
    hub_server.inject_faults(1, status=429, path_contains=f"/{repo_id}/commit/", method="POST", retry_after=0.4)
    lines: list[str] = []
    publish_folder(folder, repo_id, retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=5.0),
                   echo=lines.append)
    first, second = commit_posts(hub_server, repo_id)
    assert (first.status, second.status) == (429, 200)
    assert any("HTTP 429; retrying in 0.4 s" in line for line in lines)
    assert second.at - first.at >= 0.4  # the back-off alone would have waited about a millisecond
    assert any(b"Retry-After: 0.4" in entry for entry in hub_server.response_log)


def test_a_card_whose_section_cannot_be_located_refuses_the_publish_and_changes_nothing(hub_server, folder,
                                                                                        repo_id):
    api = HfApi()
    publish_folder(folder, repo_id, retry=FAST)
    # the user adds notes and deletes the end line on the Hub, as people do
    card = DatasetCard.load(repo_id, repo_type="dataset").content
    edited = card.replace(MARK_END + "\n", "") + "\n## Our notes\n\nKeep me.\n"
    api.create_commit(repo_id, repo_type="dataset", commit_message="my notes",
                      operations=[CommitOperationAdd("README.md", edited.encode())])
    head, posts = api.dataset_info(repo_id).sha, len(commit_posts(hub_server, repo_id))
    with pytest.raises(PublishError, match="section cannot be located.*nothing was changed.*end --> line is missing"):
        publish_folder(folder, repo_id, overwrite=True, retry=FAST)
    assert api.dataset_info(repo_id).sha == head and len(commit_posts(hub_server, repo_id)) == posts
    assert Path(api.hf_hub_download(repo_id, "README.md", repo_type="dataset")).read_text() == edited


def test_a_commit_whose_answer_was_lost_is_found_not_repeated(hub_server, repo_id):
    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset")
    assert _find_landed(api, repo_id, "abc123", create_pr=False) is None
    api.create_commit(repo_id, repo_type="dataset", commit_message="publish", commit_description=f"x\n\n{PUBLISH_ID_KEY}: abc123",
                      operations=[CommitOperationAdd("a.txt", b"a")])
    landed = _find_landed(api, repo_id, "abc123", create_pr=False)
    assert landed["commit_url"].endswith(api.dataset_info(repo_id).sha)
    api.create_commit(repo_id, repo_type="dataset", commit_message="pr", create_pr=True,
                      commit_description=f"{PUBLISH_ID_KEY}: def456", operations=[CommitOperationAdd("b.txt", b"b")])
    assert _find_landed(api, repo_id, "def456", create_pr=True)["pr_url"].endswith("/discussions/1")


@pytest.mark.slow
def test_token_never_appears(hub_server, tmp_path, folder, configs, repo_id, capsys, caplog):
    token = os.environ["HF_TOKEN"]
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    hub_server.inject_faults(1, status=503, path_contains=f"/{repo_id}/commit/", method="POST")
    result = publish_folder(folder, repo_id, token=token, retry=FAST, echo=lines.append)
    readme = folder / "README.md"  # change the managed section, so that the next publish has something to commit
    readme.write_text(readme.read_text().replace("every input row with its scores", "every row, scored"))
    hub_server.inject_faults(10, status=500, path_contains=f"/{repo_id}/commit/", method="POST")
    with pytest.raises(PublishError) as err:
        publish_folder(folder, repo_id, token=token, overwrite=True, retry=FAST, echo=lines.append)
    hub_server.clear_faults()
    pulled = pull(repo_id, tmp_path / "pulled.parquet", token=token)
    out = capsys.readouterr()
    texts = [*lines, result.summary(), str(err.value), repr(err.value.__cause__), out.out, out.err, caplog.text,
             pulled.summary, DatasetCard.load(repo_id, repo_type="dataset").content]
    assert f"Bearer {token}" in hub_server.auth_headers  # it was used ...
    assert not any(token in text for text in texts)  # ... and never shown
    assert not any(token.encode() in entry for entry in hub_server.response_log)
    assert not any(token in r.path for r in hub_server.requests)


def test_pull_from_the_hub_and_from_a_folder(hub_server, tmp_path, folder, configs, repo_id):
    publish_folder(folder, repo_id, retry=FAST)
    result = pull(repo_id, tmp_path / "lalp.parquet")
    assert result.rows == 3 and result.summary.startswith("# Test curated set\n\n## Teacher ranking")
    assert Dataset.from_parquet(str(tmp_path / "lalp.parquet")).to_list() == configs["lalp"].to_list()
    local = pull(str(folder), tmp_path / "galp.jsonl", config="galp")
    assert local.rows == 3 and len((tmp_path / "galp.jsonl").read_text().splitlines()) == 3
    with pytest.raises(OutputExistsError, match="--overwrite"):
        pull(repo_id, tmp_path / "lalp.parquet")
    with pytest.raises(ConfigError, match="no config 'best'"):
        pull(repo_id, tmp_path / "x.parquet", config="best")
    with pytest.raises(PublishError, match="not found"):
        pull(f"{USER}/does-not-exist", tmp_path / "y.parquet")


# --- sharded configs ------------------------------------------------------------------------------------------------

def _rows(n: int, tag: str) -> Dataset:
    return Dataset.from_dict({"question_id": [f"q{i}" for i in range(n)], "teacher": ["ab"[i % 2] for i in range(n)],
                              "response": [f"{tag} response {i} " * 5 for i in range(n)],
                              "lalp": [-i / n for i in range(n)]})


def test_shards_are_bounded_contiguous_and_in_order(tmp_path):
    rows = _rows(1000, "x").select(range(999, -1, -1))  # through `select` indices, as a selection's rows are
    shard_size = rows.data.nbytes // 4
    paths = write_parquet_shards(rows, tmp_path, max_shard_size=shard_size)
    assert len(paths) == 4
    assert [p.name[:20] for p in paths] == [f"train-{i:05d}-of-00004" for i in range(4)]
    back = load_dataset("parquet", data_files=[str(p) for p in paths], split="train", cache_dir=str(tmp_path / "c"))
    assert back.to_dict() == rows.to_dict()
    assert len(write_parquet_shards(rows, tmp_path / "one")) == 1
    with pytest.raises(ConfigError, match="max_shard_size"):
        write_parquet_shards(rows, tmp_path / "bad", max_shard_size=0)


def test_a_sharded_folder_loads_and_publishes_in_one_commit(hub_server, tmp_path, hub_repo_name):
    repo_id = f"test-user/{hub_repo_name}"
    scored, lalp = _rows(600, repo_id), _rows(60, repo_id)
    configs = {"scored": scored, "lalp": lalp}
    folder = write_repo_folder(tmp_path / "repo", configs, card_for(configs, repo_id),
                               max_shard_size=scored.data.nbytes // 3 + 1)
    data = [p for p, _ in folder_files(folder) if p.startswith("data/")]
    assert len([p for p in data if p.startswith("data/scored/")]) == 3
    assert [p for p in data if p.startswith("data/lalp/")] == [
        next(p for p in data if re.fullmatch(r"data/lalp/train-[0-9a-f]{16}\.parquet", p))]
    pinned = {c["config_name"]: c["data_files"][0]["path"] for c in DatasetCard.load(folder / "README.md").data.configs}
    assert pinned["scored"] == sorted(p for p in data if p.startswith("data/scored/"))
    for name, expected in configs.items():
        assert load_dataset(str(folder), name, split="train").to_dict() == expected.to_dict()

    publish_folder(folder, repo_id, retry=FAST)
    assert len(commit_posts(hub_server, repo_id)) == 1
    assert set(data) <= set(HfApi().list_repo_files(repo_id, repo_type="dataset"))
    assert load_dataset(repo_id, "scored", split="train").to_dict() == scored.to_dict()
