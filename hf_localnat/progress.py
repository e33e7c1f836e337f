"""Whose progress bars show: the command line shows its own bars only (`quiet_libraries`), a Python user sees every
library's as usual. Imports nothing of this package, so every layer can ask `ours_shown()`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_QUIET = False  # inside `quiet_libraries`
_OURS = True  # whether our own bars show there (False when the user had turned datasets' bars off)


def ours_shown() -> bool:
    """Whether this package's own progress bars show (the `score` rows bar, the demo's): inside
    `quiet_libraries` as the user had it before (`HF_DATASETS_DISABLE_PROGRESS_BARS=1` or
    `datasets.disable_progress_bars()` hide them), elsewhere whenever `datasets` shows its bars."""
    if _QUIET:
        return _OURS
    import datasets

    return datasets.is_progress_bar_enabled()


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Hide the progress bars of `datasets` (`Generating train split`, `Map`, `Creating json from Arrow format`),
    `huggingface_hub` (downloads) and `transformers` (`Loading weights`; it takes `huggingface_hub`'s setting when
    it is first imported) for the duration; this package's own bars still show (`ours_shown`). Each library's
    setting is restored on exit."""
    global _QUIET, _OURS

    import datasets
    import huggingface_hub.utils as hub_utils

    saved = (_QUIET, _OURS)
    was_datasets = datasets.is_progress_bar_enabled()
    was_hub = not hub_utils.are_progress_bars_disabled()
    was_transformers = _transformers_bars()
    _OURS = _OURS if _QUIET else was_datasets
    _QUIET = True
    datasets.disable_progress_bars()
    hub_utils.disable_progress_bars()
    _set_transformers_bars(False)
    try:
        yield
    finally:
        _QUIET, _OURS = saved
        if was_datasets:
            datasets.enable_progress_bars()
        _set_transformers_bars(was_hub if was_transformers is None else was_transformers)
        if was_hub:
            hub_utils.enable_progress_bars()
        else:
            hub_utils.disable_progress_bars()


def _transformers_bars() -> bool | None:
    """Whether `transformers` shows its bars; `None` when it is not imported (importing it costs seconds, and the
    selection commands never need it)."""
    if "transformers" not in sys.modules:
        return None
    from transformers.utils import logging

    return logging.is_progress_bar_enabled()


def _set_transformers_bars(on: bool) -> None:
    if "transformers" in sys.modules:
        from transformers.utils import logging

        logging.enable_progress_bar() if on else logging.disable_progress_bar()
