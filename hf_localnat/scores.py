"""The score columns a run can write (SPEC §7, §11) and the direction of each, declared once here.

Ranking, selection, calibration, cards and publishing read a score's direction from this module (or from the
direction a user declared for a column of their own); none of them assumes "higher is better".

Imports only the standard library and `hf_localnat.errors`, so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from .errors import ConfigError

Direction = Literal["higher", "lower"]

#: Every score column this project writes, with the direction in which it is better (SPEC §11).
SCORE_DIRECTIONS: dict[str, Direction] = {
    "lalp": "higher",
    "galp": "higher",
    "lalp_drop": "higher",
    "galp_drop": "higher",
    "rsr": "lower",
}

#: The option that declares the direction of a column this project does not know (CLI spelling).
DIRECTION_OPTION = "--direction"


def parse_direction(text: str) -> tuple[str, Direction]:
    """`"COLUMN=higher"` or `"COLUMN=lower"` as `(column, direction)`.

    Raises:
        ConfigError: the text is not of that form.
    """
    column, sep, direction = text.partition("=")
    direction = direction.strip().lower()
    if not sep or not column.strip() or direction not in ("higher", "lower"):
        raise ConfigError(f"{DIRECTION_OPTION} takes COLUMN=higher or COLUMN=lower, got {text!r}.")
    return column.strip(), direction  # type: ignore[return-value]


def score_direction(column: str, declared: Mapping[str, str] | None = None) -> Direction:
    """The direction in which `column` is better: the one declared for it (`declared`, e.g. from
    `--direction COLUMN=lower` or a scored file's provenance), else this project's own (`SCORE_DIRECTIONS`).

    Raises:
        ConfigError: neither knows the column; the message names the option that declares it.
    """
    if declared and column in declared:
        direction = str(declared[column]).lower()
        if direction not in ("higher", "lower"):
            raise ConfigError(f"The direction of {column!r} must be 'higher' or 'lower', got {declared[column]!r}.")
        return direction  # type: ignore[return-value]
    if column in SCORE_DIRECTIONS:
        return SCORE_DIRECTIONS[column]
    raise ConfigError(f"Score column {column!r} has no known direction; declare it with "
                      f"{DIRECTION_OPTION} {column}=higher (or {column}=lower) so nothing is sorted the wrong way.")


def sign(direction: Direction) -> float:
    """`+1.0` for `"higher"`, `-1.0` for `"lower"`: multiply a score by it and higher is always better."""
    return 1.0 if direction == "higher" else -1.0


def better_word(direction: Direction) -> str:
    """`"Higher"` or `"Lower"`, for lines such as "Lower = better"."""
    return direction.capitalize()
