"""Teacher ranking (SPEC §8): the mean of every score (default LALP and GALP; any score column whose direction is
known, SPEC §11) per teacher over the same questions, with paired bootstrap confidence intervals for each mean and
for every pairwise difference, the rankings side by side, and the evidence of SPEC §13 (`evidence`) from the same
resamples."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError, SelectionError
from ..scores import score_direction, sign
from .bootstrap import bootstrap_means, check_bootstrap, interval, percentile_interval, resample
from .evidence import QUESTION_FLOOR, STABLE_SHARE, ScoreEvidence, TruthLead, ladder, no_nan, score_evidence
from .layout import (arrow_column, as_labels, check_correctness_column, check_question_ids, factorize, non_finite_mask,
                     question_id_array, score_array)
from ..io.columns import require_columns
from ..wording import counted

#: The scores a ranking reports by default, in display order.
SCORES: tuple[str, ...] = ("lalp", "galp")

#: Reasons a question is left out of a ranking.
DROP_REASONS: tuple[str, ...] = ("missing_teacher", "unscored_response")


@dataclass(frozen=True)
class TeacherScore:
    """One teacher's line of a ranking.

    Attributes:
        teacher (`str`): the teacher's name.
        num_responses (`int`): scored responses of this teacher on the ranked questions.
        means (`dict[str, float]`): per score, the mean over the ranked questions of the teacher's per-question mean.
        cis (`dict[str, tuple[float, float]]`): per score, the percentile bootstrap interval of that mean.
        ranks (`dict[str, int]`): per score, 1 = the best mean in the score's direction.
        accuracy (`float | None`): with a correctness column, the share of the teacher's judged responses that are
            correct (per question, then averaged over the ranked questions it has a judged response to).
        accuracy_ci (`tuple[float, float] | None`): its paired bootstrap interval (the same resamples).

    `mean_<score>`, `<score>_ci` and `rank_<score>` read the same dicts (e.g. `mean_lalp`, `lalp_ci`, `rank_galp`).
    """

    teacher: str
    num_responses: int
    means: dict[str, float]
    cis: dict[str, tuple[float, float]]
    ranks: dict[str, int]
    accuracy: float | None = None
    accuracy_ci: tuple[float, float] | None = None

    def __getattr__(self, name: str):
        for prefix, table in (("mean_", "means"), ("rank_", "ranks")):
            if name.startswith(prefix) and name[len(prefix):] in object.__getattribute__(self, table):
                return object.__getattribute__(self, table)[name[len(prefix):]]
        if name.endswith("_ci") and name[:-3] in object.__getattribute__(self, "cis"):
            return object.__getattribute__(self, "cis")[name[:-3]]
        raise AttributeError(name)

    @property
    def ranks_disagree(self) -> bool:
        """Whether the scores put this teacher at different places."""
        return len(set(self.ranks.values())) > 1

    def to_dict(self) -> dict:
        """`teacher`, `num_responses`, and `mean_<score>`, `<score>_ci`, `rank_<score>` for every score."""
        out: dict = {"teacher": self.teacher, "num_responses": self.num_responses}
        for score in self.means:
            out |= {f"mean_{score}": self.means[score], f"{score}_ci": list(self.cis[score]),
                    f"rank_{score}": self.ranks[score]}
        if self.accuracy_ci is not None:
            out |= {"accuracy": self.accuracy, "accuracy_ci": list(self.accuracy_ci)}
        return out | {"ranks_disagree": self.ranks_disagree}


@dataclass(frozen=True)
class PairwiseDifference:
    """`mean(teacher_a) - mean(teacher_b)` for one score, with its paired bootstrap interval.

    Attributes:
        score (`str`): the score column.
        teacher_a, teacher_b (`str`): `teacher_a` ranks above `teacher_b` by this score.
        difference (`float`): the difference of the two means (>= 0 for a score that is better when higher, <= 0
            for one that is better when lower).
        ci (`tuple[float, float]`): percentile bootstrap interval of the difference.
    """

    score: str
    teacher_a: str
    teacher_b: str
    difference: float
    ci: tuple[float, float]

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above (or below) zero: the two teachers are told apart."""
        return self.ci[0] > 0 or self.ci[1] < 0


@dataclass(frozen=True)
class DroppedQuestion:
    """A question left out of the ranking, and why.

    Attributes:
        question_id (`str`): the question.
        reason (`str`): `"missing_teacher"` (some ranked teacher has no response to it) or `"unscored_response"`
            (every teacher answered, but all of some teacher's responses lack a score).
        teachers (`tuple[str, ...]`): the teachers missing (or unscored) on it.
    """

    question_id: str
    reason: str
    teachers: tuple[str, ...]


