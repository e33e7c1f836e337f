"""Mixed-teacher curation (SPEC §8): per question, keep the response the student finds most natural.

Among a question's candidate responses (correct ones only, when a correctness column is given), keep the one with
the best LALP (or the `top_k` best); GALP selection is the paper's baseline. Any score column can choose instead
(`rsr`, a drop score, a column of the user's own): "best" follows the score's direction (`hf_localnat.scores`), so
for `rsr` the kept response is the one with the lowest value. Every kept row records why it was kept; every other
row is returned with a snake_case `rejection_reason`, so nothing is silently lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from .where import REASON_PREFIX, check_conditions, parse_conditions, where_reasons
from .layout import (add_question_ids, arrow_column, as_labels, check_correctness_column, check_question_ids, factorize,
                     non_finite_mask, score_array)
from ..io.columns import require_columns
from ..wording import counted
from ..scores import DEFAULT_SCORES, Direction, require_score_column, score_direction, sign

#: Why a row was not kept, in the order the checks run (`lower_lalp`, `lower_galp`: `outranked_reason` of a score;
#: `where:<filter>`: a failed `where` filter, `where.Condition.reason`).
REJECTION_REASONS: tuple[str, ...] = (
    "no_score", "non_finite_score", "where:", "unknown_correctness", "incorrect", "below_threshold", "lower_lalp",
    "lower_galp", "teacher_quota",
)


def outranked_reason(by: str, direction: Direction) -> str:
    """The `rejection_reason` of a candidate whose question is full: `lower_lalp` for a score that is better higher,
    `higher_rsr` for one that is better lower (the row's score was worse in the score's own direction)."""
    return f"{'lower' if direction == 'higher' else 'higher'}_{by}"


@dataclass(frozen=True)
class Selection:
    """The result of `select_responses`.

    Attributes:
        selected (`datasets.Dataset`): kept rows, by question then `selection_rank`, with the columns `selected_by`,
            `selection_rank` (1 = the question's best eligible response) and `selection_reason` (short text).
        rejected (`datasets.Dataset`): the other rows in input order, with `selected_by` and `rejection_reason` (one
            of `REJECTION_REASONS`).
        by (`str`): the score column used (`"lalp"`, `"galp"`, `"rsr"`, ...).
        threshold (`float | None`): the score threshold applied (from `threshold` or `quantile`): the worst score
            kept, a minimum for a score that is better higher, a maximum for one that is better lower.
        num_questions (`int`): questions in the input.
        num_questions_selected (`int`): questions with at least one kept row.
        teacher_counts (`dict[str, int]`): kept rows per teacher, every teacher of the input (zeros included).
        direction (`str`): the direction in which `by` is better.
        where (`tuple[str, ...]`): the validity filters applied, as written back by `where.Condition.text`.
    """

    selected: object
    rejected: object
    by: str
    threshold: float | None
    num_questions: int
    num_questions_selected: int
    teacher_counts: dict[str, int]
    direction: Direction = "higher"
    where: tuple[str, ...] = ()

    @property
    def teachers(self) -> list[str]:
        """Every teacher of the input, in order of appearance."""
        return list(self.teacher_counts)

    @property
    def reason_counts(self) -> dict[str, int]:
        """Rejected rows per reason (only reasons that occur), in order of first occurrence."""
        counts = pc.value_counts(arrow_column(self.rejected, "rejection_reason"))
        return {c["values"]: c["counts"] for c in counts.to_pylist()}

    @property
    def num_questions_without_selection(self) -> int:
        """Questions none of whose responses was kept."""
        return self.num_questions - self.num_questions_selected

    def summary(self) -> str:
        """A few lines: kept / rejected counts, reasons, questions left without a response."""
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.reason_counts.items(), key=lambda kv: -kv[1]))
        lines = [
            f"Kept {self.selected.num_rows} of {counted(self.selected.num_rows + self.rejected.num_rows, 'response')} "
            f"(by {self.by.upper()}) for {self.num_questions - self.num_questions_without_selection} of "
            f"{counted(self.num_questions, 'question')}.",
            f"Rejected {self.rejected.num_rows}" + (f": {reasons}." if reasons else "."),
        ]
        if self.where:
            counts = self.reason_counts
            lines.append("Filters (before choosing): " + "; ".join(
                f"{text} rejected {counts.get(REASON_PREFIX + text, 0)}" for text in self.where) + ".")
        if self.threshold is not None:
            bound = ">=" if self.direction == "higher" else "<="
            lines.append(f"Threshold: {self.by.upper()} {bound} {self.threshold:.4f}.")
        if self.num_questions_without_selection:
            n = self.num_questions_without_selection
            lines.append(f"{counted(n, 'question')} {'has' if n == 1 else 'have'} no kept response "
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
    response_column: str = "response",
    with_messages: bool = True,
    directions: Mapping[str, str] | None = None,
    where: Sequence[str] | str | None = None,
) -> Selection:
    """Keep, for each question, the `top_k` responses with the best `by` score, in the score's direction (the highest
    LALP, the lowest `rsr`; `hf_localnat.scores.score_direction`).

    Checks run in this order, and the first that fails names the row's `rejection_reason`:

    1. `no_score`: the row has no `by` score (see its `score_error`); `non_finite_score`: its score is NaN or +-inf,
       which is no score either (a corrupted file, never a best response).
    2. `where:<filter>`: the row fails a validity filter of `where` (the first it fails, in the order given:
       `where:repeat_share < 0.5`). A null (or NaN) value fails every filter on its column.
    3. `unknown_correctness` / `incorrect`: with `correct_column`, only rows whose value is `True` stay candidates.
    4. `below_threshold`: the score is worse than `threshold` (below it, or above it for a score that is better
       lower), or than the `quantile` of the candidates' scores (`quantile=0.25` drops the worst quarter of the
       candidates left after steps 1-3).
    5. Candidates are then taken best score first, over all questions (ties: input order). A candidate is kept when
       its question has fewer than `top_k` kept rows and its teacher is under its quota; otherwise it is rejected as
       `lower_lalp` / `lower_galp` / `higher_rsr` (its question is full; `outranked_reason`) or `teacher_quota` (its
       teacher is full, and a worse candidate of the same question may be kept instead). Without quotas this is
       exactly per-question top-k.

    Args:
        dataset (`datasets.Dataset`):
            Scored rows in the long layout (`teacher`, the `by` column, and `question_id` or `question`).
        by (`str`, *optional*, defaults to `"lalp"`): the score column: `"lalp"` (the paper's method), `"galp"` (the
            baseline), another score of SPEC §11 (`"rsr"`, `"lalp_drop"`, `"galp_drop"`), or a column of your own
            whose direction `directions` declares.
        top_k (`int`, *optional*, defaults to 1): responses kept per question.
        correct_column (`str`, *optional*): a boolean column; only `True` rows can be kept.
        threshold (`float`, *optional*): the worst score kept: a minimum (a maximum for a score better lower).
        quantile (`float`, *optional*): a threshold given as a quantile in [0, 1) of the candidates' scores, counted
            from the worst; exclusive with `threshold`.
        teacher_quota (`int` or `Mapping[str, int]`, *optional*): the most rows kept per teacher; a mapping limits
            only the teachers it names.
        teacher_column, question_column, question_id_column (`str`): column names; the question id is derived
            from the question text when `question_id_column` is missing (and added to the outputs).
        response_column (`str`, *optional*, defaults to `"response"`): the response text, for `messages`.
        with_messages (`bool`, *optional*, defaults to `True`): give the kept rows a `messages` column (SPEC §9),
            `[{"role": "user", "content": question}, {"role": "assistant", "content": response}]`, what TRL's
            `SFTTrainer` trains on; a row that already has a `messages` value (the conversation its response came
            from) keeps it; a null question gives the user turn empty content. Only when the data has both the
            question and the response column; the rejected rows get none.
        directions (`Mapping[str, str]`, *optional*): `{column: "higher" | "lower"}` for columns this project does
            not know (the CLI's `--direction`); a declaration wins over the built-in direction.
        where (`Sequence[str]`, *optional*): validity filters every kept row must pass, checked before choosing (the
            CLI's `--where`, repeatable): `"COLUMN OP NUMBER"` (`OP` one of `<`, `<=`, `>`, `>=`, `==`, `!=`),
            `"COLUMN"` (a boolean column is true) or `"not COLUMN"`; e.g. `["repeat_share < 0.5", "resolved"]`
            (`hf_localnat.selection.where`).

    Returns:
        `Selection`: the kept rows and the rejected rows, each with their reason columns.

    Raises:
        ColumnError: a needed column is missing.
        ConfigError: a bad option value, a `by` column whose direction is unknown, or a `where` filter that is none
            of the three forms.
        ColumnError: also, a `where` filter names a missing column, or one whose type does not fit it.

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
    direction = score_direction(by, directions)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"`top_k` must be a whole number >= 1 (responses per question), got {top_k!r}.")
    if threshold is not None and quantile is not None:
        raise ConfigError("Pass either a score `threshold` or a `quantile`, not both.")
    if quantile is not None and not 0 <= quantile < 1:
        raise ConfigError(f"`quantile` must be in [0, 1) (0.25 drops the lowest quarter), got {quantile!r}.")
    conditions = parse_conditions(where)
    check_conditions(conditions, dataset.column_names)
    require_score_column(dataset.column_names, by)
    needed = [teacher_column, by] + ([correct_column] if correct_column else [])
    require_columns(dataset, needed, what="selection")
    from datasets import Value

    check_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    dataset = add_question_ids(dataset, question_column=question_column, question_id_column=question_id_column)
    qid_labels = as_labels(arrow_column(dataset, question_id_column))
    qid_codes, qids = factorize(qid_labels)
    teacher_codes, teachers = factorize(as_labels(arrow_column(dataset, teacher_column)))
    scores, has_score = score_array(dataset, by)
    better = sign(direction) * scores  # higher is better, whatever the score's direction
    quotas = _normalise_quota(teacher_quota, teachers)
    num_rows = len(scores)

    reasons = np.full(num_rows, None, dtype=object)
    reasons[~has_score] = "no_score"
    reasons[non_finite_mask(dataset, by)] = "non_finite_score"
    if conditions:
        filtered = where_reasons(dataset, conditions)
        open_rows = reasons == None  # noqa: E711 (elementwise on an object array)
        reasons[open_rows] = filtered[open_rows]
    if correct_column:
        correct = check_correctness_column(dataset, correct_column)
        is_true = (np.asarray(pc.fill_null(correct, False).to_numpy(zero_copy_only=False), dtype=bool)
                   if pa.types.is_boolean(correct.type) else np.zeros(num_rows, dtype=bool))
        is_null = np.asarray(correct.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        open_rows = reasons == None  # noqa: E711 (no_score, non-finite and filtered rows keep their reason)
        reasons[open_rows & is_null] = "unknown_correctness"
        reasons[open_rows & ~is_null & ~is_true] = "incorrect"
    candidate = reasons == None  # noqa: E711 (elementwise on an object array)
    if quantile is not None and candidate.any():
        threshold = sign(direction) * float(np.quantile(better[candidate], quantile))
    if threshold is not None:
        below = candidate & (better < sign(direction) * threshold)
        reasons[below] = "below_threshold"
        candidate &= ~below

    # Candidates best score first over all questions (ties: input order), and each one's rank within its question.
    candidates = np.flatnonzero(candidate)
    best_first = candidates[np.argsort(-better[candidates], kind="stable")]
    by_question = best_first[np.argsort(qid_codes[best_first], kind="stable")]
    starts = np.searchsorted(qid_codes[by_question], qid_codes[by_question], side="left")
    rank = np.zeros(num_rows, dtype=np.int64)
    rank[by_question] = np.arange(len(by_question)) - starts + 1
    per_question = np.bincount(qid_codes[candidates], minlength=len(qids))  # candidates per question
    kept_mask = np.zeros(num_rows, dtype=bool)
    if quotas:
        limits = np.array([quotas.get(t, -1) for t in teachers], dtype=np.int64)  # -1: no quota
        full = _fill_with_quotas(best_first, qid_codes, teacher_codes, top_k, limits, kept_mask)
        reasons[full] = "teacher_quota"
    else:
        kept_mask[best_first[rank[best_first] <= top_k]] = True
    reasons[candidate & ~kept_mask & (reasons == None)] = outranked_reason(by, direction)  # noqa: E711

    kept = np.flatnonzero(kept_mask)
    kept = kept[np.lexsort((rank[kept], qid_codes[kept]))]  # by question (first appearance), then rank
    counts = per_question[qid_codes[kept]]
    kind = "correct " if correct_column else ""
    texts = pc.binary_join_element_wise(
        _ordinals(rank[kept]), f" {by} among ", pc.cast(pa.array(counts, pa.int64()), pa.string()),
        f" {kind}response", pa.array(np.where(counts != 1, "s for ", " for "), pa.string()),
        pc.take(qid_labels, pa.array(kept, pa.int64())), "")
    position = np.zeros(num_rows, dtype=np.int64)
    position[kept] = np.arange(len(kept))
    # Add the reason columns to the whole dataset, then split it: no copy of the kept/rejected subsets is flattened.
    full_dataset = dataset.add_column("selected_by", pa.repeat(pa.scalar(by), num_rows))
    full_dataset = full_dataset.add_column("selection_rank", pa.array(rank, pa.int64(), mask=~kept_mask),
                                           feature=Value("int64"))
    full_dataset = full_dataset.add_column("selection_reason", pc.take(texts, pa.array(position, mask=~kept_mask)),
                                           feature=Value("string"))
    full_dataset = full_dataset.add_column("rejection_reason", pa.array(reasons, pa.string()), feature=Value("string"))
    new_messages = False
    from .messages import MESSAGES_COLUMN, add_messages, can_add_messages

    if with_messages and can_add_messages(full_dataset.column_names, question_column=question_column,
                                          response_column=response_column):

        full_dataset, new_messages = add_messages(full_dataset, kept_mask, question_column=question_column,
                                                  response_column=response_column)
    selected = full_dataset.select(kept).remove_columns("rejection_reason")
    rejected = full_dataset.select(np.flatnonzero(~kept_mask)).remove_columns(
        ["selection_rank", "selection_reason", *([MESSAGES_COLUMN] if new_messages else [])])
    teacher_counts = np.bincount(teacher_codes[kept], minlength=len(teachers))
    return Selection(selected, rejected, by, threshold, len(qids), len(np.unique(qid_codes[kept])),
                     {t: int(c) for t, c in zip(teachers, teacher_counts, strict=True)}, direction,
                     tuple(c.text for c in conditions))


def _ordinals(ranks: np.ndarray) -> pa.Array:
    """`_ordinal` of every rank, each distinct rank formatted once."""
    distinct, inverse = np.unique(ranks, return_inverse=True)
    return pa.array([_ordinal(int(r)) for r in distinct], pa.string()).take(pa.array(inverse.astype(np.int64)))


def _fill_with_quotas(best_first: np.ndarray, qid_codes: np.ndarray, teacher_codes: np.ndarray, top_k: int,
                      limits: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Walk the candidates best first, keeping one when its question has fewer than `top_k` kept rows and its teacher
    is under its limit (-1: none); mark `kept` and return the rows rejected for their teacher's quota.

    The one sequential step of a selection (each decision depends on the ones before); it runs only with quotas.
    """
    per_question = np.zeros(int(qid_codes.max(initial=-1)) + 1, dtype=np.int64).tolist()
    per_teacher = [0] * len(limits)
    limits = limits.tolist()
    quota_rejected = []
    questions, teachers = qid_codes[best_first].tolist(), teacher_codes[best_first].tolist()
    for i, q, t in zip(best_first.tolist(), questions, teachers, strict=True):
        if per_question[q] >= top_k:
            continue
        if limits[t] >= 0 and per_teacher[t] >= limits[t]:
            quota_rejected.append(i)
            continue
        per_question[q] += 1
        per_teacher[t] += 1
        kept[i] = True
    return np.array(quota_rejected, dtype=np.int64)


@dataclass(frozen=True)
class MixReport:
    """Each teacher's share of a curated selection under each score (LALP and GALP by default).

    Attributes:
        teachers (`list[str]`): every teacher of the input.
        counts (`dict[str, dict[str, int]]`): `counts[by][teacher]`, rows kept for each score `by`, in order.
    """

    teachers: list[str]
    counts: dict[str, dict[str, int]]

    TITLE = "Mix report: each teacher's share of the selection under LALP and under GALP"

    @property
    def scores(self) -> list[str]:
        """The scores compared, in order."""
        return list(self.counts)

    @property
    def title(self) -> str:
        """`TITLE` for LALP and GALP, else the same line naming the scores compared."""
        if self.scores == list(DEFAULT_SCORES):
            return self.TITLE
        names = [by.upper() for by in self.scores]
        return f"Mix report: each teacher's share of the selection under {', '.join(names[:-1])} and under {names[-1]}"

    @classmethod
    def of(cls, selections: dict[str, Selection]) -> MixReport:
        """The report of selections already made with the same options, keyed by their score (`"lalp"`, ...)."""
        return cls(next(iter(selections.values())).teachers, {by: s.teacher_counts for by, s in selections.items()})

    def share(self, by: str, teacher: str) -> float:
        """Fraction of the `by` selection written by `teacher` (0 when nothing was kept)."""
        total = sum(self.counts[by].values())
        return self.counts[by][teacher] / total if total else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: counts and shares per score and teacher."""
        return {by: {t: {"count": self.counts[by][t], "share": self.share(by, t)} for t in self.teachers}
                for by in self.counts}

    def format_table(self) -> str:
        """Teacher, then kept count and share under each score."""
        widths = {by: max(9, len(by) + 5) for by in self.counts}
        header = f"{'teacher':<20}" + " ".join(f" {by.upper() + ' kept':>{widths[by]}} {'share':>7}" for by in self.counts)
        lines = [header, "-" * len(header)]
        for t in self.teachers:
            lines.append(f"{t:<20}" + " ".join(f" {self.counts[by][t]:>{widths[by]}} {self.share(by, t):>7.1%}"
                                               for by in self.counts))
        return "\n".join(lines)


def mix_report(dataset, *, done: Selection | None = None, scores=DEFAULT_SCORES, **options) -> MixReport:
    """Run `select_responses` by each of `scores` (LALP and GALP by default) with the same `options` and count each
    teacher's share.

    Args:
        dataset (`datasets.Dataset`): scored rows in the long layout.
        done (`Selection`, *optional*): a selection already made with these `options` (by one of `scores`); it is
            reused instead of being computed again.
        scores (`Sequence[str]`, *optional*, defaults to `("lalp", "galp")`): the score columns compared.
        **options: any `select_responses` keyword except `by` (`directions` included).

    Returns:
        `MixReport`
    """
    if "by" in options:
        raise ConfigError("mix_report compares the `scores` itself; do not pass `by`.")
    selections = {by: done if done is not None and done.by == by
                  else select_responses(dataset, by=by, with_messages=False, **options) for by in scores}
    return MixReport.of(selections)
