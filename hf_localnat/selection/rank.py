"""Teacher ranking (SPEC §8): mean LALP and mean GALP per teacher over the same questions, with paired bootstrap
confidence intervals for each mean and for every pairwise difference, and the two rankings side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError, SelectionError
from .bootstrap import check_bootstrap, percentile_interval
from .layout import (arrow_column, as_labels, check_question_ids, factorize, non_finite_mask, question_id_array,
                     score_array)
from ..io.columns import require_columns

#: The two scores a ranking reports, in display order.
SCORES: tuple[str, ...] = ("lalp", "galp")

#: Reasons a question is left out of a ranking.
DROP_REASONS: tuple[str, ...] = ("missing_teacher", "unscored_response")


@dataclass(frozen=True)
class TeacherScore:
    """One teacher's line of a ranking.

    Attributes:
        teacher (`str`): the teacher's name.
        num_responses (`int`): scored responses of this teacher on the ranked questions.
        mean_lalp, mean_galp (`float`): mean over the ranked questions of the teacher's per-question mean score.
        lalp_ci, galp_ci (`tuple[float, float]`): percentile bootstrap interval of each mean.
        rank_lalp, rank_galp (`int`): 1 = highest mean (most natural to the student).
    """

    teacher: str
    num_responses: int
    mean_lalp: float
    lalp_ci: tuple[float, float]
    mean_galp: float
    galp_ci: tuple[float, float]
    rank_lalp: int
    rank_galp: int

    @property
    def ranks_disagree(self) -> bool:
        """Whether LALP and GALP put this teacher at different places."""
        return self.rank_lalp != self.rank_galp


@dataclass(frozen=True)
class PairwiseDifference:
    """`mean(teacher_a) - mean(teacher_b)` for one score, with its paired bootstrap interval.

    Attributes:
        score (`str`): `"lalp"` or `"galp"`.
        teacher_a, teacher_b (`str`): `teacher_a` ranks above `teacher_b` by this score.
        difference (`float`): the difference of the two means (>= 0).
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
    """A teacher left out of the ranking: none of its rows has a finite `lalp` and `galp`.

    Attributes:
        teacher (`str`): the teacher.
        num_rows (`int`): its rows (every one without a finite score).
        num_non_finite (`int`): those whose `lalp` or `galp` holds NaN or +-inf (a corrupted file, never a score);
            the others have no score (null, see their `score_error`).
    """

    teacher: str
    num_rows: int
    num_non_finite: int

    def describe(self) -> str:
        """One line: the teacher, why it is left out, and its rows."""
        return (f"Left out: teacher {self.teacher!r} has no finite score on any question "
                f"({self.num_rows} rows: {self.num_non_finite} non-finite (NaN or inf), "
                f"{self.num_rows - self.num_non_finite} without a score).")


