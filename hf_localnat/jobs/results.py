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
                 if key not in ("errors", "whole_prefix_share", "traces")]
        lines.append(whole_prefix_line(self.counts.whole_prefix_share, self.window))
        if self.counts.errors:
            lines.append("rows without a score: " + ", ".join(f"{n} {e}" for e, n in self.counts.errors.items()))
        if self.counts.traces:
            lines.append(self.counts.trace_table())
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


# ------------------------------------------------------------------------------------- ranking, selection, hub
# The results of `rank_teachers`, `select`, `inspect`, `calibrate`, `publish` and `pull`. Each keeps the library's
# own result (`selection.rank.TeacherRanking`, `selection.select.Selection`, ...) and what the job adds around it:
# the inputs, their provenance, the files written. Attributes the job result does not define are the library
# result's (`ranking.order("lalp")`, `selection.selected`).

from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402


def _header(provenance, pooled: str | None) -> list[str]:
    """The lines every report over scored inputs starts with: how they were scored, and which were pooled."""
    from ..provenance import scored_with

    return [scored_with(provenance), *([pooled] if pooled else [])]


def _provenance_dict(provenance) -> dict[str, Any] | None:
    return provenance and provenance.to_dict()


class _Wrapping(Result):
    """A job result that hands the attributes it does not define to the library result it wraps (`_inner`)."""

    _inner: str = ""

    def __getattr__(self, name: str):
        if name.startswith("__") or name == self._inner:
            raise AttributeError(name)
        return getattr(getattr(self, self._inner), name)


@dataclass(repr=False)
class TeacherRanking(_Wrapping):
    """What `hf_localnat.rank_teachers` returns: the ranking of `selection.rank.rank_teachers` with its SPEC §13
    evidence, the inputs and how they were scored.

    Attributes:
        ranking (`selection.rank.TeacherRanking`): teachers, means, intervals, pairwise differences, evidence;
            its attributes and methods are this result's too (`result.order("lalp")`, `result.evidence`).
        provenance (`Provenance | None`): how the inputs were scored (`None`: not recorded).
        inputs (`list[str]`): the inputs, as named in messages.
        pooled (`str | None`): the line naming several pooled inputs.
        plot (`Path | None`): the PNG written, when one was asked for.
        notes (`list[str]`): warnings the command prints on stderr (SPEC §12: LALP ~ GALP).
    """

    ranking: Any
    provenance: Any = None
    inputs: list[str] = field(default_factory=list)
    pooled: str | None = None
    plot: Path | None = None
    notes: list[str] = field(default_factory=list)

    title = "Teacher ranking"
    _inner = "ranking"

    def __str__(self) -> str:
        plot = [f"Wrote {self.plot}."] if self.plot is not None else []
        return "\n".join([*_header(self.provenance, self.pooled), self.ranking.format_table(), *plot])

    def to_dict(self) -> dict[str, Any]:
        """`localnat rank-teachers --json`."""
        return {**self.ranking.to_dict(), "provenance": _provenance_dict(self.provenance), "inputs": self.inputs}

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for t in self.ranking.teachers:
            row: dict[str, Any] = {"teacher": t.teacher, "n": t.num_responses}
            for s in self.ranking.scores:
                row |= {f"rank {s.upper()}": t.ranks[s], f"mean {s.upper()}": t.means[s],
                        f"{s.upper()} CI low": t.cis[s][0], f"{s.upper()} CI high": t.cis[s][1]}
            if getattr(t, "accuracy", None) is not None:
                row |= {"accuracy": t.accuracy, "accuracy CI low": t.accuracy_ci[0],
                        "accuracy CI high": t.accuracy_ci[1]}
            rows.append(row)
        return rows

    def _html_parts(self) -> list[str]:
        from ..report.svg import p_order_plot
        from ..selection.evidence import STABLE_SHARE

        evidence = self.ranking.evidence
        if not evidence:
            return []
        rows = [{"teacher": t.teacher, **{f"{s.upper()} {k}": v for s, e in evidence.items()
                                          for k, v in (("p_top", e.p_top[t.teacher]),
                                                       ("win", e.winner_share[t.teacher]))}}
                for t in self.ranking.teachers]
        summary = [{"score": s.upper(), "p_order": e.p_order, "within-teacher SD": e.within_sd,
                    "between-teacher SD": e.between_sd, "stable_n": e.stable_n,
                    "projected stable_n": e.projected_stable_n} for s, e in evidence.items()]
        plot = p_order_plot({s.upper(): (e.p_order_by_n, e.projected_p_order_by_n) for s, e in evidence.items()},
                            stable_share=STABLE_SHARE)
        verdicts = "".join(f"<li>{escape(line)}</li>" for line in self.ranking.verdicts)
        return ["<h5>How sure is the order (SPEC §13)</h5>", html_table(rows), html_table(summary), plot,
                f"<ul>{verdicts}</ul>"]


