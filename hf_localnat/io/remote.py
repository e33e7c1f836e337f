"""Inputs and outputs at fsspec URLs (`hf://datasets/...`, `s3://...`, `gs://...`, `memory://...`, `file://...`).

`io.load_input`, `io.check_output`, `io.save_output` and `provenance.read` send every URL here; a `file://` URL is
simply a local path (`local_path`), with all the guarantees of local files. `storage_options` (a dict, or the JSON
of `--storage-options`) go to the filesystem of the URL: the same options for the input and the output of a command.

Reading (`fetch`): the remote file is streamed once into a local copy named by its content (sha256) under
`$HF_DATASETS_CACHE/localnat-remote/`, then read like a local file. So the `datasets` cache, the input fingerprint and
the resume checkpoints of `localnat score` key on the content itself. (`datasets`' own remote reading keys its cache
on an ETag or mtime, which some filesystems do not report -- `memory://` has neither -- and on the branch name for
`hf://`, so a file changed in place could be read back stale.) The cost: each run downloads the input once.

Writing (`upload`): the output (and its provenance sidecar) is first written to a local temporary folder, then
- on a Hub repository (`hf://datasets/...`, `hf://...`): uploaded in **one commit** holding the file and its sidecar
  (and the removal of a stale sidecar). A commit lands whole or not at all, so it is already the atomic "rename into
  place"; a temporary file plus a move would be two commits, with a window in which the half-written state is public;
- anywhere else: put at a hidden temporary path beside the target (`.{name}.localnat-tmp-{pid}-{hex}`) on the same
  filesystem, then moved into place (`fs.mv`), the file first and then its sidecar, as for local files. On object
  stores a move is a copy of a complete object: readers see the old file or the new one, never part of one.

Replacing (`check_output`): an existing remote output is replaced only with `overwrite=True` *and* when it records
that localnat wrote it: a Parquet file with `hf_localnat` provenance in its schema metadata, or a `.jsonl`/`.json`/
`.csv` file with its `<file>.hf_localnat.json` sidecar. Remote outputs are files (no `save_to_disk` folders).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, OutputExistsError

#: Folder under the `datasets` cache holding the content-addressed copies of remote inputs.
REMOTE_CACHE_DIR = "localnat-remote"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def is_url(source: object) -> bool:
    """Whether `source` is a URL handled by fsspec (`protocol://...`), not a local path or a Hub dataset id."""
    return isinstance(source, str) and _URL.match(source) is not None and not source.startswith("file://")


def local_path(source: str | os.PathLike) -> str | os.PathLike:
    """`file:///data/x.jsonl` -> `/data/x.jsonl`; anything else unchanged."""
    if isinstance(source, str) and source.startswith("file://"):
        return source[len("file://"):] or "/"
    return source


def parse_storage_options(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The `--storage-options` JSON object as a dict (`None` or `""` -> `{}`).

    Raises:
        ConfigError: not JSON, or JSON that is not an object.

    Example:
        >>> parse_storage_options('{"anon": true}')
        {'anon': True}
    """
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    how = 'pass one JSON object in single quotes, e.g. --storage-options \'{"anon": true}\''
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--storage-options is not valid JSON ({e.msg} at column {e.colno}): {how}.") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--storage-options must be a JSON object, got a {type(value).__name__}: {how}.")
    return value


