"""Tests of hf_localnat.scoring.prepare.segment (SPEC §1): steps partition the response, with the real pysbd (no mocks)."""

from __future__ import annotations

import doctest
import random
import re
import threading
import time

import pytest

from hf_localnat.scoring.prepare import segment as segment_module
from hf_localnat.scoring.prepare.segment import PIECE_LENGTH, SEGMENTERS, join_steps, merge_whitespace_steps, piece_starts, segment

CUTTING = ("sentence", "line", "paragraph")  # the segmenters `segment` runs itself


def assert_partition(response: str, spans: list[tuple[int, int]]) -> None:
    """Spans are contiguous, non-empty, cover `response`, and none is whitespace-only unless `response` is."""
    if response == "":
        assert spans == []
        return
    assert spans, "a non-empty response has at least one step"
    assert spans[0][0] == 0
    assert spans[-1][1] == len(response)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end == start, f"spans not contiguous: {spans}"
    for start, end in spans:
        assert start < end, f"empty span in {spans}"
    assert "".join(response[a:b] for a, b in spans) == response
    if response.strip():
        for start, end in spans:
            assert response[start:end].strip(), f"whitespace-only step {response[start:end]!r} in {spans}"
    else:
        assert spans == [(0, len(response))]


def steps_of(response: str, segmenter: str) -> list[str]:
    spans = segment(response, segmenter)
    assert_partition(response, spans)
    return [response[a:b] for a, b in spans]


CODE = "Here is code:\n\n```python\ndef f(x):\n    return x + 1\n\n\nprint(f(2))\n```\n\nDone."
LATEX = "$$\\frac{a}{b} = 2.5$$ so x = 3.14. Then y."