@dataclass(frozen=True)
class LeftOutTeacher:
    """A teacher left out of the ranking: none of its rows has a finite value of every ranked score.

    Attributes:
        teacher (`str`): the teacher.
        num_rows (`int`): its rows (every one without a finite score).
        num_non_finite (`int`): those where a ranked score holds NaN or +-inf (a corrupted file, never a score);
            the others have no score (null, see their `score_error`).
    """

    teacher: str
    num_rows: int
    num_non_finite: int

    def describe(self) -> str:
        """One line: the teacher, why it is left out, and its rows."""
        return (f"Left out: teacher {self.teacher!r} has no finite score on any question "
                f"({counted(self.num_rows, 'row')}: {self.num_non_finite} non-finite (NaN or inf), "
                f"{self.num_rows - self.num_non_finite} without a score).")


@dataclass(frozen=True)
class TeacherRanking:
    """The result of `rank_teachers`: teachers ordered by the first score (best first).

    Attributes:
        teachers (`list[TeacherScore]`): best first by the first score.
        pairwise (`list[PairwiseDifference]`): every pair of teachers, for each score, higher-ranked teacher first.
        num_questions (`int`): questions every ranked teacher answered with a score (the ones averaged over).
        dropped (`list[DroppedQuestion]`): the other questions, with reasons.
        left_out (`list[LeftOutTeacher]`): teachers not ranked because none of their rows has a finite score.
        num_resamples (`int`), confidence (`float`), seed (`int | None`): the bootstrap settings.
        scores (`tuple[str, ...]`): the score columns ranked by, in display order.
        directions (`dict[str, str]`): per score, `"higher"` or `"lower"` (the direction in which it is better).
        evidence (`dict[str, ScoreEvidence]`): per score, SPEC §13 from the same resamples (empty when not asked).
        truth (`dict[str, float] | None`): the known value of each ranked teacher, when one was given.
        truth_lead (`TruthLead | None`): the score that agrees best with `truth`, and its lead over the runner-up.
        truth_note (`str | None`): one line naming the teachers only in the truth, or only in the scores.
        correct_column (`str | None`): the correctness column each teacher's `accuracy` is read from.
        correct_only (`bool`): whether only correct responses were ranked.
    """

    teachers: list[TeacherScore]
    pairwise: list[PairwiseDifference]
    num_questions: int
    dropped: list[DroppedQuestion] = field(default_factory=list)
    left_out: list[LeftOutTeacher] = field(default_factory=list)
    num_resamples: int = 1000
    confidence: float = 0.95
    seed: int | None = 0
    scores: tuple[str, ...] = SCORES
    directions: dict[str, str] = field(default_factory=lambda: {s: "higher" for s in SCORES})
    evidence: dict[str, ScoreEvidence] = field(default_factory=dict)
    truth: dict[str, float] | None = None
    truth_lead: TruthLead | None = None
    truth_note: str | None = None
    correct_column: str | None = None
    correct_only: bool = False

    def best_teacher(self, by: str | None = None) -> str:
        """The teacher with the best mean `by` (a ranked score; default the first) in its direction."""
        return self.order(by)[0]

    def order(self, by: str | None = None) -> list[str]:
        """Teacher names, best first by `by` (a ranked score; default the first)."""
        by = self._check_score(by)
        return [t.teacher for t in sorted(self.teachers, key=lambda t: t.ranks[by])]

    def _check_score(self, by: str | None) -> str:
        if by is None:
            return self.scores[0]
        if by not in self.scores:
            raise ConfigError(f"This ranking is by {', '.join(self.scores)}, not {by!r}; rank by it with --by {by}.")
        return by

    @property
    def dropped_counts(self) -> dict[str, int]:
        """Number of dropped questions per reason (every reason listed, zeros included)."""
        return {reason: sum(d.reason == reason for d in self.dropped) for reason in DROP_REASONS}

    @property
    def below_floor(self) -> bool:
        """Fewer questions than `evidence.QUESTION_FLOOR`: the intervals resample too few questions to be evidence."""
        return self.num_questions < QUESTION_FLOOR

    @property
    def rankings_agree(self) -> bool:
        """Whether every score orders the teachers identically."""
        return not any(t.ranks_disagree for t in self.teachers)

    @property
    def verdicts(self) -> list[str]:
        """One line per score: from how many questions its order is stable (SPEC §13), and what to do."""
        return [self.evidence[s].verdict for s in self.scores if s in self.evidence]

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists, NaN becomes None)."""
        return no_nan({
            "scores": list(self.scores),
            "directions": dict(self.directions),
            "teachers": [t.to_dict() for t in self.teachers],
            "orders": {s: self.order(s) for s in self.scores},
            "pairwise": [asdict(p) | {"excludes_zero": p.excludes_zero} for p in self.pairwise],
            "num_questions": self.num_questions,
            "question_floor": QUESTION_FLOOR,
            "below_floor": self.below_floor,
            "dropped_counts": self.dropped_counts,
            "dropped": [asdict(d) for d in self.dropped],
            "left_out": [asdict(t) for t in self.left_out],
            "num_resamples": self.num_resamples,
            "confidence": self.confidence,
            "seed": self.seed,
            "evidence": {s: e.to_dict() for s, e in self.evidence.items()},
            "verdicts": self.verdicts,
            "truth": self.truth,
            "truth_lead": self.truth_lead and asdict(self.truth_lead) | {"separated": self.truth_lead.separated},
            "truth_note": self.truth_note,
        } | ({"correct_column": self.correct_column, "correct_only": self.correct_only}
             if self.correct_column is not None else {}))

    def format_table(self, *, verdicts: bool = True) -> str:
        """The ranking as text: per score its rank, mean and interval side by side (a teacher the scores place
        differently is flagged with `*`), each score's order, the evidence of SPEC §13 and one verdict per score
        (not with `verdicts=False`, for a report that states them elsewhere).

        With more than two scores the teacher table shows each mean with its rank, `-1.2345 (1)`, so that it stays
        readable however many scores and signals are compared (the intervals are in `to_dict()`, the CLI's `--json`),
        and the evidence starts with one table whose rows are the scores (`score_table`)."""
        pct = f"{self.confidence:.0%}"
        names = {s: s.upper() for s in self.scores}
        width = max(7, *(len(t.teacher) for t in self.teachers))
        accuracy = self.correct_column is not None
        lines = self._compact_means(names, width) if len(self.scores) > 2 else self._means_with_intervals(names, width)
        lines.append("")
        lines.append(f"{counted(self.num_questions, 'question')} answered (with a score) by every teacher; "
                     + _dropped_text(self.dropped_counts) + ".")
        lines.extend(t.describe() for t in self.left_out)
        if accuracy:
            only = ("; the scores are of its correct responses only" if self.correct_only else "")
            lines.append(f"Accuracy: the share of each teacher's judged responses ({self.correct_column} true or "
                         f"false) that are correct, on the questions above{only}.")
        for s in self.scores:
            lines.append(f"{names[s]} order ({self.directions[s]} = better): {' > '.join(self.order(s))}")
        if len(self.scores) > 1:
            together = ", ".join(names[s] for s in self.scores[:-1]) + f" and {names[self.scores[-1]]}"
            lines.append(f"{together} rank the teachers the same way." if self.rankings_agree
                         else f"* {together} disagree on this teacher's place.")
        lines.append(f"Intervals: paired percentile bootstrap over questions, {self.num_resamples} resamples "
                     f"(seed {self.seed})" + ("; each mean's interval is in --json." if len(self.scores) > 2 else "."))
        if self.below_floor:
            lines.append(f"Caveat: only {counted(self.num_questions, 'question')} (fewer than {QUESTION_FLOOR}): every "
                         "interval, p_top and p_order here resamples only these, so it cannot show how the teachers "
                         "vary from question to question; none of them is evidence of an order.")
        first = self.scores[0]
        adjacent = [p for p in self.pairwise if p.score == first and _adjacent(self, p)]
        if adjacent:
            lines.append("")
            lines.append(f"{names[first]} differences between neighbours ({pct} CI):")
            for p in adjacent:
                verdict = ("  (not separated: too few questions)" if self.below_floor
                           else "" if p.excludes_zero else "  (not separated)")
                lines.append(f"  {p.teacher_a} - {p.teacher_b}: {p.difference:+.4f} {_ci(p.ci)}{verdict}")
        if self.evidence:
            lines.append("")
            lines.extend(self._format_evidence(names, width, verdicts=verdicts))
        return "\n".join(lines)

    def _means_with_intervals(self, names: dict[str, str], width: int) -> list[str]:
        pct = f"{self.confidence:.0%}"
        ranks = " ".join(f"{names[s] + '#':>{max(5, len(names[s]) + 1)}}" for s in self.scores)
        accuracy = self.correct_column is not None
        header = (f"{ranks}  {'teacher':<{width}} {'n':>5}"
                  + "".join(f"  {'mean ' + names[s]:>{max(9, len(names[s]) + 5)}} {pct + ' CI':>18}"
                            for s in self.scores)
                  + (f"  {'accuracy':>8} {pct + ' CI':>14}" if accuracy else ""))
        lines = [header, "-" * len(header)]
        for t in self.teachers:
            flag = "*" if t.ranks_disagree else " "
            rank_cells = " ".join(f"{t.ranks[s]:>{max(5, len(names[s]) + 1)}}" for s in self.scores)
            lines.append(f"{rank_cells}{flag} {t.teacher:<{width}} {t.num_responses:>5}"
                         + "".join(f"  {t.means[s]:>{max(9, len(names[s]) + 5)}.4f} {_ci(t.cis[s]):>18}"
                                   for s in self.scores)
                         + (f"  {_accuracy(t.accuracy):>8} {_accuracy_ci(t.accuracy_ci):>14}" if accuracy else ""))
        return lines

    def _compact_means(self, names: dict[str, str], width: int) -> list[str]:
        cells = {s: [f"{t.means[s]:.4f} ({t.ranks[s]})" for t in self.teachers] for s in self.scores}
        widths = {s: max(len(names[s]), *(len(c) for c in cells[s])) for s in self.scores}
        accuracy = self.correct_column is not None
        header = (f"  {'teacher':<{width}} {'n':>5}" + "".join(f"  {names[s]:>{widths[s]}}" for s in self.scores)
                  + (f"  {'accuracy':>8}" if accuracy else ""))
        lines = ["Mean of each score per teacher (its rank in the score's direction):", header, "-" * len(header)]
        for i, t in enumerate(self.teachers):
            flag = "*" if t.ranks_disagree else " "
            lines.append(f"{flag} {t.teacher:<{width}} {t.num_responses:>5}"
                         + "".join(f"  {cells[s][i]:>{widths[s]}}" for s in self.scores)
                         + (f"  {_accuracy(t.accuracy):>8}" if accuracy else ""))
        return lines

    def score_table(self) -> list[str]:
        """The evidence of SPEC §13 with one row per score, side by side (empty without evidence): its direction,
        its best teacher with `p_top` and winner share, `p_order`, the questions its order needs, the spread ratio,
        and with a truth, Kendall's tau-b, Spearman's rho, pairwise accuracy and top-1 (the best agreement marked)."""
        scores = [s for s in self.scores if s in self.evidence]
        if not scores:
            return []
        truth = self.truth is not None and any(self.evidence[s].truth is not None for s in scores)
        rows = []
        for s in scores:
            e = self.evidence[s]
            best = e.order[0]
            row = [s.upper(), e.direction, best, f"{e.p_top[best]:.2f}", f"{e.winner_share[best]:.2f}",
                   f"{e.p_order:.2f}", _stable_text(e),
                   f"{e.within_sd / e.between_sd:.1f}" if e.between_sd > 0 else "-"]
            if truth:
                a = e.truth
                row += ["-", "-", "-", "-"] if a is None else [
                    _signed(a.kendall_tau_b.value), _signed(a.spearman.value), _plain(a.pairwise_accuracy.value),
                    f"{'yes' if a.top1 else 'no'} ({a.top1_share:.0%})"]
                if self.truth_lead is not None and self.truth_lead.score == s:
                    row.append("<- best")
            rows.append(row)
        head = ["score", "better", "best teacher", "p_top", "win", "p_order", "stable_n", "SD ratio"]
        head += ["tau-b", "Spearman", "pairs", "top-1"] if truth else []
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        left = {0, 1, 2}

        def line(cells: list[str]) -> str:
            out = "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            return (out + "  " + "  ".join(cells[len(widths):])).rstrip()

        text = [line(head), "-" * len(line(head))] + [line(r) for r in rows]
        legend = ("best teacher: the best mean, with p_top (its share of resamples as best) and win (its share of "
                  "questions with the best answer); p_order: the share of resamples with the whole order; stable_n: "
                  "the fewest questions whose draws give that order 80% of the time (~N: projected past your "
                  f"{self.num_questions}; >N: not even at N; too few: under {QUESTION_FLOOR} questions, nothing "
                  "projected); SD ratio: within-teacher over between-teacher SD.")
        if truth:
            legend += (" Against the known ranking: Kendall's tau-b, Spearman's rho, the share of teacher pairs "
                       "ordered as it does, and whether the best teacher is its best (share of resamples).")
        return ["Evidence per score (SPEC §13), one row per score:"] + text + textwrap.wrap(legend, 118)

    def _format_evidence(self, names: dict[str, str], width: int, *, verdicts: bool = True) -> list[str]:
        scores = [s for s in self.scores if s in self.evidence]
        lines = self.score_table() + [""] if len(scores) > 1 else []
        lines += ["How sure is the order (SPEC §13): p_top = share of resamples in which the teacher is best; win = "
                  "share of questions whose best answer is the teacher's."
                  + (f" From {counted(self.num_questions, 'question')} these are not evidence (fewer than "
                     f"{QUESTION_FLOOR})." if self.below_floor else "")]
        header = f"{'teacher':<{width}}" + "".join(f"  {names[s] + ' p_top':>{len(names[s]) + 6}} {'win':>5}"
                                                   for s in scores)
        lines += [header, "-" * len(header)]
        for t in self.teachers:
            lines.append(f"{t.teacher:<{width}}" + "".join(
                f"  {self.evidence[s].p_top[t.teacher]:>{len(names[s]) + 6}.2f} "
                f"{self.evidence[s].winner_share[t.teacher]:>5.2f}" for s in scores))
        for s in scores:
            e = self.evidence[s]
            curve = ", ".join(f"{n}: {p:.2f}" for n, p in e.p_order_by_n.items())
            projected = ", ".join(f"{n}: {p:.2f}" for n, p in e.projected_p_order_by_n.items())
            ratio = f" (ratio {e.within_sd / e.between_sd:.1f})" if e.between_sd > 0 else ""
            lines.append(f"{names[s]}: p_order {e.p_order:.2f}; within-teacher SD {e.within_sd:.4f}, between-teacher "
                         f"SD {e.between_sd:.4f}{ratio}; p_order(n) "
                         + (curve or "-") + (f"; projected from these questions: {projected}" if projected else ""))
        if self.truth is not None:
            lines += ["", "Against the known ranking (" + ", ".join(f"{t}={v:g}" for t, v in self.truth.items())
                      + "; higher = better):"]
            if self.truth_note:
                lines.append(self.truth_note)
            for s in scores:
                a = self.evidence[s].truth
                if a is None:
                    continue
                lines.append(f"  {names[s]}: tau-b {a.kendall_tau_b.format()}, Spearman {a.spearman.format()}, "
                             f"pairwise accuracy {a.pairwise_accuracy.value:.2f} [{a.pairwise_accuracy.ci[0]:.2f}, "
                             f"{a.pairwise_accuracy.ci[1]:.2f}], top-1 {'yes' if a.top1 else 'no'} "
                             f"(in {a.top1_share:.0%} of resamples)")
            if self.truth_lead is not None:
                lead = self.truth_lead
                lines.append(f"  Best agreement: {names[lead.score]} (tau-b lead over {names[lead.runner_up]} "
                             f"{lead.lead.format()})" + ("." if lead.separated and not self.below_floor
                                                         else ": not separated."))
        if verdicts:
            lines.append("")
            lines.extend(self.verdicts)
        return lines


def _adjacent(ranking: TeacherRanking, pair: PairwiseDifference) -> bool:
    order = ranking.order(pair.score)
    return order.index(pair.teacher_b) == order.index(pair.teacher_a) + 1


def _stable_text(e: ScoreEvidence) -> str:
    """`stable_n` for the score table: `100`; `<=22` (stable on all 22 questions, below the next rung); `~500`
    (projected); `>500` (not even at the largest size tried); `too few` below `QUESTION_FLOOR` questions; `-` for
    one teacher."""
    if len(e.order) < 2:
        return "-"
    if e.stable_n is not None:
        return str(e.stable_n)
    if e.below_floor:
        return "too few"
    if e.p_order >= STABLE_SHARE:
        return f"<={e.num_questions}"
    if e.projected_stable_n is not None:
        return f"~{e.projected_stable_n}"
    return f">{max(e.projected_p_order_by_n, default=e.num_questions)}"


def _signed(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:+.3f}"


def _plain(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _accuracy(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _accuracy_ci(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None or ci[0] != ci[0] else f"[{ci[0]:.0%}, {ci[1]:.0%}]"


def _dropped_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "none dropped"
    parts = [f"{n} {reason.replace('_', ' ')}" for reason, n in counts.items() if n]
    return f"{total} dropped ({', '.join(parts)})"


#: The bootstrap of the means (kept under its former name for callers that import it from here).
_bootstrap_means = bootstrap_means


def _ranks(means: np.ndarray) -> np.ndarray:
    """1 = highest (signed) mean; ties keep the input order."""
    order = np.argsort(-means, kind="stable")
    ranks = np.empty(len(means), dtype=int)
    ranks[order] = np.arange(1, len(means) + 1)
    return ranks


def _rankable(teachers: Sequence[str], present: list[str], teacher_codes: np.ndarray, scored: np.ndarray,
              non_finite: np.ndarray) -> tuple[list[str], list[LeftOutTeacher]]:
    """Split `teachers` into those with at least one finite-scored row (in order) and the others, left out."""
    rows = np.bincount(teacher_codes, minlength=len(present))
    scored_rows = np.bincount(teacher_codes[scored], minlength=len(present))
    non_finite_rows = np.bincount(teacher_codes[non_finite], minlength=len(present))
    keep, left_out = [], []
    for t in teachers:
        code = present.index(t)
        if scored_rows[code]:
            keep.append(t)
        else:
            left_out.append(LeftOutTeacher(t, int(rows[code]), int(non_finite_rows[code])))
    return keep, left_out


def _against_truth(teachers: list[str], truth: Mapping[str, float]) -> tuple[list[str], str | None]:
    """The ranked teachers that have a truth value, and one line naming those on one side only.

    Raises:
        ConfigError: fewer than 3 teachers are on both sides.
    """
    common = [t for t in teachers if t in truth]
    only_truth = [t for t in truth if t not in teachers]
    only_scored = [t for t in teachers if t not in truth]
    parts = ([f"in the truth but not scored: {', '.join(only_truth)}"] if only_truth else []) + (
        [f"scored but not in the truth: {', '.join(only_scored)}"] if only_scored else [])
    note = f"Compared over {len(common)} common teachers; " + "; ".join(parts) + "." if parts else None
    if len(common) < 3:
        source = getattr(truth, "source", "--truth")
        raise ConfigError(f"{source} and the scored teachers have {len(common)} teacher(s) in common "
                          f"({', '.join(common) or 'none'}); a comparison needs at least 3 "
                          f"({'; '.join(parts) or 'give more teachers'}). Check the names against the teacher column.")
    return common, note


def rank_teachers(
    dataset,
    *,
    teachers: Sequence[str] | None = None,
    by: Sequence[str] = SCORES,
    directions: Mapping[str, str] | None = None,
    truth: Mapping[str, float] | None = None,
    evidence: bool = True,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    correct_column: str | None = None,
    correct_only: bool = False,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
) -> TeacherRanking:
    """Rank teachers by the mean of each score in `by` over the questions every ranked teacher answered.

    A response counts when every score in `by` is set (all scores are then averaged over the same responses). When
    a teacher answered a question more than once, its scored responses to that question are averaged first, so every
    question weighs the same for every teacher. A question is used only when every ranked teacher has at least one
    scored response to it; the others are reported in `dropped`, as `missing_teacher` (some teacher has no response
    at all) or `unscored_response` (some teacher's responses all lack a score). A teacher none of whose rows has a
    finite score (all null, NaN or inf) is left out of the ranking (`left_out`, with its count of non-finite rows),
    and the others are ranked. Each score ranks in its own direction (`hf_localnat.scores.score_direction`).

    Confidence intervals come from a paired percentile bootstrap over questions: each resample draws the questions
    with replacement and recomputes every teacher's means (and their differences) on the same draw. The evidence of
    SPEC §13 (`evidence.score_evidence`) comes from the same resamples (the draws of `n` questions of `p_order(n)`
    are their first `n` questions); a projection past the questions draws its further questions from the same
    generator.

    Args:
        dataset (`datasets.Dataset`):
            Scored rows in the long layout (`teacher`, the score columns, and `question_id` or `question`).
        teachers (`Sequence[str]`, *optional*):
            The teachers to rank (defaults to every teacher in the data, in order of appearance).
        by (`Sequence[str]`, *optional*, defaults to `("lalp", "galp")`): the score columns, in display order.
        directions (`Mapping[str, str]`, *optional*): the direction of a score column this project does not know
            (`{"my_score": "lower"}`).
        truth (`Mapping[str, float]`, *optional*): a known value per teacher (higher = better, e.g. the accuracy of
            a student fine-tuned on its data); only the teachers it shares with the data are ranked, and each score's
            agreement with it is reported.
        evidence (`bool`, *optional*, defaults to `True`): compute SPEC §13 (`False`: means and intervals only).
        num_resamples (`int`, *optional*, defaults to 1000): bootstrap resamples.
        confidence (`float`, *optional*, defaults to 0.95): coverage of every interval.
        seed (`int`, *optional*, defaults to 0): bootstrap seed (`None` for fresh randomness).
        correct_column (`str`, *optional*): a boolean column (true, false, null = cannot tell); each teacher's
            accuracy on the ranked questions is reported with its interval, from the same resamples as the means.
        correct_only (`bool`, *optional*, defaults to `False`): rank on the correct responses only (a response
            counts when it is correct and scored); needs `correct_column`.
        teacher_column, question_column, question_id_column (`str`): column names; the question id is derived from
            the question text when `question_id_column` is missing.

    Returns:
        `TeacherRanking`

    Raises:
        ColumnError: a needed column is missing, or a score column does not hold numbers.
        ConfigError: a bad `num_resamples`, `confidence`, teacher name, score without a known direction, or a truth
            that shares fewer than 3 teachers with the data.
        SelectionError: no teacher has a finite score, or no question is answered with a score by every ranked
            teacher.

    Example:
        ```python
        >>> from datasets import Dataset
        >>> ds = Dataset.from_dict({"question": ["a", "a", "b", "b"], "teacher": ["x", "y", "x", "y"],
        ...                         "lalp": [-1.0, -2.0, -1.5, -2.5], "galp": [-1.2, -1.0, -1.4, -1.1]})
        >>> ranking = rank_teachers(ds, num_resamples=200)
        >>> ranking.order("lalp"), ranking.order("galp")
        (['x', 'y'], ['y', 'x'])

        ```
    """
    check_bootstrap(num_resamples, confidence)
    scores = tuple(dict.fromkeys(by))
    if not scores:
        raise ConfigError("Rank by at least one score column (e.g. --by lalp).")
    direction = {s: score_direction(s, directions) for s in scores}
    if correct_only and correct_column is None:
        raise ConfigError("Ranking on correct responses only needs the correctness column: pass --correct-column "
                          "(`correct_column`).")
    require_columns(dataset, [*scores, teacher_column, *([correct_column] if correct_column else [])],
                    what="ranking")
    check_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    qid_codes, qids = factorize(question_id_array(dataset, question_column=question_column,
                                                  question_id_column=question_id_column))
    teacher_codes, present = factorize(as_labels(arrow_column(dataset, teacher_column)))
    arrays = [score_array(dataset, s) for s in scores]
    has_all = np.logical_and.reduce([has for _, has in arrays])
    judged = is_correct = None
    if correct_column is not None:
        correctness = check_correctness_column(dataset, correct_column)
        judged = correctness.is_valid().to_numpy(zero_copy_only=False)
        is_correct = correctness.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        if correct_only:
            has_all = has_all & is_correct
    if teachers is None:
        teachers = present
    else:
        teachers = list(dict.fromkeys(teachers))
        unknown = [t for t in teachers if t not in present]
        if unknown:
            raise ConfigError(f"Teacher(s) {unknown!r} not found in column {teacher_column!r} (teachers: {present}).")
    if not teachers:
        raise SelectionError("The dataset has no rows to rank; score some responses first.")
    teachers, left_out = _rankable(teachers, present, teacher_codes, has_all,
                                   np.logical_or.reduce([non_finite_mask(dataset, s) for s in scores]))
    if not teachers:
        raise SelectionError(
            f"No teacher has a finite score on any question ({'; '.join(t.describe() for t in left_out)}); "
            "check the score_error column of the scored file, or rescore it with `localnat score`."
        )
    truth_note = None
    if truth is not None:
        teachers, truth_note = _against_truth(teachers, truth)
    n = len(teachers)

    # One cell per (question, ranked teacher): responses, scored responses and score sums, summed in row order.
    column = np.full(len(present), -1, dtype=np.int64)
    column[[present.index(t) for t in teachers]] = np.arange(n)
    row_column = column[teacher_codes]
    ranked = row_column >= 0
    cell = qid_codes[ranked] * n + row_column[ranked]
    scored = has_all[ranked]
    size = len(qids) * n
    responses_per_cell = np.bincount(cell, minlength=size).reshape(-1, n)  # (all questions, T)
    scored_per_cell = np.bincount(cell[scored], minlength=size).reshape(-1, n)
    sums = [np.bincount(cell[scored], weights=v[ranked][scored], minlength=size).reshape(-1, n) for v, _ in arrays]

    missing = responses_per_cell == 0
    unscored = ~missing & (scored_per_cell == 0)
    is_kept = ~missing.any(axis=1) & ~unscored.any(axis=1)
    dropped = []
    for q in np.flatnonzero(~is_kept).tolist():  # only the dropped questions, each with its reason
        reason, mask = ("missing_teacher", missing[q]) if missing[q].any() else ("unscored_response", unscored[q])
        dropped.append(DroppedQuestion(qids[q], reason, tuple(teachers[t] for t in np.flatnonzero(mask))))
    if not is_kept.any():
        raise SelectionError(
            f"No question has a scored response from every teacher ({counted(len(teachers), 'teacher')}, "
            f"{_dropped_text({r: sum(d.reason == r for d in dropped) for r in DROP_REASONS})}); "
            "score the missing rows or rank fewer teachers (--teacher)."
        )
    counts = scored_per_cell[is_kept]
    values = np.concatenate([total[is_kept] / counts for total in sums], axis=1)  # (Q, S*T)
    responses = counts.sum(axis=0)
    kept = int(is_kept.sum())
    width = values.shape[1]
    if judged is not None:
        # accuracy per (question, teacher) over its judged responses; weight 1 where it has one, so that the
        # resampled ratio of means is the mean over the questions it has a judged response to
        judged_per_cell = np.bincount(cell[judged[ranked]], minlength=size).reshape(-1, n)[is_kept]
        true_per_cell = np.bincount(cell[is_correct[ranked]], minlength=size).reshape(-1, n)[is_kept]
        weight = (judged_per_cell > 0).astype(float)
        share = np.divide(true_per_cell, judged_per_cell, out=np.zeros(weight.shape), where=judged_per_cell > 0)
        values = np.concatenate([values, share, weight], axis=1)  # (Q, S*T + 2T); the draws do not change
    means = values.mean(axis=0)
    rng = np.random.default_rng(seed)
    # One set of resamples for the intervals and the evidence; p_order(n) reads their first n questions.
    resamples = resample(values, num_resamples, rng, prefixes=ladder(kept))
    boot = resamples.means  # (B, S*T [+ 2T])
    accuracy = accuracy_ci = None
    if judged is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = means[width:width + n] / means[width + n:]
            boot_accuracy = boot[:, width:width + n] / boot[:, width + n:]
        accuracy_ci = [interval(boot_accuracy[:, i], confidence) for i in range(n)]
        means, boot = means[:width], boot[:, :width]
    low, high = percentile_interval(boot, confidence, axis=0)
    block = {s: slice(k * n, (k + 1) * n) for k, s in enumerate(scores)}
    signs = {s: sign(direction[s]) for s in scores}
    rank_of = {s: _ranks(signs[s] * means[block[s]]) for s in scores}

    lines = [
        TeacherScore(
            teacher=t, num_responses=int(responses[i]),
            means={s: float(means[block[s]][i]) for s in scores},
            cis={s: (float(low[block[s]][i]), float(high[block[s]][i])) for s in scores},
            ranks={s: int(rank_of[s][i]) for s in scores},
            accuracy=None if accuracy is None else float(accuracy[i]),
            accuracy_ci=None if accuracy_ci is None else accuracy_ci[i],
        )
        for i, t in enumerate(teachers)
    ]
    lines.sort(key=lambda line: tuple(line.ranks[s] for s in scores))
    pairwise = []
    for s in scores:
        order = np.argsort(rank_of[s])
        offset = block[s].start
        for x in range(n):
            for y in range(x + 1, n):
                a, b = offset + order[x], offset + order[y]
                lo, hi = percentile_interval(boot[:, a] - boot[:, b], confidence)
                pairwise.append(PairwiseDifference(
                    s, teachers[order[x]], teachers[order[y]], float(means[a] - means[b]), (float(lo), float(hi))
                ))
    found, lead = {}, None
    if evidence:
        kept_rows = ranked.copy()
        kept_rows[ranked] = scored & is_kept[qid_codes[ranked]]
        row_teacher = row_column[kept_rows]
        found, lead = score_evidence(
            teachers,
            {s: signs[s] * values[:, block[s]] for s in scores},
            resamples.columns(slice(0, width)).times(np.repeat([signs[s] for s in scores], n)),
            {s: (v[kept_rows], row_teacher) for s, (v, _) in zip(scores, arrays, strict=True)},
            direction, rng, truth=truth and {t: float(truth[t]) for t in teachers}, confidence=confidence,
        )
    return TeacherRanking(lines, pairwise, kept, dropped, left_out, num_resamples, confidence, seed, scores,
                          direction, found, truth and {t: float(truth[t]) for t in teachers}, lead, truth_note,
                          correct_column, correct_only)
