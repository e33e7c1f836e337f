"""The inputs a job takes, as users hold them: a path, a URL or a Hub id (`NAME=INPUT` names its teacher, as on the
command line), a `datasets.Dataset`, a list of those, or `{teacher: source}`; read into long rows (SPEC §9).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

Source = Union[str, os.PathLike, "datasets.Dataset"]  # noqa: F821 - a string annotation, datasets is imported lazily
Inputs = Union[Source, Sequence[Source], Mapping[str, Source]]


def stderr_echo(line: str) -> None:
    """The default `echo` of the jobs: one line to stderr (where the command prints its progress lines)."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Named:
    """One input: its teacher (`None`: none given), its label in messages, and the source (a `str` or a `Dataset`)."""

    teacher: str | None
    label: str
    source: Any

    @property
    def is_dataset(self) -> bool:
        return not isinstance(self.source, str)


def named_inputs(inputs: Inputs) -> list[Named]:
    """`inputs` as a list of `Named`: strings keep the command line's `NAME=INPUT` form, dict keys are teachers as
    they are written (a name with `/` is fine), `Dataset`s are labelled `<Dataset i: N rows>` (`io.pool.source_name`).

    Raises:
        ConfigError: no input, or an input of another type.
    """
    from ..errors import ConfigError
    from ..io import split_named_input
    from ..io.pool import source_name

    if isinstance(inputs, Mapping):
        pairs = [(str(teacher), source) for teacher, source in inputs.items()]
    elif isinstance(inputs, str | os.PathLike) or hasattr(inputs, "column_names"):
        pairs = [(None, inputs)]
    else:
        pairs = [(None, source) for source in inputs]
    if not pairs:
        raise ConfigError("No input given: pass a path, a URL, a Hub id, a datasets.Dataset, a list of them, or "
                          "{teacher: source}.")
    out = []
    for index, (teacher, source) in enumerate(pairs):
        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        if isinstance(source, str):
            if teacher is None:
                teacher, plain = split_named_input(source)
                out.append(Named(teacher, source, plain))
            else:
                out.append(Named(teacher, f"{teacher}={source}", source))
        elif hasattr(source, "column_names"):
            label = source_name(source, index)
            out.append(Named(teacher, f"{teacher}={label}" if teacher else label, source))
        else:
            raise ConfigError(f"An input must be a path, a URL, a Hub id or a datasets.Dataset, not "
                              f"{type(source).__name__}.")
    return out


def read_named(named: Sequence[Named], *, config: str | None = None, split: str | None = None,
               storage_options: dict | None = None, teacher: str | None = None,
               echo: Callable[[str], None] = stderr_echo, **shape):
    """Read every input, make it long (`io.to_long` with `shape`) and pool the rows in order (`io.read_inputs`),
    saying how each was read through `echo`. Returns the long `Dataset`."""
    from ..io import load_input, read_inputs

    given = {item.label: item.source for item in named if item.is_dataset}

    def load(source: str):
        if source in given:
            return given[source]
        return load_input(source, config=config, split=split, storage_options=storage_options or {})

    sources = [(item.teacher, item.label if item.is_dataset else item.source) for item in named]
    dataset, lines = read_inputs(sources, load, teacher=teacher, **shape)
    for line in lines:
        echo(line)
    return dataset


def shape_options(question_column: str | None, response_column: str | Sequence[str] | None,
                  messages_column: str | None, teacher_column: str | None,
                  explode_with: str | Sequence[str] | None) -> dict:
    """The SPEC §9 shape options of `io.to_long`, from a job's keyword arguments (one column or several)."""
    columns = [response_column] if isinstance(response_column, str) else list(response_column or [])
    explode = [explode_with] if isinstance(explode_with, str) else list(explode_with or [])
    return dict(question_column=question_column, response_columns=columns or None, messages_column=messages_column,
                teacher_column=teacher_column, explode_with=tuple(explode))


def sample(dataset, sample_questions: int | None, seed: int, echo: Callable[[str], None]):
    """`(dataset, QuestionSample | None)`: every response to `sample_questions` questions drawn by `seed`
    (`io.questions.sample_questions`), said through `echo`; the whole dataset when `None`."""
    if sample_questions is None:
        return dataset, None
    from ..io.questions import sample_questions as draw

    dataset, drawn = draw(dataset, sample_questions, seed)
    echo(drawn.describe())
    return dataset, drawn