@dataclass(repr=False)
class Selection(_Wrapping):
    """What `hf_localnat.select` returns: the kept and rejected rows (`selection.select.Selection`), the mix report,
    the inputs and where the rows were written.

    Attributes:
        selection (`selection.select.Selection`): `selected` (the kept rows), `rejected`, `reason_counts`, ...
        mix (`selection.select.MixReport`): each teacher's share under the `by` score, LALP and GALP.
        provenance, inputs, pooled: as in `TeacherRanking`.
        output, rejected_output (`Path | str | None`): where the kept and rejected rows were written (`None`: not
            written).
    """

    selection: Any
    mix: Any
    provenance: Any = None
    inputs: list[str] = field(default_factory=list)
    pooled: str | None = None
    output: Path | str | None = None
    rejected_output: Path | str | None = None

    title = "Selection"
    _inner = "selection"

    @property
    def kept(self):
        """The kept rows (`datasets.Dataset`)."""
        return self.selection.selected

    def __str__(self) -> str:
        lines = [*_header(self.provenance, self.pooled), self.selection.summary()]
        if self.output is not None:
            lines.append(f"Wrote {self.output} (kept) and {self.rejected_output} (rejected, with rejection_reason).")
        return "\n".join([*lines, "\n" + self.mix.title, self.mix.format_table()])

    def to_dict(self) -> dict[str, Any]:
        """`localnat select --json`."""
        s = self.selection
        return {
            "by": s.by, "direction": s.direction, "kept": s.selected.num_rows, "rejected": s.rejected.num_rows,
            "rejection_reasons": s.reason_counts, "where": list(s.where), "threshold": s.threshold, "questions": s.num_questions,
            "questions_without_selection": s.num_questions_without_selection, "mix": self.mix.to_dict(),
            "output": None if self.output is None else str(self.output),
            "rejected_output": None if self.rejected_output is None else str(self.rejected_output),
            "provenance": _provenance_dict(self.provenance), "inputs": self.inputs,
        }

    def _rows(self) -> list[dict[str, Any]]:
        return [{"teacher": t, **{key: value for by in self.mix.scores for key, value in
                                  ((f"{by.upper()} kept", self.mix.counts[by][t]),
                                   (f"{by.upper()} share", self.mix.share(by, t)))}}
                for t in self.mix.teachers]

    def _html_parts(self) -> list[str]:
        reasons = [{"rejection_reason": r, "rows": n} for r, n in self.selection.reason_counts.items()]
        return ["<h5>Rejected rows by reason</h5>", html_table(reasons)] if reasons else []


