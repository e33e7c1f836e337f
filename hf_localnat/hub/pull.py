"""Download one config of a curated dataset (a Hub repo or a local repo folder), keep the provenance its Parquet files
record, and summarise its card."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .card import DEFAULT_CONFIG, card_summary
from ..errors import ConfigError, PublishError
from ..provenance import Provenance, common, parse_footer


@dataclass
class PullResult:
    """What `pull` fetched: the source, the config, the rows written, where (`None`: not written), the card's
    summary, how the rows were scored (`None` when the data files record nothing), and the rows."""

    source: str
    config: str
    rows: int
    output: Path | str | None
    summary: str
    provenance: Provenance | None = None
    dataset: object = None


def _patterns(data_files) -> list[str]:
    """The path patterns of a card's `data_files` entry (a string, a list of strings, or `{split, path}` items)."""
    if isinstance(data_files, str):
        return [data_files]
    patterns: list[str] = []
    for item in data_files or []:
        paths = item.get("path") if isinstance(item, dict) else item
        patterns += [paths] if isinstance(paths, str) else list(paths or [])
    return patterns


def data_files_provenance(source: str, patterns: list[str], *, local: bool, revision: str | None = None,
                          token: str | None = None) -> Provenance | None:
    """The provenance the Parquet files matching `patterns` record (read from their footers only; on the Hub
    through `HfFileSystem` range requests). All files must agree.

    Raises:
        ProvenanceError: the files were scored differently.
    """
    import pyarrow.parquet as pq

    if local:
        files = [str(p) for pattern in patterns for p in sorted(Path(source).expanduser().glob(pattern))]
        opener = open
    else:
        from urllib.parse import quote

        from huggingface_hub import HfFileSystem

        fs = HfFileSystem(token=token)
        root = f"datasets/{source}" + (f"@{quote(revision, safe='')}" if revision else "")
        files = [f for pattern in patterns for f in sorted(fs.glob(f"{root}/{pattern}"))]
        opener = fs.open
    schemas = []
    for name in files:
        if name.endswith(".parquet"):
            with opener(name, "rb") as f:
                schemas.append(parse_footer(pq.read_schema(f).metadata, name))
    return common(schemas, what=f"{source} ({', '.join(patterns)})")


def pull(source: str, output: str | os.PathLike | None = None, *, config: str = DEFAULT_CONFIG, revision: str | None = None,
         token: str | None = None, overwrite: bool = False, storage_options: dict | None = None) -> PullResult:
    """Load `config` of a curated dataset with `load_dataset` and save it to `output`.

    Args:
        source (`str`): a Hub dataset id (`NS/NAME`) or a local repo folder.
        output (`str` or `os.PathLike`, *optional*): a `.parquet`, `.jsonl`, `.json` or `.csv` file, or a folder
            (written with `Dataset.save_to_disk`); see `io.save_output`. `None` writes nothing.
        config (`str`, *optional*, defaults to `"lalp"`): `lalp`, `galp`, `scored` or `rejected`.
        revision (`str`, *optional*): a branch, tag, commit or `refs/pr/N`.
        token (`str`, *optional*): a Hub token for private repos; defaults to the logged-in one.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing `output`.
        storage_options (`dict`, *optional*): options for the filesystem of a URL `output` (`hf_localnat.io.remote`).

    Returns:
        `PullResult`.

    Raises:
        OutputExistsError: `output` exists and `overwrite` is False.
        ConfigError: the config does not exist.
        PublishError: the dataset cannot be found or read, or the Hub cannot be reached (`io.remote.check_hub_reachable`).
    """
    from datasets import load_dataset
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    from ..io import check_output, save_output
    from ..io.remote import check_hub_reachable

    if output is not None:
        output = check_output(output, overwrite=overwrite, storage_options=storage_options)
    local = Path(source).expanduser().is_dir()
    if not local:
        check_hub_reachable(error=PublishError, hint="Offline, pull a local repo folder instead.")
    try:
        card_text = ((Path(source).expanduser() / "README.md").read_text(encoding="utf-8") if local
                     else DatasetCard.load(source, repo_type="dataset", token=token).content)
    except RepositoryNotFoundError as err:
        raise PublishError(f"Dataset {source!r} was not found on the Hub (or is private and no token was given); "
                           "check the id, or log in with `hf auth login`.") from err
    except (HfHubHTTPError, OSError) as err:
        raise PublishError(f"Cannot read the card of {source!r} ({type(err).__name__}); check the id and your "
                           "network, then rerun.") from err
    entries = {c.get("config_name"): c for c in DatasetCard(card_text, ignore_metadata_errors=True).data.to_dict().get(
        "configs") or []}
    if entries and config not in entries:
        raise ConfigError(f"{source!r} has no config {config!r}; it has {', '.join(map(str, entries))}.")
    dataset = load_dataset(str(Path(source).expanduser()) if local else source, config, split="train",
                           revision=revision, token=token)
    patterns = _patterns((entries.get(config) or {}).get("data_files"))
    provenance = data_files_provenance(source, patterns, local=local, revision=revision, token=token)
    if output is not None:
        output = save_output(dataset, output, overwrite=overwrite, provenance=provenance,
                             storage_options=storage_options)
    if provenance is not None:  # the rows carry it in memory too (`provenance.of_dataset`), as `scorer.map`'s do
        import datasets

        from ..provenance import with_provenance

        dataset = datasets.Dataset(with_provenance(dataset.data, provenance), info=dataset.info, split=dataset.split,
                                   indices_table=dataset._indices, fingerprint=dataset._fingerprint)
    return PullResult(source, config, len(dataset), output, card_summary(card_text), provenance, dataset)
