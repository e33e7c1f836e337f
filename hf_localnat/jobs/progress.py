"""The jobs' progress bars, on stderr, drawn by `tqdm.auto` (a widget in a notebook, text in a terminal). A job takes
`progress=True/False`; its bars move through callbacks it passes down (`on_rows`), never through imports up. The
command line runs every command under `quiet_libraries`: the bars of `datasets`, `transformers` and
`huggingface_hub` are hidden there, and only this package's own show.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

# ------------------------------------------------------------- whose bars show: the command line shows its own only
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


@contextmanager
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


class RowsBar:
    """`localnat score`'s progress bar: rows scored, to a tenth of a row (a row counts its share of the tokens run,
    `LocalNaturalnessScorer.score`'s `progress_callback`), on stderr, shown whenever `datasets` shows its bars
    (`datasets.disable_progress_bars()` or `HF_DATASETS_DISABLE_PROGRESS_BARS=1` hide it; the command line hides the
    other libraries' bars, `quiet_libraries`, never this one). While it is shown,
    `datasets`' own `map` bar, which moves only when a whole map batch is done, is hidden.

    Args:
        own (`bool`): show this bar (`False`: leave `datasets`' bar, for `--num-proc`).
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar:24}| {n:.1f}/{total:.0f} rows [{elapsed}<{remaining}]"

    def __init__(self, own: bool = True) -> None:
        self.own, self.bar, self._restore, self._show = own, None, False, False

    def __enter__(self) -> RowsBar:
        import datasets

        self._show = self.own and ours_shown()  # the command line hides other libraries' bars, never this one
        if self._show and datasets.is_progress_bar_enabled():
            datasets.disable_progress_bars()
            self._restore = True
        return self

    def start(self, rows: int) -> None:
        """Scoring starts, with `rows` left to score (none: no bar)."""
        if self._show and rows:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=rows, desc="Scoring", unit="row", bar_format=self.FORMAT, disable=False,
                            file=sys.stderr)

    def update(self, rows: float) -> None:
        """`rows` more rows' worth of work is done (floating-point shares can sum a hair past the total: capped)."""
        if self.bar is not None:
            self.bar.update(max(0.0, min(rows, self.bar.total - self.bar.n)))

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._restore:
            import datasets

            datasets.enable_progress_bars()


@contextmanager
def counting_bar(total: int, *, label: str = "Counting tokens", shown: bool = True) -> Iterator:
    """A bar over `total` rows (`label`), on stderr; yields its `update(rows)` (a no-op when not `shown`)."""
    if not shown or not total:
        yield lambda rows: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=label, unit="row", file=sys.stderr) as bar:
        yield bar.update
