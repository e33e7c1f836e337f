"""Agent traces turn by turn (SPEC §14): the head and units, the observation cap, the rendering through the student's
chat template, and the windows of every assistant turn, as `windows.Window`s the engine runs like any other.

A trace's inputs, for `n` assistant turns and window `k` (in units):
- turn `i`'s input is the rendering `F` of the head `H` and units `w … i` (`w = window_start(i, k)`); its scored
  tokens are those whose last character is at or after `len(A)`, `A` the same rendering without assistant turn `i`
  and with the generation prompt (character offsets of the rendering, never a scan of token ids);
- GALP scores every turn in its input with `w = 0`.

The fast path (`reuse_galp=True`): when the template renders incrementally, every `w = 0` input is a prefix of the
whole trace's rendering, and its tokens the first tokens of the whole rendering's (checked per turn, `_prefix_count`).
One window over the whole rendering then scores every such turn at once (`Window.spans`), for GALP and for the turns
whose own window starts at unit 0; only the turns whose window starts later get a window of their own, each holding
the head (which the engine computes once per pack or reused prefix). Cost: one pass over the trace plus `k` units per
turn, linear in the turns. `reuse_galp=False` runs every input on its own (the per-turn definition, for tests and
`benchmarks/agent_traces.py`).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import TokenizerError
from ...io.turns import INVALID_CONVERSATION, RawTrace, TraceError, Turn, read_tools, read_turns
from ...records import TRACE_COLUMNS
from ...scores import TokenStats
from ..config import ScoringConfig
from .align import tokenize_response
from .rows import PreparedRow
from .signals import trace_signals
from .windows import Window, window_start

TEMPLATE_NOT_INCREMENTAL = "template_not_incremental"
PROBE_NAME = "localnat_probe"
"""The name of the call rendered to learn whether a template writes tool calls (SPEC §14)."""


# ------------------------------------------------------------------------------------------------ the template
def require_chat_template(tokenizer) -> None:
    """Refuse, in one line, a student without a chat template (SPEC §14 renders every trace with it).

    Raises:
        TokenizerError: the tokenizer has none.
    """
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "the student")
        raise TokenizerError(f"segmenter='turns' renders agent traces with the student's chat template, and {name!r} "
                             "has none; use a student with a chat template (an instruct model), or read each "
                             "trace's last turn as a flat row (drop --segmenter turns).")


def template_sha256(tokenizer) -> str:
    """sha256 of the student's chat template text (part of the scoring definition of agent traces)."""
    template = tokenizer.chat_template
    text = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def writes_tool_calls(tokenizer) -> bool:
    """Whether the chat template writes an assistant turn's `tool_calls`: the rendering of one call named
    `localnat_probe` contains that name (SPEC §14). A template that fails on it does not."""
    probe = [{"role": "user", "content": "x"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": PROBE_NAME, "arguments": {}}}]}]
    try:
        return PROBE_NAME in tokenizer.apply_chat_template(probe, tokenize=False)
    except Exception:  # noqa: BLE001 - any template error means it does not write calls
        return False


def rendering(tokenizer, cache: dict) -> dict:
    """What every trace of a call shares about the template: `calls_in_content` (calls written into the content)
    and the special token ids (where a tokenization restarts), computed once per call (`cache`)."""
    if "turns" not in cache:
        require_chat_template(tokenizer)
        special = {i for i, token in tokenizer.added_tokens_decoder.items() if getattr(token, "special", False)}
        cache["turns"] = {"calls_in_content": not writes_tool_calls(tokenizer), "special": special}
    return cache["turns"]


def rendering_provenance(tokenizer, max_observation_tokens: int) -> dict:
    """The part of the scoring definition that the student's template decides (SPEC §14): the observation cap,
    whether calls are written into the content, and the template's sha256."""
    require_chat_template(tokenizer)
    return {"max_observation_tokens": max_observation_tokens, "calls_in_content": not writes_tool_calls(tokenizer),
            "chat_template_sha256": template_sha256(tokenizer)}


# -------------------------------------------------------------------------------------------- head, units, cap
def cap_observation(tokenizer, text: str, cap: int) -> tuple[str, int]:
    """`text` with its middle left out when it has more than `cap` tokens (SPEC §14): the characters up to the end
    of its first ⌈cap/2⌉ tokens, `"\\n[... N tokens left out ...]\\n"`, the characters from the start of its last
    ⌊cap/2⌋ tokens. Returns the text and its token count before the cap. `cap = 0`: no cap."""
    if not text:
        return text, 0
    _, offsets = tokenize_response(tokenizer, text)
    count = len(offsets)
    if cap <= 0 or count <= cap:
        return text, count
    first, last = (cap + 1) // 2, cap // 2
    head_end = offsets[first - 1][1]
    tail_start = offsets[count - last][0] if last else len(text)
    return f"{text[:head_end]}\n[... {count - first - last} tokens left out ...]\n{text[tail_start:]}", count


@dataclass(frozen=True)
class Units:
    """A trace cut as SPEC §14 cuts it: `head` (turns before the first assistant turn) and per assistant turn `i`
    its unit (the non-assistant turns after assistant turn `i - 1`, then assistant turn `i`), as template messages
    with the observations capped."""

    head: list[dict]
    units: list[tuple[list[dict], dict]]

    def messages(self, first: int, last: int, *, prompt: bool) -> list[dict]:
        """The head and units `first … last`; with `prompt`, unit `last` without its assistant turn."""
        out = list(self.head)
        for i in range(first, last + 1):
            observations, assistant = self.units[i]
            out.extend(observations)
            if not (prompt and i == last):
                out.append(assistant)
        return out


def cut_trace(tokenizer, turns: Sequence[Turn], cap: int, calls_in_content: bool) -> tuple[Units, dict]:
    """The head and units of a trace, and its trace columns (`signals.trace_signals`).

    Raises:
        TraceError: `invalid_conversation`, a trace without an assistant turn.
    """
    starts = [i for i, t in enumerate(turns) if t.role == "assistant"]
    if not starts:
        raise TraceError(INVALID_CONVERSATION, "no assistant turn")
    head_end = starts[0]
    capped: list[str] = []
    counts: dict[str, int] = {}
    for turn in turns[head_end:]:
        text = turn.content if turn.role == "assistant" else cap_observation(tokenizer, turn.content, cap)[0]
        capped.append(text)

    def count(text: str) -> int:
        if text not in counts:
            counts[text] = len(tokenize_response(tokenizer, text)[0]) if text else 0
        return counts[text]

    signals = trace_signals(turns, head_end, capped, count)
    messages = [t.message(calls_in_content=calls_in_content) for t in turns[:head_end]]
    units: list[tuple[list[dict], dict]] = []
    pending: list[dict] = []
    for turn, text in zip(turns[head_end:starts[-1] + 1], capped, strict=False):
        message = Turn(turn.role, text, turn.tool_calls, turn.extra).message(calls_in_content=calls_in_content)
        if turn.role == "assistant":
            units.append((pending, message))
            pending = []
        else:
            pending.append(message)
    return Units(messages, units), signals


# --------------------------------------------------------------------------------------------------- one input
@dataclass(frozen=True)
class Input:
    """One rendered input: its ids, the index of its first scored token, and its first unit after truncation."""

    ids: list[int]
    scored_from: int
    first_unit: int
    truncated: bool


def _render(tokenizer, units: Units, tools, first: int, last: int, *, prompt: bool) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(units.messages(first, last, prompt=prompt), tools=tools, tokenize=False,
                                             add_generation_prompt=prompt)
    except TemplateError as e:  # the template refuses this conversation (roles it does not take, ...)
        raise TraceError(INVALID_CONVERSATION, f"the chat template refuses it: {e}") from e


def _last_chars(offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Each token's last character (SPEC §2's ownership; a token with an empty span: its start)."""
    return [b - 1 if b > a else a for a, b in offsets]


def _scored_from(last_chars: Sequence[int], cut: int, end: int | None = None) -> int:
    """The first of the first `end` tokens whose last character is at or after `cut`."""
    return bisect_right(last_chars, cut - 1, 0, len(last_chars) if end is None else end)


def _rendered(tokenizer, units: Units, tools, turn: int, start: int) -> tuple[list[int], int]:
    full = _render(tokenizer, units, tools, start, turn, prompt=False)
    prompt = _render(tokenizer, units, tools, start, turn, prompt=True)
    if not full.startswith(prompt):
        raise TraceError(TEMPLATE_NOT_INCREMENTAL, f"turn {turn}")
    ids, offsets = tokenize_response(tokenizer, full)
    return ids, max(1, _scored_from(_last_chars(offsets), len(prompt)))


def render_input(tokenizer, units: Units, tools, turn: int, first: int, max_length: int) -> Input | None:
    """Turn `turn`'s input over units `first … turn`, leaving out the oldest units while it is longer than
    `max_length` (SPEC §14); `None` when the head and the unit alone are too long. The first start that fits is
    found by bisection (an input only gets shorter as units are left out).

    Raises:
        TraceError: `template_not_incremental` (the rendering does not start with its generation-prompt rendering).
    """
    ids, scored_from = _rendered(tokenizer, units, tools, turn, first)
    if len(ids) <= max_length:
        return Input(ids, scored_from, first, False)
    low, high, best = first + 1, turn, None  # the smallest start in (first, turn] that fits
    while low <= high:
        middle = (low + high) // 2
        ids, scored_from = _rendered(tokenizer, units, tools, turn, middle)
        if len(ids) <= max_length:
            best, high = Input(ids, scored_from, middle, True), middle - 1
        else:
            low = middle + 1
    return best


# ------------------------------------------------------------------------------------------------- the trace
@dataclass
class PreparedTrace(PreparedRow):
    """An agent trace on its way through the pipeline: `galp` and `steps` hold its windows (in `windows` order),
    `sources` where each turn's tokens are read.

    Attributes:
        windows (`list[Window]`): every model input of the trace (`galp` is the first, `steps` the others).
        galp_source, lalp_source (`list[tuple[int, int] | None]`): per turn, `(window, span)`: the window that
            scores it (with `w = 0`, and in its own window) and which of that window's spans is its (0 for a window
            scoring its trailing tokens); `None` for a turn that is unscored (too long, SPEC §14).
        columns (`dict`): the trace columns (`signals.trace_signals`).
        cut (`bool`): a turn was left unscored or its window lost units (the row is `truncated`).
    """

    windows: list[Window] = field(default_factory=list)
    galp_source: list = field(default_factory=list)
    lalp_source: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)
    cut: bool = False

    def error_result(self) -> dict:
        return {**super().error_result(), **dict.fromkeys(TRACE_COLUMNS), **self.columns}

    def extra_columns(self) -> dict:
        return dict(self.columns)

    def input_length(self, source: tuple[int, int]) -> int:
        """The tokens of a turn's input (SPEC §14): its own window, or the part of the whole rendering it spans."""
        window = self.windows[source[0]]
        return len(window) if window.spans is None else window.spans[source[1]][1]

    def counts(self) -> tuple[int, int, int]:
        """`(window_tokens, model_tokens, galp_tokens)` of SPEC §10 with this trace's inputs: the LALP inputs of the
        scored turns by the definition, the same with the head computed once, and the GALP inputs (every turn's
        input with all its history; one rendering on the fast path)."""
        lalp = [self.input_length(s) for s in self.lalp_source if s is not None]
        galp = {s[0] for s in self.galp_source if s is not None}
        head = self.prefix_length
        return sum(lalp), head + sum(n - head for n in lalp), sum(len(self.windows[w]) for w in galp)

    def token_stats(self, logprobs: Sequence, drop_tokens: int) -> TokenStats:
        """The trace's `TokenStats` from its windows' head outputs: GALP's tokens turn after turn (each turn a step),
        each turn's own-window tokens as its step."""
        pieces = [_pieces(stats, window) for stats, window in zip(logprobs, self.windows, strict=True)]
        galp, ranks, ranges, steps = [], [], [], []
        at = 0
        for g, l_ in zip(self.galp_source, self.lalp_source, strict=True):
            if g is None or l_ is None:
                ranges.append((at, at))
                steps.append(None)
                continue
            values, rank = pieces[g[0]][g[1]]
            galp.append(values)
            ranks.append(rank)
            ranges.append((at, at + len(values)))
            steps.append((at, pieces[l_[0]][l_[1]][0]))
            at += len(values)
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.float32)  # noqa: E731
        return TokenStats(cat(galp), 0, None if any(r is None for r in ranks) else cat(ranks), ranges, steps,
                          drop_tokens)


