"""Write a curated dataset as a local folder laid out exactly like its Hub repo.

The layout is what `load_dataset(folder_or_repo, config)` reads through the card's `configs` metadata:

```
README.md                                       the dataset card (metadata + managed section)
data/{config}/train-{hash}.parquet             Parquet per config (lalp, galp, scored, rejected), each at
                                                most `max_shard_size` bytes of Arrow data (like `push_to_hub`):
                                                train-00000-of-00003-{hash}.parquet, ... when a config is larger
images/{name}                                   images the card shows (the distribution plot)
```

The card's `configs` name each exact file (`card.pin_data_files`): `datasets` caches a local folder by the card's
data-file patterns, so a content hash in the file name is what makes a rewritten folder load its new rows.

`localnat demo` stops here (the folder *is* the would-be repo); `localnat publish` then pushes the folder in one commit
(`hf_localnat.hub.publish.publish_folder`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .card import pin_data_files
from ..errors import ConfigError
from ..io import atomic_output, check_target, write_parquet

if TYPE_CHECKING:
    from datasets import Dataset
    from huggingface_hub import DatasetCard

DATA_DIR = "data"
IMAGES_DIR = "images"
#: Default bound on a data file's size (Arrow bytes), as `Dataset.push_to_hub`'s `max_shard_size`.
MAX_SHARD_SIZE = 500 * 2**20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_repo_folder(folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse a destination that exists and is not an empty folder, unless `overwrite` (and then only a file or a
    folder this project wrote); return it resolved (see `hf_localnat.io.check_target`).

    Raises:
        OutputExistsError: `folder` exists and may not be replaced; the message says why.
    """
    return check_target(folder, overwrite=overwrite, empty_folder_ok=True)


def write_parquet_shards(dataset: "Dataset", directory: Path, *, max_shard_size: int = MAX_SHARD_SIZE,
                         provenance=None) -> list[Path]:
    """Write `dataset` as `train-{i:05d}-of-{n:05d}-{content hash}.parquet` files in `directory`, in row order
    (`train-{content hash}.parquet` when one file holds it all).

    The number of shards is the dataset's Arrow size divided by `max_shard_size`, rounded up (as `push_to_hub`
    does); each shard is a contiguous run of rows, with `provenance` (if any) in its schema metadata.

    Returns:
        `list[Path]`: the shards, in row order.
    """
    if max_shard_size < 1:
        raise ConfigError(f"max_shard_size must be a positive number of bytes, got {max_shard_size!r}.")
    table_rows = max(1, dataset.data.num_rows)
    nbytes = dataset.data.nbytes * len(dataset) / table_rows  # a `select`ed dataset holds a share of its table
    num_shards = max(1, min(len(dataset), -(-int(nbytes) // max_shard_size)))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(num_shards):
        path = directory / ("train.parquet" if num_shards == 1 else f"train-{index:05d}-of-{num_shards:05d}.parquet")
        write_parquet(dataset.shard(num_shards, index, contiguous=True), path, provenance)
        final = path.with_name(f"{path.stem}-{_sha256(path)[:16]}.parquet")  # train-{hash} when unsharded
        path.rename(final)
        paths.append(final)
    return paths


def write_repo_folder(folder: str | os.PathLike, configs: dict[str, "Dataset"], card: "DatasetCard",
                      images: dict[str, bytes | os.PathLike] | None = None, *, overwrite: bool = False,
                      provenance=None, max_shard_size: int = MAX_SHARD_SIZE) -> Path:
    """Write `configs`, `card` and `images` into `folder` as a Hub dataset repo would hold them.

    The folder is built next to its destination and renamed into place (`hf_localnat.io.atomic_output`), so an
    interrupted write never leaves half a dataset behind, and a failed one leaves the destination as it was.

    Args:
        folder (`str` or `os.PathLike`): the destination; must not exist or be empty unless `overwrite`.
        configs (`dict[str, Dataset]`): rows per config; a config with no rows is skipped (the card leaves it out too,
            `load_dataset` cannot read an empty config).
        card (`huggingface_hub.DatasetCard`): written as `README.md`.
        images (`dict[str, bytes | PathLike]`, *optional*): file name -> content or path, written under `images/`.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing file, or a folder this project wrote
            (all its content).
        provenance (`Provenance`, *optional*): how the rows were scored, kept in every Parquet file's schema metadata
            (`localnat pull` reads it back).
        max_shard_size (`int`, *optional*, defaults to 500 MiB): the most Arrow bytes per Parquet file; a larger
            config is split into several files (`write_parquet_shards`), all named in the card.

    Returns:
        `Path`: the folder.

    Raises:
        OutputExistsError: `folder` exists and may not be replaced (see `check_repo_folder`).
    """
    folder = check_repo_folder(folder, overwrite=overwrite)
    with atomic_output(folder, folder=True) as staging:
        files = {}
        for name, dataset in configs.items():
            if len(dataset) == 0:
                continue
            shards = write_parquet_shards(dataset, staging / DATA_DIR / name, max_shard_size=max_shard_size,
                                          provenance=provenance)
            paths = [path.relative_to(staging).as_posix() for path in shards]
            files[name] = paths[0] if len(paths) == 1 else paths
        for name, content in (images or {}).items():
            path = staging / IMAGES_DIR / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                shutil.copyfile(content, path)
        (staging / "README.md").write_text(str(pin_data_files(card, files)), encoding="utf-8")
    return folder


def folder_files(folder: str | os.PathLike) -> list[tuple[str, int]]:
    """Repo-relative paths and sizes of the files in a repo folder, sorted (hidden files and folders skipped).

    Raises:
        ConfigError: the folder does not exist or has no `README.md`.
    """
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise ConfigError(f"{str(folder)!r} is not a dataset repo folder (no README.md); write one with "
                          "`localnat demo -o FOLDER` or `write_repo_folder`.")
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append((rel.as_posix(), path.stat().st_size))
    return out
