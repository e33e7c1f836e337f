"""The scored inputs of the jobs past scoring (`rank_teachers`, `select`, `inspect`, `calibrate`, `publish`): what a
user holds, pooled into one dataset with the provenance its parts share (`io.pool.pool_scored`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..wording import counted

if TYPE_CHECKING:
    import datasets

    from ..provenance import Provenance

#: A scored input: a path, URL or Hub id, a `datasets.Dataset`, a list of them (pooled in order), or
#: `{teacher: source}` (each source's rows are that teacher's).
ScoredInput = Union[str, os.PathLike, "datasets.Dataset", Sequence[Any], Mapping[str, Any]]


@dataclass
class Pooled:
    """Scored inputs read as one dataset.

    Attributes:
        dataset (`datasets.Dataset`): the pooled rows, inputs in the order given.
        provenance (`Provenance | None`): how every input was scored (`None`: not recorded, or ignored).
        names (`list[str]`): each input as messages name it (a path, or `<Dataset 1: 32 rows>`).
    """

    dataset: datasets.Dataset
    provenance: Provenance | None
    names: list[str]

    @property
    def pooled_line(self) -> str | None:
        """The report line naming the pooled inputs (`None` for one input)."""
        return pooled_line(self.names, self.dataset.num_rows)


def sources_of(scored: ScoredInput) -> tuple[list[Any], list[str | None] | None]:
    """`scored` as a list of sources and, for `{teacher: source}`, the teacher of each."""
    if isinstance(scored, Mapping):
        return list(scored.values()), [str(teacher) for teacher in scored]
    if isinstance(scored, (str, os.PathLike)) or hasattr(scored, "column_names"):
        return [scored], None
    return list(scored), None


def names_of(scored: ScoredInput) -> list[str]:
    """How messages and `--json`'s `inputs` name each input of `scored` (`{teacher: source}`: `teacher=source`)."""
    from ..io.pool import source_name

    sources, teachers = sources_of(scored)
    names = [source_name(s, i) for i, s in enumerate(sources)]
    return names if teachers is None else [f"{t}={n}" for t, n in zip(teachers, names, strict=True)]


def provenance_of(scored: ScoredInput, *, storage_options: Mapping[str, Any] | None = None,
                  ignore_provenance: bool = False) -> Provenance | None:
    """The provenance `pool(scored)` returns, read without loading a row (to check flags before the work)."""
    from ..io.pool import pool_provenance

    if ignore_provenance:
        return None
    sources, _ = sources_of(scored)
    return pool_provenance(sources, storage_options=storage_options)


def pool(scored: ScoredInput, *, config: str | None = None, split: str | None = None,
         storage_options: Mapping[str, Any] | None = None, ignore_provenance: bool = False,
         teacher_column: str = "teacher", question_column: str = "question",
         question_id_column: str = "question_id") -> Pooled:
    """Read `scored` (see `ScoredInput`) as one dataset; inputs scored differently are refused.

    Raises:
        ProvenanceError, ColumnError, InputError: as `io.pool.pool_scored`.
    """
    from ..io.pool import pool_scored

    sources, teachers = sources_of(scored)
    names = names_of(scored)
    dataset, provenance = pool_scored(sources, config=config, split=split, storage_options=storage_options,
                                      ignore_provenance=ignore_provenance, question_column=question_column,
                                      question_id_column=question_id_column, teachers=teachers,
                                      teacher_column=teacher_column)
    return Pooled(dataset, provenance, names)


def pooled_line(names: Sequence[str], num_rows: int) -> str | None:
    """The report line naming the pooled inputs (`None` for one input, whose report is unchanged)."""
    if len(names) < 2:
        return None
    return f"Pooled {len(names)} inputs ({counted(num_rows, 'row')}, in this order): {', '.join(names)}."