def check_hub_reachable(endpoint: str | None = None, *, timeout: float = 5.0, error: type[Exception] = InputError,
                        hint: str = "") -> None:
    """Fail at once, in one line, when the Hub's host cannot be reached (no network, a closed port, an unknown host),
    instead of letting `huggingface_hub` retry every request with a line each (about 25 s of `Retrying in ...`) or
    fail with a traceback. Offline mode (`HF_HUB_OFFLINE=1`) connects to nothing, so it checks nothing.

    Args:
        endpoint (`str`, *optional*): the Hub's URL  [default: `HF_ENDPOINT`, `huggingface_hub.constants.ENDPOINT`].
        timeout (`float`, *optional*): seconds to wait for the connection.
        error (`type`, *optional*): the error to raise (an `hf_localnat.errors` class).
        hint (`str`, *optional*): a sentence appended to the message (what to do offline).

    Raises:
        `error`: the host refused, could not be resolved or did not answer within `timeout`.
    """
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return
    endpoint = endpoint or constants.ENDPOINT
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise error(f"Cannot reach the Hub at {endpoint} ({reason}); check your network (or HF_ENDPOINT), then "
                    f"rerun.{' ' + hint if hint else ''}") from None


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None):
    """`(fsspec filesystem, path on it)` for `url`, with fresh listings (a cached one could hide a new file).

    Raises:
        ConfigError: the protocol is unknown, its package is not installed, or the options do not fit it.
    """
    from fsspec.core import url_to_fs
    from fsspec.registry import known_implementations

    protocol = _URL.match(url).group(1)
    if protocol == "hf":
        check_hub_reachable(hint="Offline, use a local file.")
    try:
        fs, path = url_to_fs(url, **(storage_options or {}))
    except ImportError as e:
        package = known_implementations.get(protocol, {}).get("class", protocol).split(".")[0]
        raise ConfigError(f"{protocol}:// needs the package {package}: pip install {package} (then retry {url}).") \
            from e
    except ValueError as e:
        if "Protocol not known" in str(e):
            raise ConfigError(f"Unknown protocol {protocol}:// in {url}; use a local path, a Hub dataset id, or an "
                              f"fsspec URL (hf://, s3://, gs://, memory://, file://, ...).") from e
        raise
    except TypeError as e:
        raise ConfigError(f"--storage-options do not fit {protocol}:// ({e}); check the option names.") from e
    fs.invalidate_cache()
    return fs, path


def suffix_of(url: str) -> str:
    """The lower-case suffix of the file a URL names (`""` when none)."""
    return posixpath.splitext(url.split("?", 1)[0].rstrip("/"))[1].lower()


def sidecar_url(url: str) -> str:
    """The provenance sidecar of a remote `.jsonl`/`.json`/`.csv` output: `<url>.hf_localnat.json`."""
    from ..provenance import SIDECAR_SUFFIX

    return url + SIDECAR_SUFFIX


