"""Read any input the CLI accepts into a `datasets.Dataset`, and the provenance recorded with a scored one.

Inputs: a local JSON Lines (`.jsonl`), JSON (`.json`), Parquet (`.parquet`) or CSV (`.csv`) file, a folder written by
`Dataset.save_to_disk` / `DatasetDict.save_to_disk`, a DataTrove writer's output folder (`load_datatrove_folder`:
its `text` column read as `response`), or a Hub dataset id (`load_dataset(id, config, split=...)`), or an
fsspec URL of such a file (`hf://datasets/...`, `s3://...`, `memory://...`) with `storage_options` (see `remote`). A
`file://` URL is a local path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, ProvenanceError

if TYPE_CHECKING:
    from ..provenance import Provenance

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
            A path to a `.jsonl`, `.json`, `.parquet` or `.csv` file, a `save_to_disk` folder, the output folder of
            a DataTrove `JsonlWriter` / `ParquetWriter` (see `load_datatrove_folder`: `text` becomes `response`,
            nested `metadata` becomes columns), a Hub dataset id, or an fsspec URL of such a file (`hf://datasets/org/repo/traces.jsonl`, `s3://bucket/traces.parquet`).
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
            shards = datatrove_shards(path)
            if shards:
                return load_datatrove_folder(shards, source)
            raise InputError(
                f"{source!r} is a folder but not one written by `save_to_disk` (no dataset_info.json or "
                "dataset_dict.json) nor by a DataTrove writer (no .jsonl, .jsonl.gz or .parquet shards); pass a "
                ".jsonl/.json/.parquet/.csv file, a saved dataset folder or a DataTrove output folder."
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
        _check_file_split(source, config, split)
        try:
            if path.suffix.lower() == ".json" and _starts_with(path, b"["):
                loaded = _load_json_array(path)
            else:
                loaded = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as e:  # datasets wraps parse errors in several types; say which line instead
            raise InputError(_unreadable(path, source, e)) from e
        if loaded.num_rows == 0:
            raise InputError(f"{source!r} has no rows (only a header, or an empty table); nothing to do.")
        return decode_json_columns(loaded) if builder == "csv" else loaded
    if _looks_like_path(source):
        raise FileNotFoundError(f"Input {source!r} does not exist; check the path (or pass a Hub dataset id).")
    if not datasets.config.HF_DATASETS_OFFLINE:
        from .remote import check_hub_reachable

        check_hub_reachable(hint=f"Offline, pass a local file (or the cached {source!r} with HF_DATASETS_OFFLINE=1).")
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


#: File name endings of the shards DataTrove's writers produce: JsonlWriter (gzip by default, or none, or zstd) and
#: ParquetWriter.
DATATROVE_SHARD_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")


def datatrove_shards(folder: Path) -> list[Path]:
    """The non-empty DataTrove shards under `folder` (any depth, hidden names skipped), sorted; `[]` if none."""
    return sorted(
        p for p in folder.rglob("*")
        if p.name.lower().endswith(DATATROVE_SHARD_SUFFIXES) and p.is_file() and p.stat().st_size > 0
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def load_datatrove_folder(shards: list[Path], source: str):
    """The shards of a DataTrove writer's output folder (`datatrove_shards`) as one `datasets.Dataset`.

    The folder is what `JsonlWriter` or `ParquetWriter` wrote after `hf_localnat.datatrove.LocalNaturalnessScorer`
    (or any DataTrove pipeline): one row per document. With the writer's `expand_metadata=True` the metadata keys
    are already top-level columns; a nested `metadata` column (the writers' default) is flattened one level into
    columns, a metadata key winning over a top-level column of the same name, as `expand_metadata` would have
    written it. DataTrove's text column is `text`: it becomes `response` when there is no `response` column (`id`
    stays `id`). Shards of both kinds in one folder are refused.

    Raises:
        InputError: JSON Lines and Parquet shards mixed, unreadable shards, or no rows.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc

    kinds = {"parquet" if p.name.lower().endswith(".parquet") else "json" for p in shards}
    if len(kinds) > 1:
        raise InputError(f"{source!r} holds both JSON Lines and Parquet shards; a DataTrove output folder holds one "
                         "writer's shards. Pass one folder per writer.")
    try:
        loaded = datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in shards], split="train")
    except Exception as e:  # datasets wraps parse errors in several types
        raise InputError(f"Cannot read the DataTrove shards of {source!r} ({len(shards)} files): "
                         f"{_first_line(e)}.") from e
    if loaded.num_rows == 0:
        raise InputError(f"{source!r} holds DataTrove shards with no rows; nothing to do.")
    table = loaded.data.table
    if "metadata" in table.column_names and pa.types.is_struct(table.schema.field("metadata").type):
        nested = table.column("metadata")
        keys = [nested.type.field(i).name for i in range(nested.type.num_fields)]
        columns = {name: table.column(name) for name in table.column_names if name != "metadata" and name not in keys}
        columns |= {key: pc.struct_field(nested, [i]) for i, key in enumerate(keys)}
        loaded = datasets.Dataset(pa.table(columns))
    if "response" not in loaded.column_names and "text" in loaded.column_names:
        loaded = loaded.rename_column("text", "response")
    return loaded


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


