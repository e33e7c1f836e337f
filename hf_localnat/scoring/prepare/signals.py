"""The trace columns of an agent trace (SPEC §14), from its turns alone: no model.

`num_tool_calls`, `repeat_share`, `error_share`, `observation_share` (and `num_steps`, the assistant turns, written
with every score). They have no declared direction: ranking or selecting by one needs `--direction COLUMN=higher`
(or `=lower`), since published evidence differs by dataset. Their names and types live in `hf_localnat.records`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ...io.turns import Turn

#: What marks a tool result as an error (SPEC §14), any of them (Python `re`).
ERROR_PATTERNS: tuple[str, ...] = (r"Traceback \(most recent call last\)", r"\bError:", r"\berror:",
                                   r"command not found", r"No such file or directory", r"[Ee]xit code:? [1-9]",
                                   r"non-zero exit status")
_ERROR = re.compile("|".join(f"(?:{p})" for p in ERROR_PATTERNS))
_SPACE = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def turn_key(turn: Turn) -> tuple[str, tuple[str, ...]]:
    """What two assistant turns must share to be a repeat: content and calls (each call as sorted-keys JSON),
    whitespace runs collapsed to one space and stripped."""
    return _normal(turn.content), tuple(_normal(call.as_json(sort_keys=True)) for call in turn.tool_calls)


def repeat_share(assistant_turns: Sequence[Turn]) -> float | None:
    """The share of assistant turns equal (`turn_key`) to an earlier one of the same trace; `None` without any.

    Example:
        >>> repeat_share([Turn("assistant", "ls"), Turn("assistant", " ls\\n"), Turn("assistant", "cat")])
        0.3333333333333333
    """
    if not assistant_turns:
        return None
    seen: set = set()
    repeats = 0
    for turn in assistant_turns:
        key = turn_key(turn)
        repeats += key in seen
        seen.add(key)
    return repeats / len(assistant_turns)


def error_share(observations: Sequence[str]) -> float | None:
    """The share of the non-assistant turns after the head whose content matches `ERROR_PATTERNS`; `None` when
    there are none.

    Example:
        >>> error_share(["ok", "bash: pyhton: command not found"]), error_share([])
        (0.5, None)
    """
    if not observations:
        return None
    return sum(bool(_ERROR.search(text)) for text in observations) / len(observations)


def trace_signals(
    turns: Sequence[Turn],
    head_end: int,
    capped: Sequence[str],
    count_tokens: Callable[[str], int],
) -> dict[str, float | int | None]:
    """The trace columns of one trace (SPEC §14).

    Args:
        turns (`Sequence[Turn]`): every turn, as read (`io.turns.read_turns`).
        head_end (`int`): the index of the first assistant turn (the head is `turns[:head_end]`).
        capped (`Sequence[str]`): the contents of `turns[head_end:]` after the observation cap (assistant turns as
            they are; calls never written into them).
        count_tokens (`Callable[[str], int]`): the student's token count of a text (`add_special_tokens=False`).

    Returns:
        `dict`: `num_tool_calls`, `repeat_share`, `error_share`, `observation_share`.
    """
    after = turns[head_end:]
    observations = [i for i, t in enumerate(after) if t.role != "assistant"]
    tokens = [count_tokens(text) for text in capped]
    total = sum(tokens)
    return {
        "num_tool_calls": sum(len(t.tool_calls) for t in turns),
        "repeat_share": repeat_share([t for t in after if t.role == "assistant"]),
        "error_share": error_share([capped[i] for i in observations]),  # "every input below sees the capped turns"
        "observation_share": sum(tokens[i] for i in observations) / total if total else None,
    }
