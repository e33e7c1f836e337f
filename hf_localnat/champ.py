"""Real multi-teacher traces: the CHAMP competition-math dataset (PyPI `champ-dataset==1.0.0`, MIT) in the long layout.

CHAMP ships 270 problems, each with a ground-truth answer, and the conversations of four real models (`GPT-3.5`,
`GPT-4`, `GPT-4 Turbo`, `PaLM 2 Medium`) under 18 prompt settings (`0-Shot`, `5-Shot`, hints, partial solutions, ...).
Every conversation ends with the user asking "Now, summarize the answer above in one sentence, without any
intermediate steps or explanations." and the model's one-sentence summary. `champ_long_format` turns it into one row
per (problem, model, setting): `question_id`, `question`, `response`, `teacher`, `correct`, and the evidence behind
`correct` (`answer`, `summary`, `correct_reason`).

How `correct` is decided (`judge_answer`), conservatively: a wrong `True` would let a wrong trace into the curated
data, so whenever the rules below cannot tell, `correct` is `None` (and `localnat select --correct-column correct`
then rejects the row as `unknown_correctness`).

1. The ground truth is read as one of two kinds, else it is not judged (`None`, reason `answer_not_numeric`):
   - a **number**: after cutting `", or equivalently ..."` alternatives into separate forms, dropping a trailing
     parenthesis (`"100 (i.e., all values)"` -> `"100"`), and reading the templates `"N"`, `"N is the only possible
     value"`, `"The limit exists and is equal to N"`, `"The only possible value for the limit is N"` and `"N <noun>"`
     (`"2 inequalities"`, `"98 values"`), where N is an integer or a fraction `a/b`, optionally negative. So
     `"C(10, 5), or equivalently 252"` is the number 252; symbolic answers (`"2^(m+1)"`, `"x=±1"`) are not judged.
   - **yes/no**: the answer is exactly `Yes` or `No`.
2. The summary (the last model message; `None`, reason `no_summary`, when the API cut the conversation short) is
   normalised: Unicode minus `−` becomes `-`, thousands separators between digits (`1,000`) are removed.
3. Numbers in a text are the maximal tokens `-?D(/D)?` (D: digits, optionally with a decimal part) that touch no
   letter, digit, `_`, `^`, `/` or `.` on either side (so `x_1`, `2^n`, `3y`, `1/(n+1)` hold no number; a `-` counts
   as a sign only where no letter, digit or `)` precedes it). The summary's *new numbers* are its numbers that do not occur in the
   problem statement (a summary restates the problem: "There are 89 ways to fill a 2 x 21 rectangle ...").
   - yes/no: the summary's first word is `Yes` or `No` -> compared (`yes_no_match` / `yes_no_mismatch`); otherwise
     `None` (`yes_no_unclear`).
   - number N: new numbers exactly {N} -> `True` (`number_match`); N not among the summary's numbers at all and some
     new number present -> `False` (`number_mismatch`); anything else (no new number, or N among several) -> `None`
     (`number_unclear`).

Measured on the 1080 `0-Shot` rows (`python dataset_scripts/champ_long_format.py -o champ.jsonl` prints this): 176
True, 228 False, 676 None (63% cannot tell: 404 symbolic or free-text answers, 201 unclear numbers, 59 unclear yes/no,
12 without a summary). A hand check of 50 random judged rows (two samples) found one wrong: "... are all the integers from 0 to
(n-2)!" judged as stating the answer 0.

`JUDGE_REASONS` lists every reason; `correct_counts` and `format_correct_counts` count them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

from .errors import ConfigError
from .wording import counted

#: The four models of CHAMP v0, in the package's order.
CHAMP_MODELS: tuple[str, ...] = ("GPT-3.5", "GPT-4", "GPT-4 Turbo", "PaLM 2 Medium")

#: The prompt setting whose question is only the problem (and the default).
DEFAULT_SETTING = "0-Shot"

#: Every reason `judge_answer` gives, with the value of `correct` it goes with.
JUDGE_REASONS: dict[str, bool | None] = {
    "number_match": True,
    "yes_no_match": True,
    "number_mismatch": False,
    "yes_no_mismatch": False,
    "number_unclear": None,
    "yes_no_unclear": None,
    "answer_not_numeric": None,
    "no_summary": None,
}

_NUM = r"-?\d+(?:\.\d+)?(?:/\d+)?"
_TEMPLATES = [re.compile(p) for p in (
    rf"^({_NUM})$",
    rf"^({_NUM}) is the only possible value$",
    rf"^The limit exists and is equal to ({_NUM})$",
    rf"^The only possible value for the limit is ({_NUM})$",
    rf"^({_NUM}) [a-z]+$",
)]
_NUMBER_TOKEN = re.compile(r"(?<![\w^./)])-?\d+(?:\.\d+)?(?:/\d+)?(?![\w^/]|\.\d)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*$")


def _value(token: str) -> Fraction:
    return Fraction(token)


def numbers_in(text: str) -> list[Fraction]:
    """The numbers of `text` by the rule of the module docstring (step 3), as exact fractions.

    Example:
        ```python
        >>> [str(n) for n in numbers_in("There are 89 ways to tile a 2 x 21 board with x_1 and 2^n; a=-4, 1,000.")]
        ['89', '2', '21', '-4', '1000']

        ```
    """
    text = _THOUSANDS.sub("", text.replace("\u2212", "-"))
    # The look-behind refuses a `-` right after a letter, digit or `)`, so the match then starts at the digits.
    return [_value(match.group()) for match in _NUMBER_TOKEN.finditer(text)]


def answer_kind(answer: str) -> tuple[str, Fraction | str | None]:
    """Read a CHAMP ground truth: `("number", N)`, `("yes_no", "yes"|"no")` or `("other", None)` (step 1).

    Example:
        ```python
        >>> answer_kind("C(10, 5), or equivalently 252"), answer_kind("0 (i.e., no such values)"), answer_kind("No")
        (('number', Fraction(252, 1)), ('number', Fraction(0, 1)), ('yes_no', 'no'))
        >>> answer_kind("2^(m+1)")
        ('other', None)

        ```
    """
    text = answer.strip().replace("\u2212", "-")
    if text.lower() in ("yes", "no"):
        return "yes_no", text.lower()
    for form in text.split(", or equivalently "):
        form = _TRAILING_PAREN.sub("", form.strip()).strip()
        for template in _TEMPLATES:
            match = template.match(form)
            if match:
                return "number", _value(match.group(1))
    return "other", None


def judge_answer(summary: str | None, answer: str, problem: str) -> tuple[bool | None, str]:
    """Whether a one-sentence `summary` states the ground-truth `answer` of `problem`: `(correct, reason)`.

    See the module docstring for the exact rule; `reason` is one of `JUDGE_REASONS`.

    Example:
        ```python
        >>> judge_answer("There are 89 ways to fill a 2 x 21 rectangle.", "89", "Fill a 2 x 21 rectangle ...")
        (True, 'number_match')
        >>> judge_answer("There are 29 valid strings of length 6.", "239", "strings of length 6 ...")
        (False, 'number_mismatch')
        >>> judge_answer("The minimum is 2 * 2^m.", "2^(m+1)", "...")
        (None, 'answer_not_numeric')

        ```
    """
    if summary is None or not summary.strip():
        return None, "no_summary"
    kind, expected = answer_kind(answer)
    if kind == "yes_no":
        first = re.match(r"\W*([A-Za-z]+)", summary)
        word = first.group(1).lower() if first else ""
        if word not in ("yes", "no"):
            return None, "yes_no_unclear"
        return (True, "yes_no_match") if word == expected else (False, "yes_no_mismatch")
    if kind != "number":
        return None, "answer_not_numeric"
    stated = numbers_in(summary)
    in_problem = set(numbers_in(problem))
    new = {n for n in stated if n not in in_problem}
    if new == {expected}:
        return True, "number_match"
    if expected not in stated and new:
        return False, "number_mismatch"
    return None, "number_unclear"


def correct_counts(reasons: Iterable[str]) -> dict[str, int]:
    """How many rows each judge reason covers, every reason listed (zeros included)."""
    counts = Counter(reasons)
    return {reason: counts.get(reason, 0) for reason in JUDGE_REASONS}


def format_correct_counts(reasons: Sequence[str]) -> str:
    """A few lines: rows judged correct / incorrect / not judged, and the count of every reason."""
    counts = correct_counts(reasons)
    total = len(reasons)
    by_value = Counter(JUDGE_REASONS[r] for r in reasons)
    lines = [f"correct: {by_value[True]} True, {by_value[False]} False, {by_value[None]} None (cannot tell) "
             f"of {counted(total, 'row')} ({by_value[None] / total:.0%} not judged)." if total else "correct: no rows."]
    lines += [f"  {reason:<20} {n:>5}  -> correct={JUDGE_REASONS[reason]}" for reason, n in counts.items()]
    return "\n".join(lines)


def _load_champ(version: str):
    try:
        import champ_dataset
    except ImportError as e:
        raise ConfigError("The CHAMP demo data needs the package champ-dataset; install it with "
                          "`pip install champ-dataset==1.0.0` (hf-localnat's `demo` extra).") from e
    return champ_dataset.load(version)


def champ_setting_names(version: str = "v0") -> list[str]:
    """The prompt settings of CHAMP (18 in v0), sorted."""
    data = _load_champ(version)
    return sorted({key.split("|", 1)[1] for problem in data.problems.values() for key in problem.conversations})


def champ_rows(
    *,
    settings: Sequence[str] = (DEFAULT_SETTING,),
    models: Sequence[str] | None = None,
    problem_ids: Sequence[str] | None = None,
    version: str = "v0",
) -> list[dict]:
    """CHAMP as a list of long-layout rows (see `champ_long_format`)."""
    data = _load_champ(version)
    problems = data.problems
    if problem_ids is not None:
        unknown = [p for p in problem_ids if p not in problems]
        if unknown:
            raise ConfigError(f"Unknown CHAMP problem id(s) {unknown[:5]!r}; ids look like 'P_Combinatorics_1'.")
        chosen = [problems[p] for p in problem_ids]
    else:
        chosen = list(problems.values())
    keys = sorted({k for p in chosen for k in p.conversations})
    known_settings = sorted({k.split("|", 1)[1] for k in keys})
    known_models = [m for m in CHAMP_MODELS if any(k.startswith(m + "|") for k in keys)]
    bad = [s for s in settings if s not in known_settings]
    if bad:
        raise ConfigError(f"Unknown CHAMP prompt setting(s) {bad!r}; choose from {known_settings}.")
    models = list(models) if models is not None else known_models
    bad = [m for m in models if m not in known_models]
    if bad:
        raise ConfigError(f"Unknown CHAMP model(s) {bad!r}; choose from {known_models}.")
    rows = []
    for problem in chosen:
        for model in models:
            for setting in settings:
                conversation = problem.conversations.get(f"{model}|{setting}")
                if conversation is None:
                    continue
                messages = conversation.messages
                # ... User(problem), Model(solution), User(summarise), Model(summary): the solution is the model
                # message right before the last user turn.
                last_user = max(i for i, m in enumerate(messages) if m.role == "User")
                solution = next(m for m in reversed(messages[:last_user]) if m.role.startswith("Model."))
                summary_message = messages[-1] if messages[-1].role.startswith("Model.") else None
                summary = summary_message.text if summary_message is not None else None
                correct, reason = judge_answer(summary, problem.answer, problem.text)
                rows.append({
                    "question_id": problem.identifier,
                    "question": problem.text,
                    "response": solution.text,
                    "teacher": model,
                    "correct": correct,
                    "correct_reason": reason,
                    "answer": problem.answer,
                    "summary": summary,
                    "setting": setting,
                    "category": problem.category,
                    "cut_by_api": solution.error == "LENGTH_CURRENT",
                })
    return rows


def champ_long_format(
    *,
    settings: Sequence[str] = (DEFAULT_SETTING,),
    models: Sequence[str] | None = None,
    problem_ids: Sequence[str] | None = None,
    version: str = "v0",
):
    """CHAMP in the long layout: one row per (problem, model, prompt setting).

    Columns: `question_id` (CHAMP's problem id, e.g. `P_Combinatorics_1`), `question` (the problem statement),
    `response` (the model's solution, the message before the summary request), `teacher` (the model), `correct`
    (`True`/`False`/`None`, see the module docstring), `correct_reason` (one of `JUDGE_REASONS`), `answer` (ground
    truth), `summary` (the model's one-sentence summary, `None` when the API cut the conversation), `setting`,
    `category`, `cut_by_api` (the API stopped the solution at its length limit).

    Args:
        settings (`Sequence[str]`, *optional*, defaults to `("0-Shot",)`): CHAMP prompt settings to include.
        models (`Sequence[str]`, *optional*): models to include (default: all four).
        problem_ids (`Sequence[str]`, *optional*): problems to include, in this order (default: all 270).
        version (`str`, *optional*, defaults to `"v0"`): the dataset file of the package.

    Returns:
        `datasets.Dataset`

    Raises:
        ConfigError: champ-dataset is not installed, or an unknown setting, model or problem id.
    """
    from datasets import Dataset, Features, Value

    features = Features({
        "question_id": Value("string"), "question": Value("string"), "response": Value("string"),
        "teacher": Value("string"), "correct": Value("bool"), "correct_reason": Value("string"),
        "answer": Value("string"), "summary": Value("string"), "setting": Value("string"),
        "category": Value("string"), "cut_by_api": Value("bool"),
    })
    rows = champ_rows(settings=settings, models=models, problem_ids=problem_ids, version=version)
    return Dataset.from_list(rows, features=features)


def demo_problem_ids(num_problems: int, *, version: str = "v0") -> list[str]:
    """A deterministic subset of `num_problems` problems for the demo: problems whose ground truth the judge can read
    (a number or yes/no), taken round-robin over the five categories in the package's order."""
    data = _load_champ(version)
    by_category: dict[str, list[str]] = {}
    for problem in data.problems.values():
        if answer_kind(problem.answer)[0] != "other":
            by_category.setdefault(problem.category, []).append(problem.identifier)
    chosen: list[str] = []
    queues = list(by_category.values())
    while len(chosen) < num_problems and any(queues):
        for queue in queues:
            if queue and len(chosen) < num_problems:
                chosen.append(queue.pop(0))
    return chosen
