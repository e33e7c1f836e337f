"""A small local stand-in for the Hugging Face Hub HTTP API, for end-to-end tests.

It speaks enough of the Hub protocol that the *real* clients (``huggingface_hub.HfApi``,
``hf_hub_download``/``snapshot_download``, ``HfFileSystem``, ``datasets.push_to_hub`` /
``load_dataset`` and ``evaluate.load``) work against it unchanged, once ``HF_ENDPOINT``
points at :attr:`HubServer.url` (set it *before* importing those libraries) and
``HF_HUB_DISABLE_XET=1``.

Storage lives under ``root``: content-addressed blobs in ``root/objects/`` (keyed by sha256)
and one JSON document per repo in ``root/repos/{type}s/{namespace}/{name}.json`` holding
its refs (``main``, ``refs/pr/N``) and commits. Every commit is a full tree snapshot with a
40-hex id and parent links; a commit is validated completely before the ref moves, so it
either fully lands or not at all.

Only the standard library is required (PyYAML is used for ``cardData`` when present).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

try:  # optional: only used to fill `cardData` and to validate README YAML
    import yaml
except ImportError:  # pragma: no cover
    yaml = None  # type: ignore[assignment]

REPO_TYPES = ("model", "dataset", "space")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_EXTENSIONS = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".gif", ".bin", ".safetensors", ".pt", ".npy",
                  ".npz", ".zip", ".gz", ".tar", ".pkl", ".h5", ".onnx", ".gguf", ".wav", ".mp3")
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file stored in git for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An HTTP error answer, with the Hub's ``X-Error-Code`` convention."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}


@dataclass
class FaultRule:
    """Fail the next ``remaining`` requests that match with ``status`` (or a connection reset).

    ``reset`` drops the connection before the request is handled; ``applied_then_reset`` handles it (a commit lands)
    and then drops the connection instead of answering, as when an answer is lost on the way back. A 429 or 503
    answer carries ``Retry-After: retry_after`` (seconds), like the Hub's."""

    remaining: int
    status: int = 503
    path_contains: str | None = None
    method: str | None = None
    reset: bool = False
    applied_then_reset: bool = False
    retry_after: float = 1.0

    def matches(self, method: str, path: str) -> bool:
        return (self.remaining > 0 and (self.method is None or self.method.upper() == method)
                and (self.path_contains is None or self.path_contains in unquote(path)))


@dataclass
class RequestRecord:
    """One request seen by the server (``path`` is raw, query string included)."""

    method: str
    path: str
    status: int  # 0 for an injected connection reset (also when the request was applied before the reset)
    at: float = field(default_factory=time.monotonic)  # when the answer (or the reset) was sent


@dataclass
class Repo:
    """A repository: metadata, refs and commits (each commit holds a full tree snapshot)."""

    type: str
    id: str
    private: bool = False
    sdk: str | None = None
    created_at: str = field(default_factory=now_iso)
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_pr: int = 1

    def resolve(self, revision: str) -> str:
        """Commit id for a branch name, ``refs/heads/x``, ``refs/pr/N`` or a full commit id."""
        rev = revision.removeprefix("refs/heads/")
        if rev in self.refs:
            return self.refs[rev]
        if re.fullmatch(r"[0-9a-f]{40}", rev) and rev in self.commits:
            return rev
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def tree(self, revision: str) -> tuple[str, dict[str, dict[str, Any]]]:
        sha = self.resolve(revision)
        return sha, self.commits[sha]["tree"]