def fetch(url: str, storage_options: Mapping[str, Any] | None = None) -> Path:
    """Stream the remote file `url` to a local copy named by its content; return that copy's path.

    The copy is `$HF_DATASETS_CACHE/localnat-remote/{sha256[:32]}/{file name}`: the same bytes give the same path
    (so `datasets` and the score checkpoints reuse their caches), other bytes another path.

    Raises:
        FileNotFoundError: nothing at `url`.
        InputError: `url` is a folder, or its suffix is not one of the four input formats.
    """
    import datasets

    fs, path = filesystem(url, storage_options)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"Input {url!r} does not exist; check the URL (and --storage-options).") from None
    suffix = suffix_of(url)
    if info.get("type") == "directory":
        raise InputError(f"{url!r} is a folder; a remote INPUT must name one {'/'.join(_SUFFIXES)} file (for a "
                         "whole Hub dataset, pass its id, e.g. my-org/traces).")
    if suffix not in _SUFFIXES:
        raise InputError(f"Unknown file type {suffix or '(no suffix)'!r} for {url!r}; use one of "
                         f"{', '.join(_SUFFIXES)}.")
    from .faults import translated_os_errors

    cache = Path(datasets.config.HF_DATASETS_CACHE) / REMOTE_CACHE_DIR
    digest = hashlib.sha256()
    with translated_os_errors(cache / posixpath.basename(path.rstrip("/")), what=f"the local copy of {url}",
                              places=[cache]):
        cache.mkdir(parents=True, exist_ok=True)
        handle, staged = tempfile.mkstemp(prefix=".download-", suffix=suffix, dir=cache)
        try:
            with os.fdopen(handle, "wb") as out, fs.open(path, "rb") as src:
                for block in iter(lambda: src.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
            final = cache / digest.hexdigest()[:32] / posixpath.basename(path.rstrip("/"))
            if not final.is_file():
                final.parent.mkdir(exist_ok=True)
                os.replace(staged, final)
        finally:
            try:
                Path(staged).unlink(missing_ok=True)
            except OSError:
                pass
    return final


def read_provenance(url: str, storage_options: Mapping[str, Any] | None = None):
    """The provenance recorded with a remote scored file (Parquet footer, or its sidecar); `None` when none."""
    from ..provenance import parse_footer, parse_sidecar

    fs, path = filesystem(url, storage_options)
    if not fs.isfile(path):
        return None
    if suffix_of(url) == ".parquet":
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as f:
            try:
                metadata = pq.read_schema(f).metadata
            except Exception:  # noqa: BLE001 - not Parquet: `load_input` reports it with its place
                return None
        return parse_footer(metadata, url)
    side_fs, side = filesystem(sidecar_url(url), storage_options)
    if not side_fs.isfile(side):
        return None
    with side_fs.open(side, "rb") as f:
        return parse_sidecar(f.read(), sidecar_url(url))


def check_output(url: str, *, overwrite: bool = False, storage_options: Mapping[str, Any] | None = None) -> str:
    """Refuse a remote output that is not a file of the four formats, or that may not be replaced; return `url`.

    Raises:
        InputError: no suffix (remote folders are not written) or an unknown one.
        OutputExistsError: `url` exists and `overwrite` is off, or it does not record that localnat wrote it.
    """
    suffix = suffix_of(url)
    if suffix not in _SUFFIXES:
        raise InputError(f"Unknown output type {suffix or '(no suffix)'!r} for {url!r}; a remote OUTPUT is one "
                         f"{', '.join(_SUFFIXES)} file.")
    fs, path = filesystem(url, storage_options)
    _check_hub_repo(fs, path, url)
    if not fs.exists(path):
        return url
    if fs.isdir(path):
        raise OutputExistsError(f"Output {url!r} is an existing folder; a remote OUTPUT is one file: choose another "
                                "URL.")
    if not overwrite:
        raise OutputExistsError(f"Output {url!r} already exists; pass --overwrite to replace it.")
    if read_provenance(url, storage_options) is None:
        raise OutputExistsError(f"Output {url!r} exists and does not record that localnat wrote it (no hf_localnat "
                                "provenance); --overwrite replaces only outputs localnat wrote: choose another URL, or "
                                "remove it yourself.")
    return url


def _check_hub_repo(fs, path: str, url: str) -> None:
    """Refuse, before any work, an `hf://` output in a repo (or revision) that does not exist or the token cannot see."""
    from huggingface_hub import HfFileSystem

    if not isinstance(fs, HfFileSystem):
        return
    try:
        fs.resolve_path(path)
    except FileNotFoundError:
        raise InputError(f"Output {url!r}: its Hub repo (or revision) does not exist, or your token cannot see it; "
                         "create it first (`hf repos create NS/NAME --repo-type dataset`) or fix the URL/token.") \
            from None


def upload(files: Mapping[str, Path | None], storage_options: Mapping[str, Any] | None = None) -> None:
    """Put local files at their URLs, in order; a `None` source removes that URL if it exists (a stale sidecar).

    All URLs are on one filesystem. On a Hub repository this is one commit; elsewhere each file goes to a temporary
    path beside its URL and is moved into place (see the module docstring).
    """
    first = next(iter(files))
    fs, _ = filesystem(first, storage_options)
    from huggingface_hub import HfFileSystem

    if isinstance(fs, HfFileSystem):
        resolved = fs.resolve_path(fs._strip_protocol(first))
        if hasattr(resolved, "repo_id"):
            _commit_to_hub(fs, resolved, files, storage_options)
            return
    for url, source in files.items():
        _, path = filesystem(url, storage_options)
        if source is None:
            if fs.exists(path):
                fs.rm(path)
            continue
        head, name = posixpath.split(path)
        staged = posixpath.join(head, f".{name}.localnat-tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fs.put_file(str(source), staged)
            fs.mv(staged, path)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm(staged)
            raise
    fs.invalidate_cache()


def _commit_to_hub(fs, resolved, files: Mapping[str, Path | None], storage_options) -> None:
    """One commit on the Hub repository of `resolved` with every file of `files` (added, or deleted when `None`)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations = []
    for url, source in files.items():
        _, path = filesystem(url, storage_options)
        in_repo = fs.resolve_path(path).path_in_repo
        if source is not None:
            operations.append(CommitOperationAdd(path_in_repo=in_repo, path_or_fileobj=str(source)))
        elif fs.exists(path):
            operations.append(CommitOperationDelete(path_in_repo=in_repo))
    names = ", ".join(op.path_in_repo for op in operations if isinstance(op, CommitOperationAdd))
    fs._api.create_commit(repo_id=resolved.repo_id, repo_type=resolved.repo_type, revision=resolved.revision,
                          operations=operations, commit_message=f"localnat: write {names}")
    fs.invalidate_cache()
