"""Write a dataset by suffix or as a folder, never losing what was there: every output is written beside its target
and renamed into place (`atomic_output`); an existing output is replaced only with `overwrite=True`, and a folder only
when this project wrote it (`check_target`). Outputs may be fsspec URLs (see `remote`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, LocalNatError, OutputExistsError
from .faults import _concerns, translated_os_errors, write_error
from .read import FILE_BUILDERS

#: A file inside every folder this project writes: `--overwrite` replaces a folder only when it holds this marker.
OUTPUT_MARKER = ".localnat-output"
#: What the marker holds: a marker with other content is not trusted (`check_target`).
MARKER_TEXT = "Written by hf_localnat; `--overwrite` may replace this folder.\n"
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
        if not _marked(path, shown):
            raise OutputExistsError(
                f"Output {shown!r} is an existing folder that localnat did not write (no {OUTPUT_MARKER} in it); "
                "--overwrite replaces only files and folders localnat wrote: choose another path, or move it away.")
    elif not path.is_file():
        raise OutputExistsError(f"Output {shown!r} exists and is not a regular file or folder; choose another path.")
    if not overwrite:
        raise OutputExistsError(f"Output {shown!r} already exists; pass --overwrite to replace it.")
    return path


def _marked(folder: Path, shown: str) -> bool:
    """Whether `folder` holds the marker localnat writes; `False` when it holds none.

    Raises:
        OutputExistsError: a marker is there but is not a readable regular file holding `MARKER_TEXT` (it is never
            trusted blindly: a folder is replaced on its word).
    """
    marker = folder / OUTPUT_MARKER
    if not os.path.lexists(marker):
        return False
    try:
        if marker.is_symlink() or not marker.is_file():
            why = "not a regular file"
        elif marker.stat().st_size > 4 * len(MARKER_TEXT):
            why = "not the text localnat writes"
        else:
            why = None if marker.read_text(encoding="utf-8", errors="replace") == MARKER_TEXT else \
                "not the text localnat writes"
    except OSError as e:
        why = f"unreadable: {e.strerror or type(e).__name__}"
    if why is None:
        return True
    raise OutputExistsError(
        f"Output {shown!r} holds a {OUTPUT_MARKER} marker that localnat cannot trust ({marker}: {why}), so --overwrite "
        "does not replace the folder: if localnat wrote it and you want it replaced, delete it yourself; else choose "
        "another path.")


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


def output_exists(target: str | os.PathLike, storage_options: dict | None = None) -> bool:
    """Whether `target` is there (a local path, or a URL on its filesystem); `False` when that cannot be told."""
    from . import remote

    try:
        if remote.is_url(target):
            fs, path = remote.filesystem(str(target), storage_options or {})
            return bool(fs.exists(path))
        return os.path.lexists(os.path.expanduser(remote.local_path(target)))
    except Exception:  # noqa: BLE001 - callers only word a message with it
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    """Remove a file or folder, quietly: a cleanup that fails (a read-only file system) must not hide the error that
    made it necessary."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            path.unlink(missing_ok=True)
    except OSError:
        pass


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
    `check_target` (or `check_output`) first: this function replaces whatever `target` holds. An `OSError` of the
    environment (no space, permission denied, read-only, I/O error, a vanished folder) becomes a one-line
    `WriteError` naming `target` (see `write_error`).

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
    with atomic_outputs([target], folders=[folder]) as (staged,):
        yield staged