@dataclass(frozen=True)
class TeacherRanking:
    """The result of `rank_teachers`: teachers ordered by mean LALP (best first).

    Attributes:
        teachers (`list[TeacherScore]`): best LALP first.
        pairwise (`list[PairwiseDifference]`): every pair of teachers, for each score, higher-ranked teacher first.
        num_questions (`int`): questions every ranked teacher answered with a score (the ones averaged over).
        dropped (`list[DroppedQuestion]`): the other questions, with reasons.
        left_out (`list[LeftOutTeacher]`): teachers not ranked because none of their rows has a finite score.
        num_resamples (`int`), confidence (`float`), seed (`int | None`): the bootstrap settings.
    """

    teachers: list[TeacherScore]
    pairwise: list[PairwiseDifference]
    num_questions: int
    dropped: list[DroppedQuestion] = field(default_factory=list)
    left_out: list[LeftOutTeacher] = field(default_factory=list)
    num_resamples: int = 1000
    confidence: float = 0.95
    seed: int | None = 0

    def best_teacher(self, by: str = "lalp") -> str:
        """The teacher with the highest mean `by` (`"lalp"` or `"galp"`)."""
        _check_score(by)
        return min(self.teachers, key=lambda t: getattr(t, f"rank_{by}")).teacher

    def order(self, by: str = "lalp") -> list[str]:
        """Teacher names, best first by `by`."""
        _check_score(by)
        return [t.teacher for t in sorted(self.teachers, key=lambda t: getattr(t, f"rank_{by}"))]

    @property
    def dropped_counts(self) -> dict[str, int]:
        """Number of dropped questions per reason (every reason listed, zeros included)."""
        return {reason: sum(d.reason == reason for d in self.dropped) for reason in DROP_REASONS}

    @property
    def rankings_agree(self) -> bool:
        """Whether LALP and GALP order the teachers identically."""
        return not any(t.ranks_disagree for t in self.teachers)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return {
            "teachers": [asdict(t) | {"ranks_disagree": t.ranks_disagree} for t in self.teachers],
            "pairwise": [asdict(p) | {"excludes_zero": p.excludes_zero} for p in self.pairwise],
            "num_questions": self.num_questions,
            "dropped_counts": self.dropped_counts,
            "dropped": [asdict(d) for d in self.dropped],
            "left_out": [asdict(t) for t in self.left_out],
            "num_resamples": self.num_resamples,
            "confidence": self.confidence,
            "seed": self.seed,
        }

    def format_table(self) -> str:
        """The ranking as a text table: rank by LALP and by GALP side by side, disagreements flagged with `*`."""
        pct = f"{self.confidence:.0%}"
        header = (f"{'LALP#':>5} {'GALP#':>5}  {'teacher':<20} {'n':>5}  {'mean LALP':>9} {pct + ' CI':>18}  "
                  f"{'mean GALP':>9} {pct + ' CI':>18}")
        lines = [header, "-" * len(header)]
        for t in self.teachers:
            flag = "*" if t.ranks_disagree else " "
            lines.append(
                f"{t.rank_lalp:>5} {t.rank_galp:>4}{flag}  {t.teacher:<20} {t.num_responses:>5}  {t.mean_lalp:>9.4f} "
                f"{_ci(t.lalp_ci):>18}  {t.mean_galp:>9.4f} {_ci(t.galp_ci):>18}"
            )
        lines.append("")
        lines.append(f"{self.num_questions} questions answered (with a score) by every teacher; "
                     + _dropped_text(self.dropped_counts) + ".")
        lines.extend(t.describe() for t in self.left_out)
        if self.rankings_agree:
            lines.append("LALP and GALP rank the teachers the same way.")
        else:
            lines.append("* LALP and GALP disagree on this teacher's place.")
        lines.append(f"Intervals: paired percentile bootstrap over questions, {self.num_resamples} resamples "
                     f"(seed {self.seed}). Higher = more natural to the student.")
        adjacent = [p for p in self.pairwise if p.score == "lalp" and _adjacent(self, p)]
        if adjacent:
            lines.append("")
            lines.append(f"LALP differences between neighbours ({pct} CI):")
            for p in adjacent:
                verdict = "" if p.excludes_zero else "  (not separated)"
                lines.append(f"  {p.teacher_a} - {p.teacher_b}: {p.difference:+.4f} {_ci(p.ci)}{verdict}")
        return "\n".join(lines)


def _adjacent(ranking: TeacherRanking, pair: PairwiseDifference) -> bool:
    order = ranking.order(pair.score)
    return order.index(pair.teacher_b) == order.index(pair.teacher_a) + 1


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _dropped_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "none dropped"
    parts = [f"{n} {reason.replace('_', ' ')}" for reason, n in counts.items() if n]
    return f"{total} dropped ({', '.join(parts)})"


def _check_score(by: str) -> None:
    if by not in SCORES:
        raise ConfigError(f"Unknown score {by!r}; use 'lalp' or 'galp'.")