class HubStore:
    """Repos and blobs on disk under ``root``; all mutations go through one lock."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        for path in (self.root / "repos").glob("*/*/*.json"):
            repo = Repo(**json.loads(path.read_text()))
            self.repos[(repo.type, repo.id)] = repo

    # --- blobs ---
    def blob_path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256[2:]

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            tmp.replace(path)
        return sha256

    def get_blob(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    def entry(self, data: bytes, lfs: bool) -> dict[str, Any]:
        """Store ``data`` and return its tree entry."""
        sha256 = self.put_blob(data)
        oid = git_blob_sha1(lfs_pointer(sha256, len(data)) if lfs else data)
        return {"sha256": sha256, "size": len(data), "lfs": lfs, "oid": oid}

    # --- repos ---
    def save(self, repo: Repo) -> None:
        path = self.root / "repos" / f"{repo.type}s" / f"{repo.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(repo.__dict__))
        tmp.replace(path)  # atomic: the repo document changes all at once

    def get(self, repo_type: str, repo_id: str, authed: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authed):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def create(self, repo_type: str, repo_id: str, private: bool, sdk: str | None, url: str) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo", extra={"url": url})
            repo = Repo(type=repo_type, id=repo_id, private=private, sdk=sdk)
            files = {".gitattributes": self.entry(GITATTRIBUTES, lfs=False)}
            self._add_commit(repo, "main", None, files, "initial commit", "")
            self.repos[(repo_type, repo_id)] = repo
            self.save(repo)
            return repo

    def _add_commit(self, repo: Repo, ref: str, parent: str | None, tree: dict, title: str, message: str) -> str:
        date = now_iso()
        seed = json.dumps([repo.id, parent, tree, title, message, date, len(repo.commits)], sort_keys=True)
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = {"id": sha, "parents": [parent] if parent else [], "title": title,
                             "message": message, "date": date, "tree": tree}
        repo.refs[ref] = sha
        return sha

    def commit(self, repo: Repo, revision: str, lines: list[dict[str, Any]], create_pr: bool) -> tuple[str, int | None]:
        """Apply an NDJSON commit payload atomically; returns (commit id, PR number or None)."""
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if header is None:
            raise HubError(400, "Missing header line in commit payload")
        with self.lock:
            head, tree = repo.tree(revision)
            parent_commit = header.get("parentCommit")
            if parent_commit and parent_commit != head and not create_pr:
                raise HubError(412, f"A commit has happened since. Please refresh and try again. "
                                    f"(expected parent {parent_commit}, head is {head})")
            if parent_commit and create_pr:
                if parent_commit not in repo.commits:
                    raise HubError(412, f"Parent commit {parent_commit} not found")
                head, tree = parent_commit, repo.commits[parent_commit]["tree"]
            new_tree = dict(tree)
            for line in lines:
                key, value = line.get("key"), line.get("value", {})
                if key == "file":
                    raw = value["content"].encode()
                    data = base64.b64decode(raw) if value.get("encoding") == "base64" else raw
                    new_tree[value["path"]] = self.entry(data, lfs=False)
                elif key == "lfsFile":
                    sha256 = value["oid"]
                    if not self.has_blob(sha256):
                        raise HubError(422, f"LFS object {sha256} for {value['path']} was never uploaded")
                    size = self.blob_path(sha256).stat().st_size
                    oid = git_blob_sha1(lfs_pointer(sha256, size))
                    new_tree[value["path"]] = {"sha256": sha256, "size": size, "lfs": True, "oid": oid}
                elif key == "deletedFile":
                    if new_tree.pop(value["path"], None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    for path in [p for p in new_tree if p.startswith(prefix)]:
                        del new_tree[path]
                elif key != "header":
                    raise HubError(400, f"Unknown commit operation {key!r}")
            pr_num = None
            ref = revision.removeprefix("refs/heads/")
            if create_pr:
                pr_num, ref = repo.next_pr, f"refs/pr/{repo.next_pr}"
                repo.next_pr += 1
            elif ref not in repo.refs:
                raise HubError(400, "Can only commit on top of a branch or pull request ref")
            sha = self._add_commit(repo, ref, head, new_tree, header.get("summary", ""), header.get("description", ""))
            self.save(repo)
            return sha, pr_num


class HubServer:
    """A threaded HTTP server speaking a subset of the Hugging Face Hub API.

    Example::

        with HubServer(tmp_path) as hub:
            os.environ["HF_ENDPOINT"] = hub.url  # before importing huggingface_hub!
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, user: str = "test-user"):
        self.store = HubStore(Path(root))
        self.user = user
        self.tree_page_size = 1000  # entries per /tree page (50 with expand=true), like the Hub
        self.requests: list[RequestRecord] = []
        self.auth_headers: list[str] = []  # Authorization header values received
        self.response_log: list[bytes] = []  # headers (+ body unless a file download) of each response
        self.faults: list[FaultRule] = []
        self._log_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject_faults(self, n: int = 1, status: int = 503, path_contains: str | None = None,
                      method: str | None = None, reset: bool = False, applied_then_reset: bool = False,
                      retry_after: float = 1.0) -> FaultRule:
        """Make the next ``n`` matching requests fail with ``status`` (with ``Retry-After: retry_after`` for a 429 or
        503), or, if ``reset``, a dropped connection; ``applied_then_reset`` handles each request first (a commit
        lands) and then drops the connection instead of answering."""
        rule = FaultRule(n, status, path_contains, method, reset, applied_then_reset, retry_after)
        with self._log_lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._log_lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> FaultRule | None:
        with self._log_lock:
            for rule in self.faults:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    return rule
        return None

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        """Direct access to a stored repo, for assertions."""
        return self.store.get(repo_type, repo_id, authed=True)

    def commits(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> list[dict[str, Any]]:
        """Commits reachable from ``revision``, newest first."""
        repo = self.repo(repo_id, repo_type)
        out, sha = [], repo.resolve(revision)
        while sha:
            out.append(repo.commits[sha])
            sha = (repo.commits[sha]["parents"] or [None])[0]
        return out


class _Handler(BaseHTTPRequestHandler):
    """Routes one request; see the ``_route`` table for the endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"
    # TCP_NODELAY, as real servers set it: otherwise a response's headers and body, written separately, meet the
    # client's delayed ACK and every keep-alive request waits ~40 ms.
    disable_nagle_algorithm = True

    # --- plumbing ---
    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        hub = self.hub
        self.body = self._read_body()
        auth = self.headers.get("Authorization")
        self.authed = bool(auth and auth.startswith("Bearer ") and len(auth) > 7)
        with hub._log_lock:
            if auth:
                hub.auth_headers.append(auth)
        fault = hub._take_fault(self.command, self.path)
        if fault is not None and fault.reset:
            return self._reset()
        try:
            if fault is not None and not fault.applied_then_reset:
                retry = {"Retry-After": f"{fault.retry_after:g}"} if fault.status in (429, 503) else {}
                raise HubError(fault.status, f"Injected fault ({fault.status})", headers=retry)
            status, headers, body, loggable = self._route()
        except HubError as err:
            status, headers, loggable = err.status, dict(err.headers), True
            if err.code:
                headers["X-Error-Code"] = err.code
            headers["X-Error-Message"] = err.message
            body = json.dumps({"error": err.message, **err.extra}).encode()
        except Exception as err:  # pragma: no cover - a server bug must not hang the client
            status, headers, loggable = 500, {}, True
            body = json.dumps({"error": f"{type(err).__name__}: {err}"}).encode()
        if fault is not None and fault.applied_then_reset:
            return self._reset()
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(body)))
        head = "".join(f"{k}: {v}\n" for k, v in headers.items()).encode()
        with hub._log_lock:  # logged before the answer leaves, so a client that has it finds the request logged
            hub.requests.append(RequestRecord(self.command, self.path, status))
            hub.response_log.append(head + (body if loggable else b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, sending no answer."""
        with self.hub._log_lock:
            self.hub.requests.append(RequestRecord(self.command, self.path, 0))
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None):
        return status, dict(headers or {}), json.dumps(obj).encode(), True

    def _payload(self) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return {k: v if len(v) > 1 or k == "paths" else v[0] for k, v in parse_qs(self.body.decode()).items()}
        return json.loads(self.body or b"{}")

    # --- routing ---
    def _route(self) -> tuple[int, dict[str, str], bytes, bool]:
        split = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        method = self.command
        if parts[:2] == ["api", "whoami-v2"]:
            if not self.authed:
                raise HubError(401, "Invalid credentials in Authorization header")
            return self._json({"type": "user", "name": self.hub.user, "fullname": "Test User", "orgs": [],
                               "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo()
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml()
        if parts[:1] == ["lfs-upload"] and method == "PUT":
            sha256 = parts[1]
            if hashlib.sha256(self.body).hexdigest() != sha256:
                raise HubError(400, "Uploaded content does not match its sha256")
            self.hub.store.put_blob(self.body)
            return 200, {}, b"", True
        if parts[:1] == ["lfs-verify"] and method == "POST":
            oid = self._payload()["oid"]
            if not self.hub.store.has_blob(oid):
                raise HubError(404, f"LFS object {oid} not found")
            return self._json({"success": True})
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1].rstrip("s") in REPO_TYPES:
            repo_type = parts[1][:-1]
            repo = self.hub.store.get(repo_type, f"{parts[2]}/{parts[3]}", self.authed)
            return self._api(repo, parts[4:])
        # git-style paths: [datasets|spaces/]ns/name(.git/info/lfs/...|/resolve/rev/path)
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = parts[0][:-1], parts[1:]
        if len(parts) >= 5 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            repo = self.hub.store.get(repo_type, f"{parts[0]}/{parts[1][:-4]}", self.authed)
            return self._lfs_batch(repo)
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            repo = self.hub.store.get(repo_type, f"{parts[0]}/{parts[1]}", self.authed)
            return self._resolve(repo, parts[3], "/".join(parts[4:]))
        raise HubError(404, f"No route for {method} {split.path}")

    def _api(self, repo: Repo, rest: list[str]) -> tuple[int, dict[str, str], bytes, bool]:
        method, action = self.command, (rest[0] if rest else "")
        if action in ("", "revision") and method == "GET":
            return self._json(self._info(repo, rest[1] if action else "main"))
        if action == "tree" and method == "GET":
            return self._tree(repo, rest[1], "/".join(rest[2:]).strip("/"))
        if action == "paths-info" and method == "POST":
            return self._paths_info(repo, rest[1])
        if action == "preupload" and method == "POST":
            return self._preupload(repo, rest[1])
        if action == "commit" and method == "POST":
            return self._commit(repo, rest[1])
        if action == "commits" and method == "GET":
            return self._json([self._commit_json(c) for c in self.hub.commits(repo.id, repo.type, rest[1])])
        if action == "refs" and method == "GET":
            def ref(name: str, full: str, sha: str) -> dict[str, str]:
                return {"name": name, "ref": full, "targetCommit": sha}
            with self.hub.store.lock:
                refs = dict(repo.refs)
            branches = [ref(n, f"refs/heads/{n}", s) for n, s in refs.items() if not n.startswith("refs/")]
            prs = [ref(n, n, s) for n, s in refs.items() if n.startswith("refs/pr/")]
            out: dict[str, Any] = {"branches": branches, "tags": [], "converts": []}
            if self.query.get("include_prs"):
                out["pullRequests"] = prs
            return self._json(out)
        raise HubError(404, f"No route for {method} {self.path}")

    # --- endpoints ---
    def _create_repo(self):
        if not self.authed:
            raise HubError(401, "You must be authenticated to create a repo")
        payload = self._payload()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        if repo_type == "space" and not payload.get("sdk"):
            raise HubError(400, "A Space needs an sdk")
        repo_id = f"{payload.get('organization') or self.hub.user}/{payload['name']}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
        self.hub.store.create(repo_type, repo_id, private, payload.get("sdk"), url)
        return self._json({"url": url, "name": repo_id})

    def _validate_yaml(self):
        content = self._payload().get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*$", content, re.S | re.M)
        if match and yaml is not None:
            try:
                meta = yaml.safe_load(match.group(1))
            except yaml.YAMLError as err:
                return self._json({"errors": [{"message": str(err)}], "warnings": []}, status=400)
            if meta is not None and not isinstance(meta, dict):
                return self._json({"errors": [{"message": "metadata must be a mapping"}], "warnings": []}, 400)
        return self._json({"errors": [], "warnings": []})

    @staticmethod
    def _card_data(store: HubStore, tree: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        entry = tree.get("README.md")
        if entry is None or yaml is None:
            return None
        text = store.get_blob(entry["sha256"]).decode("utf-8", "replace")
        match = re.match(r"^---\s*\n(.*?)\n---\s*$", text, re.S | re.M)
        try:
            data = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def _info(self, repo: Repo, revision: str):
        sha, tree = repo.tree(revision)
        commit = repo.commits[sha]
        siblings = []
        for path, e in sorted(tree.items()):
            sib: dict[str, Any] = {"rfilename": path}
            if self.query.get("blobs"):
                sib.update(size=e["size"], blobId=e["oid"])
                if e["lfs"]:
                    sib["lfs"] = {"size": e["size"], "sha256": e["sha256"],
                                   "pointerSize": len(lfs_pointer(e["sha256"], e["size"]))}
            siblings.append(sib)
        info: dict[str, Any] = {
            "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24], "id": repo.id, "author": repo.id.split("/")[0],
            "sha": sha, "lastModified": commit["date"], "createdAt": repo.created_at, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "cardData": self._card_data(self.hub.store, tree), "siblings": siblings,
            "usedStorage": sum(e["size"] for e in tree.values()),
        }
        if repo.type == "space":
            info.update(sdk=repo.sdk, subdomain=repo.id.replace("/", "-").lower(),
                        runtime={"stage": "NO_APP_FILE", "hardware": {"current": None, "requested": None}})
        if repo.type == "model":
            info["modelId"] = repo.id
        return info

    def _file_json(self, repo: Repo, path: str, e: dict[str, Any], expand: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": e["oid"], "size": e["size"], "path": path}
        if e["lfs"]:
            out["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": len(lfs_pointer(e["sha256"], e["size"]))}
        if expand:
            out["lastCommit"] = self._last_commit(repo, path)
        return out

    def _last_commit(self, repo: Repo, path: str) -> dict[str, str]:
        """Newest commit (on main's first-parent chain) that touched ``path``; good enough for tests."""
        commits = list(reversed(self.hub.commits(repo.id, repo.type)))
        last = commits[0]
        for prev, cur in zip([None, *commits], commits):
            if prev is None or prev["tree"].get(path) != cur["tree"].get(path):
                if path in cur["tree"] or any(p.startswith(path + "/") for p in cur["tree"]):
                    last = cur
        return {"id": last["id"], "title": last["title"], "date": last["date"]}

    def _folder_json(self, path: str) -> dict[str, Any]:
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}

    def _tree(self, repo: Repo, revision: str, path: str):
        sha, tree = repo.tree(revision)
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        expand = self.query.get("expand", "").lower() in ("1", "true")
        prefix = f"{path}/" if path else ""
        if path and not any(p.startswith(prefix) for p in tree):
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha})
        entries: dict[str, dict[str, Any]] = {}
        for file_path, e in sorted(tree.items()):
            if not file_path.startswith(prefix):
                continue
            rel = file_path[len(prefix):].split("/")
            for depth in range(1, len(rel)):  # intermediate folders
                folder = prefix + "/".join(rel[:depth])
                if depth == 1 or recursive:
                    entries.setdefault(folder, self._folder_json(folder))
            if len(rel) == 1 or recursive:
                entries[file_path] = self._file_json(repo, file_path, e, expand)
        items = [entries[k] for k in sorted(entries)]
        page_size = min(self.hub.tree_page_size, 50) if expand else self.hub.tree_page_size
        start = int(self.query.get("cursor", "0") or 0)
        headers = {"X-Repo-Commit": sha}
        if start + page_size < len(items):
            base = urlsplit(self.path)
            query = "&".join(f"{k}={quote(v)}" for k, v in {**self.query, "cursor": str(start + page_size)}.items())
            headers["Link"] = f'<{self.hub.url}{base.path}?{query}>; rel="next"'
        return self._json(items[start:start + page_size], headers=headers)

    def _paths_info(self, repo: Repo, revision: str):
        sha, tree = repo.tree(revision)
        payload = self._payload()
        paths = payload.get("paths", [])
        paths = [paths] if isinstance(paths, str) else paths
        expand = str(payload.get("expand", "")).lower() in ("1", "true")
        out = []
        for path in paths:
            path = path.strip("/")
            if path in tree:
                out.append(self._file_json(repo, path, tree[path], expand))
            elif path == "" or any(p.startswith(path + "/") for p in tree):
                out.append(self._folder_json(path))
        return self._json(out, headers={"X-Repo-Commit": sha})

    def _preupload(self, repo: Repo, revision: str):
        _, tree = repo.tree(revision)
        files = []
        for f in self._payload().get("files", []):
            sample = base64.b64decode(f.get("sample", ""))
            lfs = (f["path"].lower().endswith(LFS_EXTENSIONS) or b"\0" in sample
                   or f.get("size", 0) >= LFS_SIZE_THRESHOLD)
            existing = tree.get(f["path"])
            oid = None
            if existing is not None and existing["lfs"] == lfs:
                oid = existing["sha256"] if lfs else existing["oid"]
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        return self._json({"files": files, "commitOid": repo.resolve(revision)})

    def _lfs_batch(self, repo: Repo):
        if not self.authed:
            raise HubError(401, "LFS uploads need a token")
        payload = self._payload()
        objects = []
        for obj in payload.get("objects", []):
            item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.hub.store.has_blob(obj["oid"]):
                item["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.hub.url}/lfs-verify", "header": {}},
                }
            objects.append(item)
        return _lfs_batch_answer(objects)

    def _commit(self, repo: Repo, revision: str):
        if not self.authed:
            raise HubError(401, "You must be authenticated to commit")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        create_pr = self.query.get("create_pr") in ("1", "true", "True")
        sha, pr_num = self.hub.store.commit(repo, revision, lines, create_pr)
        base = f"{self.hub.url}/{URL_PREFIX[repo.type]}{repo.id}"
        return self._json({"success": True, "commitOid": sha, "commitUrl": f"{base}/commit/{sha}",
                           "pullRequestUrl": f"{base}/discussions/{pr_num}" if pr_num else None})

    @staticmethod
    def _commit_json(commit: dict[str, Any]) -> dict[str, Any]:
        return {"id": commit["id"], "title": commit["title"], "message": commit["message"],
                "date": commit["date"], "authors": [{"user": "test-user"}], "parents": commit["parents"]}

    def _resolve(self, repo: Repo, revision: str, path: str):
        sha, tree = repo.tree(revision)
        entry = tree.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha})
        size = entry["size"]
        etag = f'"{entry["sha256"] if entry["lfs"] else entry["oid"]}"'
        headers = {"X-Repo-Commit": sha, "ETag": etag, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream", "Content-Disposition": f'inline; filename="{path}"'}
        if entry["lfs"]:
            headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(size)})
        status, start, end = 200, 0, size
        rng = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if rng and size > 0:
            first, last = rng.groups()
            start, end = (size - int(last), size) if not first else (int(first), min(int(last) + 1, size) if last else size)
            if start >= size:
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        body = b"" if self.command == "HEAD" else self.hub.store.get_blob(entry["sha256"])[start:end]
        return status, headers, body, False


def _lfs_batch_answer(objects: list[dict[str, Any]]):
    """LFS batch answer (uses the git-lfs media type)."""
    body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
    return 200, {"Content-Type": "application/vnd.git-lfs+json"}, body, True