@contextmanager
def atomic_outputs(targets, *, folders=None) -> Iterator[list[Path]]:
    """`atomic_output` for several targets that belong together (an output and its sidecar, kept and rejected rows):
    every one is written to its temporary path first, and only when all are complete are they renamed into place,
    so a failure while writing (no space left, ...) leaves every target as it was.

    Args:
        targets (`list[str | os.PathLike]`): the final paths.
        folders (`list[bool]`, *optional*): which targets are folders (default: none).

    Raises:
        WriteError: an `OSError` of the environment while writing or renaming (the message names the target).
    """
    targets = [Path(t) for t in targets]
    folders = list(folders or [False] * len(targets))
    staged: list[Path] = []
    phase, current = "prepare", targets[0]
    try:
        for target, is_folder in zip(targets, folders, strict=True):
            current = target
            target.parent.mkdir(parents=True, exist_ok=True)
            clean_stale(target)
            path = target.with_name(f".{target.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")
            if is_folder:
                path.mkdir()
            staged.append(path)
        phase = "write"
        yield staged
        phase = "commit"
        for target, path, is_folder in zip(targets, staged, folders, strict=True):
            current = target
            if is_folder:
                (path / OUTPUT_MARKER).write_text(MARKER_TEXT)
        for target, path in zip(targets, staged, strict=True):
            current = target
            _put_in_place(path, target)
    except BaseException as e:
        for path in staged:
            _remove(path)
        # while the caller writes, only an error about a temporary path (or naming none) is a write error
        if isinstance(e, OSError) and not isinstance(e, LocalNatError) and (
                phase != "write" or _concerns(e, [path.absolute() for path in staged])):
            shown = current if phase != "write" or len(targets) == 1 else ", ".join(map(str, targets))
            if phase == "write" and len(targets) > 1:  # the target whose temporary path the error names, if any
                shown = next((str(t) for t, p in zip(targets, staged, strict=True)
                              if _concerns(e, [p.absolute()]) and e.filename is not None), shown)
            raise write_error(shown, e) from e
        raise


def save_output(dataset, target: str | os.PathLike, *, overwrite: bool = False, provenance=None,
                storage_options: dict | None = None) -> Path | str:
    """Write `dataset` to `target`: by suffix (`.jsonl` lines, `.json` one array, `.parquet`, `.csv`) or as a folder.

    The output is written beside `target` and renamed into place (`atomic_output`), so `target` may also be the
    file `dataset` was read from. In CSV, list and struct columns (`lalp_steps`, `messages`) are written as JSON text
    and read back as lists by `load_input`; Parquet keeps their types without that step.

    Args:
        dataset (`datasets.Dataset`): what to write.
        target (`str` or `Path`): output path; no suffix means a `save_to_disk` folder.
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing an existing output (see `check_target`).
        provenance (`Provenance`, *optional*): how the rows were scored (defaults to the one `dataset` carries, if
            any): in a Parquet file's schema metadata, else in `hf_localnat.json` inside a folder or beside a
            `.jsonl`/`.json`/`.csv` file (see `hf_localnat.provenance`). File and sidecar are both written completely
            before either is renamed into place (`atomic_outputs`); a stale sidecar is removed.
        storage_options (`dict`, *optional*): options for the filesystem of a URL `target`.

    Returns:
        `Path`: the path written (resolved); for a URL `target`, the URL (`str`).

    Raises:
        OutputExistsError: `target` exists and may not be replaced.
        WriteError: the environment refused a write (no space, permissions, read-only, I/O error); `target` is as
            it was.
    """
    from . import remote

    if remote.is_url(target):
        from .. import provenance as _provenance

        return _save_remote(dataset, target, overwrite=overwrite,
                            provenance=provenance or _provenance.of_dataset(dataset), storage_options=storage_options)
    return save_outputs([(dataset, target)], overwrite=overwrite, provenance=provenance)[0]


