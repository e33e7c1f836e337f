"""Evidence for a teacher ranking (SPEC §13): how sure the order is, how many questions it needs, how often each
teacher writes the best answer, how far teachers spread, and how well each score agrees with a known ranking.

Every figure comes from one set of paired resamples over questions (`bootstrap.resample`), the same for every score,
so the differences between scores are paired; the draws of `n` questions of `p_order(n)` are the resamples' first `n`
questions. Below `QUESTION_FLOOR` questions nothing is projected and the verdict asks for more questions. The
functions here take per-question teacher means as a matrix (questions x teachers) already multiplied by the score's
`sign` (higher = better), and are vectorised over resamples. `rank.rank_teachers` computes them;
`TeacherRanking.evidence` holds them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from ..errors import ConfigError
from ..wording import counted
from .bootstrap import Estimate, Resamples, extend, interval

#: The share of draws in which the order must hold for it to count as stable (SPEC §13).
STABLE_SHARE = 0.8
#: Below this many scored questions no projection is made and no interval is read as evidence: resampling a handful
#: of questions cannot see the spread between questions (docs/evidence.md says why 20).
QUESTION_FLOOR = 20
#: Projected sizes (draws of more questions than were scored) go up to this many times the questions ...
PROJECTION_FACTOR = 100
#: ... and never beyond this many questions.
PROJECTION_LIMIT = 100_000


def ladder(limit: int, start: int = 0) -> list[int]:
    """The question counts of SPEC §13, `10, 25, 50, 100, 250, 500, 1000, ...`, above `start` and up to `limit`.

    Example:
        ```python
        >>> ladder(300)
        [10, 25, 50, 100, 250]
        >>> ladder(1000, start=250)
        [500, 1000]

        ```
    """
    out, scale = [], 10
    while True:
        for step in (scale, scale * 5 // 2, scale * 5):
            if step > limit:
                return out
            if step > start:
                out.append(step)
        scale *= 10


def orders(signed_means: np.ndarray) -> np.ndarray:
    """Teacher indices best first along the last axis (ties keep the teacher order)."""
    return np.argsort(-signed_means, axis=-1, kind="stable")


def best_shares(signed: np.ndarray) -> np.ndarray:
    """For rows of teacher values (`(..., T)`), each teacher's share of being best, a tie of `j` giving each `1/j`;
    averaged over the rows: shape `(T,)`."""
    best = signed == signed.max(axis=-1, keepdims=True)
    share = best / best.sum(axis=-1, keepdims=True)
    return share.reshape(-1, signed.shape[-1]).mean(axis=0)


def same_order_share(signed_means: np.ndarray, order: np.ndarray) -> float | np.ndarray:
    """The share of draws (second-to-last axis) whose order (`orders`) equals `order`."""
    return (orders(signed_means) == order).all(axis=-1).mean(axis=-1)


def within_sd(row_values: np.ndarray, row_teacher: np.ndarray, num_teachers: int) -> float:
    """The standard deviation of row scores around their own teacher's mean, pooled over teachers:
    `sqrt(sum_t sum_rows (x - mean_t)^2 / (rows - teachers))` (NaN with no more rows than teachers)."""
    counts = np.bincount(row_teacher, minlength=num_teachers)
    means = np.bincount(row_teacher, weights=row_values, minlength=num_teachers) / np.maximum(counts, 1)
    residual = row_values - means[row_teacher]
    dof = len(row_values) - int((counts > 0).sum())
    return float(np.sqrt((residual @ residual) / dof)) if dof > 0 else float("nan")


def between_sd(means: np.ndarray) -> float:
    """The standard deviation of the teacher means (`ddof=1`; NaN for one teacher)."""
    return float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")


def _pair_signs(values: np.ndarray) -> np.ndarray:
    """`sign(v_i - v_j)` for every pair `i < j` of the last axis."""
    i, j = np.triu_indices(values.shape[-1], k=1)
    return np.sign(values[..., i] - values[..., j])


def pairwise_accuracy(signed_means: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The share of teacher pairs the means order as `truth` does, over the pairs `truth` does not tie (NaN when it
    ties every pair); over the last axis, so `signed_means` may hold one row per draw."""
    want = _pair_signs(truth)
    untied = want != 0
    if not untied.any():
        return np.full(signed_means.shape[:-1], np.nan)
    return (_pair_signs(signed_means)[..., untied] == want[untied]).mean(axis=-1)


