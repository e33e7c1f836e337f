"""Build the step report: ranking with intervals, score distributions, step-shaded responses, least natural steps, mix.

Size: the file never exceeds `max_bytes` (default `DEFAULT_MAX_BYTES`, 8 MB). Numbers (ranking, intervals, mix) use
every row; what is drawn or quoted is bounded and the report says how: at most `max_points` response dots in the
distribution panels (a uniform random sample, seeded), at most `max_response_chars` characters of each shown response
and 1,500 of each quoted step. If the page would still exceed `max_bytes`, the two bounds are halved until it fits,
and the report says so.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

import numpy as np

from ..errors import ConfigError, OutputExistsError, SelectionError
from ..io.columns import require_columns
from ..io.turns import CONVERSATION_COLUMNS
from ..wording import counted
from ..scores import DEFAULT_SCORES, SCORES
from ..selection.layout import question_ids
from ..selection.rank import rank_teachers
from ..selection.select import MixReport, select_responses
from .steps import RecoveredSteps, RecoveredTrace, TraceBlock, recover_steps, recover_trace
from .svg import DivergingScale, TeacherPanelRow, score_panel

#: The observation cap of SPEC §14 when a file does not record one.
DEFAULT_MAX_OBSERVATION_TOKENS = 1024
#: The largest report `build_report` writes, in bytes (8 MB).
DEFAULT_MAX_BYTES = 8_000_000
_MAX_STEP_CHARS = 1500
_CONTEXT_CHARS = 400
_MAX_SCALE_VALUES = 200_000
_ROW = "_localnat_report_row"

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3{margin-bottom:6px}table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}.note{color:#555;font-size:.92em}
.warn{background:#fff3cd;border:1px solid #e0c36a;padding:4px 8px;border-radius:4px;font-size:.92em}
.resp{white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;
border:1px solid #ddd;border-radius:4px;padding:8px;background:#fff;overflow-wrap:anywhere;max-height:520px;
overflow-y:auto}
.s{border-radius:2px}.ctx{color:#888}.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.85em;
margin-left:6px;color:#fff}.bl{background:#2166ac}.bg{background:#7b3294}.teacher{margin-top:14px}
.bar{display:inline-block;height:10px;background:#2166ac;vertical-align:middle}.bar.g{background:#7b3294}
.step{margin:8px 0 14px 0}svg text{font-family:inherit;font-size:12px}
.turn{border-left:3px solid #ccc;padding:2px 8px;margin:4px 0;white-space:pre-wrap}
.turn .role{display:block;font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:11px;color:#555}
.turn.head{border-left-color:#999;background:#f7f7f7}.turn.obs{color:#8a8a8a;background:#f4f4f4}
.turn.asst{border-left-color:#2166ac;color:#222}.turn.after{color:#aaa;border-left-style:dashed}
.capped{display:inline-block;background:#fff3cd;border:1px solid #e0c36a;border-radius:3px;padding:0 4px;color:#6b5300;
font-size:11px;margin-left:6px}
"""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cap_tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _cap_head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class _Report:
    """The data of one report, gathered once; `render` is called again with smaller bounds if the page is too big."""

    def __init__(self, dataset, *, segmenter: str, questions: Sequence[str] | None, num_questions: int,
                 least_natural: int, correct_column: str | None, title: str | None, source: str | None,
                 seed: int, num_resamples: int, teacher_column: str, question_column: str,
                 question_id_column: str, response_column: str, steps_column: str, provenance,
                 conversation_column: str | None = None, max_observation_tokens: int = 1024,
                 count_tokens: Callable[[str], int] | None = None):
        if segmenter == "turns":
            conversation_column = conversation_column or next(
                (c for c in CONVERSATION_COLUMNS if c in dataset.column_names), CONVERSATION_COLUMNS[0])
        self.conversation_column, self.cap, self.count_tokens = conversation_column, max_observation_tokens, count_tokens
        text_column = (conversation_column if segmenter == "turns" else steps_column if segmenter == "given"
                       else response_column)
        require_columns(dataset, [teacher_column, "lalp", "galp", "lalp_steps", "num_steps", text_column],
                        what="the step report")
        if dataset.num_rows == 0:
            raise SelectionError("The scored file has no rows; nothing to report.")
        self.dataset = dataset
        self.segmenter, self.title, self.source, self.seed = segmenter, title, source, seed
        self.provenance = provenance
        self.response_column, self.steps_column = response_column, steps_column
        self.correct_column = correct_column
        self.qids = question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
        self.teacher_of = [str(t) for t in dataset[teacher_column]]
        self.teachers = list(dict.fromkeys(self.teacher_of))
        self.lalp, self.galp = list(dataset["lalp"]), list(dataset["galp"])
        self.errors = list(dataset["score_error"]) if "score_error" in dataset.column_names else [None] * len(self.lalp)
        self.question_text = {}
        if question_column in dataset.column_names:
            for qid, text in zip(self.qids, dataset[question_column]):
                self.question_text.setdefault(qid, text)
        names = dict(teacher_column=teacher_column, question_column=question_column,
                     question_id_column=question_id_column)
        try:
            self.ranking, self.ranking_error = rank_teachers(dataset, num_resamples=num_resamples, seed=seed,
                                                             **names), None
        except SelectionError as e:
            self.ranking, self.ranking_error = None, str(e)
        indexed = dataset.add_column(_ROW, list(range(dataset.num_rows)))
        options = dict(correct_column=correct_column, **names)
        # LALP, GALP, and every other score of SPEC §11 the file holds, each in its own direction
        scores = [*DEFAULT_SCORES, *(name for name in SCORES if name not in DEFAULT_SCORES and name in dataset.column_names)]
        self.selections = {by: select_responses(indexed, by=by, with_messages=False, **options) for by in scores}
        self.mix = MixReport.of(self.selections)
        self.picks = {by: dict(zip(s.selected[question_id_column], s.selected[_ROW]))
                      for by, s in self.selections.items()}
        self.chosen, self.chosen_how = self._choose_questions(questions, num_questions)
        self._scan_steps(least_natural)

    def _choose_questions(self, questions: Sequence[str] | None, count: int) -> tuple[list[str], str]:
        known = list(dict.fromkeys(self.qids))
        if questions:
            unknown = [q for q in questions if q not in set(known)]
            if unknown:
                raise ConfigError(f"Question id(s) {unknown[:5]!r} not in the scored file (ids look like "
                                  f"{known[:3]!r}); fix --question.")
            return list(dict.fromkeys(questions)), "chosen with --question"
        gaps = []
        for qid in known:
            lp, gp = self.picks["lalp"].get(qid), self.picks["galp"].get(qid)
            if lp is None or gp is None or lp == gp:
                continue
            gap = (self.lalp[lp] - self.lalp[gp]) + (self.galp[gp] - self.galp[lp])
            gaps.append((-gap, known.index(qid), qid))
        gaps.sort()
        chosen = [qid for _, _, qid in gaps[:count]]
        if not gaps:
            how = "No question where the LALP and GALP selections differ"
        elif len(gaps) == 1:
            how = "The one question where the LALP and GALP selections differ"
        else:
            how = (f"The {len(chosen)} of {len(gaps)} questions where the LALP and GALP selections differ most "
                   "(largest LALP lost by the GALP pick plus GALP lost by the LALP pick)")
        if len(chosen) < count:
            rest = [q for q in known if q not in chosen][:count - len(chosen)]
            if rest:
                first = "the first question" if len(rest) == 1 else f"the first {len(rest)} questions"
                how += f"{'; then' if gaps else ': showing'} {first} of the file"
            chosen += rest
        return chosen, how

    def _scan_steps(self, least_natural: int) -> None:
        """One pass over `lalp_steps`: the values of the colour scale and each teacher's lowest steps."""
        values: list[float] = []
        lowest: dict[str, list] = {t: [] for t in self.teachers}
        seen = 0
        rng = np.random.default_rng(self.seed)
        for row, steps in enumerate(self.dataset["lalp_steps"]):
            if not steps or self.errors[row]:
                continue
            heap = lowest[self.teacher_of[row]]
            for j, score in enumerate(steps):
                if score is None:
                    continue
                seen += 1
                if len(values) < _MAX_SCALE_VALUES:  # reservoir sample of the scale's values
                    values.append(score)
                else:
                    k = int(rng.integers(0, seen))
                    if k < _MAX_SCALE_VALUES:
                        values[k] = score
                item = (-score, -row, -j)
                if not least_natural:
                    continue
                if len(heap) < least_natural:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
        self.num_step_scores = seen
        self.scale = DivergingScale.of(values)
        self.lowest = {t: sorted(((-s, -r, -j) for s, r, j in heap)) for t, heap in lowest.items()}

    # --- rendering -------------------------------------------------------------------------------------------
    def _row(self, index: int) -> dict:
        return self.dataset[int(index)]

    def _recover(self, index: int) -> RecoveredSteps:
        part = self.provenance.response_part if self.provenance is not None else "full"
        return recover_steps(self._row(index), self.segmenter, response_column=self.response_column,
                             steps_column=self.steps_column, response_part=part)

    def _shaded(self, steps: RecoveredSteps, max_chars: int) -> str:
        if not steps.matches:
            shown = steps.text[:max_chars]
            more = len(steps.text) - len(shown)
            tail = f'<span class="warn">[… {more} more characters not shown]</span>' if more else ""
            return f'<p class="warn">{escape(steps.note or "")}</p><div class="resp">{escape(shown)}{tail}</div>'
        parts, used, n = [], 0, len(steps.spans)
        for j, ((a, b), score) in enumerate(zip(steps.spans, steps.scores, strict=True)):
            if used >= max_chars:
                rest = len(steps.text) - a
                parts.append(f'<span class="warn">[… {rest} more characters in {n - j} more steps not shown: at most '
                             f'{max_chars} characters of each response are shown]</span>')
                break
            text = steps.text[a:b]
            used += len(text)
            label = f"step {j + 1}/{n}: " + ("no score (no token of its own)" if score is None else f"{score:.4f}")
            parts.append(f'<span class="s" style="background:{self.scale.color(score)}" title="{escape(label)}">'
                         f"{escape(text)}</span>")
        return '<div class="resp">' + "".join(parts) + "</div>"

    def _trace(self, index: int) -> RecoveredTrace:
        return recover_trace(self._row(index), self.conversation_column, cap=self.cap,
                             count_tokens=self.count_tokens)

    def _capped_badge(self, block: TraceBlock) -> str:
        if block.kind != "observation" or block.capped is False:
            return ""
        first, last = (self.cap + 1) // 2, self.cap // 2
        if block.capped is None:
            text = (f"may be capped: over {self.cap} tokens, the student saw only its first {first} and last {last} "
                    "tokens")
        else:
            text = f"capped: {block.tokens} tokens; the student saw its first {first} and last {last}"
        return f'<span class="capped">{escape(text)}</span>'

    def _turn_html(self, block: TraceBlock, trace: RecoveredTrace, limit: int) -> str:
        shown = _cap_head(block.text, limit)
        cut = f" [… {len(block.text) - len(shown)} more characters not shown]" if len(shown) < len(block.text) else ""
        if block.kind == "assistant":
            n = len(trace.scores) if trace.matches else "?"
            label = f"assistant · turn {block.turn + 1}/{n}" + (
                f" · {block.score:.4f}" if block.score is not None else " · no score" if trace.matches else "")
            title = f"turn {block.turn + 1}/{n}: " + ("no score" if block.score is None else f"{block.score:.4f}")
            return (f'<div class="turn asst s" style="background:{self.scale.color(block.score)}" '
                    f'title="{escape(title)}"><span class="role">{escape(label)}</span>{escape(shown)}{escape(cut)}'
                    "</div>")
        kind = {"head": "head", "observation": "obs", "after": "after"}[block.kind]
        label = block.role + {"head": " · before the first assistant turn", "observation": " · observation",
                              "after": " · after the last assistant turn, not scored"}[block.kind]
        return (f'<div class="turn {kind}"><span class="role">{escape(label)}{self._capped_badge(block)}</span>'
                f"{escape(shown)}{escape(cut)}</div>")

    def _trace_html(self, trace: RecoveredTrace, max_chars: int, blocks: list[TraceBlock] | None = None) -> str:
        parts, used = [], 0
        blocks = trace.blocks if blocks is None else blocks
        for k, block in enumerate(blocks):
            if used >= max_chars:
                parts.append(f'<span class="warn">[… {len(blocks) - k} more turns not shown: at most {max_chars} '
                             "characters of each trace are shown]</span>")
                break
            parts.append(self._turn_html(block, trace, max_chars - used))
            used += len(block.text)
        note = f'<p class="warn">{escape(trace.note)}</p>' if trace.note else ""
        return f'{note}<div class="resp trace">{"".join(parts)}</div>'

    def _header(self, notes: list[str]) -> str:
        scored = sum(v is not None for v in self.lalp)
        errors: dict[str, int] = {}
        for e in self.errors:
            if e:
                errors[e] = errors.get(e, 0) + 1
        error_text = ", ".join(f"{n} {e}" for e, n in sorted(errors.items(), key=lambda kv: -kv[1])) or "none"
        facts = [("rows", f"{len(self.lalp)} ({scored} with a score; without: {error_text})"),
                 ("questions", str(len(set(self.qids)))), ("teachers", ", ".join(self.teachers)),
                 ("steps", f"recovered with the {self.segmenter!r} segmenter"
                           + (f" from column {self.steps_column!r}" if self.segmenter == "given" else "")
                           + f"; {self.num_step_scores} scored steps in the file")]
        if self.segmenter == "turns":
            cap = f"observations capped at {self.cap} tokens" if self.cap else "observations not capped"
            facts[-1] = ("steps", f"the assistant turns of column {self.conversation_column!r} (SPEC §14; {cap}); "
                                  f"{self.num_step_scores} scored turns in the file")
        facts.append(("scored with", self.provenance.describe() if self.provenance is not None else
                      f"not recorded with the file; steps assumed cut by the {self.segmenter!r} segmenter"))
        if self.source:
            facts.insert(0, ("file", self.source))
        rows = "".join(f'<tr><th class="l">{escape(k)}</th><td class="l">{escape(v)}</td></tr>' for k, v in facts)
        note_html = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
        return (f"<h1>{escape(self.title or 'Where the traces stop being natural')}</h1>"
                '<p class="note">Local naturalness (LALP): each step scored by the student given the question and the '
                "preceding steps; higher = more natural. GALP: the whole response in one pass. Natural log.</p>"
                f"<table>{rows}</table>{note_html}")

    def _ranking(self, max_points: int) -> tuple[str, str]:
        if self.ranking is None:
            return f'<h2>Teacher ranking</h2><p class="warn">{escape(self.ranking_error or "")}</p>', ""
        r = self.ranking
        pct = f"{r.confidence:.0%}"
        evidence = r.evidence.get("lalp")
        body = "".join(
            f"<tr><td>{t.rank_lalp}</td><td>{t.rank_galp}{'*' if t.ranks_disagree else ''}</td>"
            f'<td class="l">{escape(t.teacher)}</td><td>{t.num_responses}</td><td>{t.mean_lalp:.4f}</td>'
            f"<td>[{t.lalp_ci[0]:.4f}, {t.lalp_ci[1]:.4f}]</td><td>{t.mean_galp:.4f}</td>"
            f"<td>[{t.galp_ci[0]:.4f}, {t.galp_ci[1]:.4f}]</td>"
            + (f"<td>{evidence.p_top[t.teacher]:.2f}</td><td>{evidence.winner_share[t.teacher]:.2f}</td>"
               if evidence else "") + "</tr>" for t in r.teachers)
        table = (f"<table><tr><th>LALP rank</th><th>GALP rank</th><th class=\"l\">teacher</th><th>n</th>"
                 f"<th>mean LALP</th><th>{pct} interval</th><th>mean GALP</th><th>{pct} interval</th>"
                 + ("<th>LALP p_top</th><th>LALP winner share</th>" if evidence else "") + f"</tr>{body}</table>")
        agree = ("LALP and GALP rank the teachers the same way." if r.rankings_agree
                 else "* LALP and GALP place this teacher differently.")
        text = (f'<p class="note">{counted(r.num_questions, "question")} answered with a score by every teacher; '
                f"{sum(r.dropped_counts.values())} dropped. {agree} Intervals: paired percentile bootstrap over "
                f"questions, {r.num_resamples} resamples (seed {r.seed}).</p>")
        text += "".join(f'<p class="warn">{escape(t.describe())}</p>' for t in r.left_out)
        if evidence:
            text += ('<p class="note">p_top: the share of resamples in which the teacher has the best mean LALP; '
                     "winner share: the share of questions whose best response (by LALP) is the teacher's (SPEC "
                     "§13).</p>" + "".join(f"<p><b>{escape(line)}</b></p>" for line in r.verdicts))
        # distribution panels: every scored response as a dot (a seeded sample above max_points)
        order = r.order("lalp")
        scored = [i for i, v in enumerate(self.lalp) if v is not None and self.teacher_of[i] in set(order)]
        note = ""
        if len(scored) > max_points:
            rng = np.random.default_rng(self.seed)
            shown = set(rng.choice(len(scored), size=max_points, replace=False).tolist())
            note = (f"Dots: a uniform random sample of {max_points} of the {len(scored)} scored responses (seed "
                    f"{self.seed}); boxes, means and intervals use every row.")
            scored = [i for k, i in enumerate(scored) if k in shown]
        by_teacher = {t: s for t, s in ((t.teacher, t) for t in r.teachers)}
        panels = []
        for by, label in (("lalp", "LALP per response (dots), middle half (box), mean with interval (black)"),
                          ("galp", "GALP per response, same layout")):
            values = self.lalp if by == "lalp" else self.galp
            rows = [TeacherPanelRow(t, [values[i] for i in scored if self.teacher_of[i] == t and values[i] is not None],
                                    getattr(by_teacher[t], f"mean_{by}"), getattr(by_teacher[t], f"{by}_ci"))
                    for t in order]
            panels.append(score_panel(label, rows))
        html = "<h2>Teacher ranking</h2>" + table + text + "".join(panels)
        if note:
            html += f'<p class="note">{escape(note)}</p>'
        return html, note

    def _mix(self) -> str:
        kind = f" (only rows with {self.correct_column} = true)" if self.correct_column else ""
        rows = []
        for t in self.mix.teachers:
            cells = []
            for by in self.mix.scores:
                cls = " g" if by == "galp" else ""
                share = self.mix.share(by, t)
                cells.append(f"<td>{self.mix.counts[by][t]}</td><td class=\"l\"><span class=\"bar{cls}\" "
                             f"style=\"width:{share * 160:.0f}px\"></span> {share:.1%}</td>")
            rows.append(f'<tr><td class="l">{escape(t)}</td>{"".join(cells)}</tr>')
        summaries = "".join(f'<p class="note">{escape(s.summary())}</p>' for s in self.selections.values())
        directions = {by: "" if by in DEFAULT_SCORES else f" ({SCORES[by].direction} is better)" for by in self.mix.scores}
        header = "".join(f"<th>{escape(by.upper())} kept{directions[by]}</th><th class=\"l\">share</th>"
                         for by in self.mix.scores)
        return (f"<h2>The mix: each teacher's share of the selection{escape(kind)}</h2>"
                f"<table><tr><th class=\"l\">teacher</th>{header}</tr>{''.join(rows)}</table>{summaries}")

    def _questions(self, max_chars: int) -> str:
        turns = ("Agent traces turn by turn: each assistant turn shaded by its score (lalp_steps); observations and "
                 "the task in grey, an observation over the cap marked (the student saw only its start and end). "
                 if self.segmenter == "turns" else "")
        out = [f"<h2>Questions, every step shaded by its score</h2><p class=\"note\">{escape(self.chosen_how)}. "
               f"{turns}Hover a step for its exact score.</p>", self.scale.legend()]
        for qid in self.chosen:
            rows = [i for i, q in enumerate(self.qids) if q == qid]
            out.append(f"<h3>{escape(qid)}</h3>")
            question = self.question_text.get(qid)
            if question is not None:
                out.append(f'<div class="resp" style="background:#f7f7f7">{escape(_cap_head(str(question), max_chars))}'
                           "</div>")
            for i in rows:
                badges = "".join(f'<span class="badge {c}">{label}</span>' for by, c, label in
                                 (("lalp", "bl", "kept by LALP"), ("galp", "bg", "kept by GALP"))
                                 if self.picks[by].get(qid) == i)
                correct = ""
                if self.correct_column:
                    correct = f", {self.correct_column} = {self._row(i).get(self.correct_column)}"
                out.append(f'<div class="teacher"><b>{escape(self.teacher_of[i])}</b> — LALP {_fmt(self.lalp[i])}, '
                           f"GALP {_fmt(self.galp[i])}{escape(correct)}{badges}</div>")
                out.append(self._trace_html(self._trace(i), max_chars) if self.segmenter == "turns"
                           else self._shaded(self._recover(i), max_chars))
        return "".join(out)

    def _least_natural(self, count: int) -> str:
        out = [f"<h2>The {count} least natural steps of each teacher</h2>"
               + ('<p class="note">Lowest turn scores over every row of the teacher, each with the observations it '
                  "answered (grey).</p>" if self.segmenter == "turns" else
                  '<p class="note">Lowest step scores over every row of the teacher; grey text is the two steps '
                  "before and the one after.</p>")]
        for teacher in self.teachers:
            out.append(f"<h3>{escape(teacher)}</h3>")
            entries = self.lowest.get(teacher) or []
            if not entries:
                out.append('<p class="note">No scored step.</p>')
            for score, row, j in entries:
                if self.segmenter == "turns":
                    trace = self._trace(row)
                    where = f"{self.qids[row]}, turn {j + 1}/{len(trace.scores)}, row LALP {_fmt(self.lalp[row])}"
                    out.append(f'<div class="step"><b>{score:.4f}</b> <span class="note">{escape(where)}</span>'
                               + self._trace_html(trace, _MAX_STEP_CHARS + _CONTEXT_CHARS, trace.unit(j)) + "</div>")
                    continue
                steps = self._recover(row)
                where = f"{self.qids[row]}, step {j + 1}/{len(steps.scores)}, row LALP {_fmt(self.lalp[row])}"
                out.append(f'<div class="step"><b>{score:.4f}</b> <span class="note">{escape(where)}</span>')
                if not steps.matches:
                    out.append(f'<p class="warn">{escape(steps.note or "")}</p></div>')
                    continue
                spans = steps.spans
                before = steps.text[spans[max(0, j - 2)][0]:spans[j][0]]
                after = steps.text[spans[j][1]:spans[j + 1][1]] if j + 1 < len(spans) else ""
                step = steps.text[spans[j][0]:spans[j][1]]
                shown = _cap_head(step, _MAX_STEP_CHARS)
                cut = f" [step cut to {_MAX_STEP_CHARS} of {len(step)} characters]" if len(shown) < len(step) else ""
                out.append(f'<div class="resp"><span class="ctx">{escape(_cap_tail(before, _CONTEXT_CHARS))}</span>'
                           f'<span class="s" style="background:{self.scale.color(score)}" '
                           f'title="step {j + 1}: {score:.4f}">{escape(shown)}</span>{escape(cut)}'
                           f'<span class="ctx">{escape(_cap_head(after, _CONTEXT_CHARS))}</span></div></div>')
        return "".join(out)

    def render(self, *, max_points: int, max_response_chars: int, least_natural: int, extra_note: str | None) -> str:
        ranking, _ = self._ranking(max_points)
        notes = [f"Shown: at most {max_response_chars} characters of each response and {_MAX_STEP_CHARS} of each "
                 f"quoted step; at most {max_points} dots per panel. Numbers use every row."]
        if extra_note:
            notes.append(extra_note)
        body = (self._header(notes) + ranking + self._mix() + self._questions(max_response_chars)
                + self._least_natural(least_natural))
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                "img-src data:\">"
                f"<title>{escape(self.title or 'hf-localnat step report')}</title><style>{_CSS}</style></head>"
                f"<body>{body}<p class=\"note\">Made by hf-localnat (localnat inspect).</p></body></html>")


