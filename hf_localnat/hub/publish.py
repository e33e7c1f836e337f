"""Publish a repo folder (see `repo_folder.py`) to a Hub dataset repo, safely.

- **One commit.** Every file goes into a single `HfApi.create_commit`, made on top of the head we checked
  (`parent_commit`): the Hub applies a commit whole or not at all, and a change made by someone else meanwhile makes
  it fail (412) instead of being overwritten.
- **Private** unless `public=True`.
- **No silent overwrite.** A repo holding anything besides `.gitattributes` is refused unless `overwrite` (commit to
  `main`) or `create_pr` (open a pull request). A repo with nothing else in it (for example one a failed earlier run
  created) counts as new. With either flag the commit also deletes the files this package owns that the new folder
  no longer has (`data/{lalp,galp,scored,rejected}/...` and `images/localnat-*`); every other file stays.
- **The user's card survives.** An existing `README.md` keeps its text and metadata; only the section between
  `<!-- localnat:start -->` and `<!-- localnat:end -->` and our metadata keys change (`card.merge_card`).
- **Retries.** 429, 5xx and dropped connections are retried with bounded exponential back-off and jitter. Before
  retrying the commit, the repo is checked for it (each commit carries a unique publish id in its description), so a
  commit whose answer was lost is never made twice.
- **The token** is only handed to `HfApi`; nothing here prints, logs or writes it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .card import CONFIG_DESCRIPTIONS, merge_card
from ..errors import ConfigError, PublishError
from ..wording import counted
from .repo_folder import DATA_DIR, IMAGES_DIR, folder_files

T = TypeVar("T")
REPO_TYPE = "dataset"
PUBLISH_ID_KEY = "localnat-publish-id"
#: Files this package owns in a repo: `--overwrite` may delete them; everything else is the user's.
OWNED_PREFIXES = tuple(f"{DATA_DIR}/{name}/" for name in CONFIG_DESCRIPTIONS) + (f"{IMAGES_DIR}/localnat-",)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off with full jitter for transient Hub errors (429, 5xx, dropped connections).

    Args:
        attempts (`int`, *optional*, defaults to 5): tries in all, the first included.
        base_delay (`float`, *optional*, defaults to 1.0): seconds before the first retry; doubles each time.
        max_delay (`float`, *optional*, defaults to 30.0): cap on one wait (also on a 429's `Retry-After`).
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)  # jitter keeps many clients from retrying in step


@dataclass
class PublishResult:
    """What `publish_folder` did (or, for a dry run, would do).

    Attributes:
        repo_id (`str`), files (`list[tuple[str, int]]`: path and size), deleted (`list[str]`), private (`bool | None`:
        the repo's visibility, `None` in a dry run), created (`bool`: the repo was created by this call),
        commit_url (`str | None`), pr_url (`str | None`), dry_run (`bool`), notes (`list[str]`).
    """

    repo_id: str
    files: list[tuple[str, int]]
    deleted: list[str] = field(default_factory=list)
    private: bool | None = None
    created: bool = False
    commit_url: str | None = None
    pr_url: str | None = None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable lines for a terminal."""
        total = sum(size for _, size in self.files)
        head = "Would push" if self.dry_run else ("Opened a pull request on" if self.pr_url else "Published")
        lines = [f"{head} {self.repo_id} ({counted(len(self.files), 'file')}, {_size(total)} in one commit"
                 + (f", deleting {len(self.deleted)} stale file(s)" if self.deleted else "") + "):"]
        lines += [f"  {path:<56}{_size(size):>10}" for path, size in self.files]
        lines += [f"  - {path}" for path in self.deleted]
        if self.private is not None:
            lines.append(f"Visibility: {'private' if self.private else 'public'}.")
        lines += self.notes
        if self.pr_url:
            lines.append(f"Pull request: {self.pr_url}")
        elif self.commit_url:
            lines.append(f"Commit: {self.commit_url}")
        return "\n".join(lines)


def is_transient(error: BaseException) -> bool:
    """True for errors worth retrying: HTTP 429 or 5xx, and transport failures (reset, timeout, refused).

    The causes are followed too: huggingface_hub wraps a failed LFS upload in a plain `RuntimeError`."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OfflineModeIsEnabled):  # HF_HUB_OFFLINE=1: retrying cannot help
            return False
        if isinstance(error, HfHubHTTPError):
            response = error.response
            return response is not None and (response.status_code == 429 or response.status_code >= 500)
        if isinstance(error, (httpx2.TransportError, ConnectionError)):
            return True
        error = error.__cause__ or error.__context__
    return False


def with_retries(call: Callable[[], T], what: str, policy: RetryPolicy, echo: Callable[[str], None],
                 before_retry: Callable[[], T | None] | None = None) -> T:
    """Run `call`, retrying transient errors per `policy`.

    `before_retry`, when given, runs after each wait and before the next try; a non-`None` answer is returned
    instead of trying again (used to find a commit that landed although its answer was lost).

    Raises:
        PublishError: the last try failed transiently; says that nothing was published and to rerun.
        Other errors: re-raised at once (not transient).
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except Exception as err:
            if not is_transient(err):
                status = _status(err)
                if status is None or isinstance(err, PublishError):
                    raise
                raise PublishError(f"{what} failed: the Hub answered HTTP {status} ({_first_line(err)}). Nothing was "
                                   f"published. {_HINTS.get(status, 'Fix the cause, then rerun the same command.')}"
                                   ) from err
            reason = _reason(err)
            if attempt == policy.attempts:
                raise PublishError(
                    f"{what} failed after {policy.attempts} attempts (last: {reason}). Nothing was half-published: "
                    "the Hub applies a commit whole or not at all. Rerun the same command to try again."
                ) from err
            wait = policy.delay(attempt, _retry_after(err))
            echo(f"{what}: {reason}; retrying in {wait:.1f} s (attempt {attempt + 1}/{policy.attempts}).")
            time.sleep(wait)
            if before_retry is not None:
                try:
                    found = before_retry()
                except Exception as check_err:  # the check itself may hit the same outage: just try again
                    if not is_transient(check_err):
                        raise
                    found = None
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


def plan(folder: str | os.PathLike, repo_id: str) -> PublishResult:
    """What `publish_folder` would push, without any network access (the `--dry-run` answer)."""
    check_repo_id(repo_id)
    notes = ["Dry run: nothing was sent. If the repo exists, its README.md is merged (your text and metadata are "
             "kept) and stale localnat files are deleted in the same commit; that needs --overwrite or --create-pr."]
    return PublishResult(repo_id, folder_files(folder), dry_run=True, notes=notes)


def publish_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    public: bool = False,
    overwrite: bool = False,
    create_pr: bool = False,
    dry_run: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    retry: RetryPolicy = RetryPolicy(),
    echo: Callable[[str], None] | None = None,
) -> PublishResult:
    """Push a repo folder to the Hub dataset repo `repo_id` in one commit.

    Args:
        folder (`str` or `os.PathLike`): a folder written by `write_repo_folder` (README.md, data/, images/).
        repo_id (`str`): `NAMESPACE/NAME`.
        public (`bool`, *optional*, defaults to `False`): create the repo public (an existing repo keeps its
            visibility).
        overwrite (`bool`, *optional*, defaults to `False`): commit into an existing non-empty repo's `main`.
        create_pr (`bool`, *optional*, defaults to `False`): open a pull request on an existing repo instead.
        dry_run (`bool`, *optional*, defaults to `False`): only list what would be pushed; no network.
        token (`str`, *optional*): a Hub token; defaults to the logged-in one (`HF_TOKEN`, `hf auth login`).
        commit_message (`str`, *optional*): the commit title.
        retry (`RetryPolicy`, *optional*): how transient errors are retried.
        echo (`Callable[[str], None]`, *optional*): where progress lines go (never the token).

    Returns:
        `PublishResult`: files pushed, files deleted, the commit or pull-request URL.

    Raises:
        PublishError: the repo exists and neither flag was given; the repo changed during the publish; or a transient
            error outlasted the retries. Nothing was committed in any of these cases.
        ConfigError: bad `repo_id`, both flags, or a folder without README.md.
    """
    echo = echo or (lambda _line: None)
    if overwrite and create_pr:
        raise ConfigError("Pass either --overwrite (commit to main) or --create-pr (open a pull request), not both.")
    result = plan(folder, repo_id)
    if dry_run:
        return result
    result.dry_run, result.notes = False, []

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    from .. import __version__

    api = HfApi(token=token)
    folder = Path(folder)

    def info():
        try:
            return api.dataset_info(repo_id)
        except RepositoryNotFoundError:
            return None

    repo = with_retries(info, f"Reading {repo_id}", retry, echo)
    if repo is None:
        if create_pr:
            raise PublishError(f"{repo_id} does not exist, so there is nothing to open a pull request on; drop "
                               "--create-pr to create it.")
        echo(f"Creating {'public' if public else 'private'} dataset repo {repo_id}...")
        with_retries(lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=not public, exist_ok=True),
                     f"Creating {repo_id}", retry, echo)
        repo = with_retries(info, f"Reading {repo_id}", retry, echo)
        result.created = True
    existing = [s.rfilename for s in repo.siblings or []]
    if any(path != ".gitattributes" for path in existing) and not (overwrite or create_pr):
        raise PublishError(f"{repo_id} already exists and holds {len(existing)} file(s); nothing was changed. Pass "
                           "--overwrite to replace the localnat files in one commit (your other files and your card "
                           "text are kept), or --create-pr to propose the change as a pull request.")
    result.private = repo.private
    if public and repo.private and not result.created:
        result.notes.append("The existing repo is private and stays so (change visibility in its settings).")
    head = repo.sha

    readme = (folder / "README.md").read_text(encoding="utf-8")
    if "README.md" in existing:
        from huggingface_hub import DatasetCard, hf_hub_download

        path = with_retries(lambda: hf_hub_download(repo_id, "README.md", repo_type=REPO_TYPE, revision=head,
                                                    token=token), f"Reading {repo_id}'s card", retry, echo)
        readme = str(merge_card(Path(path).read_text(encoding="utf-8"), DatasetCard(readme)))
        result.notes.append("Merged with the existing card: its text and metadata outside the localnat section are "
                            "kept.")
    new_paths = {path for path, _ in result.files}
    result.deleted = sorted(p for p in existing if p.startswith(OWNED_PREFIXES) and p not in new_paths)
    result.files = [(p, len(readme.encode()) if p == "README.md" else size) for p, size in result.files]

    publish_id = uuid.uuid4().hex
    title = commit_message or f"Publish curated dataset with hf-localnat {__version__}"
    description = f"Published with hf-localnat {__version__}.\n\n{PUBLISH_ID_KEY}: {publish_id}"

    def operations() -> list:  # fresh objects each try: a failed commit leaves upload state on the old ones
        ops: list = [CommitOperationAdd(p, readme.encode() if p == "README.md" else str(folder / p))
                     for p, _ in result.files]
        return ops + [CommitOperationDelete(p) for p in result.deleted]

    def commit() -> dict[str, Any]:
        try:
            info_ = api.create_commit(repo_id, operations(), commit_message=title, commit_description=description,
                                      repo_type=REPO_TYPE, parent_commit=head, create_pr=create_pr or None)
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code == 412:
                raise PublishError(f"{repo_id} changed while publishing (its head is no longer {head[:8]}); nothing "
                                   "was committed. Rerun the same command to publish on top of the new head.") from err
            raise
        return {"commit_url": info_.commit_url, "pr_url": info_.pr_url}

    echo(f"Uploading {counted(len(result.files), 'file')} to {repo_id} in one commit"
         f"{' as a pull request' if create_pr else ''}...")
    landed = with_retries(commit, f"Committing to {repo_id}", retry, echo,
                          before_retry=lambda: _find_landed(api, repo_id, publish_id, create_pr))
    result.commit_url, result.pr_url = landed["commit_url"], landed["pr_url"]
    return result


