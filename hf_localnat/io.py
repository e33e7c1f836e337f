"""Read any input the CLI accepts into a `datasets.Dataset`, and write a dataset by suffix or as a folder.

Inputs: a local JSON Lines (`.jsonl`), JSON (`.json`), Parquet (`.parquet`) or CSV (`.csv`) file, a folder written by
`Dataset.save_to_disk` / `DatasetDict.save_to_disk`, or a Hub dataset id (`load_dataset(id, config, split=...)`).
Outputs: the same four suffixes, or a `save_to_disk` folder for a path without a suffix. An existing output is never
replaced unless `overwrite=True`.
"""

from __future__ import annotations

import shutil
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


def load_input(source: str, *, config: str | None = None, split: str | None = None):
    """Load a file, a `save_to_disk` folder or a Hub dataset id as one `datasets.Dataset`.

    Args:
        source (`str`):
            A path to a `.jsonl`, `.json`, `.parquet` or `.csv` file, a `save_to_disk` folder, or a Hub dataset id.
        config (`str`, *optional*):
            The Hub dataset's configuration (subset); only for Hub ids.
        split (`str`, *optional*):
            Which split to read from a Hub id or a saved `DatasetDict` (defaults to `"train"`, or the only split).

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

    path = Path(source).expanduser()
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
        return datasets.load_dataset(builder, data_files=str(path), split="train")
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


def check_output(target: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse an output path that exists (unless `overwrite`) or has an unknown suffix; return it as a `Path`.

    Args:
        target (`str` or `Path`): a `.jsonl`, `.json`, `.parquet` or `.csv` file, or a folder (no suffix).
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing an existing output.

    Raises:
        OutputExistsError: `target` exists and `overwrite` is `False`.
        InputError: `target` has a suffix other than the four supported.
    """
    path = Path(target).expanduser()
    if path.suffix and path.suffix.lower() not in FILE_BUILDERS:
        raise InputError(
            f"Unknown output type {path.suffix!r} for {str(target)!r}; use one of {', '.join(FILE_BUILDERS)}, "
            "or a path without a suffix for a save_to_disk folder."
        )
    if path.exists() and not overwrite:
        raise OutputExistsError(f"Output {str(target)!r} already exists; pass --overwrite (overwrite=True) to replace it.")
    return path


def save_output(dataset, target: str | Path, *, overwrite: bool = False, provenance=None) -> Path:
    """Write `dataset` to `target`: by suffix (`.jsonl` lines, `.json` one array, `.parquet`, `.csv`) or as a folder.

    CSV cannot hold list columns faithfully (`lalp_steps` is written as text); prefer Parquet or JSON Lines.

    Args:
        dataset (`datasets.Dataset`): what to write.
        target (`str` or `Path`): output path; no suffix means a `save_to_disk` folder.
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing an existing output.
        provenance (`Provenance`, *optional*): how the rows were scored (defaults to the one `dataset` carries, if
            any): in a Parquet file's schema metadata, else in `hf_localnat.json` inside a folder or beside a
            `.jsonl`/`.json`/`.csv` file (see `hf_localnat.provenance`).

    Returns:
        `Path`: the path written.

    Raises:
        OutputExistsError: `target` exists and `overwrite` is `False`.
    """
    from . import provenance as _provenance

    path = check_output(target, overwrite=overwrite)
    provenance = provenance or _provenance.of_dataset(dataset)
    if path.parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if not suffix:
        if path.exists():
            # save_to_disk refuses to write into a folder the dataset is memory-mapped from; write beside it first.
            staging = path.with_name(path.name + ".tmp-localnat")
            shutil.rmtree(staging, ignore_errors=True)
            dataset.save_to_disk(str(staging))
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            staging.rename(path)
        else:
            dataset.save_to_disk(str(path))
    elif suffix == ".jsonl":
        dataset.to_json(str(path), lines=True, force_ascii=False)
    elif suffix == ".json":
        dataset.to_json(str(path), lines=False, batch_size=max(1, dataset.num_rows), force_ascii=False)
    elif suffix == ".parquet":
        write_parquet(dataset, path, provenance)
    else:
        dataset.to_csv(str(path), index=False)
    if provenance is not None and suffix != ".parquet":
        _provenance.sidecar_path(path).write_text(provenance.to_json(), encoding="utf-8")
    return path


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
