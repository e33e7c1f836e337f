"""`hf_localnat.pull`: the job of `localnat pull` (one config of a curated dataset, with its provenance)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .results import Pulled


def pull(
    source: str,
    output: str | os.PathLike | None = None,
    *,
    config: str = "lalp",
    revision: str | None = None,
    token: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Pulled:
    """Load one config of a curated dataset (a Hub repo `NS/NAME` or a local repo folder), keep the provenance its
    Parquet files record, and write it to `output`.

    The same job as `localnat pull`; `str(result)` is its text.

    Args:
        source (`str`): a Hub dataset id or a local repo folder (the output of `publish --keep-folder` or `demo`).
        output (`str` or `os.PathLike`, *optional*): a .parquet/.jsonl/.json/.csv file, a folder or a URL; `None`
            writes nothing.
        config (`str`, *optional*, defaults to `"lalp"`): `lalp`, `galp`, `scored`, `rejected`, or another config of
            the card.
        revision, token, overwrite, storage_options: as the flags of `localnat pull`.

    Returns:
        `Pulled`: `dataset` (its provenance in its schema metadata, so `select`/`publish` read it back), `summary`,
        `provenance`, `output`.
    """
    from ..hub.pull import pull as fetch

    result = fetch(source, output, config=config, revision=revision, token=token, overwrite=overwrite,
                   storage_options=dict(storage_options) if storage_options else None)
    return Pulled(result.dataset, source, config, result.summary, result.provenance, result.output)
