"""The step report: one self-contained HTML file that shows where each teacher's traces stop being natural.

`build_report` / `write_report` (and `localnat inspect`) read a scored file and write inline CSS and inline SVG only:
no script, no external request, so the file opens offline and can be attached to a Hub repo or an email.

Layering: like `selection/` and `hub/`, this package never imports torch or transformers. It may import exactly one
scoring module, `hf_localnat.scoring.prepare.segment` (which needs only pysbd), because showing every step shaded by its score
needs the very segmentation that scored it.
"""

from .html import DEFAULT_MAX_BYTES, build_report, write_report

__all__ = ["DEFAULT_MAX_BYTES", "build_report", "write_report"]
