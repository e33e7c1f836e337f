"""The jobs' progress bars, on stderr, drawn by `tqdm.auto` (a widget in a notebook, text in a terminal). A job takes
`progress=True/False`; its bars move through callbacks it passes down (`on_rows`), never through imports up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class RowsBar:
    """`localnat score`'s progress bar: rows scored, to a tenth of a row (a row counts its share of the tokens run,
    `LocalNaturalnessScorer.score`'s `progress_callback`), on stderr, shown whenever `datasets` shows its bars
    (`datasets.disable_progress_bars()` or `HF_DATASETS_DISABLE_PROGRESS_BARS=1` hide it). While it is shown,
    `datasets`' own `map` bar, which moves only when a whole map batch is done, is hidden.

    Args:
        own (`bool`): show this bar (`False`: leave `datasets`' bar, for `--num-proc`).
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar:24}| {n:.1f}/{total:.0f} rows [{elapsed}<{remaining}]"

    def __init__(self, own: bool = True) -> None:
        self.own, self.bar, self._restore = own, None, False

    def __enter__(self) -> RowsBar:
        import datasets

        if self.own and datasets.is_progress_bar_enabled():
            datasets.disable_progress_bars()
            self._restore = True
        return self

    def start(self, rows: int) -> None:
        """Scoring starts, with `rows` left to score (none: no bar)."""
        if self._restore and rows:
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