def _find_landed(api, repo_id: str, publish_id: str, create_pr: bool) -> dict[str, Any] | None:
    """The commit carrying `publish_id` on `main` (or on an open PR ref), if a lost answer hid that it landed."""
    marker = f"{PUBLISH_ID_KEY}: {publish_id}"
    endpoint = api.endpoint.rstrip("/")
    if create_pr:
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE, include_pull_requests=True).pull_requests or []
        for ref in refs:
            top = api.list_repo_commits(repo_id, repo_type=REPO_TYPE, revision=ref.ref)[0]
            if marker in (top.message or ""):
                num = ref.ref.rsplit("/", 1)[-1]
                url = f"{endpoint}/datasets/{repo_id}"
                return {"commit_url": f"{url}/commit/{top.commit_id}", "pr_url": f"{url}/discussions/{num}"}
        return None
    top = api.list_repo_commits(repo_id, repo_type=REPO_TYPE)[0]
    if marker in (top.message or ""):
        return {"commit_url": f"{endpoint}/datasets/{repo_id}/commit/{top.commit_id}", "pr_url": None}
    return None


def check_repo_id(repo_id: str) -> None:
    """Raise `ConfigError` unless `repo_id` looks like `NAMESPACE/NAME` and the Hub's own rules accept it (checked
    offline, so `--dry-run` refuses what a real publish would)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(" " in p for p in parts):
        raise ConfigError(f"--repo-id must look like NAMESPACE/NAME (your user or org, then the dataset name), got "
                          f"{repo_id!r}.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ConfigError(f"--repo-id {repo_id!r} is not a valid Hub repo id: {_first_line(e)} Use letters, digits, "
                          "'-', '_' and '.' (no '--' or '..', at most 96 characters).") from e


_HINTS = {
    401: "Check your token: run `hf auth login`, or set HF_TOKEN (or --token) to a token with write access.",
    403: "Your token may not write there: use a write token, or a namespace you own or belong to.",
}


def _status(err: BaseException | None) -> int | None:
    """The HTTP status of the first Hub error in `err`'s chain, if any."""
    from huggingface_hub.errors import HfHubHTTPError

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, HfHubHTTPError) and err.response is not None:
            return err.response.status_code
        err = err.__cause__ or err.__context__
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _reason(err: BaseException) -> str:
    while getattr(err, "response", None) is None and (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    response = getattr(err, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    return type(err).__name__


def _retry_after(err: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`: seconds or an HTTP date), from the first answer in
    `err`'s chain that has one; huggingface_hub may wrap the HTTP error in another exception."""
    from email.utils import parsedate_to_datetime

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        response = getattr(err, "response", None)
        value = response.headers.get("Retry-After") if response is not None else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    return None
        err = err.__cause__ or err.__context__
    return None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