# (response, segmenter, expected steps). Line and paragraph expectations follow from the regexes:
#   line:      a boundary after every "\n" followed by a character other than "\n"/"\r";
#   paragraph: a boundary at the end of every match of r"\n\s*\n" (greedy, so it ends at the last "\n" of the run).
# Sentence expectations are pysbd's (English, clean=False) sentence starts, with whitespace kept with the step before.
CASES = [
    # The SPEC's example.
    ("Hello world. The cat sat.\n\nNew para.", "sentence", ["Hello world. ", "The cat sat.\n\n", "New para."]),
    ("Hello world. The cat sat.\n\nNew para.", "line", ["Hello world. The cat sat.\n\n", "New para."]),
    ("Hello world. The cat sat.\n\nNew para.", "paragraph", ["Hello world. The cat sat.\n\n", "New para."]),
    ("a\nb\n\nc", "line", ["a\n", "b\n\n", "c"]),
    ("a\nb\n\nc", "paragraph", ["a\nb\n\n", "c"]),
    ("a\nb\n\nc", "sentence", ["a\n", "b\n\n", "c"]),
    # r"\n\s*\n" on "b\n\n  c": the run "\n\n  " ends in spaces, so the match is "\n\n" and "  c" starts a paragraph.
    # On "c\n\n\nd" the match is "\n\n\n". In sentence mode pysbd drops the leading "  " of the chunk "  c\n\n\n",
    # so those spaces stay with the step before.
    ("a\nb\n\n  c\n\n\nd", "paragraph", ["a\nb\n\n", "  c\n\n\n", "d"]),
    ("a\nb\n\n  c\n\n\nd", "line", ["a\n", "b\n\n", "  c\n\n\n", "d"]),
    ("a\nb\n\n  c\n\n\nd", "sentence", ["a\n", "b\n\n  ", "c\n\n\n", "d"]),
    # Leading whitespace: pysbd drops it, position 0 is a boundary anyway, and the whitespace-only first step
    # ("  \n" for line) merges into the next one.
    ("  \n Hello. World.", "sentence", ["  \n Hello. ", "World."]),
    ("  \n Hello. World.", "line", ["  \n Hello. World."]),
    ("  \n Hello. World.", "paragraph", ["  \n Hello. World."]),
    ("\n\nHi. Yo.", "sentence", ["\n\nHi. ", "Yo."]),
    ("\n\nHi. Yo.", "paragraph", ["\n\nHi. Yo."]),
    # Repeated sentences get distinct, increasing starts.
    ("Yes. Yes. Yes.", "sentence", ["Yes. ", "Yes. ", "Yes."]),
    ("Yes.\nYes.\n\nYes. Yes.", "sentence", ["Yes.\n", "Yes.\n\n", "Yes. ", "Yes."]),
    ("Yes. Yes. Yes.", "line", ["Yes. Yes. Yes."]),
    # A fenced code block with blank lines inside.
    (
        CODE,
        "sentence",
        ["Here is code:\n\n", "```python\n", "def f(x):\n    ", "return x + 1\n\n\n", "print(f(2))\n", "```\n\n", "Done."],
    ),
    (
        CODE,
        "line",
        ["Here is code:\n\n", "```python\n", "def f(x):\n", "    return x + 1\n\n\n", "print(f(2))\n", "```\n\n", "Done."],
    ),
    (CODE, "paragraph", ["Here is code:\n\n", "```python\ndef f(x):\n    return x + 1\n\n\n", "print(f(2))\n```\n\n", "Done."]),
    # LaTeX and decimals do not end sentences.
    (LATEX, "sentence", ["$$\\frac{a}{b} = 2.5$$ so x = 3.14. ", "Then y."]),
    (LATEX, "line", [LATEX]),
    (LATEX, "paragraph", [LATEX]),
    # Numbered lists.
    ("1. First.\n2. Second.\n3. Third.", "sentence", ["1. First.\n", "2. Second.\n", "3. Third."]),
    ("1. First.\n2. Second.\n3. Third.", "line", ["1. First.\n", "2. Second.\n", "3. Third."]),
    ("1. First.\n2. Second.\n3. Third.", "paragraph", ["1. First.\n2. Second.\n3. Third."]),
    # No punctuation at all.
    ("no punctuation at all here", "sentence", ["no punctuation at all here"]),
    ("no punctuation here\nand a second line", "sentence", ["no punctuation here\n", "and a second line"]),
    ("no punctuation here\nand a second line", "line", ["no punctuation here\n", "and a second line"]),
    ("no punctuation here\nand a second line", "paragraph", ["no punctuation here\nand a second line"]),
    # Blank-line runs made of mixed whitespace: r"\n\s*\n" takes " \n\t\n" whole (it ends at the last "\n").
    ("A.\n \n\t\nB.\n\n\n\nC.", "sentence", ["A.\n \n\t\n", "B.\n\n\n\n", "C."]),
    ("A.\n \n\t\nB.\n\n\n\nC.", "line", ["A.\n \n\t\n", "B.\n\n\n\n", "C."]),
    ("A.\n \n\t\nB.\n\n\n\nC.", "paragraph", ["A.\n \n\t\n", "B.\n\n\n\n", "C."]),
    # Trailing whitespace stays with the last step (a trailing blank line adds no paragraph boundary at len(R)).
    ("Hello. World.   \n\n  ", "sentence", ["Hello. ", "World.   \n\n  "]),
    ("Hello. World.   \n\n  ", "line", ["Hello. World.   \n\n  "]),
    ("Hello. World.   \n\n  ", "paragraph", ["Hello. World.   \n\n  "]),
    ("A.\nB.\n\n", "paragraph", ["A.\nB.\n\n"]),
    ("A.\nB.\n", "line", ["A.\n", "B.\n"]),
    # CRLF: "\r" counts as a line break for `line`, so blank lines stay with the line before (like LF text).
    ("a. b.\r\n\r\nc. d.\r\ne.", "sentence", ["a. ", "b.\r\n\r\n", "c. ", "d.\r\n", "e."]),
    ("a. b.\r\n\r\nc. d.\r\ne.", "line", ["a. b.\r\n\r\n", "c. d.\r\n", "e."]),
    ("a. b.\r\n\r\nc. d.\r\ne.", "paragraph", ["a. b.\r\n\r\n", "c. d.\r\ne."]),
    # Unicode: emoji and CJK (offsets are in code points).
    ("Hi 😀 there. 中文。再见。 Ok.", "sentence", ["Hi 😀 there. ", "中文。", "再见。 ", "Ok."]),
    ("😀 one\n中文\n\n再见", "line", ["😀 one\n", "中文\n\n", "再见"]),
    ("😀 one\n中文\n\n再见", "paragraph", ["😀 one\n中文\n\n", "再见"]),
    # pysbd 0.3.4 quirks. It places the span of ". . " at 11, inside "The cat sat. " (0, 13); the start is clamped to
    # 13 so no earlier sentence is cut. Text it drops ("??") gets no span and stays with the step before.
    ("The cat sat. . .Mr.a.é", "sentence", ["The cat sat. ", ". .", "Mr.a.", "é"]),
    ("The cat sat.??", "sentence", ["The cat sat.??"]),
    ("Hm.\n\n\t??", "sentence", ["Hm.\n\n\t??"]),
]


@pytest.mark.parametrize(("response", "segmenter", "expected"), CASES)
def test_expected_steps(response, segmenter, expected):
    assert steps_of(response, segmenter) == expected