def spearman_rows(signed_means: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Spearman's rho of every row of `signed_means` (`(B, T)`) with `truth`: the Pearson correlation of the
    average-tie ranks (`scipy.stats.rankdata`), NaN for a constant row."""
    ranks = stats.rankdata(signed_means, axis=-1)
    want = stats.rankdata(truth)
    ranks, want = ranks - ranks.mean(axis=-1, keepdims=True), want - want.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ranks @ want) / np.sqrt((ranks * ranks).sum(axis=-1) * (want @ want))


def kendall_rows(signed_means: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every row of `signed_means` (`(B, T)`) with `truth`, NaN for a constant row: over the
    teacher pairs, `(concordant - discordant) / sqrt(pairs untied in the row) / sqrt(pairs untied in truth)`, as
    `scipy.stats.kendalltau` computes it (clipped to [-1, 1]), for all rows at once."""
    row, want = _pair_signs(signed_means), _pair_signs(np.asarray(truth, dtype=float))
    untied_rows = np.count_nonzero(row, axis=-1).astype(float)
    untied_truth = float(np.count_nonzero(want))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (row @ want) / np.sqrt(untied_rows) / np.sqrt(untied_truth)
    tau[(untied_rows == 0) | (untied_truth == 0)] = np.nan
    return np.clip(tau, -1.0, 1.0)


def top1(signed_means: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Whether the best teacher by the means (the first on a tie) is among `truth`'s best, per row."""
    return (truth == truth.max())[np.argmax(signed_means, axis=-1)]


@dataclass(frozen=True)
class TruthAgreement:
    """How one score's teacher order agrees with a known ranking (higher truth value = better teacher).

    Attributes:
        kendall_tau_b, spearman, pairwise_accuracy (`Estimate`): between the score's teacher means (in its
            direction) and the truth values, each with a percentile interval over the resamples.
        top1 (`bool`): the score's best teacher is the truth's best.
        top1_share (`float`): the share of resamples in which it is; `top1_ci` its percentile interval.
    """

    kendall_tau_b: Estimate
    spearman: Estimate
    pairwise_accuracy: Estimate
    top1: bool
    top1_share: float
    top1_ci: tuple[float, float]


@dataclass(frozen=True)
class ScoreEvidence:
    """SPEC §13 for one score.

    Attributes:
        score (`str`), direction (`str`): the score column and the direction in which it is better.
        order (`list[str]`): the teachers, best first, on all questions.
        num_questions (`int`): the questions every ranked teacher answered with a score.
        p_top (`dict[str, float]`): per teacher, the share of resamples in which its mean is best (ties split).
        p_order (`float`): the share of resamples whose whole order equals `order`.
        winner_share (`dict[str, float]`): per teacher, the share of questions whose best response is its own (a
            tie of `j` teachers gives each `1/j`; a teacher's repeated answers are averaged first).
        within_sd (`float`): the standard deviation of the score around each teacher's own mean, pooled (rows).
        between_sd (`float`): the standard deviation of the teacher means.
        p_order_by_n (`dict[int, float]`): `p_order(n)` for the ladder sizes up to the questions (the draws of `n`
            questions are the first `n` questions of the resamples).
        stable_n (`int | None`): the smallest of them with `p_order(n) >= 0.8`, or `None`.
        projected_p_order_by_n (`dict[int, float]`): `p_order(n)` for ladder sizes above the questions, up to
            min(100 x questions, 100,000) (each resample continued by further questions drawn from those scored),
            computed only when the order is not stable on the questions at hand and they are at least
            `QUESTION_FLOOR`.
        projected_stable_n (`int | None`): the smallest projected size with `p_order(n) >= 0.8`, or `None`.

    `below_floor` says the questions are fewer than `QUESTION_FLOOR`: the verdict then asks for more questions
    instead of judging the order.
        truth (`TruthAgreement | None`): agreement with a known ranking, when one was given.
    """

    score: str
    direction: str
    order: list[str]
    num_questions: int
    p_top: dict[str, float]
    p_order: float
    winner_share: dict[str, float]
    within_sd: float
    between_sd: float
    p_order_by_n: dict[int, float]
    stable_n: int | None
    projected_p_order_by_n: dict[int, float] = field(default_factory=dict)
    projected_stable_n: int | None = None
    truth: TruthAgreement | None = None

    @property
    def below_floor(self) -> bool:
        """Fewer questions than `QUESTION_FLOOR`: no projection is made, and the resampled figures (intervals,
        `p_top`, `p_order`, `p_order(n)`) resample too few questions to see the spread between them."""
        return self.num_questions < QUESTION_FLOOR

    @property
    def verdict(self) -> str:
        """One line: from how many questions the order is stable, against the questions at hand, and what to do."""
        name, have = self.score.upper(), f"you have {self.num_questions}"
        if len(self.order) < 2:
            return f"{name}: one teacher, nothing to order."
        if self.below_floor:
            return (f"{name}: {counted(self.num_questions, 'question')} {'is' if self.num_questions == 1 else 'are'} "
                    f"too few to judge the order (its intervals resample only these): score at least {QUESTION_FLOOR} "
                    f"questions ({QUESTION_FLOOR - self.num_questions} more) before any projection is made.")
        if self.stable_n is not None:
            return f"{name}: order stable from ~{self.stable_n} questions ({have}): enough to act on this order."
        if self.p_order >= STABLE_SHARE:
            return (f"{name}: order stable on your {self.num_questions} questions (p_order {self.p_order:.2f}): "
                    "enough to act on this order.")
        if self.projected_stable_n is not None:
            return (f"{name}: projected stable from ~{self.projected_stable_n} questions ({have}; a projection that "
                    "assumes they are representative): score more questions before acting on it.")
        if self.projected_p_order_by_n:
            return (f"{name}: order not stable even at a projected {max(self.projected_p_order_by_n)} questions "
                    f"({have}, p_order {self.p_order:.2f}): these teachers are too close on this score to act on "
                    "their order.")
        return (f"{name}: order not stable on your {self.num_questions} questions (p_order {self.p_order:.2f}): "
                "these teachers are too close on this score to act on their order.")

    def to_dict(self) -> dict:
        """JSON-ready (int keys become strings, NaN becomes None)."""
        out = asdict(self)
        for key in ("p_order_by_n", "projected_p_order_by_n"):
            out[key] = {str(n): p for n, p in out[key].items()}
        out["ratio_within_between"] = (self.within_sd / self.between_sd if self.between_sd > 0 else None)
        out["below_floor"] = self.below_floor
        out["verdict"] = self.verdict
        return no_nan(out)


@dataclass(frozen=True)
class TruthLead:
    """Which score agrees best with the known ranking (by Kendall's tau-b), and by how much.

    Attributes:
        score (`str`): the score with the highest tau-b; runner_up (`str`): the next one.
        lead (`Estimate`): tau-b(score) - tau-b(runner_up), with the percentile interval of its paired resamples.
    """

    score: str
    runner_up: str
    lead: Estimate

    @property
    def separated(self) -> bool:
        """Whether the lead's interval stays above 0 (an interval that reaches 0 does not separate the two)."""
        return self.lead.ci[0] > 0


def no_nan(value):
    """`value` with every float NaN (in dicts, lists, tuples) replaced by `None`, tuples as lists."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [no_nan(v) for v in value]
    return value


class Truth(dict):
    """`{teacher: value}` from `--truth`, remembering where it came from (`source`, for messages)."""

    source: str = "--truth"


def parse_truth(items: Sequence[str]) -> Truth:
    """`--truth` values as `{teacher: value}`: each item is `NAME=VALUE`, or the path of a CSV (`teacher,value`
    columns, a header line optional) or JSON (an object `{teacher: value}` or a list of `{"teacher", "value"}`).

    Raises:
        ConfigError: an item is neither; a file is missing, a folder, empty, binary, too large, unreadable, not
            valid JSON or of another shape; a value is not a number, or a teacher is given twice.
    """
    import csv
    import json
    from pathlib import Path

    from ..io.small import read_option_file

    expect = "teacher,value lines or a JSON object {teacher: value}"
    pairs: list[tuple[str, object]] = []
    files: list[str] = []
    for item in items:
        name, sep, value = item.rpartition("=")
        if sep and name.strip() and not Path(item).exists():
            pairs.append((name.strip(), value))
            continue
        path = Path(item)
        if not path.exists() and (sep or not path.suffix):
            raise ConfigError(f"--truth takes NAME=VALUE or a CSV/JSON file of teacher,value; got {item!r}.")
        text = read_option_file(path, "--truth", expect=expect)
        files.append(item)
        before = len(pairs)
        if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
            try:
                data = json.loads(text)
            except ValueError as e:
                raise ConfigError(f"--truth {item} is not valid JSON ({e}); write a JSON object {{teacher: value}} "
                                  "or teacher,value CSV lines.") from e
            if isinstance(data, dict):
                pairs.extend((str(k), v) for k, v in data.items())
            elif isinstance(data, list) and all(isinstance(r, dict) and {"teacher", "value"} <= r.keys() for r in data):
                pairs.extend((str(r["teacher"]), r["value"]) for r in data)
            else:
                kind = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(
                    type(data), "null")
                raise ConfigError(f"--truth {item} holds a JSON {kind}; a truth JSON is an object "
                                  '{teacher: value} or a list of {"teacher": ..., "value": ...}.')
        else:
            rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
            if rows and len(rows[0]) >= 2 and not _is_number(rows[0][1]):
                rows = rows[1:]  # a header line
            for r in rows:
                if len(r) < 2:
                    raise ConfigError(f"--truth {item}: every line of a truth CSV is teacher,value; got "
                                      f"{','.join(r)[:80]!r}.")
                pairs.append((r[0].strip(), r[1]))
        if len(pairs) == before:
            raise ConfigError(f"--truth {item} names no teacher; write {expect}.")
    truth = Truth()
    truth.source = "--truth " + ", ".join(files) if files else "--truth"
    where = f"{truth.source}: " if files else "--truth: "
    for name, value in pairs:
        if not _is_number(value):
            raise ConfigError(f"{where}the value of teacher {name[:80]!r} must be a number, got {str(value)[:80]!r}.")
        if name in truth:
            raise ConfigError(f"{where}teacher {name[:80]!r} is given twice; give each teacher one value.")
        truth[name] = float(value)  # type: ignore[arg-type]
    return truth


def _is_number(value: object) -> bool:
    try:
        return bool(np.isfinite(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (`scipy.stats.spearmanr`); NaN with fewer than 2 values or a constant side."""
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x, y).statistic)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (`scipy.stats.kendalltau`); NaN with fewer than 2 values or a constant side."""
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.kendalltau(x, y).statistic)


def truth_agreement(signed_means: np.ndarray, signed_boot: np.ndarray, truth: np.ndarray,
                    confidence: float) -> tuple[TruthAgreement, np.ndarray]:
    """`TruthAgreement` of one score (teacher means `(T,)`, resample means `(B, T)`, both signed) with `truth`
    (`(T,)`); also returns the resamples' tau-b, for `TruthLead`."""
    boot_tau = kendall_rows(signed_boot, truth)
    boot_rho = spearman_rows(signed_boot, truth)
    boot_pairs = pairwise_accuracy(signed_boot, truth)
    boot_top = top1(signed_boot, truth).astype(float)
    agreement = TruthAgreement(
        kendall_tau_b=Estimate(kendall_tau_b(signed_means, truth), interval(boot_tau, confidence)),
        spearman=Estimate(spearman(signed_means, truth), interval(boot_rho, confidence)),
        pairwise_accuracy=Estimate(float(pairwise_accuracy(signed_means, truth)), interval(boot_pairs, confidence)),
        top1=bool(top1(signed_means, truth)),
        top1_share=float(boot_top.mean()),
        top1_ci=interval(boot_top, confidence),
    )
    return agreement, boot_tau