def _bootstrap_means(values: np.ndarray, num_resamples: int, rng: np.random.Generator, budget: int = 4_000_000):
    """Means of `values` (questions x columns) over `num_resamples` resamples of the questions (rows), drawn with
    replacement; the same draw for every column (paired). Resamples go in chunks that keep memory under `budget`
    numbers, and the result does not depend on the chunking: each question index comes from one uniform double (one
    draw of the generator; `rng.integers` would drop a spare 32-bit half at the end of each chunk), and each resample's
    means are computed on their own, as (times each question was drawn) . values (a matrix product over a chunk of
    resamples would round differently for different chunk shapes; a gather of the drawn rows costs B x Q x C)."""
    num_questions, num_columns = values.shape
    per_chunk = max(1, budget // (num_questions * num_columns))
    by_column = np.ascontiguousarray(values.T)  # (C, Q)
    out = np.empty((num_resamples, num_columns))
    for start in range(0, num_resamples, per_chunk):
        size = min(num_resamples, start + per_chunk) - start
        uniform = rng.random((size, num_questions))
        draws = np.multiply(uniform, num_questions, out=uniform).astype(np.int64)  # (B, Q) question indices
        np.minimum(draws, num_questions - 1, out=draws)
        for b in range(size):  # each resample alone (a fresh count vector), so chunking never changes a rounding
            counts = np.bincount(draws[b], minlength=num_questions).astype(np.float64)  # times each question drawn
            out[start + b] = by_column @ counts / num_questions
    return out


def _ranks(means: np.ndarray) -> np.ndarray:
    """1 = highest mean; ties keep the input order."""
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


def rank_teachers(
    dataset,
    *,
    teachers: Sequence[str] | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
) -> TeacherRanking:
    """Rank teachers by mean LALP and mean GALP over the questions every ranked teacher answered.

    A response counts when both its `lalp` and `galp` are set (both scores are then averaged over the same
    responses). When a teacher answered a question more than once, its scored responses to that question are
    averaged first, so every question weighs the same for every teacher. A question is used only when every ranked
    teacher has at least one scored response to it; the others are reported in `dropped`, as `missing_teacher` (some
    teacher has no response at all) or `unscored_response` (some teacher's responses all lack a score). A teacher none
    of whose rows has a finite score (all null, NaN or inf) is left out of the ranking (`left_out`, with its count of
    non-finite rows), and the others are ranked.

    Confidence intervals come from a paired percentile bootstrap over questions: each resample draws the questions
    with replacement and recomputes every teacher's means (and their differences) on the same draw.

    Args:
        dataset (`datasets.Dataset`):
            Scored rows in the long layout (`teacher`, `lalp`, `galp`, and `question_id` or `question`).
        teachers (`Sequence[str]`, *optional*):
            The teachers to rank (defaults to every teacher in the data, in order of appearance).
        num_resamples (`int`, *optional*, defaults to 1000): bootstrap resamples.
        confidence (`float`, *optional*, defaults to 0.95): coverage of every interval.
        seed (`int`, *optional*, defaults to 0): bootstrap seed (`None` for fresh randomness).
        teacher_column, question_column, question_id_column (`str`): column names; the question id is derived from
            the question text when `question_id_column` is missing.

    Returns:
        `TeacherRanking`

    Raises:
        ColumnError: a needed column is missing.
        ConfigError: a bad `num_resamples`, `confidence` or teacher name.
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
    require_columns(dataset, [teacher_column, *SCORES], what="ranking")
    check_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    qid_codes, qids = factorize(question_id_array(dataset, question_column=question_column,
                                                  question_id_column=question_id_column))
    teacher_codes, present = factorize(as_labels(arrow_column(dataset, teacher_column)))
    (lalp, has_lalp), (galp, has_galp) = score_array(dataset, "lalp"), score_array(dataset, "galp")
    if teachers is None:
        teachers = present
    else:
        teachers = list(dict.fromkeys(teachers))
        unknown = [t for t in teachers if t not in present]
        if unknown:
            raise ConfigError(f"Teacher(s) {unknown!r} not found in column {teacher_column!r} (teachers: {present}).")
    if not teachers:
        raise SelectionError("The dataset has no rows to rank; score some responses first.")
    teachers, left_out = _rankable(teachers, present, teacher_codes, has_lalp & has_galp,
                                   non_finite_mask(dataset, "lalp") | non_finite_mask(dataset, "galp"))
    if not teachers:
        raise SelectionError(
            f"No teacher has a finite score on any question ({'; '.join(t.describe() for t in left_out)}); "
            "check the score_error column of the scored file, or rescore it with `localnat score`."
        )
    n = len(teachers)

    # One cell per (question, ranked teacher): responses, scored responses and score sums, summed in row order.
    column = np.full(len(present), -1, dtype=np.int64)
    column[[present.index(t) for t in teachers]] = np.arange(n)
    row_column = column[teacher_codes]
    ranked = row_column >= 0
    cell = qid_codes[ranked] * n + row_column[ranked]
    scored = (has_lalp & has_galp)[ranked]
    size = len(qids) * n
    responses_per_cell = np.bincount(cell, minlength=size).reshape(-1, n)  # (all questions, T)
    scored_per_cell = np.bincount(cell[scored], minlength=size).reshape(-1, n)
    sums = [np.bincount(cell[scored], weights=s[ranked][scored], minlength=size).reshape(-1, n) for s in (lalp, galp)]

    missing = responses_per_cell == 0
    unscored = ~missing & (scored_per_cell == 0)
    is_kept = ~missing.any(axis=1) & ~unscored.any(axis=1)
    dropped = []
    for q in np.flatnonzero(~is_kept).tolist():  # only the dropped questions, each with its reason
        reason, mask = ("missing_teacher", missing[q]) if missing[q].any() else ("unscored_response", unscored[q])
        dropped.append(DroppedQuestion(qids[q], reason, tuple(teachers[t] for t in np.flatnonzero(mask))))
    if not is_kept.any():
        raise SelectionError(
            f"No question has a scored response from every teacher ({len(teachers)} teachers, "
            f"{_dropped_text({r: sum(d.reason == r for d in dropped) for r in DROP_REASONS})}); "
            "score the missing rows or rank fewer teachers (--teacher)."
        )
    counts = scored_per_cell[is_kept]
    values = np.concatenate([sums[0][is_kept] / counts, sums[1][is_kept] / counts], axis=1)  # (Q, 2T)
    responses = counts.sum(axis=0)
    kept = int(is_kept.sum())
    means = values.mean(axis=0)
    boot = _bootstrap_means(values, num_resamples, np.random.default_rng(seed))  # (B, 2T)
    low, high = percentile_interval(boot, confidence, axis=0)

    rank_l, rank_g = _ranks(means[:n]), _ranks(means[n:])
    scores = [
        TeacherScore(
            teacher=t, num_responses=int(responses[i]),
            mean_lalp=float(means[i]), lalp_ci=(float(low[i]), float(high[i])),
            mean_galp=float(means[n + i]), galp_ci=(float(low[n + i]), float(high[n + i])),
            rank_lalp=int(rank_l[i]), rank_galp=int(rank_g[i]),
        )
        for i, t in enumerate(teachers)
    ]
    scores.sort(key=lambda s: (s.rank_lalp, s.rank_galp))
    pairwise = []
    for s, (offset, ranks) in enumerate(((0, rank_l), (n, rank_g))):
        order = np.argsort(ranks)
        for x in range(n):
            for y in range(x + 1, n):
                a, b = offset + order[x], offset + order[y]
                diffs = boot[:, a] - boot[:, b]
                lo, hi = percentile_interval(diffs, confidence)
                pairwise.append(PairwiseDifference(
                    SCORES[s], teachers[order[x]], teachers[order[y]], float(means[a] - means[b]), (float(lo), float(hi))
                ))
    return TeacherRanking(scores, pairwise, kept, dropped, left_out, num_resamples, confidence, seed)