def test_spec_example_spans():
    assert segment("Hello world. The cat sat.\n\nNew para.") == [(0, 13), (13, 27), (27, 36)]


@pytest.mark.parametrize("segmenter", CUTTING)
def test_empty_response_has_no_steps(segmenter):
    assert segment("", segmenter) == []


@pytest.mark.parametrize("segmenter", CUTTING)
@pytest.mark.parametrize("response", [" ", "   ", "\n", "\n\n", "\n \n\t\n", "\r\n\r\n", " \t\n  \n\n "])
def test_whitespace_only_response_is_one_step(response, segmenter):
    assert segment(response, segmenter) == [(0, len(response))]


@pytest.mark.parametrize("segmenter", CUTTING)
def test_very_long_line_without_punctuation(segmenter):
    rng = random.Random(1)
    words = []
    while sum(len(w) + 1 for w in words) < 20_000:
        words.append(rng.choice(["alpha", "beta", "gamma", "delta", "x", "yz"]))
    response = " ".join(words)
    assert len(response) >= 19_990
    start = time.perf_counter()
    if segmenter == "sentence":  # pysbd sees pieces of at most 5000 characters, cut after their last space
        starts = piece_starts(response)
        assert len(starts) == 5 and all(response[s - 1] == " " for s in starts[1:])
        assert segment(response, segmenter) == list(zip(starts, [*starts[1:], len(response)]))
    else:
        assert steps_of(response, segmenter) == [response]
    assert time.perf_counter() - start < 30  # generous: only catches a pathological slowdown


def test_two_hundred_sentences_with_blank_lines():
    sentences = [f"Sentence number {k} is here." for k in range(200)]
    response = "".join(s + ("\n\n" if k % 5 == 4 else " ") for k, s in enumerate(sentences)).rstrip()
    steps = steps_of(response, "sentence")
    assert [s.strip() for s in steps] == sentences
    assert len(steps_of(response, "paragraph")) == 40
    assert len(steps_of(response, "line")) == 40


def test_sixty_thousand_chars_of_paragraphs_runs():
    rng = random.Random(2)
    words = ["the", "cat", "sat", "on", "a", "mat", "so", "x", "equals", "3.14", "then", "we", "check", "it"]
    paragraphs = []
    total = 0
    while total < 60_000:
        paragraph = " ".join(
            " ".join(rng.choice(words) for _ in range(rng.randint(4, 15))).capitalize() + "."
            for _ in range(rng.randint(2, 6))
        )
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    response = "\n\n".join(paragraphs)
    for segmenter in CUTTING:
        start = time.perf_counter()
        spans = segment(response, segmenter)
        elapsed = time.perf_counter() - start
        assert_partition(response, spans)
        print(f"{segmenter}: {len(response)} chars, {len(spans)} steps, {elapsed:.3f}s")
    assert len(segment(response, "paragraph")) == len(paragraphs)


# --- long chunks: pieces of at most PIECE_LENGTH characters (SPEC §1) -------------------------------------------------
L = PIECE_LENGTH