def truth_lead(taus: Mapping[str, float], boot_taus: Mapping[str, np.ndarray], confidence: float) -> TruthLead | None:
    """The score with the highest tau-b (`taus`), its runner-up, and the paired interval of the difference of their
    resamples' tau-b (`boot_taus`); `None` with fewer than two scores with a tau-b."""
    ranked = sorted((s for s in taus if not np.isnan(taus[s])), key=lambda s: -taus[s])
    if len(ranked) < 2:
        return None
    best, runner = ranked[0], ranked[1]
    return TruthLead(best, runner, Estimate(taus[best] - taus[runner],
                                            interval(boot_taus[best] - boot_taus[runner], confidence)))


def first_stable(curve: Mapping[int, float]) -> int | None:
    """The smallest `n` of `curve` with `p_order(n) >= 0.8`, or `None`."""
    return next((n for n in sorted(curve) if curve[n] >= STABLE_SHARE), None)


def _order_shares(means: np.ndarray, blocks: Mapping[str, slice], orders_: Mapping[str, np.ndarray],
                  ) -> dict[str, np.ndarray]:
    """Per score, `same_order_share` of its block of `means` (`(..., B, columns)`) with its order."""
    return {s: np.atleast_1d(same_order_share(means[..., block], orders_[s])) for s, block in blocks.items()}