def decode_json_columns(dataset):
    """A CSV's text columns that hold JSON arrays or objects in every non-empty cell (as `save_output` writes list
    and struct columns to CSV), read back as lists and dicts; a column that is not all JSON stays text."""
    import json

    from datasets import Dataset

    import pyarrow as pa

    table = dataset.with_format("arrow")[:]
    changed = False
    for index, name in enumerate(table.column_names):
        kind = table.schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        cells = table.column(name).to_pylist()
        present = [c for c in cells if c is not None and c.strip()]
        if not present or not all(c.lstrip()[:1] in ("[", "{") for c in present):
            continue
        try:
            decoded = [json.loads(c) if c is not None and c.strip() else None for c in cells]
            column = pa.array(decoded)
        except (ValueError, pa.ArrowException):
            continue  # text that only looks like JSON, or values Arrow cannot hold in one column
        table = table.set_column(index, name, column)
        changed = True
    return Dataset(table) if changed else dataset


def _starts_with(path: Path, prefix: bytes) -> bool:
    """Whether the file's first non-blank bytes (after a UTF-8 BOM) are `prefix`."""
    with path.open("rb") as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(prefix)


def _load_json_array(path: Path):
    """A `.json` file holding one array of rows, read with full float precision: `datasets` re-encodes such a file
    with 10 decimals before parsing it (so -10.800437929670988 would come back as -10.8004379297); here each row is
    written as a JSON line by Python's `json` (exact) and that is read by the same `json` builder."""
    import json
    import tempfile

    import datasets

    rows = json.loads(path.read_bytes())
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return datasets.load_dataset("json", data_files=str(path), split="train")
    with tempfile.TemporaryDirectory(prefix="localnat-json-") as tmp:
        lines = Path(tmp) / (path.stem + ".jsonl")
        with lines.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return datasets.load_dataset("json", data_files=str(lines), split="train", keep_in_memory=True)


def _check_file_split(source: str, config: str | None, split: str | None) -> None:
    """A file has no configurations and one split (`train`): refuse a `--config` or another `--split` given for it,
    which would otherwise be ignored."""
    if config is not None:
        raise InputError(f"--config {config}: {source!r} is a file, which has no configurations (--config names one "
                         "of a Hub dataset id); drop --config.")
    if split is not None and split != "train":
        raise InputError(f"--split {split}: {source!r} is a file, which has one split (train); drop --split, or "
                         "pass the file that holds that split.")


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


def read_provenance(source: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> Provenance | None:
    """The provenance recorded with a scored output (file or folder); `None` when none is recorded.

    Reads a Parquet file's schema metadata (only the footer), a folder's `hf_localnat.json` (a `save_to_disk`
    folder, or a DataTrove writer's folder where `hf_localnat.datatrove.LocalNaturalnessScorer` wrote it) or else the
    Parquet files in it (all must agree), or a `.jsonl`/`.json`/`.csv` file's sidecar; for an fsspec URL of a file, the same through
    its filesystem (`storage_options`). A Hub dataset id gives `None`: pull it first (`localnat pull` keeps the
    provenance).

    Raises:
        ProvenanceError: the parts of a folder were scored differently, or a sidecar or footer entry cannot be parsed
            (the message names the file, how to repair it, and `--ignore-provenance`).
        InputError: a Parquet file whose footer cannot be read at all.
    """
    from ..provenance import FOLDER_FILE, common, parse_footer, parse_sidecar, sidecar_path
    from . import remote

    if remote.is_url(source):
        return remote.read_provenance(source, storage_options)
    path = Path(remote.local_path(source)).expanduser()
    if path.is_file() and path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_schema(path).metadata
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise InputError(f"Cannot read {str(path)!r} as Parquet ({_first_line(e)}): the file is damaged or not "
                             "Parquet; write it again (rescore with `localnat score`).") from e
        return parse_footer(metadata, str(path))
    if path.is_dir() and not (path / FOLDER_FILE).is_file():
        parquet = sorted(path.rglob("*.parquet"))
        return common((read_provenance(p) for p in parquet), what=str(source)) if parquet else None
    if path.exists():
        # a save_to_disk folder or a DataTrove writer's folder (`hf_localnat.datatrove`) holds FOLDER_FILE, whatever
        # its name (a folder named `out.v2` has no sidecar beside it)
        side = path / FOLDER_FILE if path.is_dir() else sidecar_path(path)
        if not os.path.lexists(side):
            return None
        try:
            text = side.read_bytes()
        except OSError as e:
            raise ProvenanceError(f"The provenance file {side} cannot be read ({_first_line(e)}): fix its "
                                  "permissions or delete it, or pass --ignore-provenance to go on as if none were "
                                  "recorded.") from e
        return parse_sidecar(text, str(side))
    return None

