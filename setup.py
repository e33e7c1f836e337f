"""Build hook: the wheel carries the `evaluate` metric as package data (`hf_localnat/_metric/local_naturalness/`).

`metric/local_naturalness/` stays its one source; this copies it into the build at `build_py` time, so `localnat
install-metric` and `localnat publish-metric` work from a pip install as well as from a source checkout (where
`hf_localnat.hub.space.metric_folder` finds the source folder). Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

METRIC_SOURCE = Path("metric") / "local_naturalness"
METRIC_TARGET = Path("hf_localnat") / "_metric" / "local_naturalness"


class BuildPyWithMetric(build_py):
    """`build_py`, plus the metric folder's files copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads metric/ in place
            return
        target = Path(self.build_lib) / METRIC_TARGET
        self.mkpath(str(target))
        for source in sorted(METRIC_SOURCE.iterdir()):
            if source.is_file() and not source.name.startswith(".") and source.suffix != ".pyc":
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithMetric})