def score_evidence(
    teachers: Sequence[str],
    signed: Mapping[str, np.ndarray],
    resamples: Resamples,
    rows: Mapping[str, tuple[np.ndarray, np.ndarray]],
    directions: Mapping[str, str],
    rng: np.random.Generator,
    *,
    truth: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> tuple[dict[str, ScoreEvidence], TruthLead | None]:
    """Every SPEC §13 figure for every score, from one set of resamples.

    Args:
        teachers (`Sequence[str]`): the ranked teachers, the columns of every matrix.
        signed (`Mapping[str, np.ndarray]`): per score, the (questions x teachers) matrix of per-question teacher
            means, multiplied by the score's sign (higher = better).
        resamples (`Resamples`): the paired resamples (`bootstrap.resample`) over the signed matrices side by side
            in the order of `signed`, with the prefixes `ladder(Q)`: the draws of `n` questions of `p_order(n)` are
            the resamples' first `n` questions.
        rows (`Mapping[str, tuple]`): per score, the row values and each row's teacher index, for `within_sd`.
        directions (`Mapping[str, str]`): per score, `"higher"` or `"lower"`.
        rng (`np.random.Generator`): draws the questions past `Q` of the projection (after the resamples were
            drawn from it).
        truth (`Mapping[str, float]`, *optional*): a known value per teacher (higher = better), for every teacher.
        confidence (`float`): coverage of the truth intervals.

    Returns:
        `(dict[str, ScoreEvidence], TruthLead | None)`.
    """
    names = list(signed)
    num_teachers = len(teachers)
    num_questions = resamples.num_questions
    blocks = {s: slice(k * num_teachers, (k + 1) * num_teachers) for k, s in enumerate(names)}
    boot = resamples.means
    full = {s: signed[s].mean(axis=0) for s in names}
    order = {s: orders(full[s]) for s in names}
    p_order = {s: float(same_order_share(boot[:, blocks[s]], order[s])) for s in names}
    sizes = ladder(num_questions)
    if tuple(sizes) != resamples.prefixes:
        raise ValueError(f"the resamples' prefixes must be ladder({num_questions}) = {sizes}")
    shares = _order_shares(resamples.prefix_means, blocks, order) if sizes else {s: [] for s in names}
    curves = {s: {n: float(p) for n, p in zip(sizes, shares[s], strict=True)} for s in names}
    stable = {s: first_stable(curves[s]) for s in names}
    unsure = [s for s in names if stable[s] is None and num_teachers > 1 and num_questions >= QUESTION_FLOOR
              and p_order[s] < STABLE_SHARE]
    projected: dict[str, dict[int, float]] = {}
    beyond = ladder(min(PROJECTION_FACTOR * num_questions, PROJECTION_LIMIT), start=num_questions)
    if unsure and beyond:
        columns = np.concatenate([np.arange(blocks[s].start, blocks[s].stop) for s in unsure])
        means = extend(np.concatenate([signed[s] for s in unsure], axis=1), resamples.columns(columns), beyond, rng)
        shares = _order_shares(means, {s: slice(k * num_teachers, (k + 1) * num_teachers)
                                       for k, s in enumerate(unsure)}, order)
        projected = {s: {n: float(p) for n, p in zip(beyond, shares[s], strict=True)} for s in unsure}
    truth_values = None if truth is None else np.array([truth[t] for t in teachers], dtype=float)
    agreements, taus, boot_taus = {}, {}, {}
    if truth_values is not None:
        for s in names:
            agreements[s], boot_taus[s] = truth_agreement(full[s], boot[:, blocks[s]], truth_values, confidence)
            taus[s] = agreements[s].kendall_tau_b.value
    out = {}
    for s in names:
        values, row_teacher = rows[s]
        sign = 1.0 if directions[s] == "higher" else -1.0
        out[s] = ScoreEvidence(
            score=s, direction=directions[s], order=[teachers[i] for i in order[s]], num_questions=num_questions,
            p_top=dict(zip(teachers, best_shares(boot[:, blocks[s]]).tolist(), strict=True)),
            p_order=p_order[s],
            winner_share=dict(zip(teachers, best_shares(signed[s]).tolist(), strict=True)),
            within_sd=within_sd(values, row_teacher, len(teachers)),
            between_sd=between_sd(sign * full[s]),
            p_order_by_n=curves[s], stable_n=stable[s],
            projected_p_order_by_n=projected.get(s, {}), projected_stable_n=first_stable(projected.get(s, {})),
            truth=agreements.get(s),
        )
    return out, (truth_lead(taus, boot_taus, confidence) if truth_values is not None else None)
