"""A sample of questions to score first (`localnat score --sample-questions N --seed S`, `localnat estimate`).

The draw is a pure function of each question's text and the seed: every distinct question gets the key
`sha256(f"{seed}\\n{question}")` (its first 8 bytes, big-endian), and the `N` questions with the smallest keys are
drawn (equal keys, never seen in practice, by text). So it does not depend on row order, on the teachers, or on
which inputs are read together: the same questions are drawn for every teacher, in separate runs over separate inputs
and across reruns, whenever the inputs hold the same questions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .columns import require_columns


def question_key(question: str, seed: int) -> int:
    """The draw key of a question text under `seed`: the first 8 bytes of `sha256(f"{seed}\\n{question}")`.

    Example:
        ```python
        >>> question_key("What is 2 + 2?", 0) == question_key("What is 2 + 2?", 0)
        True
        >>> question_key("What is 2 + 2?", 0) == question_key("What is 2 + 2?", 1)
        False

        ```
    """
    digest = hashlib.sha256(f"{seed}\n{question}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def draw_questions(questions: list[str], num_questions: int, seed: int) -> list[str]:
    """The `num_questions` of the distinct `questions` with the smallest `question_key` (all when there are fewer),
    in key order."""
    distinct = sorted(set(questions), key=lambda q: (question_key(q, seed), q))
    return distinct[:num_questions]


@dataclass(frozen=True)
class QuestionSample:
    """What `sample_questions` drew.

    Attributes:
        num_questions (`int`): the `N` asked for; seed (`int`): the seed.
        drawn (`int`): distinct questions drawn (`N`, or every question when the input has fewer).
        available (`int`): distinct questions in the input.
        rows (`int`): rows kept (every response to a drawn question).
    """

    num_questions: int
    seed: int
    drawn: int
    available: int
    rows: int

    def describe(self) -> str:
        """One line for the terminal."""
        if self.drawn == self.available:
            return (f"Sample of questions: all {self.available} (asked for {self.num_questions}, seed {self.seed}); "
                    f"{self.rows} rows.")
        return (f"Sample of questions: {self.drawn} of {self.available} (seed {self.seed}), every response to each: "
                f"{self.rows} rows.")

    def to_dict(self) -> dict[str, int]:
        """`{"questions": N, "seed": S}`, as the provenance records it."""
        return {"questions": self.num_questions, "seed": self.seed}


def sample_questions(dataset, num_questions: int, seed: int = 0, *, question_column: str = "question"):
    """The rows of `dataset` (long rows, SPEC §9) whose question is among `draw_questions(..., num_questions, seed)`,
    in their order, and what was drawn.

    Args:
        dataset (`datasets.Dataset`): long rows with `question_column`.
        num_questions (`int`): `N`, the questions to draw (at least 1).
        seed (`int`, *optional*, defaults to 0): the seed of the draw.
        question_column (`str`, *optional*, defaults to `"question"`).

    Returns:
        `tuple[datasets.Dataset, QuestionSample]`

    Raises:
        ConfigError: `num_questions` is below 1.
        ColumnError: the dataset has no question column.
    """
    if isinstance(num_questions, bool) or not isinstance(num_questions, int) or num_questions < 1:
        raise ConfigError(f"--sample-questions takes a positive number of questions, got {num_questions!r}.")
    require_columns(dataset, [question_column], what="sampling questions")
    from .columns import arrow_column, as_labels, factorize

    codes, texts = factorize(as_labels(arrow_column(dataset, question_column)))
    drawn = set(draw_questions(texts, num_questions, seed))
    keep = np.array([t in drawn for t in texts], dtype=bool)[codes] if len(texts) else np.zeros(0, dtype=bool)
    rows = np.flatnonzero(keep)
    return dataset.select(rows), QuestionSample(num_questions, seed, len(drawn), len(texts), len(rows))
