"""Read any input the CLI accepts into a `datasets.Dataset`, and write a dataset by suffix or as a folder.

Inputs: a local JSON Lines (`.jsonl`), JSON (`.json`), Parquet (`.parquet`) or CSV (`.csv`) file, a folder written by
`Dataset.save_to_disk` / `DatasetDict.save_to_disk`, or a Hub dataset id (`load_dataset(id, config, split=...)`).
Outputs: the same four suffixes, or a `save_to_disk` folder for a path without a suffix. Every output is written beside
its target and renamed into place (`atomic_output`); an existing output is replaced only with `overwrite=True`, and
a folder only when this project wrote it (`check_target`).
Inputs and outputs may also be fsspec URLs (`hf://datasets/...`, `s3://...`, `memory://...`) with `storage_options`;
`hf_localnat.remote` says how they are read and written. A `file://` URL is a local path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, OutputExistsError

#: File suffix -> the `datasets` builder that reads it.
FILE_BUILDERS: dict[str, str] = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def _looks_like_path(source: str) -> bool:
    """A source that is clearly meant as a local path (so a missing one is an error, not a Hub id)."""
    path = Path(source)
    return (
        source.startswith((".", "/", "~"))
        or path.suffix.lower() in FILE_BUILDERS
        or (bool(path.suffix) and "/" not in source)
        or source.count("/") > 1
    )


def load_input(source: str, *, config: str | None = None, split: str | None = None,
               storage_options: dict | None = None):
    """Load a file, a `save_to_disk` folder or a Hub dataset id as one `datasets.Dataset`.

    Args:
        source (`str`):
            A path to a `.jsonl`, `.json`, `.parquet` or `.csv` file, a `save_to_disk` folder, a Hub dataset id, or an
            fsspec URL of such a file (`hf://datasets/org/repo/traces.jsonl`, `s3://bucket/traces.parquet`).
        config (`str`, *optional*):
            The Hub dataset's configuration (subset); only for Hub ids.
        split (`str`, *optional*):
            Which split to read from a Hub id or a saved `DatasetDict` (defaults to `"train"`, or the only split).
        storage_options (`dict`, *optional*):
            Options for the filesystem of a URL (credentials, endpoint); see `hf_localnat.remote`.

    Returns:
        `datasets.Dataset`

    Raises:
        FileNotFoundError: `source` looks like a local path but does not exist.
        InputError: unknown file suffix, a folder that is not a saved dataset, a missing split, or a Hub id that
            cannot be loaded.

    Example:
        ```python
        >>> from hf_localnat.sample import SAMPLE_PATH
        >>> load_input(str(SAMPLE_PATH)).num_rows
        32

        ```
    """
    import datasets

    from .remote import fetch, is_url, local_path

    # A remote file is read from its local, content-addressed copy; messages still name `source`.
    path = fetch(source, storage_options) if is_url(source) else Path(local_path(source)).expanduser()
    if path.is_dir():
        if not ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()):
            raise InputError(
                f"{source!r} is a folder but not one written by `save_to_disk` (no dataset_info.json or "
                "dataset_dict.json); pass a .jsonl/.json/.parquet/.csv file or a saved dataset folder."
            )
        loaded = datasets.load_from_disk(str(path))
        return _pick_split(loaded, split, source) if isinstance(loaded, datasets.DatasetDict) else loaded
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise InputError(
                f"Unknown file type {path.suffix or '(no suffix)'!r} for {source!r}; "
                f"use one of {', '.join(FILE_BUILDERS)}, a save_to_disk folder, or a Hub dataset id."
            )
        _check_file(path, source)
        try:
            loaded = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as e:  # datasets wraps parse errors in several types; say which line instead
            raise InputError(_unreadable(path, source, e)) from e
        if loaded.num_rows == 0:
            raise InputError(f"{source!r} has no rows (only a header, or an empty table); nothing to do.")
        return loaded
    if _looks_like_path(source):
        raise FileNotFoundError(f"Input {source!r} does not exist; check the path (or pass a Hub dataset id).")
    try:
        if split is None:
            return _pick_split(datasets.load_dataset(source, config), None, source)
        return datasets.load_dataset(source, config, split=split)
    except (FileNotFoundError, ValueError, OSError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"Cannot load {source!r} (config={config!r}, split={split!r}) from the Hub: {first_line} "
            "Check the dataset id, --config and --split, or pass a local file."
        ) from e


def _check_file(path: Path, source: str) -> None:
    """Refuse, with the place of the fault, a file with no rows or (for text formats) with bytes that are not UTF-8.

    Zero-row Parquet is read from its footer; text is decoded in blocks, so a file of any size costs one fast pass.
    """
    if path.stat().st_size == 0:
        raise InputError(f"{source!r} is empty (0 bytes); nothing to do.")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_metadata(path).num_rows
        except Exception as e:
            raise InputError(f"{source!r} is not a readable Parquet file ({_first_line(e)}).") from e
        if rows == 0:
            raise InputError(f"{source!r} has no rows (a Parquet file with a schema only); nothing to do.")
        return
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, blank = 0, True  # offset: bytes given to the decoder so far
    with path.open("rb") as f:
        for block in [*iter(lambda: f.read(1 << 22), b""), None]:
            held = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
            try:
                text = decoder.decode(block or b"", final=block is None)
            except UnicodeDecodeError as e:
                raise InputError(_invalid_utf8(path, source, offset - held + e.start)) from e
            blank = blank and not text.strip()
            offset += len(block or b"")
    if blank:
        raise InputError(f"{source!r} holds only whitespace; nothing to do.")


def _invalid_utf8(path: Path, source: str, byte: int) -> str:
    """Where the first byte that is not UTF-8 is: its line and byte offset."""
    with path.open("rb") as f:
        head = f.read(byte + 1)
    line = head.count(b"\n", 0, byte) + 1
    column = byte - (head.rfind(b"\n", 0, byte) + 1) + 1
    return (f"{source!r} is not valid UTF-8: byte {byte} (line {line}, column {column}) is 0x{head[byte]:02x}; "
            "save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`).")


def _unreadable(path: Path, source: str, error: BaseException) -> str:
    """Why `datasets` could not read a file: for JSON, the first line that does not parse; else its first words."""
    import json

    if path.suffix.lower() in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as f:
            if path.suffix.lower() == ".json" and f.read(1) == "[":
                f.seek(0)
                try:
                    json.load(f)
                except json.JSONDecodeError as e:
                    return (f"{source!r} is not valid JSON at line {e.lineno}, column {e.colno} ({e.msg}); "
                            "is the file truncated?")
            else:
                f.seek(0)
                for number, text in enumerate(f, start=1):
                    if not text.strip():
                        continue
                    try:
                        value = json.loads(text)
                    except json.JSONDecodeError as e:
                        return (f"{source!r} line {number} is not valid JSON ({e.msg}, column {e.colno}); is the file "
                                "truncated? Fix or remove that line.")
                    if not isinstance(value, dict):
                        return (f"{source!r} line {number} is a JSON {type(value).__name__}, not an object; every line "
                                'must be one row such as {"question": ..., "response": ...}.')
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:  # the innermost error names the fault
        cause = cause.__cause__ or cause.__context__
    if "corresponds to no data" in str(error) or isinstance(error, StopIteration):
        return f"{source!r} has no rows; nothing to do."
    return f"Cannot read {source!r} as {path.suffix.lower()[1:].upper()}: {_first_line(cause)}."


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _pick_split(dataset_dict, split: str | None, source: str):
    """One split of a `DatasetDict`: the one asked for, else `train`, else the only one."""
    names = list(dataset_dict)
    if split is None:
        if "train" in dataset_dict:
            return dataset_dict["train"]
        if len(names) == 1:
            return dataset_dict[names[0]]
        raise InputError(f"{source!r} has splits {', '.join(names)}; choose one with --split.")
    if split not in dataset_dict:
        raise InputError(f"{source!r} has no split {split!r} (splits: {', '.join(names)}); fix --split.")
    return dataset_dict[split]


#: A file inside every folder this project writes: `--overwrite` replaces a folder only when it holds this marker.
OUTPUT_MARKER = ".localnat-output"
_TMP_TAG, _OLD_TAG = ".localnat-tmp-", ".localnat-old-"


def _resolve(target: str | os.PathLike) -> tuple[Path, Path]:
    """`(as given, with ~ expanded; fully resolved: symlinks followed, `..` folded)`."""
    given = Path(target).expanduser()
    return given, Path(os.path.realpath(given))


def check_target(target: str | os.PathLike, *, overwrite: bool = False, empty_folder_ok: bool = False) -> Path:
    """Check that `target` may be written; return it resolved (symlinks followed, `..` folded).

    The rules, checked on the resolved path:
    - a symbolic link (even a dangling one) is written through only with `overwrite`;
    - an existing file is replaced only with `overwrite`;
    - an existing folder is replaced only with `overwrite` *and* when this project wrote it (it holds
      `OUTPUT_MARKER`); an empty folder also when `empty_folder_ok`; anything else is refused, whatever the flags.

    Raises:
        OutputExistsError: the target may not be replaced; the message says why and what to do.
    """
    given, path = _resolve(target)
    shown = str(target)
    if given.is_symlink() and not overwrite:
        raise OutputExistsError(f"Output {shown!r} is a symbolic link (to {str(path)!r}); pass --overwrite to write "
                                "through it, or choose another path.")
    if not os.path.lexists(path):
        return path
    if path.is_dir():
        if empty_folder_ok and not any(path.iterdir()):
            return path
        if not (path / OUTPUT_MARKER).is_file():
            raise OutputExistsError(
                f"Output {shown!r} is an existing folder that localnat did not write (no {OUTPUT_MARKER} in it); "
                "--overwrite replaces only files and folders localnat wrote: choose another path, or move it away.")
    elif not path.is_file():
        raise OutputExistsError(f"Output {shown!r} exists and is not a regular file or folder; choose another path.")
    if not overwrite:
        raise OutputExistsError(f"Output {shown!r} already exists; pass --overwrite (overwrite=True) to replace it.")
    return path


def check_output(target: str | os.PathLike, *, overwrite: bool = False,
                 storage_options: dict | None = None) -> Path | str:
    """Refuse an output path with an unknown suffix, or one `check_target` refuses; return it resolved.

    Args:
        target (`str` or `Path`): a `.jsonl`, `.json`, `.parquet` or `.csv` file, or a folder (no suffix); or an
            fsspec URL of such a file (returned as given; see `hf_localnat.remote.check_output`).
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing an existing output.
        storage_options (`dict`, *optional*): options for the filesystem of a URL.

    Raises:
        OutputExistsError: `target` exists and may not be replaced (see `check_target`).
        InputError: `target` has a suffix other than the four supported.
    """
    from . import remote

    if remote.is_url(target):
        return remote.check_output(target, overwrite=overwrite, storage_options=storage_options)
    target = remote.local_path(target)
    suffix = Path(target).suffix
    if suffix and suffix.lower() not in FILE_BUILDERS:
        raise InputError(
            f"Unknown output type {suffix!r} for {str(target)!r}; use one of {', '.join(FILE_BUILDERS)}, "
            "or a path without a suffix for a save_to_disk folder."
        )
    return check_target(target, overwrite=overwrite)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink(missing_ok=True)


def clean_stale(target: Path) -> None:
    """Remove what a killed write to `target` left beside it (its temporary file or folder), and put back a folder
    set aside by a write killed between its two renames. Only entries of processes that are no longer running."""
    if not target.parent.is_dir():
        return
    prefix = f".{target.name}"
    for entry in target.parent.iterdir():
        name = entry.name
        if not name.startswith(prefix):
            continue
        for tag in (_TMP_TAG, _OLD_TAG):
            if name.startswith(prefix + tag):
                pid = name[len(prefix + tag):].split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    if tag == _OLD_TAG and not os.path.lexists(target):
                        os.rename(entry, target)
                    else:
                        _remove(entry)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported."""
    if sys.platform != "linux":
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False  # e.g. a file system without RENAME_EXCHANGE: the caller renames in two steps