def _filler(length: int, alphabet: str = "abcdefgh") -> str:
    """`length` characters with no whitespace and no sentence end."""
    return (alphabet * (length // len(alphabet) + 1))[:length]


def test_piece_rule_prefers_the_last_newline():
    # A newline early and one late in the first L characters, a sentence end and spaces after the late one.
    text = _filler(100) + "\n" + _filler(3000) + "\n" + _filler(500) + ". " + _filler(500) + " " + _filler(4000)
    late_newline = 100 + 1 + 3000
    # Then no newline is left: the sentence end's run wins over the later plain space.
    assert piece_starts(text) == [0, late_newline + 1, late_newline + 1 + 500 + 2]


def test_piece_rule_without_newline_cuts_after_the_last_sentence_end_run():
    # "!  \t" is the last whitespace run after a sentence end in the first L chars; a plain space comes after it.
    text = _filler(1000) + "? " + _filler(2000) + "!  \t" + _filler(1000) + " " + _filler(3000)
    first_cut = 1000 + 2 + 2000 + 4
    assert piece_starts(text)[:2] == [0, first_cut]
    # The run is cut at the window's edge when it runs past it; a sentence end at the very end has no run: not used.
    edge = _filler(L - 3) + ".     " + _filler(10)
    assert piece_starts(edge) == [0, L]
    no_run = _filler(L - 1) + "." + " " + _filler(10)
    assert piece_starts(no_run) == [0, L]  # the sentence end's run starts at L: outside the window, hard cut


def test_piece_rule_without_sentence_end_cuts_after_the_last_whitespace_run():
    text = _filler(10) + "   " + _filler(4000) + " \t " + _filler(2000)
    assert piece_starts(text) == [0, 10 + 3 + 4000 + 3]
    # "3.14 " is not a sentence end followed by whitespace... but "3. " is.
    decimals = "x = 3.14 " * 600
    assert piece_starts(decimals)[1] == max(i + 1 for i in range(L) if decimals[i] == " ")


def test_piece_rule_without_whitespace_cuts_at_the_limit():
    text = _filler(3 * L + 7)
    assert piece_starts(text) == [0, L, 2 * L, 3 * L]
    assert piece_starts(_filler(L)) == [0] and piece_starts("") == [0]


@pytest.mark.parametrize("seed", range(6))
def test_pieces_are_bounded_and_cover_the_text(seed):
    rng = random.Random(seed)
    parts = ["word", " ", "  ", "\t", ". ", "!", "?\n", "\n", "x" * 700, "3.14", "é", "中文。"]
    text = "".join(rng.choice(parts) for _ in range(rng.randint(2000, 6000)))
    limit = rng.choice([50, 333, L])
    starts = piece_starts(text, limit=limit)
    stops = [*starts[1:], len(text)]
    assert starts[0] == 0 and all(0 < b - a <= limit for a, b in zip(starts, stops))


def test_sentence_steps_never_cross_a_piece_and_pysbd_sees_at_most_L(monkeypatch):
    import pysbd

    seen = []
    real = pysbd.Segmenter.segment
    monkeypatch.setattr(pysbd.Segmenter, "segment", lambda self, text: seen.append(len(text)) or real(self, text))
    rng = random.Random(3)
    words = ["the", "cat", "sat", "Dr.", "Smith", "3.14", "so", "x", "equals"]
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))).capitalize() + rng.choice(".!?")
                 for _ in range(900)]
    response = " ".join(sentences) + "\n" + " ".join(sentences[:200]) + " no end " * 900  # no blank line
    spans = segment(response)
    assert_partition(response, spans)
    assert len(response) > 8 * L and max(seen) <= L and sum(seen) == len(response)
    starts = {a for a, _ in spans}
    for piece in piece_starts(response)[1:]:  # a step reaches past a piece's start only over whitespace
        boundary = min(b for b in [*starts, len(response)] if b >= piece)
        assert response[piece:boundary].strip() == ""


@pytest.mark.slow
def test_concurrent_segmentation_equals_sequential():
    rng = random.Random(4)
    words = ["The", "cat", "sat", "on", "Dr.", "Smith's", "mat", "e.g.", "3.14", "so", "x", "Yes"]

    def text(n: int) -> str:
        return " ".join(" ".join(rng.choice(words) for _ in range(rng.randint(2, 20))) + rng.choice(".!?")
                        for _ in range(n))

    texts = [text(rng.randint(100, 400)) for _ in range(6)]
    expected = [segment(t) for t in texts]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [segment(texts[(k + i) % len(texts)]) for i in range(2 * len(texts))]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k, got in results.items():
        assert got == [expected[(k + i) % len(texts)] for i in range(2 * len(texts))]


# --- given ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["A. ", "B. ", "C."], ["A. ", "B. ", "C."]),
        # Empty items vanish wherever they are.
        (["", "A. ", "B."], ["A. ", "B."]),
        (["A. ", "", "B."], ["A. ", "B."]),
        (["A. ", "B.", ""], ["A. ", "B."]),
        (["", "", "A.", "", ""], ["A."]),
        # Whitespace-only items merge into the step before, or into the next if they come first.
        (["  ", "A. ", "B."], ["  A. ", "B."]),
        (["\n\n", " ", "A.", "B."], ["\n\n A.", "B."]),
        (["A.", "\n\n", "B."], ["A.\n\n", "B."]),
        (["A.", " ", "\t", "B."], ["A. \t", "B."]),
        (["A.", "B.", "\n"], ["A.", "B.\n"]),
        (["A.", "B.", " ", ""], ["A.", "B. "]),
        (["", " ", "A.", "", "\n", "B.", "\t", ""], [" A.\n", "B.\t"]),
        # Steps are the caller's: no sentence splitting inside them.
        (["One. Two. Three.", "Four."], ["One. Two. Three.", "Four."]),
        (("tuple. ", "works."), ["tuple. ", "works."]),
    ],
)
def test_join_steps(steps, expected):
    response, spans = join_steps(steps)
    assert response == "".join(steps)
    assert_partition(response, spans)
    assert [response[a:b] for a, b in spans] == expected


