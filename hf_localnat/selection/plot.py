"""Per-teacher distributions of each score (LALP and GALP by default), and each score's `p_order(n)` curve (SPEC
§13), as a PNG (matplotlib, no display needed).

Uses `matplotlib.figure.Figure` with the Agg canvas directly, so it never touches pyplot's global state or needs a
display; it is also the figure the dataset card shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError, SelectionError
from ..io import atomic_output, check_target
from ..io.columns import require_columns
from ..scores import better_word, score_direction
from .evidence import STABLE_SHARE, ScoreEvidence
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
    scores: Sequence[str] = SCORES,
    directions: Mapping[str, str] | None = None,
    evidence: Mapping[str, ScoreEvidence] | None = None,
    teacher_column: str = "teacher",
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Write one PNG with a panel per score: a box plot per teacher with every response as a dot; with `evidence`,
    a last panel with each score's `p_order(n)` curve (projected sizes dashed) and the 0.8 line of `stable_n`.

    Rows without a score are left out of the panel of that score (their count is shown under the teacher's name).

    Args:
        dataset (`datasets.Dataset`): scored rows (`teacher`, `lalp`, `galp`).
        path (`str` or `Path`): the `.png` file to write.
        teachers (`Sequence[str]`, *optional*): teachers in display order (for instance
            `TeacherRanking.order("lalp")`); defaults to the order of appearance.
        scores (`Sequence[str]`, *optional*, defaults to `("lalp", "galp")`): the score columns, one panel each.
        directions (`Mapping[str, str]`, *optional*): the direction of a score this project does not know.
        evidence (`Mapping[str, ScoreEvidence]`, *optional*): `TeacherRanking.evidence`, for the `p_order(n)` panel.
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
    scores = list(scores)
    require_columns(dataset, [teacher_column, *scores], what="plotting")
    row_teachers = [str(t) for t in dataset[teacher_column]]
    order = list(teachers) if teachers is not None else list(dict.fromkeys(row_teachers))
    values = {by: {t: [] for t in order} for by in scores}
    for by in scores:
        for teacher, score in zip(row_teachers, dataset[by], strict=True):
            if score is not None and math.isfinite(score) and teacher in values[by]:
                values[by][teacher].append(score)
    if not any(values[by][t] for by in scores for t in order):
        raise SelectionError(f"Nothing to plot: no row has a {' or '.join(s.upper() for s in scores)} score; score "
                             "the dataset first.")

    curves = {s: e for s, e in (evidence or {}).items() if s in scores and (e.p_order_by_n or e.projected_p_order_by_n)}
    rows = len(scores) + bool(curves)
    figure = Figure(figsize=(max(6.0, 1.6 * len(order) + 2), 3.75 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(rows, 1, squeeze=False)[:, 0])
    for axis in axes[1:len(scores)]:
        axis.sharex(axes[0])
    for axis, by in zip(axes, scores, strict=False):
        data = [values[by][t] for t in order]
        positions = [i for i, d in enumerate(data, start=1) if d]
        axis.boxplot([d for d in data if d], positions=positions, widths=0.5, showfliers=False)
        for x, d in zip(range(1, len(order) + 1), data, strict=True):
            # deterministic horizontal spread so overlapping dots stay visible
            spread = [x + 0.18 * ((j % 7) - 3) / 3 for j in range(len(d))]
            axis.scatter(spread, d, s=14, alpha=0.6, zorder=3)
        axis.set_ylabel(f"{_LABELS.get(by, by)}\n({better_word(score_direction(by, directions))} = better)")
        axis.grid(axis="y", alpha=0.3)
    counts = [f"{t}\n(n={len(values[scores[0]][t])})" for t in order]
    axes[len(scores) - 1].set_xticks(range(1, len(order) + 1), counts)
    axes[0].set_title(title or "Per-teacher scores (each panel in its own direction)")
    if curves:
        _plot_curves(axes[-1], curves)
    with atomic_output(path) as staged:
        figure.savefig(staged, dpi=110, format="png")
    return path


def _plot_curves(axis, curves: Mapping[str, ScoreEvidence]) -> None:
    """`p_order(n)` per score on a log axis: measured sizes solid, projected sizes dashed, the 0.8 line dotted."""
    for score, e in curves.items():
        measured = sorted(e.p_order_by_n.items())
        line = None
        if measured:
            (line,) = axis.plot(*zip(*measured), marker="o", label=score.upper())
        projected = sorted(e.projected_p_order_by_n.items())
        if projected:
            head = measured[-1:]  # join the dashed part to the last measured point
            axis.plot(*zip(*(head + projected)), marker="o", linestyle="--", color=line and line.get_color(),
                      label=None if line else f"{score.upper()} (projected)")
    axis.axhline(STABLE_SHARE, color="grey", linestyle=":", linewidth=1)
    axis.set_xscale("log")
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("questions n (dashed: more than were scored, projected from them)")
    axis.set_ylabel("p_order(n)")
    axis.set_title(f"Order stability: stable_n is the first n at or above {STABLE_SHARE}")
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