@dataclass(repr=False)
class Slice(_Wrapping):
    """What `hf_localnat.select(..., slice="top")` returns: one pilot slice (`selection.slices.ScoreSlice`).

    Attributes:
        part (`selection.slices.ScoreSlice`): its `rows`, rule and counts.
        provenance, inputs: as in `TeacherRanking`.
        output (`Path | str | None`): where its rows were written.
    """

    part: Any
    provenance: Any = None
    inputs: list[str] = field(default_factory=list)
    output: Path | str | None = None

    title = "Pilot slice"
    _inner = "part"

    def __str__(self) -> str:
        lines = [*_header(self.provenance, None), f"Rule: {self.part.rule}", self.part.summary()]
        return "\n".join(lines + ([f"Wrote {self.output}."] if self.output is not None else []))

    def to_dict(self) -> dict[str, Any]:
        """`localnat select --slice ... --json`."""
        p = self.part
        return {"slice": p.name, "by": p.by, "direction": p.direction, "fraction": p.fraction,
                "rows": p.rows.num_rows, "candidates": p.num_candidates, "positions": [p.start + 1, p.stop],
                "teacher_counts": p.teacher_counts, "rule": p.rule,
                "output": None if self.output is None else str(self.output), "inputs": self.inputs}

    def _rows(self) -> list[dict[str, Any]]:
        return [{"teacher": t, "rows": n} for t, n in self.part.teacher_counts.items()]


@dataclass(repr=False)
class Report(Result):
    """What `hf_localnat.inspect` returns: the step report, one self-contained HTML page.

    Attributes:
        html (`str`): the page.
        output (`Path | None`): where it was written (`None`: not written).
    """

    html: str
    output: Path | None = None

    title = "Step report"

    @property
    def megabytes(self) -> float:
        """The page's size in MB (10^6 bytes)."""
        return len(self.html.encode("utf-8")) / 1e6

    def __str__(self) -> str:
        where = f"Wrote {self.output}" if self.output is not None else "Built the step report"
        return f"{where} ({self.megabytes:.2f} MB). Open it in a browser; it needs no network."

    def to_dict(self) -> dict[str, Any]:
        """The file written and its size."""
        return {"output": None if self.output is None else str(self.output),
                "bytes": len(self.html.encode("utf-8"))}

    def _repr_html_(self) -> str:
        page = escape(self.html, quote=True)
        return html_block(self.title, f"<p>{escape(str(self))}</p>",
                          f'<iframe srcdoc="{page}" style="width:100%;height:640px;border:1px solid #ddd" '
                          'sandbox></iframe>')


@dataclass(repr=False)
class Calibration(_Wrapping):
    """What `hf_localnat.calibrate` returns: how well proxy A stands in for student B
    (`selection.calibrate.Calibration`), with how each side was scored.

    Attributes:
        calibration (`selection.calibrate.Calibration`): correlations, agreement, the verdict.
        provenance_a, provenance_b (`Provenance | None`): how A and B were scored.
    """

    calibration: Any
    provenance_a: Any = None
    provenance_b: Any = None

    title = "Calibration"
    _inner = "calibration"

    @property
    def definitions_differ(self) -> bool:
        """Whether A and B were scored under different definitions (not only different students)."""
        a, b = self.provenance_a, self.provenance_b
        return a is not None and b is not None and a.definition != b.definition

    def __str__(self) -> str:
        from ..provenance import scored_with

        lines = [f"A {scored_with(self.provenance_a)}\nB {scored_with(self.provenance_b)}"]
        if self.definitions_differ:
            lines.append("Note: A and B were scored with different definitions (window, segmenter, ...), not only "
                         "different students; the comparison mixes both.")
        return "\n".join([*lines, self.calibration.format_table()])

    def to_dict(self) -> dict[str, Any]:
        """`localnat calibrate --json`."""
        return {**self.calibration.to_dict(),
                "provenance": {"a": _provenance_dict(self.provenance_a), "b": _provenance_dict(self.provenance_b)},
                "definitions_differ": self.definitions_differ}

    def _rows(self) -> list[dict[str, Any]]:
        c = self.calibration
        return [{"score": by.upper(), "Spearman": c.spearman[by].value, "Spearman CI low": c.spearman[by].ci[0],
                 "Spearman CI high": c.spearman[by].ci[1], "Kendall": c.kendall[by].value,
                 "Kendall CI low": c.kendall[by].ci[0], "Kendall CI high": c.kendall[by].ci[1],
                 "rows": c.num_rows_compared[by]} for by in c.spearman]

    def _html_parts(self) -> list[str]:
        return [f"<p><b>{escape(self.calibration.verdict)}</b></p>"]