def _put_in_place(staged: Path, target: Path) -> None:
    """Move `staged` to `target`, replacing what is there: in one rename for a file over a file, one exchange for a
    folder where the OS has it, else two renames (a kill between them is repaired by `clean_stale`)."""
    if not os.path.lexists(target) or (staged.is_file() and target.is_file()):
        os.replace(staged, target)
        return
    if _exchange(staged, target):
        _remove(staged)  # now holds the old content
        return
    aside = target.with_name(f".{target.name}{_OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, aside)
    os.rename(staged, target)
    _remove(aside)


@contextmanager
def atomic_output(target: str | os.PathLike, *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write to; when the block ends without error, rename it into place.

    A kill at any moment leaves at `target` either what was there before or the complete new output; an error
    removes the temporary path. A folder gets `OUTPUT_MARKER`, so a later `--overwrite` may replace it. Call
    `check_target` (or `check_output`) first: this function replaces whatever `target` holds.

    Args:
        target (`str` or `os.PathLike`): the final path (already resolved by `check_target`).
        folder (`bool`, *optional*, defaults to `False`): the output is a folder (created empty for the block).

    Example:
        ```python
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> with atomic_output(out) as tmp:
        ...     _ = tmp.write_text("all or nothing")
        >>> out.read_text()
        'all or nothing'

        ```
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    staged = target.with_name(f".{target.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")
    if folder:
        staged.mkdir()
    try:
        yield staged
        if folder:
            (staged / OUTPUT_MARKER).write_text("Written by hf_localnat; `--overwrite` may replace this folder.\n")
        _put_in_place(staged, target)
    except BaseException:
        _remove(staged)
        raise


def save_output(dataset, target: str | os.PathLike, *, overwrite: bool = False, provenance=None,
                storage_options: dict | None = None) -> Path | str:
    """Write `dataset` to `target`: by suffix (`.jsonl` lines, `.json` one array, `.parquet`, `.csv`) or as a folder.

    The output is written beside `target` and renamed into place (`atomic_output`), so `target` may also be the
    file `dataset` was read from. CSV cannot hold list columns faithfully (`lalp_steps` is written as text); prefer
    Parquet or JSON Lines.

    Args:
        dataset (`datasets.Dataset`): what to write.
        target (`str` or `Path`): output path; no suffix means a `save_to_disk` folder.
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing an existing output (see `check_target`).
        provenance (`Provenance`, *optional*): how the rows were scored (defaults to the one `dataset` carries, if
            any): in a Parquet file's schema metadata, else in `hf_localnat.json` inside a folder or beside a
            `.jsonl`/`.json`/`.csv` file (see `hf_localnat.provenance`). A folder's is renamed into place with it; a
            file's is written (the same way) right after the file, and a stale one is removed.
        storage_options (`dict`, *optional*): options for the filesystem of a URL `target`.

    Returns:
        `Path`: the path written (resolved); for a URL `target`, the URL (`str`).

    Raises:
        OutputExistsError: `target` exists and may not be replaced.
    """
    from . import provenance as _provenance
    from . import remote

    provenance = provenance or _provenance.of_dataset(dataset)
    if remote.is_url(target):
        return _save_remote(dataset, target, overwrite=overwrite, provenance=provenance,
                            storage_options=storage_options)
    target = remote.local_path(target)
    path = check_output(target, overwrite=overwrite)
    suffix = Path(target).suffix.lower()
    with atomic_output(path, folder=not suffix) as staged:
        if not suffix:
            dataset.save_to_disk(str(staged))
            if provenance is not None:
                (staged / _provenance.sidecar_path(path).name).write_text(provenance.to_json(), encoding="utf-8")
        elif suffix == ".jsonl":
            dataset.to_json(str(staged), lines=True, force_ascii=False)
        elif suffix == ".json":
            dataset.to_json(str(staged), lines=False, batch_size=max(1, dataset.num_rows), force_ascii=False)
        elif suffix == ".parquet":
            write_parquet(dataset, staged, provenance)
        else:
            dataset.to_csv(str(staged), index=False)
    if suffix and suffix != ".parquet":
        sidecar = _provenance.sidecar_path(path)
        if provenance is not None:
            with atomic_output(sidecar) as staged:
                staged.write_text(provenance.to_json(), encoding="utf-8")
        elif sidecar.is_file():
            sidecar.unlink()  # it described the file just replaced
    return path


def _save_remote(dataset, url: str, *, overwrite: bool, provenance, storage_options: dict | None) -> str:
    """`save_output` to a URL: written (with its sidecar) into a local temporary folder, then `remote.upload`ed
    (one commit on a Hub repo; elsewhere a temporary path beside the target, moved into place)."""
    import posixpath
    import tempfile

    from . import remote
    from .provenance import sidecar_path

    remote.check_output(url, overwrite=overwrite, storage_options=storage_options)
    with tempfile.TemporaryDirectory(prefix="localnat-upload-") as tmp:
        local = Path(tmp) / posixpath.basename(url.split("?", 1)[0])
        save_output(dataset, local, provenance=provenance)
        files: dict[str, Path | None] = {url: local}
        if local.suffix.lower() != ".parquet":
            files[remote.sidecar_url(url)] = sidecar_path(local) if provenance is not None else None
        remote.upload(files, storage_options)
    return url


def write_parquet(dataset, path: str | Path, provenance=None, *, batch_rows: int = 65_536) -> None:
    """Write `dataset` to one Parquet file, its rows in order, `batch_rows` at a time, with its `datasets` features
    (the `huggingface` schema metadata) and the provenance (if any) beside them.

    The rows of a `select`ed dataset (a selection's kept rows) are gathered with one Arrow `take` per batch, not one
    slice per row as `Dataset.to_parquet` does, which is what makes writing a million-row selection fast.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = dataset.features.arrow_schema
    if provenance is not None:
        from .provenance import to_metadata

        schema = schema.with_metadata({**(schema.metadata or {}), **to_metadata(provenance)})
    table = dataset.data.table
    indices = dataset._indices.column(0) if dataset._indices is not None else None  # set by `Dataset.select`
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, len(dataset), batch_rows):
            stop = min(len(dataset), start + batch_rows)
            rows = table.slice(start, stop - start) if indices is None else table.take(indices.slice(start, stop - start))
            rows = rows.select(schema.names).cast(schema).combine_chunks()
            writer.write_table(pa.Table.from_batches(rows.to_batches(), schema))
