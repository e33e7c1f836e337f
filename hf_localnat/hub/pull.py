"""Download one config of a curated dataset (a Hub repo or a local repo folder) and summarise its card."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .card import DEFAULT_CONFIG, card_summary
from ..errors import ConfigError, PublishError


@dataclass
class PullResult:
    """What `pull` fetched: the source, the config, the rows written, where, and the card's summary."""

    source: str
    config: str
    rows: int
    output: Path
    summary: str


def pull(source: str, output: str | os.PathLike, *, config: str = DEFAULT_CONFIG, revision: str | None = None,
         token: str | None = None, overwrite: bool = False) -> PullResult:
    """Load `config` of a curated dataset with `load_dataset` and save it to `output`.

    Args:
        source (`str`): a Hub dataset id (`NS/NAME`) or a local repo folder.
        output (`str` or `os.PathLike`): a `.parquet`, `.jsonl`, `.json` or `.csv` file, or a folder (written with
            `Dataset.save_to_disk`); see `io.save_output`.
        config (`str`, *optional*, defaults to `"lalp"`): `lalp`, `galp`, `scored` or `rejected`.
        revision (`str`, *optional*): a branch, tag, commit or `refs/pr/N`.
        token (`str`, *optional*): a Hub token for private repos; defaults to the logged-in one.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing `output`.

    Returns:
        `PullResult`.

    Raises:
        OutputExistsError: `output` exists and `overwrite` is False.
        ConfigError: the config does not exist.
        PublishError: the dataset cannot be found or read.
    """
    from datasets import load_dataset
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    from ..io import check_output, save_output

    output = check_output(output, overwrite=overwrite)
    local = Path(source).expanduser().is_dir()
    try:
        card_text = ((Path(source).expanduser() / "README.md").read_text(encoding="utf-8") if local
                     else DatasetCard.load(source, repo_type="dataset", token=token).content)
    except RepositoryNotFoundError as err:
        raise PublishError(f"Dataset {source!r} was not found on the Hub (or is private and no token was given); "
                           "check the id, or log in with `hf auth login`.") from err
    except (HfHubHTTPError, OSError) as err:
        raise PublishError(f"Cannot read the card of {source!r} ({type(err).__name__}); check the id and your "
                           "network, then rerun.") from err
    configs = [c.get("config_name") for c in DatasetCard(card_text, ignore_metadata_errors=True).data.to_dict().get(
        "configs") or []]
    if configs and config not in configs:
        raise ConfigError(f"{source!r} has no config {config!r}; it has {', '.join(map(str, configs))}.")
    dataset = load_dataset(str(Path(source).expanduser()) if local else source, config, split="train",
                           revision=revision, token=token)
    output = save_output(dataset, output, overwrite=overwrite)
    return PullResult(source, config, len(dataset), output, card_summary(card_text))
