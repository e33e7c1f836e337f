"""Per-teacher distributions of LALP and GALP, as a PNG (matplotlib, no display needed).

Uses `matplotlib.figure.Figure` with the Agg canvas directly, so it never touches pyplot's global state or needs a
display; it is also the figure the dataset card shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, SelectionError
from ..io import atomic_output, check_target
from ..io.columns import require_columns
from .rank import SCORES

_LABELS = {"lalp": "LALP (local, per-step mean log-prob)", "galp": "GALP (global mean log-prob)"}


def check_plot_path(path: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse a plot path that does not end in `.png`, or that `io.check_target` refuses; return it resolved.

    Raises:
        ConfigError: the suffix is not `.png`.
        OutputExistsError: `path` exists and may not be replaced (`overwrite` is `False`, or it is a folder).
    """
    if Path(path).suffix.lower() != ".png":
        raise ConfigError(f"The plot is written as PNG; give a path ending in .png, got {str(path)!r}.")
    return check_target(path, overwrite=overwrite)


def plot_teacher_distributions(
    dataset,
    path: str | Path,
    *,
    teachers: Sequence[str] | None = None,
    teacher_column: str = "teacher",
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Write one PNG with two panels (LALP, GALP): a box plot per teacher with every response as a dot.

    Rows without a score are left out of the panel of that score (their count is shown under the teacher's name).

    Args:
        dataset (`datasets.Dataset`): scored rows (`teacher`, `lalp`, `galp`).
        path (`str` or `Path`): the `.png` file to write.
        teachers (`Sequence[str]`, *optional*): teachers in display order (for instance
            `TeacherRanking.order("lalp")`); defaults to the order of appearance.
        teacher_column (`str`, *optional*, defaults to `"teacher"`).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing file.
        title (`str`, *optional*): figure title.

    Returns:
        `Path`: the file written.

    Raises:
        ConfigError: `path` does not end in `.png`, or matplotlib is missing.
        OutputExistsError: `path` exists and `overwrite` is `False`.
        SelectionError: no row has a score.
    """
    path = check_plot_path(path, overwrite=overwrite)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ConfigError("Plotting needs matplotlib; install it with `pip install matplotlib` (hf-localnat's `plot` extra).") from e
    require_columns(dataset, [teacher_column, *SCORES], what="plotting")
    row_teachers = [str(t) for t in dataset[teacher_column]]
    order = list(teachers) if teachers is not None else list(dict.fromkeys(row_teachers))
    values = {by: {t: [] for t in order} for by in SCORES}
    for by in SCORES:
        for teacher, score in zip(row_teachers, dataset[by], strict=True):
            if score is not None and math.isfinite(score) and teacher in values[by]:
                values[by][teacher].append(score)
    if not any(values[by][t] for by in SCORES for t in order):
        raise SelectionError("Nothing to plot: no row has a LALP or GALP score; score the dataset first.")

    figure = Figure(figsize=(max(6.0, 1.6 * len(order) + 2), 7.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 1, sharex=True)
    for axis, by in zip(axes, SCORES, strict=True):
        data = [values[by][t] for t in order]
        positions = [i for i, d in enumerate(data, start=1) if d]
        axis.boxplot([d for d in data if d], positions=positions, widths=0.5, showfliers=False)
        for x, d in zip(range(1, len(order) + 1), data, strict=True):
            # deterministic horizontal spread so overlapping dots stay visible
            spread = [x + 0.18 * ((j % 7) - 3) / 3 for j in range(len(d))]
            axis.scatter(spread, d, s=14, alpha=0.6, zorder=3)
        axis.set_ylabel(_LABELS[by])
        axis.grid(axis="y", alpha=0.3)
    counts = [f"{t}\n(n={len(values['lalp'][t])})" for t in order]
    axes[-1].set_xticks(range(1, len(order) + 1), counts)
    axes[0].set_title(title or "Per-teacher naturalness to the student (higher = more natural)")
    with atomic_output(path) as staged:
        figure.savefig(staged, dpi=110, format="png")
    return path
