"""Parquet state files that vouch for themselves: the checkpoints of `localnat score` and the Ray engine's shards.

Each file records, in its Parquet key-value metadata under `localnat_checked`, what it holds: its row count, the
range of input rows it covers and a sha256 of its content. A reader checks all of it (and the schema) before using
the file, so a file that was truncated, overwritten, half-copied or written by something else is found and discarded
(one warning line, its rows are scored again) instead of being trusted or failing with an Arrow traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .write import atomic_output

#: Key of the check record in the Parquet key-value metadata.
CHECK_KEY = b"localnat_checked"


def table_checksum(table) -> str:
    """sha256 of a table's rows as canonical JSON (the values, not the Arrow buffers, which a Parquet round trip may
    lay out differently)."""
    text = json.dumps(table.to_pylist(), separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_checked(table, path: str | os.PathLike, *, start: int, stop: int) -> None:
    """Write `table` (input rows `start` .. `stop - 1`) to `path` atomically, with its check record."""
    import pyarrow.parquet as pq

    if table.num_rows != stop - start:
        raise ValueError(f"{path}: {table.num_rows} rows for input rows {start}..{stop - 1}.")
    record = {"rows": table.num_rows, "start": start, "stop": stop, "sha256": table_checksum(table)}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), CHECK_KEY: json.dumps(record).encode()})
    with atomic_output(path) as staged:
        pq.write_table(table, staged)


def read_checked(path: str | os.PathLike, schema, *, start: int, stop: int):
    """Read a file `write_checked` wrote for input rows `start` .. `stop - 1`.

    Returns:
        `tuple[pyarrow.Table | None, str | None]`: the table (its metadata dropped) and `None`; or `None` and why the
        file cannot be used (unreadable, no check record, other rows or schema, checksum mismatch).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return None, "not a regular file"
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any reader error means the file is damaged: it is rescored
        return None, f"unreadable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
    try:
        record = json.loads((table.schema.metadata or {})[CHECK_KEY])
    except (KeyError, ValueError, TypeError):
        return None, "no check record (written by another version, or not by localnat)"
    table = table.replace_schema_metadata(None)
    if not isinstance(record, dict):
        return None, "a damaged check record"
    if (record.get("start"), record.get("stop")) != (start, stop):
        return None, f"it covers rows {record.get('start')}..{record.get('stop')}, not {start}..{stop}"
    if table.num_rows != stop - start or record.get("rows") != table.num_rows:
        return None, f"{table.num_rows} rows where {stop - start} were written"
    if not table.schema.equals(schema):
        return None, "another schema than the score columns"
    if record.get("sha256") != table_checksum(table):
        return None, "its content does not match the checksum written with it"
    return table, None


def discard(path: str | os.PathLike) -> None:
    """Remove a state file found unusable (a folder in its place too); a failure to remove is left to the rewrite,
    which replaces it atomically."""
    import shutil

    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