def save_outputs(items, *, overwrite: bool = False, provenance=None, storage_options: dict | None = None) -> list:
    """`save_output` for several `(dataset, target)` pairs that belong together (a selection's kept and rejected
    rows): every file and sidecar is written completely before any is renamed into place (`atomic_outputs`), so a
    failure (no space left, ...) leaves every target as it was. URL targets are written one after the other.

    Returns:
        `list`: the paths (or URLs) written, in order.

    Raises:
        OutputExistsError: a target exists and may not be replaced (checked for all before anything is written).
        WriteError: the environment refused a write; nothing was replaced.
    """
    from .. import provenance as _provenance
    from . import remote

    if any(remote.is_url(target) for _, target in items):
        return [save_output(d, t, overwrite=overwrite, provenance=provenance, storage_options=storage_options)
                for d, t in items]
    plans = []  # (dataset, provenance, resolved path, suffix, sidecar or None)
    for dataset, target in items:
        target = remote.local_path(target)
        path = check_output(target, overwrite=overwrite)
        suffix = Path(target).suffix.lower()
        recorded = provenance or _provenance.of_dataset(dataset)
        sidecar = _provenance.sidecar_path(path) if suffix and suffix != ".parquet" else None
        plans.append((dataset, recorded, path, suffix, sidecar))
    targets, folders = [], []
    for _, recorded, path, suffix, sidecar in plans:
        targets.append(path)
        folders.append(not suffix)
        if sidecar is not None and recorded is not None:
            targets.append(sidecar)
            folders.append(False)
    with atomic_outputs(targets, folders=folders) as staged:
        by_target = dict(zip(targets, staged, strict=True))
        for dataset, recorded, path, suffix, sidecar in plans:
            _write_one(dataset, by_target[path], path, suffix, recorded)
            if sidecar is not None and recorded is not None:
                by_target[sidecar].write_text(recorded.to_json(), encoding="utf-8")
    for _, recorded, path, _, sidecar in plans:
        if sidecar is not None and recorded is None and sidecar.is_file():
            with translated_os_errors(sidecar, what="(removing the stale provenance sidecar)"):
                sidecar.unlink()  # it described the file just replaced
    return [path for _, _, path, _, _ in plans]


def _write_one(dataset, staged: Path, path: Path, suffix: str, provenance) -> None:
    """Write `dataset` to the temporary path `staged` of `path`, by suffix (none: a `save_to_disk` folder)."""
    from .. import provenance as _provenance

    if not suffix:
        dataset.save_to_disk(str(staged))
        if provenance is not None:
            (staged / _provenance.sidecar_path(path).name).write_text(provenance.to_json(), encoding="utf-8")
    elif suffix == ".jsonl":  # 15 decimals, pandas' most (its default of 10 would cut the scores)
        dataset.to_json(str(staged), lines=True, force_ascii=False, double_precision=15)
    elif suffix == ".json":
        dataset.to_json(str(staged), lines=False, batch_size=max(1, dataset.num_rows), force_ascii=False,
                        double_precision=15)
    elif suffix == ".parquet":
        write_parquet(dataset, staged, provenance)
    else:
        csv_ready(dataset).to_csv(str(staged), index=False)


def _nested(arrow_type) -> bool:
    import pyarrow as pa

    return (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
            or pa.types.is_fixed_size_list(arrow_type) or pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type))


def csv_ready(dataset):
    """`dataset` with every list, struct or map column as JSON text (`[-0.6, -1.93]`, `[{"role": ...}]`), so CSV
    holds all of it; `io.load_input` reads such columns back as lists and dicts (`read.decode_json_columns`)."""
    import json

    import pyarrow as pa
    from datasets import Dataset

    table = dataset.with_format("arrow")[:] if dataset.num_rows else dataset.data.table
    nested = [name for name, field in zip(table.column_names, table.schema) if _nested(field.type)]
    if not nested:
        return dataset
    for name in nested:
        values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in table.column(name).to_pylist()]
        table = table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))
    return Dataset(table.replace_schema_metadata(None))


def _save_remote(dataset, url: str, *, overwrite: bool, provenance, storage_options: dict | None) -> str:
    """`save_output` to a URL: written (with its sidecar) into a local temporary folder, then `remote.upload`ed
    (one commit on a Hub repo; elsewhere a temporary path beside the target, moved into place)."""
    import posixpath
    import tempfile

    from . import remote
    from ..provenance import sidecar_path

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
        from ..provenance import to_metadata

        schema = schema.with_metadata({**(schema.metadata or {}), **to_metadata(provenance)})
    table = dataset.data.table
    indices = dataset._indices.column(0) if dataset._indices is not None else None  # set by `Dataset.select`
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, len(dataset), batch_rows):
            stop = min(len(dataset), start + batch_rows)
            rows = table.slice(start, stop - start) if indices is None else table.take(indices.slice(start, stop - start))
            rows = rows.select(schema.names).cast(schema).combine_chunks()
            writer.write_table(pa.Table.from_batches(rows.to_batches(), schema))