def _pieces(stats, window: Window) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """A window's head output split by its spans: `(log-probs, ranks or None)` per span."""
    array = stats.numpy()
    logprobs, ranks = (array[:, 0], array[:, 1]) if array.ndim == 2 else (array, None)
    sizes = [e - s for s, e in window.spans] if window.spans is not None else [len(logprobs)]
    bounds = np.cumsum([0, *sizes])
    return [(logprobs[a:b], None if ranks is None else ranks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _prefix_count(tokenizer, text: str, cut: int, ids: Sequence[int], offsets: Sequence[tuple[int, int]],
                  ends: Sequence[int], special: set[int]) -> int | None:
    """How many of `ids` (the tokens of `text`, with their `offsets` and end characters `ends`) are the tokens of
    `text[:cut]` on its own, or `None` when they are not a prefix of them. A tokenization restarts after a special
    token, so only what follows the last one before `cut` is tokenized again to check."""
    n = bisect_right(ends, cut)
    if n == 0 or ends[n - 1] != cut or (n < len(ids) and offsets[n][0] < cut):
        return None
    last = next((j for j in range(n - 1, -1, -1) if ids[j] in special), None)
    start = offsets[last][1] if last is not None else 0
    tail = tokenize_response(tokenizer, text[start:cut])[0] if start < cut else []
    return n if list(tail) == list(ids[(last + 1 if last is not None else 0):n]) else None


def prepare_trace(tokenizer, config: ScoringConfig, max_length: int, index: int, raw, cache: dict) -> PreparedTrace:
    """Read, cut, cap, render and window one agent trace (row `index` of its call); a bad trace gets its reason.

    Args:
        raw (`io.turns.RawTrace` or a list of turns): the row's conversation and tools.
        cache (`dict`): shared by the rows of a call (the template facts, `rendering`).

    Returns:
        `PreparedTrace`: with `error` (`invalid_conversation`, `invalid_tool_call`, `template_not_incremental`,
        `no_scored_tokens`) instead of windows when the trace cannot be scored.
    """
    row = PreparedTrace()
    if raw is None:
        row.error = "missing_response"
        return row
    raw = raw if isinstance(raw, RawTrace) else RawTrace(raw)
    facts = rendering(tokenizer, cache)
    try:
        turns = read_turns(raw.turns)
        tools = read_tools(raw.tools)
        units, row.columns = cut_trace(tokenizer, turns, config.max_observation_tokens, facts["calls_in_content"])
        row.num_steps = len(units.units)
        _window_trace(row, tokenizer, units, tools, config, max_length, index, facts["special"])
    except TraceError as e:
        row.error = e.reason
        return row
    if not row.windows:
        row.error = "no_scored_tokens"
        return row
    row.galp, row.steps = row.windows[0], row.windows[1:]
    row.num_tokens = sum(0 if g is None else _span_size(row.windows[g[0]], g[1]) for g in row.galp_source)
    return row


def _span_size(window: Window, span: int) -> int:
    if window.spans is None:
        return window.num_scored
    start, end = window.spans[span]
    return end - start


def _window_trace(row: PreparedTrace, tokenizer, units: Units, tools, config: ScoringConfig, max_length: int,
                  index: int, special: set[int]) -> None:
    """Fill `row.windows` and the sources of every turn (see the module docstring)."""
    n = len(units.units)
    whole: list[int | None] = [None] * n  # fast path: turn i's w = 0 input is the first whole[i] tokens of `full`
    spans: list[tuple[int, int]] = []
    if config.reuse_galp:
        full = _render(tokenizer, units, tools, 0, n - 1, prompt=False)
        ids, offsets = tokenize_response(tokenizer, full)
        ends, last_chars = [b for _, b in offsets], _last_chars(offsets)
        for i in range(n):
            text = _render(tokenizer, units, tools, 0, i, prompt=False)
            prompt = _render(tokenizer, units, tools, 0, i, prompt=True)
            if not text.startswith(prompt):
                raise TraceError(TEMPLATE_NOT_INCREMENTAL, f"turn {i}")
            if not full.startswith(text):
                break
            count = _prefix_count(tokenizer, full, len(text), ids, offsets, ends, special)
            if count is None or count > max_length:
                break
            whole[i] = count
            spans.append((max(1, _scored_from(last_chars, len(prompt), count)), count))
        covered = sum(c is not None for c in whole)
        if covered:
            end = whole[covered - 1]
            row.windows.append(Window(index, None, list(ids[:end]), sum(e - s for s, e in spans), 0, False,
                                      tuple(spans)))
    head = _head_tokens(tokenizer, units, tools)
    for i in range(n):
        if whole[i] is not None:
            row.galp_source.append((0, i))
        else:
            row.galp_source.append(_own(row, tokenizer, units, tools, i, 0, max_length, index, None))
        start = window_start(i, config.window)
        if start == 0 and row.galp_source[i] is not None and (whole[i] is not None or config.reuse_galp):
            row.lalp_source.append(row.galp_source[i])  # the same input: read from the same window
        else:
            row.lalp_source.append(_own(row, tokenizer, units, tools, i, start, max_length, index, i))
    row.prefix_length = min((_head_count(w, head) for w in row.windows), default=0)


def _own(row: PreparedTrace, tokenizer, units: Units, tools, turn: int, first: int, max_length: int, index: int,
         step: int | None) -> tuple[int, int] | None:
    """A window of its own for turn `turn` over units `first … turn` (`step=None`: a GALP input); `None` and the
    row cut when the head and the unit alone do not fit."""
    rendered = render_input(tokenizer, units, tools, turn, first, max_length)
    if rendered is None:
        row.cut = True
        return None
    row.cut |= rendered.truncated
    scored = len(rendered.ids) - rendered.scored_from
    row.windows.append(Window(index, step, rendered.ids, scored, 0, rendered.truncated))
    return len(row.windows) - 1, 0


def _head_tokens(tokenizer, units: Units, tools) -> list[int]:
    """The token ids of the head's rendering (what every input of the trace starts with, when the template renders
    the head the same way whatever follows it)."""
    if not units.head:
        return []
    text = tokenizer.apply_chat_template(units.head, tools=tools, tokenize=False)
    return tokenize_response(tokenizer, text)[0]


def _head_count(window: Window, head: list[int]) -> int:
    """How many leading ids of `window` are the head's, never reaching its first scored token."""
    first = window.scored_positions()[0] if window.num_scored else len(window)
    n = 0
    limit = min(len(head), first, len(window.input_ids))
    while n < limit and window.input_ids[n] == head[n]:
        n += 1
    return n