@pytest.mark.parametrize(
    ("steps", "expected"),
    [([], ("", [])), ([""], ("", [])), (["", ""], ("", [])), ([" "], (" ", [(0, 1)])), (["\n", "", " "], ("\n ", [(0, 2)]))],
)
def test_join_steps_empty_and_whitespace_only(steps, expected):
    assert join_steps(steps) == expected


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ("A. B.", "got str"),
        (None, "got NoneType"),
        ({"A."}, "got set"),
        (["A.", 3], "steps[1] is int"),
        ([None], "steps[0] is NoneType"),
        (["A.", "B.", b"C."], "steps[2] is bytes"),
    ],
)
def test_join_steps_rejects_non_str(steps, fragment):
    with pytest.raises(TypeError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        join_steps(steps)


# --- errors and merge_whitespace_steps -----------------------------------------------------------------------------


def test_segmenters_constant():
    assert SEGMENTERS == ("sentence", "line", "paragraph", "given", "turns")


@pytest.mark.parametrize("bad", ["sentences", "Sentence", "word", ""])
def test_unknown_segmenter(bad):
    with pytest.raises(ValueError) as info:
        segment("A. B.", bad)
    message = str(info.value)
    assert "\n" not in message
    assert repr(bad) in message
    for name in SEGMENTERS:
        assert name in message


def test_given_points_to_join_steps():
    with pytest.raises(ValueError, match="join_steps"):
        segment("A. B.", "given")


@pytest.mark.parametrize("bad", [None, b"A. B.", ["A."]])
def test_segment_rejects_non_str(bad):
    with pytest.raises(TypeError, match="response must be a str"):
        segment(bad)


@pytest.mark.parametrize(
    ("response", "boundaries", "expected"),
    [
        ("abc", [0], [(0, 3)]),
        ("ab cd", [0, 2, 3], [(0, 3), (3, 5)]),
        ("  ab", [0, 2], [(0, 4)]),
        ("  \n ab cd", [0, 1, 3, 4, 7], [(0, 7), (7, 9)]),
        ("ab \n", [0, 2], [(0, 4)]),
        ("   ", [0, 1, 2], [(0, 3)]),
        ("", [], []),
    ],
)
def test_merge_whitespace_steps(response, boundaries, expected):
    spans = merge_whitespace_steps(response, boundaries)
    assert spans == expected
    assert_partition(response, spans)


@pytest.mark.parametrize(
    ("response", "boundaries"),
    [("abc", []), ("abc", [1]), ("abc", [0, 2, 2]), ("abc", [0, 2, 1]), ("abc", [0, 3]), ("", [0])],
)
def test_merge_whitespace_steps_rejects_bad_boundaries(response, boundaries):
    with pytest.raises(ValueError):
        merge_whitespace_steps(response, boundaries)


# --- properties ----------------------------------------------------------------------------------------------------

_PIECES = [
    "The cat sat.",
    "Yes.",
    "Dr. Smith went home.",
    "x = 3.14",
    "e.g.",
    "Why?",
    "Stop!",
    "1. First.",
    "```python\ndef f():\n    return 1\n```",
    "$$\\frac{a}{b}$$",
    "中文。",
    "😀",
    "no punctuation",
    "...",
    "?!",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\n \n",
    "\r\n",
    "\r\n\r\n",
]


def _random_responses() -> list[str]:
    rng = random.Random(0)
    responses = []
    for _ in range(30):
        responses.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40))))
    return responses


RANDOM_RESPONSES = _random_responses()


@pytest.mark.parametrize("response", RANDOM_RESPONSES)
def test_partition_property(response):
    rng = random.Random(response)
    for segmenter in CUTTING:
        assert_partition(response, segment(response, segmenter))
    # given: the same response cut at random points, with some empty items.
    cuts = sorted(rng.randint(0, len(response)) for _ in range(rng.randint(0, 8)))
    steps = [response[a:b] for a, b in zip([0, *cuts], [*cuts, len(response)])]
    joined, spans = join_steps(steps)
    assert joined == response
    assert_partition(response, spans)


@pytest.mark.parametrize("response", RANDOM_RESPONSES)
def test_boundaries_sit_where_the_spec_puts_them(response):
    r"""Paragraph steps start right after a r"\n\s*\n" run; line steps start right after a "\n"."""
    ends = {m.end() for m in re.finditer(r"\n\s*\n", response)}
    for start, _ in segment(response, "paragraph")[1:]:
        assert start in ends
    # Line boundaries follow a "\n".
    for start, _ in segment(response, "line")[1:]:
        assert response[start - 1] == "\n"


def test_module_doctests():
    result = doctest.testmod(segment_module)
    assert result.attempted >= 3
    assert result.failed == 0
