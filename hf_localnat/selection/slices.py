"""Pilot slices of a scored pool for a validation fine-tune: the top, middle and bottom fraction of its rows by a
score, in the score's direction (SPEC §11), each row with its `messages` (SPEC §9).

Train a student on each slice: if the score orders traces by their downstream value, the top slice trains the best
student and the bottom one the worst.

The rule, exactly: the candidates are the rows with a finite score (and, with a correctness column, only the rows
where it is true; with `where` filters, only the rows that pass them all); they are ordered best first in the score's
direction, ties in input order; with `N` candidates and `k = floor(fraction * N)` (at least 1 and `fraction <= 1/3`,
so the slices never overlap), `top` is positions
`[0, k)`, `middle` is `[(N - k) // 2, (N - k) // 2 + k)` (the `k` around the median) and `bottom` is `[N - k, N)`.
No randomness is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, SelectionError
from ..io.columns import require_columns
from ..scores import score_direction, sign
from .where import parse_conditions, where_reasons
from ..wording import counted
from .layout import arrow_column, as_labels, check_correctness_column, factorize, score_array

#: The slices, in the order they are published.
SLICES: tuple[str, ...] = ("top", "middle", "bottom")
#: The largest fraction: three slices of a third each fill the pool without overlapping.
MAX_FRACTION = 1 / 3


def slice_bounds(num_candidates: int, fraction: float) -> dict[str, tuple[int, int]]:
    """`(start, stop)` of every slice among `num_candidates` rows ordered best first.

    Raises:
        ConfigError: `fraction` is not in `(0, 1/3]`.
        SelectionError: `floor(fraction * num_candidates)` is 0 (too few candidates for the fraction).

    Example:
        ```python
        >>> slice_bounds(10, 0.2)
        {'top': (0, 2), 'middle': (4, 6), 'bottom': (8, 10)}

        ```
    """
    if not 0 < fraction <= MAX_FRACTION + 1e-12:
        raise ConfigError(f"--fraction must be in (0, 1/3] so that the three slices do not overlap, got {fraction!r}.")
    k = int(np.floor(fraction * num_candidates + 1e-9))
    if k < 1:
        raise SelectionError(f"A fraction of {fraction:g} of {num_candidates} candidate rows is no row; give a larger "
                             "--fraction or score more rows.")
    middle = (num_candidates - k) // 2
    return {"top": (0, k), "middle": (middle, middle + k), "bottom": (num_candidates - k, num_candidates)}


@dataclass(frozen=True)
class ScoreSlice:
    """One slice of a scored pool.

    Attributes:
        name (`str`): `"top"`, `"middle"` or `"bottom"`.
        rows (`datasets.Dataset`): its rows, best first, with `slice`, `slice_position` (1 = the best candidate of
            the pool) and `messages`.
        by (`str`), direction (`str`), fraction (`float`): the rule.
        correct_column (`str | None`): the correctness filter, if any.
        num_candidates (`int`): the rows ranked (finite score, and correct when filtered).
        start, stop (`int`): the slice's positions among them, `[start, stop)`.
        teacher_counts (`dict[str, int]`): rows per teacher in the slice.
        where (`tuple[str, ...]`): the validity filters every candidate passed (`where.Condition.text`).
    """

    name: str
    rows: object
    by: str
    direction: str
    fraction: float
    correct_column: str | None
    num_candidates: int
    start: int
    stop: int
    teacher_counts: dict[str, int]
    where: tuple[str, ...] = ()

    @property
    def pool_rule(self) -> str:
        """The rule the three slices share, in one sentence (the card's)."""
        filters = f"rows with a finite {self.by}" + (f" and {self.correct_column} true" if self.correct_column else "")
        filters += f", passing {' and '.join(self.where)}" if self.where else ""
        return (f"by {self.by} ({self.direction} = better), fraction {self.fraction:g}: the {self.num_candidates} "
                f"{filters}, ordered best first (ties in input order); k = floor({self.fraction:g} x "
                f"{self.num_candidates}) = {self.stop - self.start}; top = the first k, middle = the k from position "
                "(N - k) // 2 + 1, bottom = the last k. No randomness.")

    @property
    def rule(self) -> str:
        """This slice's rule: its name, positions and `pool_rule`."""
        return f"{self.name}: positions {self.start + 1} to {self.stop}, {self.pool_rule}"

    def summary(self) -> str:
        """One line: the slice, its rows and the rows per teacher."""
        counts = ", ".join(f"{t} {n}" for t, n in self.teacher_counts.items())
        return f"{self.name}: {counted(self.rows.num_rows, 'row')} ({counts})."


def score_slices(
    dataset,
    *,
    by: str = "lalp",
    fraction: float = 0.1,
    names: Sequence[str] = SLICES,
    directions: Mapping[str, str] | None = None,
    correct_column: str | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    response_column: str = "response",
    where: Sequence[str] | str | None = None,
) -> dict[str, ScoreSlice]:
    """The `names` slices (of `top`, `middle`, `bottom`) of `dataset` by `by`, in its direction (module docstring).

    Args:
        dataset (`datasets.Dataset`): scored rows in the long layout.
        by (`str`, *optional*, defaults to `"lalp"`): any numeric score column whose direction is known.
        fraction (`float`, *optional*, defaults to 0.1): the share of the candidates in each slice, in `(0, 1/3]`.
        names (`Sequence[str]`, *optional*): the slices to make.
        directions (`Mapping[str, str]`, *optional*): the direction of a column this project does not know.
        correct_column (`str`, *optional*): a boolean column; only rows where it is true are candidates.
        teacher_column, question_column, response_column (`str`): column names (`messages` needs the last two).
        where (`Sequence[str]`, *optional*): validity filters every candidate must pass (`select_responses`'s
            `where`; `hf_localnat.selection.where`).

    Returns:
        `dict[str, ScoreSlice]`, in the order of `names`.

    Raises:
        ColumnError: a needed column is missing, or `by` does not hold numbers.
        ConfigError: an unknown slice, a `fraction` out of range, or a score without a known direction.
        SelectionError: no candidate row, or too few for the fraction.

    Example:
        ```python
        >>> from datasets import Dataset
        >>> ds = Dataset.from_dict({"question": list("abcdef"), "response": list("uvwxyz"), "teacher": list("xyxyxy"),
        ...                         "rsr": [6.0, 1.0, 5.0, 2.0, 4.0, 3.0]})
        >>> slices = score_slices(ds, by="rsr", fraction=1 / 3)
        >>> [list(slices[name].rows["rsr"]) for name in ("top", "middle", "bottom")]
        [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]

        ```
    """
    unknown = [n for n in names if n not in SLICES]
    if unknown or not names:
        raise ConfigError(f"Unknown slice {unknown!r}; use top, middle or bottom.")
    direction = score_direction(by, directions)
    conditions = parse_conditions(where)
    require_columns(dataset, [teacher_column, by] + ([correct_column] if correct_column else []), what="slicing")
    values, candidate = score_array(dataset, by)
    if conditions:
        candidate &= where_reasons(dataset, conditions) == None  # noqa: E711 (elementwise on an object array)
    if correct_column:
        correct = check_correctness_column(dataset, correct_column)
        candidate &= np.asarray(pc.fill_null(correct, False).to_numpy(zero_copy_only=False), dtype=bool) if (
            pa.types.is_boolean(correct.type)) else np.zeros(len(values), dtype=bool)
    candidates = np.flatnonzero(candidate)
    if not len(candidates):
        raise SelectionError(f"No row has a finite {by}" + (f" and {correct_column} = true" if correct_column else "")
                             + "".join(f" and passes {c.text!r}" for c in conditions)
                             + ("; loosen the --where filters." if conditions
                                else "; score the dataset first (localnat score)."))
    best_first = candidates[np.argsort(-sign(direction) * values[candidates], kind="stable")]
    bounds = slice_bounds(len(best_first), fraction)
    teacher_codes, teachers = factorize(as_labels(arrow_column(dataset, teacher_column)))
    position = np.zeros(len(values), dtype=np.int64)
    position[best_first] = np.arange(1, len(best_first) + 1)
    label = np.full(len(values), None, dtype=object)
    for name in names:
        label[best_first[slice(*bounds[name])]] = name
    in_any = label != None  # noqa: E711 (elementwise on an object array)
    full = dataset
    from .messages import add_messages, can_add_messages

    if can_add_messages(dataset.column_names, question_column=question_column, response_column=response_column):

        full, _ = add_messages(dataset, in_any, question_column=question_column, response_column=response_column)
    # the columns go on the whole dataset, then each slice is selected: no copy of a slice is flattened
    full = full.add_column("slice", pa.array(label, pa.string())).add_column("slice_position",
                                                                             pa.array(position, pa.int64()))
    out = {}
    for name in names:
        rows = best_first[slice(*bounds[name])]
        counts = np.bincount(teacher_codes[rows], minlength=len(teachers))
        out[name] = ScoreSlice(name, full.select(rows), by, direction, fraction, correct_column, len(best_first),
                               *bounds[name], {t: int(c) for t, c in zip(teachers, counts, strict=True) if c},
                               tuple(c.text for c in conditions))
    return out
