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


# ------------------------------------------------------------------------------------------------- score, estimate


class ScoreResult(Result):
    """What `hf_localnat.score` returns (`localnat score` prints its text).

    Attributes:
        dataset (`datasets.Dataset`): the scored rows (every input column plus the score columns); it carries
            `provenance` in memory (`hf_localnat.provenance.of_dataset`), so `hf_localnat.select(result.dataset)`
            and `save_output` keep it.
        path (`Path` or `str`, *optional*): the output written (a URL stays a `str`); `None` when no output was asked.
        provenance (`Provenance`): how the rows were scored, as recorded with `path`.
        summary (`dict`): rows, scored, response_tokens, errors (by reason), truncated, reused_rows, seconds, and with
            `engine="ray"` shards, shards_reused and rows_per_node.
        lines (`list[str]`): the text the command prints on stdout, line by line.
    """

    title = "Scored"

    def __init__(self, dataset, path, provenance, summary: dict[str, Any], lines: list[str]) -> None:
        self.dataset, self.path, self.provenance, self.summary, self.lines = dataset, path, provenance, summary, lines

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        """The summary, the output and the provenance, as JSON-ready values."""
        return {**self.summary, "output": None if self.path is None else str(self.path),
                "provenance": self.provenance.to_dict()}

    def _rows(self) -> list[dict[str, Any]]:
        return [{key: value for key, value in self.summary.items() if not isinstance(value, dict | list)}]

    def to_pandas(self):
        """The scored rows as a `pandas.DataFrame`."""
        return self.dataset.to_pandas()


#: The four ways to score an `Estimate` prices, in its table's order (`scoring.estimate.method_tokens`' keys).
METHODS = {"lalp": "exact LALP (every window)", "lalp_shared_prefix": "exact LALP, question computed once",
           "blockmask": "blockmask approximation", "galp": "GALP alone"}


class Estimate(Result):
    """What `hf_localnat.estimate` returns: SPEC §10 counts, FLOPs, a projected GPU time, and with `device` the time
    measured (or projected) on that device (`localnat estimate` prints its text, `--json` its `to_dict()`).

    Attributes:
        counts (`TokenCounts`): the SPEC §10 totals (`counts.to_dict()`).
        params (`int`): the student's parameters without embeddings (N of 2·N·T).
        projection (`Projection`): FLOPs and GPU-hours of each way to score.
        rate (`Rate`, *optional*): the speed on `device`, when one was given.
        sample (`dict`, *optional*): the question sample priced (`--sample-questions`), as recorded.
        window: the window the counts are for. `mfu_given` (`bool`): whether the MFU was given (else measured).
    """

    title = "Estimate"

    def __init__(self, counts, params: int, projection, rate=None, sample: dict | None = None, *, window,
                 mfu_given: bool = False) -> None:
        self.counts, self.params, self.projection, self.rate = counts, params, projection, rate
        self.sample, self.window, self.mfu_given = sample, window, mfu_given

    def method_tokens(self) -> dict[str, int]:
        from ..scoring.estimate import method_tokens

        return method_tokens(self.counts)

    def to_dict(self) -> dict[str, Any]:
        """What `localnat estimate --json` prints."""
        measured = {} if self.rate is None else {"device": {
            "where": self.rate.where, "how": self.rate.how, "tokens_per_second": self.rate.tokens_per_second,
            "seconds": {key: self.rate.seconds(n) for key, n in self.method_tokens().items()}}}
        return {**self.counts.to_dict(), "params": self.params, "flops": self.projection.flops,
                "projection": self.projection.to_dict(), "sample": self.sample, **measured}

    def __str__(self) -> str:
        from ..scoring.estimate import duration_phrase
        from ..scoring.prepare.windows import whole_prefix_line

        counts, projection, rate = self.counts.to_dict(), self.projection, self.rate
        width = max(len(k) for k in counts)
        lines = [f"{key:<{width}}  {value:>16,}" for key, value in counts.items()
                 if key not in ("errors", "whole_prefix_share")]
        lines.append(whole_prefix_line(self.counts.whole_prefix_share, self.window))
        if self.counts.errors:
            lines.append("rows without a score: " + ", ".join(f"{n} {e}" for e, n in self.counts.errors.items()))
        lines.append(f"\nStudent: {self.params:,} parameters without embeddings. FLOPs = 2 x N x tokens (attention not "
                     f"counted); projected time on {projection.gpus} x {projection.gpu.upper()} "
                     f"({projection.peak_tflops:g} TFLOP/s bf16 each) at {projection.mfu:.0%} MFU"
                     f"{'' if self.mfu_given else ' (measured: the CUDA default on an H100)'}:")
        for key, label in METHODS.items():
            lines.append(f"  {label:<36} {projection.flops[key]:>10.3g} FLOPs  "
                         f"{duration_phrase(projection.hours[key] * 3600):>15}")
        if rate is not None:
            tokens = self.method_tokens()
            lines.append(f"\nOn {rate.where} ({rate.how}: {rate.tokens_per_second:,.0f} tokens/s):")
            for key, label in METHODS.items():
                seconds = duration_phrase(rate.seconds(tokens[key]))
                lines.append(f"  {label:<36} {tokens[key]:>10,} tokens  {seconds:>15}")
        lines.append("The other scores (rsr, galp_drop, lalp_drop; `localnat score --scores all`) come from the same "
                     "passes: no extra model tokens.")
        return "\n".join(lines)

    def _rows(self) -> list[dict[str, Any]]:
        """One row per way to score: its model tokens, FLOPs, projected GPU-hours, and the seconds on the device."""
        tokens, hours = self.method_tokens(), self.projection.hours
        rows = []
        for key, label in METHODS.items():
            row = {"method": label, "tokens": tokens[key], "flops": self.projection.flops[key],
                   f"hours_on_{self.projection.gpus}x{self.projection.gpu}": hours[key]}
            if self.rate is not None:
                row["seconds_on_device"] = self.rate.seconds(tokens[key])
            rows.append(row)
        return rows

    def _html_parts(self) -> list[str]:
        counts = {key: value for key, value in self.counts.to_dict().items() if key != "errors"}
        return [html_table([counts | {"params": self.params}])]


class SegmentResult(Result):
    """What `hf_localnat.segment` returns (`localnat segment` prints its text).

    Attributes:
        dataset (`datasets.Dataset`): the long rows plus the steps column, `segment_fallback` and `segment_error`.
        path (`Path` or `str`): the output written. `steps` (`dict`): how the steps were made (recorded with it).
        run (`dict`): rows, segmented, fallback_rows, requests, prompt_tokens, completion_tokens (recorded too).
        lines (`list[str]`): the text the command prints on stdout.
    """

    title = "Segmented"

    def __init__(self, dataset, path, steps: dict[str, Any], run: dict[str, Any], lines: list[str]) -> None:
        self.dataset, self.path, self.steps, self.run, self.lines = dataset, path, steps, run, lines

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {**self.run, "output": str(self.path), "steps": dict(self.steps)}

    def to_pandas(self):
        """The segmented rows as a `pandas.DataFrame`."""
        return self.dataset.to_pandas()
