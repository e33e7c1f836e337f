"""Mixed-teacher curation (SPEC §8): per question, keep the response the student finds most natural.

Among a question's candidate responses (correct ones only, when a correctness column is given), keep the one with
the highest LALP (or the `top_k` highest); GALP selection is the paper's baseline. Every kept row records why it was
kept; every other row is returned with a snake_case `rejection_reason`, so nothing is silently lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .layout import add_question_ids, check_boolean_column, require_columns, score_values
from .rank import SCORES

#: Why a row was not kept, in the order the checks run.
REJECTION_REASONS: tuple[str, ...] = (
    "no_score", "non_finite_score", "unknown_correctness", "incorrect", "below_threshold", "lower_lalp", "lower_galp", "teacher_quota",
)


@dataclass(frozen=True)
class Selection:
    """The result of `select_responses`.

    Attributes:
        selected (`datasets.Dataset`): kept rows, by question then `selection_rank`, with the columns `selected_by`,
            `selection_rank` (1 = the question's best eligible response) and `selection_reason` (short text).
        rejected (`datasets.Dataset`): the other rows in input order, with `selected_by` and `rejection_reason` (one
            of `REJECTION_REASONS`).
        by (`str`): the score used, `"lalp"` or `"galp"`.
        threshold (`float | None`): the score threshold applied (from `threshold` or `quantile`).
        num_questions (`int`): questions in the input.
        num_questions_selected (`int`): questions with at least one kept row.
        teacher_counts (`dict[str, int]`): kept rows per teacher, every teacher of the input (zeros included).
    """

    selected: object
    rejected: object
    by: str
    threshold: float | None
    num_questions: int
    num_questions_selected: int
    teacher_counts: dict[str, int]

    @property
    def teachers(self) -> list[str]:
        """Every teacher of the input, in order of appearance."""
        return list(self.teacher_counts)

    @property
    def reason_counts(self) -> dict[str, int]:
        """Rejected rows per reason (only reasons that occur)."""
        return dict(Counter(self.rejected["rejection_reason"]))

    @property
    def num_questions_without_selection(self) -> int:
        """Questions none of whose responses was kept."""
        return self.num_questions - self.num_questions_selected

    def summary(self) -> str:
        """A few lines: kept / rejected counts, reasons, questions left without a response."""
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.reason_counts.items(), key=lambda kv: -kv[1]))
        lines = [
            f"Kept {self.selected.num_rows} of {self.selected.num_rows + self.rejected.num_rows} responses "
            f"(by {self.by.upper()}) for {self.num_questions - self.num_questions_without_selection} of "
            f"{self.num_questions} questions.",
            f"Rejected {self.rejected.num_rows}" + (f": {reasons}." if reasons else "."),
        ]
        if self.threshold is not None:
            lines.append(f"Threshold: {self.by.upper()} >= {self.threshold:.4f}.")
        if self.num_questions_without_selection:
            lines.append(f"{self.num_questions_without_selection} question(s) have no kept response "
                         "(see the rejected rows).")
        return "\n".join(lines)


def _ordinal(rank: int) -> str:
    if rank == 1:
        return "best"
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{suffix}-best"


def _normalise_quota(teacher_quota, teachers: list[str]) -> dict[str, float]:
    if teacher_quota is None:
        return {}
    if isinstance(teacher_quota, Mapping):
        quotas = dict(teacher_quota)
        unknown = [t for t in quotas if t not in teachers]
        if unknown:
            raise ConfigError(f"teacher_quota names teacher(s) {unknown!r} not in the data (teachers: {teachers}).")
    else:
        quotas = {t: teacher_quota for t in teachers}
    for teacher, quota in quotas.items():
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
            raise ConfigError(f"teacher_quota for {teacher!r} must be a whole number >= 0 (rows), got {quota!r}.")
    return quotas


def select_responses(
    dataset,
    *,
    by: str = "lalp",
    top_k: int = 1,
    correct_column: str | None = None,
    threshold: float | None = None,
    quantile: float | None = None,
    teacher_quota: int | Mapping[str, int] | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
) -> Selection:
    """Keep, for each question, the `top_k` responses with the highest `by` score.

    Checks run in this order, and the first that fails names the row's `rejection_reason`:

    1. `no_score`: the row has no `by` score (see its `score_error`); `non_finite_score`: it is NaN or infinite.
    2. `unknown_correctness` / `incorrect`: with `correct_column`, only rows whose value is `True` stay candidates.
    3. `below_threshold`: the score is below `threshold`, or below the `quantile` of the candidates' scores
       (`quantile=0.25` drops the lowest quarter of the candidates left after steps 1-2).
    4. Candidates are then taken best score first, over all questions (ties: input order). A candidate is kept when
       its question has fewer than `top_k` kept rows and its teacher is under its quota; otherwise it is rejected as
       `lower_lalp` / `lower_galp` (its question is full) or `teacher_quota` (its teacher is full, and a lower
       candidate of the same question may be kept instead). Without quotas this is exactly per-question top-k.

    Args:
        dataset (`datasets.Dataset`):
            Scored rows in the long layout (`teacher`, the `by` column, and `question_id` or `question`).
        by (`str`, *optional*, defaults to `"lalp"`): `"lalp"` (the paper's method) or `"galp"` (the baseline).
        top_k (`int`, *optional*, defaults to 1): responses kept per question.
        correct_column (`str`, *optional*): a boolean column; only `True` rows can be kept.
        threshold (`float`, *optional*): minimum score (natural log-prob; higher = more natural).
        quantile (`float`, *optional*): a threshold given as a quantile in [0, 1) of the candidates' scores;
            exclusive with `threshold`.
        teacher_quota (`int` or `Mapping[str, int]`, *optional*): the most rows kept per teacher; a mapping limits
            only the teachers it names.
        teacher_column, question_column, question_id_column (`str`): column names; the question id is derived
            from the question text when `question_id_column` is missing (and added to the outputs).

    Returns:
        `Selection`: the kept rows and the rejected rows, each with their reason columns.

    Raises:
        ColumnError: a needed column is missing, or `correct_column` does not hold booleans.
        ConfigError: a bad option value.
        SelectionError: one question id names different question texts.

    Example:
        ```python
        >>> from datasets import Dataset
        >>> ds = Dataset.from_dict({"question_id": ["q1", "q1", "q1"], "teacher": ["a", "b", "c"],
        ...                         "lalp": [-1.0, -0.5, None], "galp": [-0.8, -0.9, None], "ok": [True, False, True]})
        >>> selection = select_responses(ds, correct_column="ok")
        >>> selection.selected[0]["teacher"], selection.selected[0]["selection_reason"]
        ('a', 'best lalp among 1 correct response for q1')
        >>> list(selection.rejected["rejection_reason"])
        ['incorrect', 'no_score']

        ```
    """
    if by not in SCORES:
        raise ConfigError(f"Unknown score {by!r} for `by`; use 'lalp' (the paper's method) or 'galp' (the baseline).")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"`top_k` must be a whole number >= 1 (responses per question), got {top_k!r}.")
    if threshold is not None and quantile is not None:
        raise ConfigError("Pass either a score `threshold` or a `quantile`, not both.")
    if quantile is not None and not 0 <= quantile < 1:
        raise ConfigError(f"`quantile` must be in [0, 1) (0.25 drops the lowest quarter), got {quantile!r}.")
    needed = [teacher_column, by] + ([correct_column] if correct_column else [])
    require_columns(dataset, needed, what="selection")
    if correct_column:
        check_boolean_column(dataset, correct_column)
    dataset = add_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    qids = [str(q) for q in dataset[question_id_column]]
    row_teachers = [str(t) for t in dataset[teacher_column]]
    values, non_finite = score_values(dataset, by)
    scores = values.tolist()
    correct = list(dataset[correct_column]) if correct_column else None
    teachers = list(dict.fromkeys(row_teachers))
    quotas = _normalise_quota(teacher_quota, teachers)

    reasons: list[str | None] = [None] * len(scores)
    for i, score in enumerate(scores):
        if non_finite[i]:
            reasons[i] = "non_finite_score"
        elif score != score:  # NaN: the row has no score
            reasons[i] = "no_score"
        elif correct is not None and correct[i] is not True:
            reasons[i] = "unknown_correctness" if correct[i] is None else "incorrect"
    candidates = [i for i, r in enumerate(reasons) if r is None]
    if quantile is not None and candidates:
        threshold = float(np.quantile([scores[i] for i in candidates], quantile))
    if threshold is not None:
        for i in candidates:
            if scores[i] < threshold:
                reasons[i] = "below_threshold"
        candidates = [i for i in candidates if reasons[i] is None]

    # Rank of each candidate within its question (1 = best), for the reason text.
    per_question: dict[str, list[int]] = {}
    best_first = sorted(candidates, key=lambda i: -scores[i])  # sorted() is stable: ties keep input order
    for i in best_first:
        per_question.setdefault(qids[i], []).append(i)
    kept_per_question: Counter = Counter()
    kept_per_teacher: Counter = Counter()
    ranks: dict[int, int] = {}
    for i in best_first:
        question, teacher = qids[i], row_teachers[i]
        if kept_per_question[question] >= top_k:
            reasons[i] = f"lower_{by}"
        elif teacher in quotas and kept_per_teacher[teacher] >= quotas[teacher]:
            reasons[i] = "teacher_quota"
        else:
            kept_per_question[question] += 1
            kept_per_teacher[teacher] += 1
            ranks[i] = per_question[question].index(i) + 1

    question_order = {q: n for n, q in enumerate(dict.fromkeys(qids))}
    kept = sorted(ranks, key=lambda i: (question_order[qids[i]], ranks[i]))
    kind = "correct " if correct_column else ""
    texts = []
    for i in kept:
        n = len(per_question[qids[i]])
        texts.append(f"{_ordinal(ranks[i])} {by} among {n} {kind}response{'s' if n != 1 else ''} for {qids[i]}")
    # Add the reason columns to the whole dataset, then split it: no copy of the kept/rejected subsets is flattened.
    rejected_rows = [i for i in range(len(scores)) if i not in ranks]
    rank_column: list[int | None] = [None] * len(scores)
    text_column: list[str | None] = [None] * len(scores)
    for i, text in zip(kept, texts, strict=True):
        rank_column[i], text_column[i] = ranks[i], text
    from datasets import Value

    full = dataset.add_column("selected_by", [by] * len(scores))
    full = full.add_column("selection_rank", rank_column, feature=Value("int64"))
    full = full.add_column("selection_reason", text_column, feature=Value("string"))
    full = full.add_column("rejection_reason", reasons, feature=Value("string"))
    selected = full.select(kept).remove_columns("rejection_reason")
    rejected = full.select(rejected_rows).remove_columns(["selection_rank", "selection_reason"])
    return Selection(selected, rejected, by, threshold, len(question_order), len(kept_per_question),
                     {t: kept_per_teacher[t] for t in teachers})


@dataclass(frozen=True)
class MixReport:
    """Each teacher's share of a curated selection, under LALP and under GALP.

    Attributes:
        teachers (`list[str]`): every teacher of the input.
        counts (`dict[str, dict[str, int]]`): `counts[by][teacher]`, rows kept for `by` in `("lalp", "galp")`.
    """

    teachers: list[str]
    counts: dict[str, dict[str, int]]

    TITLE = "Mix report: each teacher's share of the selection under LALP and under GALP"

    @classmethod
    def of(cls, selections: dict[str, Selection]) -> MixReport:
        """The report of two selections already made with the same options, keyed `"lalp"` and `"galp"`."""
        return cls(selections["lalp"].teachers, {by: selections[by].teacher_counts for by in SCORES})

    def share(self, by: str, teacher: str) -> float:
        """Fraction of the `by` selection written by `teacher` (0 when nothing was kept)."""
        total = sum(self.counts[by].values())
        return self.counts[by][teacher] / total if total else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: counts and shares per score and teacher."""
        return {by: {t: {"count": self.counts[by][t], "share": self.share(by, t)} for t in self.teachers}
                for by in SCORES}

    def format_table(self) -> str:
        """Teacher, kept count and share under LALP and under GALP."""
        header = f"{'teacher':<20} {'LALP kept':>9} {'share':>7}  {'GALP kept':>9} {'share':>7}"
        lines = [header, "-" * len(header)]
        for t in self.teachers:
            lines.append(f"{t:<20} {self.counts['lalp'][t]:>9} {self.share('lalp', t):>7.1%}  "
                         f"{self.counts['galp'][t]:>9} {self.share('galp', t):>7.1%}")
        return "\n".join(lines)


def mix_report(dataset, *, done: Selection | None = None, **options) -> MixReport:
    """Run `select_responses` by LALP and by GALP with the same `options` and count each teacher's share.

    Args:
        dataset (`datasets.Dataset`): scored rows in the long layout.
        done (`Selection`, *optional*): a selection already made with these `options` (by LALP or GALP); it is
            reused instead of being computed again.
        **options: any `select_responses` keyword except `by`.

    Returns:
        `MixReport`
    """
    if "by" in options:
        raise ConfigError("mix_report compares LALP and GALP itself; do not pass `by`.")
    selections = {by: done if done is not None and done.by == by else select_responses(dataset, by=by, **options)
                  for by in SCORES}
    return MixReport.of(selections)
