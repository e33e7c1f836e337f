"""Proxy calibration: do two students (a cheap proxy and the real one) score the same rows the same way?

The two files hold the same rows scored by two students. Rows are matched by a row id (one column or several: a
composite key), or by (`question_id`, `teacher`), with `generation_index` added when both files have it and the key
is then unique (several generations per question, OpenR1's shape); a row in one file only, a duplicated key, or a
row whose text differs between the files is refused. Reported, each with a percentile bootstrap interval over
questions (a resample draws questions with replacement and takes all their rows):

- Spearman and Kendall (tau-b) correlation of row LALP, and of row GALP, over the rows both students scored;
- teacher ranking agreement: Kendall tau between the two students' per-teacher mean LALP (SPEC §8: over the questions
  every teacher answered with a score in both files, a teacher's repeated answers averaged first), and whether the
  two orders are identical (with the share of resamples in which they are);
- the share of questions where the LALP selection (SPEC §8, optionally correct rows only) keeps the same response.

Kendall's tau-b, Spearman's rho and ranks come from `scipy.stats`; the resamples from `bootstrap.draw_indices`, the
draw that the ranking and its evidence use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError, SelectionError
from .bootstrap import Estimate, check_bootstrap, draw_indices, interval
from .evidence import kendall_tau_b, no_nan, spearman  # noqa: F401 (spearman, kendall_tau_b: this module's API)
from ..io.columns import require_columns
from ..wording import counted
from .layout import question_ids
from .select import select_responses

#: Verdict thresholds: the proxy stands in when the lower end of the row-LALP Spearman interval reaches this ...
STAND_IN_SPEARMAN = 0.8
#: ... and the teacher orders agree; below this Spearman point estimate it does not stand in at all.
WEAK_SPEARMAN = 0.5


class CalibrationError(SelectionError):
    """The two scored files cannot be compared row by row (unmatched, duplicated or mismatched rows)."""




@dataclass(frozen=True)
class Calibration:
    """The result of `calibrate`; `a` is the proxy, `b` the student it should stand in for."""

    name_a: str
    name_b: str
    matched_by: tuple[str, ...]
    num_rows: int
    num_questions: int
    num_rows_compared: dict[str, int]
    spearman: dict[str, Estimate]
    kendall: dict[str, Estimate]
    teacher_order_a: list[str]
    teacher_order_b: list[str]
    teacher_kendall: Estimate | None
    same_teacher_order_share: float | None
    same_pick: Estimate | None
    num_questions_picked: int
    num_resamples: int
    confidence: float
    seed: int | None

    @property
    def same_teacher_order(self) -> bool:
        return self.teacher_order_a == self.teacher_order_b

    @property
    def verdict(self) -> str:
        """One line: whether `a` can stand in for `b` on this data, and why."""
        rho = self.spearman["lalp"]
        facts = (f"row LALP Spearman {rho.value:.2f} [{rho.ci[0]:.2f}, {rho.ci[1]:.2f}], "
                 f"teacher order {'the same' if self.same_teacher_order else 'different'}"
                 + (f", same kept response on {self.same_pick.value:.0%} of questions" if self.same_pick else ""))
        if np.isnan(rho.value):
            return f"Verdict: cannot tell ({facts}: too few scored rows)."
        if rho.ci[0] >= STAND_IN_SPEARMAN and self.same_teacher_order:
            return f"Verdict: {self.name_a} can stand in for {self.name_b} on this data ({facts})."
        if rho.value >= WEAK_SPEARMAN:
            return (f"Verdict: {self.name_a} only partly agrees with {self.name_b} on this data ({facts}); check "
                    "decisions with the real student.")
        return f"Verdict: {self.name_a} cannot stand in for {self.name_b} on this data ({facts})."

    def to_dict(self) -> dict:
        """JSON-ready (tuples become lists, NaN becomes None)."""
        out = asdict(self)
        out["same_teacher_order"] = self.same_teacher_order
        out["verdict"] = self.verdict
        return no_nan(out)

    def format_table(self) -> str:
        pct = f"{self.confidence:.0%}"
        lines = [f"A = {self.name_a} (proxy), B = {self.name_b} (student); {counted(self.num_rows, 'row')} matched "
                 f"by {' + '.join(self.matched_by)}, {counted(self.num_questions, 'question')}.",
                 "",
                 f"{'':<24} {'Spearman':>8} {pct + ' CI':>18}  {'Kendall':>8} {pct + ' CI':>18}  rows"]
        for by in ("lalp", "galp"):
            s, k = self.spearman[by], self.kendall[by]
            lines.append(f"{'row ' + by.upper():<24} {s.value:>+8.3f} {_ci(s.ci):>18}  {k.value:>+8.3f} {_ci(k.ci):>18}  "
                         f"{self.num_rows_compared[by]}")
        lines.append("")
        lines.append(f"Teacher order by mean LALP, A: {' > '.join(self.teacher_order_a)}")
        lines.append(f"                            B: {' > '.join(self.teacher_order_b)}")
        if self.teacher_kendall is not None:
            lines.append(f"Teacher ranking Kendall tau: {self.teacher_kendall.format()}; identical order in "
                         f"{self.same_teacher_order_share:.0%} of resamples.")
        if self.same_pick is not None:
            lines.append(f"Same response kept by LALP: {self.same_pick.value:.1%} of {self.num_questions_picked} "
                         f"questions [{self.same_pick.ci[0]:.1%}, {self.same_pick.ci[1]:.1%}].")
        lines.append(f"Intervals: percentile bootstrap over questions, {self.num_resamples} resamples (seed {self.seed}).")
        lines.append(self.verdict)
        return "\n".join(lines)


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


#: The column added to the default key when both files have it: the position of a response among its question's
#: generations (SPEC §9, list of responses).
GENERATION_COLUMN = "generation_index"


def _duplicate(keys: list[tuple]) -> tuple | None:
    """The first key seen twice, or `None`."""
    seen: set = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None


def _unique(keys: list[tuple], columns: Sequence[str], name: str) -> list[tuple]:
    for key in keys:
        for column, value in zip(columns, key):
            if value is None:
                raise CalibrationError(f"{name} has rows with no {column} (null); give every row a value in {column}, or "
                                       "match by another --row-id.")
    duplicate = _duplicate(keys)
    if duplicate is not None:
        raise CalibrationError(f"{name} has more than one row with {' + '.join(columns)} = {duplicate!r}; match by a "
                               "unique row id instead (--row-id COLUMN, repeatable for a key of several columns).")
    return keys


def row_keys(dataset, columns: Sequence[str], question_ids: list[str], *, question_id_column: str,
             teacher_column: str) -> list[tuple]:
    """The key of every row: its values in `columns` (the question id read as `question_ids`, the teacher as text)."""
    def values(column: str) -> list:
        if column == question_id_column:
            return question_ids
        if column == teacher_column:
            return [str(t) for t in dataset[column]]
        feature = dataset.features.get(column)
        if feature is not None and not hasattr(feature, "dtype"):  # a list, a struct: not a key
            raise CalibrationError(f"--row-id {column}: the column holds {type(feature).__name__} values, not single "
                                   "values (text or numbers); name a column of ids.")
        return dataset[column]

    return list(zip(*(values(c) for c in columns), strict=True))


def row_id_columns(row_id: str | Sequence[str] | None) -> tuple[str, ...]:
    """`--row-id` values as key columns: one name, several (repeated or comma-separated), or none.

    Example:
        ```python
        >>> row_id_columns(["question_id,teacher", "generation_index"])
        ('question_id', 'teacher', 'generation_index')

        ```
    """
    if row_id is None:
        return ()
    items = [row_id] if isinstance(row_id, str) else list(row_id)
    columns = tuple(c.strip() for item in items for c in item.split(","))
    if any(not c for c in columns) or len(set(columns)) != len(columns):
        raise ConfigError(f"--row-id takes column names (repeat it, or separate them with commas), each once; got "
                          f"{', '.join(items)!r}.")
    return columns


def calibrate(
    a,
    b,
    *,
    name_a: str = "A",
    name_b: str = "B",
    row_id_column: str | Sequence[str] | None = None,
    correct_column: str | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    text_columns: Sequence[str] = ("response", "steps", "question"),
) -> Calibration:
    """Compare the same rows scored by two students: `a` (the proxy) and `b` (the student).

    Args:
        a, b (`datasets.Dataset`): scored rows (`teacher`, `lalp`, `galp`, a question id or text).
        name_a, name_b (`str`): names for the report (file names or student models).
        row_id_column (`str` or `Sequence[str]`, *optional*): match rows by this column, or by these columns
            together (a composite key; `"a,b"` is read as two columns); default: by (question id, teacher), and
            `generation_index` too when both files have that column and the three columns are unique in both.
        correct_column (`str`, *optional*): the selections keep only rows where it is `True` (read from `b`).
        num_resamples, confidence, seed: bootstrap settings (over questions).
        teacher_column, question_column, question_id_column (`str`): column names.
        text_columns (`Sequence[str]`): columns that must be equal in both files on every matched row (when both
            files have them).

    Returns:
        `Calibration`

    Raises:
        CalibrationError: a row in one file only, a duplicated key, or a matched row whose text differs.
        ColumnError: a needed column is missing.
        ConfigError: bad bootstrap settings, or a `row_id_column` that names a column twice.
    """
    check_bootstrap(num_resamples, confidence)
    key_columns = row_id_columns(row_id_column)
    for dataset, name in ((a, name_a), (b, name_b)):
        require_columns(dataset, [teacher_column, "lalp", "galp"] + [c for c in key_columns
                                                                     if c != question_id_column],
                        what=f"calibration ({name})")
    qa = question_ids(a, question_column=question_column, question_id_column=question_id_column)
    qb = question_ids(b, question_column=question_column, question_id_column=question_id_column)
    key = dict(question_id_column=question_id_column, teacher_column=teacher_column)
    if key_columns:
        matched_by: tuple[str, ...] = key_columns
    else:
        matched_by = (question_id_column, teacher_column)
        with_generation = (*matched_by, GENERATION_COLUMN)
        if (GENERATION_COLUMN in a.column_names and GENERATION_COLUMN in b.column_names
                and _duplicate(row_keys(a, with_generation, qa, **key)) is None
                and _duplicate(row_keys(b, with_generation, qb, **key)) is None):
            matched_by = with_generation
    keys_a = _unique(row_keys(a, matched_by, qa, **key), matched_by, name_a)
    keys_b = _unique(row_keys(b, matched_by, qb, **key), matched_by, name_b)
    index_b = {k: i for i, k in enumerate(keys_b)}
    only_a = [k for k in keys_a if k not in index_b]
    set_a = set(keys_a)
    only_b = [k for k in keys_b if k not in set_a]
    if only_a or only_b:
        example = only_a[0] if only_a else only_b[0]
        raise CalibrationError(f"The files do not hold the same rows: {len(only_a)} only in {name_a}, {len(only_b)} "
                               f"only in {name_b} (e.g. {' + '.join(matched_by)} = {example!r}); score the same "
                               "input with both students.")
    pairs = [(i, index_b[k]) for i, k in enumerate(keys_a)]
    for column in text_columns:
        if column in a.column_names and column in b.column_names:
            ca, cb = a[column], b[column]
            bad = next((keys_a[i] for i, j in pairs if ca[i] != cb[j]), None)
            if bad is not None:
                raise CalibrationError(f"Row {bad!r} has a different {column!r} in {name_a} and {name_b}; the two "
                                       "files must hold the same rows (score the same input with both students).")
    questions = [qa[i] for i, _ in pairs]
    teachers = [str(t) for t in a[teacher_column]]
    teachers = [teachers[i] for i, _ in pairs]
    scores = {by: (np.array([np.nan if v is None else v for v in a[by]], dtype=float)[[i for i, _ in pairs]],
                   np.array([np.nan if v is None else v for v in b[by]], dtype=float)[[j for _, j in pairs]])
              for by in ("lalp", "galp")}
    unique_q = list(dict.fromkeys(questions))
    q_index = {q: n for n, q in enumerate(unique_q)}
    row_q = np.array([q_index[q] for q in questions])
    rows_of = [np.flatnonzero(row_q == n) for n in range(len(unique_q))]
    draws = draw_indices(np.random.default_rng(seed), num_resamples, len(unique_q), len(unique_q))

    spearmans, kendalls, compared = {}, {}, {}
    for by, (x, y) in scores.items():
        ok = ~np.isnan(x) & ~np.isnan(y)
        compared[by] = int(ok.sum())
        boot_s, boot_k = np.empty(num_resamples), np.empty(num_resamples)
        for r, draw in enumerate(draws):
            rows = np.concatenate([rows_of[q] for q in draw])
            rows = rows[ok[rows]]
            boot_s[r], boot_k[r] = spearman(x[rows], y[rows]), kendall_tau_b(x[rows], y[rows])
        spearmans[by] = Estimate(spearman(x[ok], y[ok]), interval(boot_s, confidence))
        kendalls[by] = Estimate(kendall_tau_b(x[ok], y[ok]), interval(boot_k, confidence))

    # teacher ranking: (question x teacher) mean LALP in each file, over questions complete in both
    teacher_names = list(dict.fromkeys(teachers))
    t_index = {t: n for n, t in enumerate(teacher_names)}
    sums = np.zeros((2, len(unique_q), len(teacher_names)))
    counts = np.zeros((2, len(unique_q), len(teacher_names)))
    x, y = scores["lalp"]
    for row, (q, t) in enumerate(zip(row_q, teachers)):
        for side, value in enumerate((x[row], y[row])):
            if not np.isnan(value):
                sums[side, q, t_index[t]] += value
                counts[side, q, t_index[t]] += 1
    complete = (counts > 0).all(axis=(0, 2))
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    teacher_kendall = share_same = None
    order_a = order_b = teacher_names
    if complete.any() and len(teacher_names) > 1:
        kept = np.flatnonzero(complete)
        ma, mb = means[0, kept].mean(axis=0), means[1, kept].mean(axis=0)
        order_a = [teacher_names[k] for k in np.argsort(-ma, kind="stable")]
        order_b = [teacher_names[k] for k in np.argsort(-mb, kind="stable")]
        position = {q: n for n, q in enumerate(kept)}
        boot_t, same = np.empty(num_resamples), np.empty(num_resamples)
        for r, draw in enumerate(draws):
            chosen = [position[q] for q in draw if q in position]
            if not chosen:
                boot_t[r], same[r] = np.nan, np.nan
                continue
            ra, rb = means[0, kept[chosen]].mean(axis=0), means[1, kept[chosen]].mean(axis=0)
            boot_t[r] = kendall_tau_b(ra, rb)
            same[r] = float((np.argsort(-ra, kind="stable") == np.argsort(-rb, kind="stable")).all())
        teacher_kendall = Estimate(kendall_tau_b(ma, mb), interval(boot_t, confidence))
        share_same = float(np.nanmean(same))

    # the same kept response: LALP selection in each file, same options
    same_pick, picked = None, 0
    options = dict(correct_column=correct_column, teacher_column=teacher_column, question_column=question_column,
                   question_id_column=question_id_column)
    if correct_column:
        require_columns(b, [correct_column], what="calibration")
        flags = b[correct_column]
        a = a.remove_columns([c for c in [correct_column] if c in a.column_names])
        a = a.add_column(correct_column, [flags[j] for _, j in pairs])
    picks = []
    for dataset, keys, qs in ((a, keys_a, qa), (b, keys_b, qb)):
        ids = dataset.add_column("_key_row", list(range(dataset.num_rows)))
        selected = select_responses(ids, by="lalp", with_messages=False, **options).selected
        picks.append({qs[i]: keys[i] for i in selected["_key_row"]})
    both = [q for q in unique_q if q in picks[0] and q in picks[1]]
    if both:
        agree = np.array([q in picks[0] and picks[0][q] == picks[1].get(q) for q in unique_q], dtype=float)
        has = np.array([q in picks[0] and q in picks[1] for q in unique_q])
        boot = np.array([agree[d][has[d]].mean() if has[d].any() else np.nan for d in draws])
        same_pick = Estimate(float(agree[has].mean()), interval(boot, confidence))
        picked = len(both)
    return Calibration(name_a, name_b, matched_by, len(pairs), len(unique_q), compared, spearmans, kendalls,
                       order_a, order_b, teacher_kendall, share_same, same_pick, picked, num_resamples, confidence,
                       seed)