def build_report(
    dataset,
    *,
    segmenter: str | None = None,
    questions: Sequence[str] | None = None,
    num_questions: int = 3,
    least_natural: int = 5,
    correct_column: str | None = None,
    title: str | None = None,
    source: str | None = None,
    provenance=None,
    max_points: int = 2000,
    max_response_chars: int = 20_000,
    max_bytes: int = DEFAULT_MAX_BYTES,
    seed: int = 0,
    num_resamples: int = 1000,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    response_column: str = "response",
    steps_column: str = "steps",
    conversation_column: str | None = None,
    max_observation_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """The step report of a scored dataset, as one self-contained HTML page (inline CSS and SVG, no script).

    Args:
        dataset (`datasets.Dataset`): scored rows in the long layout (`teacher`, `response` or the steps column,
            and the scorer's columns).
        segmenter (`str`, *optional*): the segmenter the file was scored with; default: the one its provenance
            records, else `"sentence"`. Steps are recovered with it (`"given"`: from `steps_column`); rows whose step
            count differs from `num_steps` are shown unshaded with a note.
        questions (`Sequence[str]`, *optional*): question ids to show; default: the `num_questions` questions where
            the LALP and GALP selections differ most.
        least_natural (`int`, *optional*, defaults to 5): lowest-scoring steps quoted per teacher.
        correct_column (`str`, *optional*): a boolean column; both selections keep only `True` rows.
        title, source (`str`, *optional*): the page title and the input's name, shown in the header.
        provenance (`Provenance`, *optional*): how the file was scored (`hf_localnat.io.read_provenance`); default:
            the one recorded in `dataset`'s schema, if any. It is shown in the header, and its segmenter is used.
        max_points, max_response_chars, max_bytes: the size bounds of the module docstring.
        seed, num_resamples: for the bootstrap and the sampled dots.
        teacher_column, question_column, question_id_column, response_column, steps_column (`str`): column names.
        conversation_column (`str`, *optional*): with `segmenter="turns"` (agent traces, SPEC §14), the column of
            the conversation; default: the first of `messages`, `conversations`, `trajectory` the data has. Each
            trace is shown turn by turn: the task and the observations in grey, an observation over the cap marked,
            each assistant turn shaded by its score (`lalp_steps[i]`).
        max_observation_tokens (`int`, *optional*): the cap the traces were scored with; default: the recorded one,
            else 1024 (SPEC §14).
        count_tokens (`Callable[[str], int]`, *optional*): the student's token count of a text
            (`add_special_tokens=False`), to tell exactly which observations were capped; without it, an observation
            of more than `max_observation_tokens` bytes is marked as possibly capped.

    Returns:
        `str`: the HTML page, at most `max_bytes` bytes in UTF-8.

    Raises:
        ColumnError: a needed column is missing.
        ConfigError: an unknown question id or segmenter, or a page that cannot fit in `max_bytes`.
        ProvenanceError: `segmenter` contradicts the recorded one.
        SelectionError: no rows.
    """
    from ..provenance import of_dataset
    from ..scoring.prepare.segment import SEGMENTERS

    if provenance is None:
        provenance = of_dataset(dataset)
    if provenance is not None:
        provenance.check(segmenter=segmenter)  # a --segmenter that contradicts the record is refused
        segmenter = provenance.segmenter
    segmenter = segmenter or "sentence"
    if segmenter not in (*SEGMENTERS, "turns"):
        raise ConfigError(f"Unknown segmenter {segmenter!r}; use one of {', '.join(SEGMENTERS)}.")
    if max_observation_tokens is None:
        recorded = getattr(provenance, "turns", None) or {}
        max_observation_tokens = int(recorded.get("max_observation_tokens", DEFAULT_MAX_OBSERVATION_TOKENS))
    for name, value in (("num_questions", num_questions), ("least_natural", least_natural),
                        ("max_points", max_points), ("max_response_chars", max_response_chars)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"`{name}` must be a whole number >= 0, got {value!r}.")
    report = _Report(dataset, segmenter=segmenter, questions=questions, num_questions=num_questions,
                     least_natural=least_natural, correct_column=correct_column, title=title, source=source,
                     seed=seed, num_resamples=num_resamples, teacher_column=teacher_column,
                     question_column=question_column, question_id_column=question_id_column,
                     response_column=response_column, steps_column=steps_column, provenance=provenance,
                     conversation_column=conversation_column, max_observation_tokens=max_observation_tokens,
                     count_tokens=count_tokens)
    note = None
    for _ in range(12):
        page = report.render(max_points=max_points, max_response_chars=max_response_chars,
                             least_natural=least_natural, extra_note=note)
        if len(page.encode("utf-8")) <= max_bytes:
            return page
        max_points, max_response_chars = max_points // 2, max_response_chars // 2
        note = f"The page was over its {max_bytes}-byte bound, so the bounds above were halved until it fit."
    raise ConfigError(f"The report does not fit in {max_bytes} bytes even with small bounds; show fewer questions "
                      "(--question) or fewer least natural steps, or raise --max-mb.")


def write_report(path: str | Path, html: str, *, overwrite: bool = False) -> Path:
    """Write `html` to `path` (`.html`) through a temporary file beside it, renamed into place.

    Raises:
        ConfigError: the suffix is not `.html` / `.htm`.
        OutputExistsError: `path` exists and `overwrite` is `False`.
        WriteError: the environment refused the write (no space left, ...).
    """
    from ..io import atomic_output

    path = check_report_path(path, overwrite=overwrite)
    with atomic_output(path) as staged:  # an environment fault is a one-line WriteError, the old report intact
        staged.write_text(html, encoding="utf-8")
    return path


def check_report_path(path: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse a report path without an `.html` suffix, or one that exists (unless `overwrite`)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"The report is an HTML file; give a path ending in .html, got {str(path)!r}.")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"Output {str(path)!r} already exists; pass --overwrite to replace it.")
    return path