@dataclass(repr=False)
class Publication(Result):
    """What `hf_localnat.publish` returns: the curation (`hub.curate.Curated`: ranking, selections, mix report),
    the pilot slices, and what was pushed (`hub.publish.PublishResult`).

    Attributes:
        curated (`hub.curate.Curated`): the configs, the ranking and the mix report.
        pushed (`hub.publish.PublishResult`): the commit, or the plan of a dry run.
        repo_id (`str`), dry_run (`bool`).
        folder (`Path | None`): the repo folder, when it was kept.
        curation_text (`list[str]`): the curation's report (`hub.curate.report`) and the pilot slices' lines.
    """

    curated: Any
    pushed: Any
    repo_id: str
    dry_run: bool = False
    folder: Path | None = None
    curation_text: list[str] = field(default_factory=list)

    title = "Publication"

    @property
    def ranking(self):
        """The teacher ranking the card reports (`selection.rank.TeacherRanking`)."""
        return self.curated.ranking

    def __str__(self) -> str:
        lines = [*self.curation_text, self.pushed.summary()]
        if not self.dry_run:
            lines.append(load_hint(self.repo_id, self.pushed))
        if self.folder is not None:
            lines.append(f"The repo folder is also in {self.folder}.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The repo, what was (or would be) pushed, the ranking and the mix."""
        from dataclasses import asdict

        pushed = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.pushed).items()}
        return {"repo_id": self.repo_id, "dry_run": self.dry_run, "pushed": pushed,
                "configs": {name: len(ds) for name, ds in self.curated.configs.items()},
                "ranking": self.curated.ranking.to_dict(), "mix": self.curated.mix.to_dict(),
                "folder": None if self.folder is None else str(self.folder)}

    def _rows(self) -> list[dict[str, Any]]:
        return [{"config": name, "rows": len(ds)} for name, ds in self.curated.configs.items()]


def load_hint(repo_id: str, pushed) -> str:
    """The line after a push: how to load what was pushed (from the pull request's revision for a PR)."""
    config = ", revision=\"refs/pr/N\"" if pushed.pr_url else ""
    return f'\nLoad it: load_dataset("{repo_id}"{config})  or  localnat pull {repo_id} -o train.parquet'


@dataclass(repr=False)
class Pulled(Result):
    """What `hf_localnat.pull` returns: the rows of one config of a curated dataset, its card's summary and how the
    rows were scored.

    Attributes:
        dataset (`datasets.Dataset`): the rows (their provenance, when recorded, in their schema metadata).
        source (`str`), config (`str`): what was pulled.
        summary (`str`): the card's summary.
        provenance (`Provenance | None`): how the rows were scored (`None`: the data files record nothing).
        output (`Path | str | None`): where the rows were written (`None`: not written).
    """

    dataset: Any
    source: str
    config: str
    summary: str = ""
    provenance: Any = None
    output: Path | str | None = None

    title = "Pulled"

    def __str__(self) -> str:
        from ..provenance import scored_with
        from ..wording import counted

        lines = [self.summary + "\n"] if self.summary else []
        lines.append(scored_with(self.provenance))
        rows = counted(self.dataset.num_rows, "row")
        written = f"Wrote {rows} of {self.source} ({self.config}) to {self.output}"
        lines.append((written if self.output is not None else f"Read {rows} of {self.source} ({self.config})")
                     + (" (with its provenance)." if self.provenance else "."))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The source, config, rows, output and provenance."""
        return {"source": self.source, "config": self.config, "rows": self.dataset.num_rows,
                "output": None if self.output is None else str(self.output),
                "provenance": _provenance_dict(self.provenance)}
