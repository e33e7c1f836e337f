"""What the jobs return: one result class per command, each showing itself the way the command does.

Every result follows one convention (`Result`):

- `str(result)`: the text `localnat X` prints on stdout (the command prints exactly this);
- `result.to_dict()`: what `localnat X --json` prints (JSON-serialisable: plain numbers, strings, lists, dicts);
- `result.to_pandas()`: its table, one row per item it is about (a teacher, a kept row, a count);
- `result._repr_html_()`: its HTML in a notebook, self-contained (inline CSS and SVG, no script, no network).

A subclass implements `__str__` and `to_dict`, and `_rows` where its table is not one row of `to_dict`; `_html_parts`
adds what a notebook shows beyond the table (an SVG plot, the evidence).
"""

from __future__ import annotations

from html import escape
from typing import Any

#: Inline CSS of every result's HTML (a notebook cell shows it as is; nothing is fetched).
HTML_STYLE = ("<style>.localnat-result table{border-collapse:collapse;margin:6px 0}"
              ".localnat-result th,.localnat-result td{border:1px solid #ddd;padding:3px 8px;text-align:right}"
              ".localnat-result th{background:#f6f6f6}.localnat-result pre{white-space:pre-wrap;margin:6px 0}</style>")


class Result:
    """The base of every job result: `__str__` (the CLI's text), `to_dict()` (its `--json`), `to_pandas()` and
    `_repr_html_()` (the same table in a notebook)."""

    #: The title over the result's HTML.
    title: str = "Result"

    def __str__(self) -> str:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        """What the command prints with `--json`."""
        raise NotImplementedError

    def _rows(self) -> list[dict[str, Any]]:
        """The rows of `to_pandas()` (default: `to_dict()`'s scalar values, as one row)."""
        return [{key: value for key, value in self.to_dict().items() if not isinstance(value, dict | list)}]

    def to_pandas(self):
        """The result as a `pandas.DataFrame`, one row per item it is about."""
        import pandas as pd

        return pd.DataFrame(self._rows())

    def _html_parts(self) -> list[str]:
        """HTML shown after the table (an inline SVG plot, the evidence); none by default."""
        return []

    def _repr_html_(self) -> str:
        """The notebook view: the title, the table, the subclass's extra parts, and the command's text."""
        return html_block(self.title, html_table(self._rows()), *self._html_parts(),
                          f"<pre>{escape(str(self))}</pre>")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {str(self).splitlines()[0] if str(self) else ''}>"


def html_table(rows: list[dict[str, Any]]) -> str:
    """An HTML table of `rows` (dicts with the same keys, in order): floats to 4 significant digits, `None` blank."""
    if not rows:
        return ""
    keys = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.4g}"
        return escape(str(value))

    head = "".join(f"<th>{escape(str(key))}</th>" for key in keys)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(key))}</td>" for key in keys) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_block(title: str, *parts: str) -> str:
    """One result's HTML: the shared inline style, a heading and `parts`, in a `div.localnat-result`."""
    return f'{HTML_STYLE}<div class="localnat-result"><h4>{escape(title)}</h4>{"".join(p for p in parts if p)}</div>'
