"""The per-teacher LALP/GALP distribution plot."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from hf_localnat.errors import ConfigError, OutputExistsError, SelectionError
from hf_localnat.selection.plot import plot_teacher_distributions


def _scores(teachers: list[str], per_teacher: int = 12) -> Dataset:
    rng = np.random.default_rng(0)
    rows = [{"teacher": t, "lalp": float(rng.normal(-1 - i / 2, 0.2)), "galp": float(rng.normal(-1.5, 0.3))}
            for i, t in enumerate(teachers) for _ in range(per_teacher)]
    return Dataset.from_list(rows)


def _dots(image: np.ndarray, color: str) -> int:
    """Pixels painted in a scatter dot of `color` (drawn with alpha 0.6 over the white axes)."""
    from matplotlib.colors import to_rgb

    blended = 0.6 * np.array(to_rgb(color)) + 0.4
    return int((np.abs(image[..., :3] - blended).max(axis=-1) < 0.02).sum())


def test_the_png_shows_every_teachers_scores_and_is_not_overwritten(tmp_path):
    from matplotlib import rcParams
    from matplotlib.image import imread

    teachers = ["t-a", "t-b", "t-c", "t-d"]
    path = plot_teacher_distributions(_scores(teachers), tmp_path / "teachers.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    height, width, _ = image.shape  # the figure is 7.5 in high and 1.6 in per teacher (+2, at least 6) wide, at 110 dpi
    assert (height, width) == (round(7.5 * 110), round((1.6 * len(teachers) + 2) * 110))
    assert (image[..., :3].min(axis=-1) < 0.9).mean() > 0.02  # not blank: axes, labels and data were drawn
    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    assert all(_dots(image, cycle[i]) > 50 for i in range(len(teachers)))  # each teacher's dots, in both panels
    assert _dots(image, cycle[len(teachers)]) == 0  # and no fifth series

    with pytest.raises(OutputExistsError, match="--overwrite"):
        plot_teacher_distributions(_scores(teachers), path)
    assert (imread(path) == image).all()  # the refusal left the file as it was
    plot_teacher_distributions(_scores(teachers), path, overwrite=True, teachers=["t-d", "t-a"])
    two = imread(path)
    assert two.shape[1] == round(6.0 * 110)  # two teachers: the 6 in minimum width
    assert _dots(two, cycle[0]) > 50 and _dots(two, cycle[1]) > 50 and _dots(two, cycle[2]) == 0


@pytest.mark.slow
def test_plots_the_scored_sample(scored_sample, tmp_path):
    from matplotlib.image import imread

    path = plot_teacher_distributions(scored_sample, tmp_path / "teachers.png")
    teachers = len(set(scored_sample["teacher"]))
    assert imread(path).shape[:2] == (round(7.5 * 110), round(max(6.0, 1.6 * teachers + 2) * 110))


def test_refuses_other_suffixes_and_unscored_data(tmp_path):
    ds = Dataset.from_dict({"teacher": ["a"], "lalp": [None], "galp": [None]})
    with pytest.raises(ConfigError, match=".png"):
        plot_teacher_distributions(ds, tmp_path / "x.pdf")
    with pytest.raises(SelectionError, match="no row has a LALP or GALP score"):
        plot_teacher_distributions(ds, tmp_path / "x.png")
