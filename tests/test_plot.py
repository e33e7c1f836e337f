"""The per-teacher LALP/GALP distribution plot."""

from __future__ import annotations

import pytest
from datasets import Dataset

from hf_localnat.errors import ConfigError, OutputExistsError, SelectionError
from hf_localnat.selection.plot import plot_teacher_distributions


def test_writes_a_png_and_refuses_to_overwrite(scored_sample, tmp_path):
    from matplotlib.image import imread

    path = plot_teacher_distributions(scored_sample, tmp_path / "teachers.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert width > 500 and height > 500
    with pytest.raises(OutputExistsError, match="--overwrite"):
        plot_teacher_distributions(scored_sample, path)
    plot_teacher_distributions(scored_sample, path, overwrite=True, teachers=["teacher-odd", "teacher-clear"])


def test_refuses_other_suffixes_and_unscored_data(tmp_path):
    ds = Dataset.from_dict({"teacher": ["a"], "lalp": [None], "galp": [None]})
    with pytest.raises(ConfigError, match=".png"):
        plot_teacher_distributions(ds, tmp_path / "x.pdf")
    with pytest.raises(SelectionError, match="no row has a LALP or GALP score"):
        plot_teacher_distributions(ds, tmp_path / "x.png")
