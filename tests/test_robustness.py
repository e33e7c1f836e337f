"""Hostile rows never kill a batch (SPEC §4): every value that is not valid text gets its row a `score_error`, the rest
of the batch is scored as if the bad rows were not there. Checked directly, through `map` and through the `evaluate`
module, with hand-picked values and with arbitrary ones (hypothesis). Also: steps partition any text, and every token
belongs to exactly one step (SPEC §6)."""

from __future__ import annotations

from pathlib import Path

import evaluate
import pytest
from datasets import IterableDataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_localnat import LocalNaturalnessScorer
from hf_localnat.records import OUTPUT_COLUMNS
from hf_localnat.scoring.prepare.align import align_steps, tokenize_response
from hf_localnat.scoring.prepare.segment import segment

METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "local_naturalness"
GOOD = ["Blue is a colour. Red is one too.", "First, 2 + 2 = 4. So the answer is 4."]

# Deterministic and small: the same examples on every run, few enough for CI.
settings.register_profile(
    "robustness", derandomize=True, deadline=None, database=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(settings.get_profile("robustness"), max_examples=15)
SOME = settings(settings.get_profile("robustness"))
MANY = settings(settings.get_profile("robustness"), max_examples=150)

# Any Unicode, lone surrogates included (hypothesis leaves out category Cs unless told otherwise).
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
# Text that looks like a reasoning trace: words, sentence ends, line breaks, odd spacing, any character now and then.
TRACE_TEXT = st.lists(
    st.one_of(st.sampled_from(["The cat sat", "2 + 2 = 4", "Yes", "Dr. Smith", "e.g.", "x"]),
              st.sampled_from([". ", "! ", "? ", ".", "\n", "\n\n", "  \n \n", "\r\n", " ", "\t", "...", "?!"]),
              ANY_TEXT),
    max_size=12,
).map("".join)
# Trace-like text with lone surrogates in it (rare in ANY_TEXT, so asked for).
SURROGATE_TEXT = st.lists(st.one_of(st.sampled_from(["\ud800", "\udc00", "\udfff"]), TRACE_TEXT), min_size=1,
                          max_size=4).map("".join)
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=8), ANY_TEXT, TRACE_TEXT,
    SURROGATE_TEXT,
    st.lists(st.one_of(ANY_TEXT, st.integers(), st.none()), max_size=3), st.tuples(ANY_TEXT, ANY_TEXT),
    st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=2),
)


def _is_text(value) -> bool:
    """Valid text: a `str` that UTF-8 can encode (no lone surrogate)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _expected_reason(response, question) -> str | None:
    """The reason SPEC §4 gives a row of the `sentence` segmenter, or `None` when the row reaches the model."""
    if response is None:
        return "missing_response"
    if not _is_text(response):
        return "invalid_response"
    if not response.strip():
        return "empty_response"
    if question is not None and not _is_text(question):
        return "invalid_question"
    return None


@pytest.fixture(scope="module")
def scorer(tiny_model, smol_tokenizer):
    return LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=2)


@pytest.fixture(scope="module")
def given_scorer(tiny_model, smol_tokenizer):
    return LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=2, segmenter="given")


def _close(got: dict, want: dict) -> None:
    assert got["score_error"] == want["score_error"] and got["num_steps"] == want["num_steps"]
    for key in ("lalp", "galp"):
        assert (got[key] is None) == (want[key] is None)
        if want[key] is not None:
            assert got[key] == pytest.approx(want[key], abs=1e-4)


# ---------------------------------------------------------------------------------------------- hand-picked rows
def test_lone_surrogates_get_a_reason_and_the_rest_is_scored(scorer):
    rows = scorer.score(["bad \ud800 x. ok.", GOOD[0], GOOD[1], GOOD[1]], questions=["Q", "Q", "Q \udfff?", None])
    assert [r["score_error"] for r in rows] == ["invalid_response", None, "invalid_question", None]
    assert all(r["lalp"] is None and r["galp"] is None and r["lalp_steps"] == [] for r in rows[::2])
    alone = scorer.score([GOOD[0], GOOD[1]], questions=["Q", None])
    _close(rows[1], alone[0])
    _close(rows[3], alone[1])


@pytest.mark.parametrize("question", [3, 2.5, ["Q?"], {"Q": "?"}, b"Q?", True, "Q\ud83d?"])
def test_invalid_question(scorer, question):
    rows = scorer.score([GOOD[0], GOOD[0]], questions=[question, "Q?"])
    assert rows[0]["score_error"] == "invalid_question" and rows[0]["lalp"] is None
    assert rows[1]["score_error"] is None and rows[1]["lalp"] is not None


@pytest.mark.parametrize("steps", [5, 2.5, True, {"First.": " Second."}, "First. Second.", ["First.", 3],
                                  ["First.", None], [b"First."], ["First \udc80."], [["First."]], {"First."}])
def test_invalid_steps(given_scorer, steps):
    good = ["First, 2 + 2 = 4.", " So 4."]
    rows = given_scorer.score(steps=[steps, good, None], questions=["Q?"] * 3)
    assert [r["score_error"] for r in rows] == ["invalid_steps", None, "missing_steps"]
    assert rows[0]["lalp_steps"] == [] and rows[0]["num_steps"] == 0
    _close(rows[1], given_scorer.score(steps=[good], questions=["Q?"])[0])


def test_steps_may_be_a_tuple(given_scorer):
    (as_tuple,) = given_scorer.score(steps=[("First.", " Second.")])
    (as_list,) = given_scorer.score(steps=[["First.", " Second."]])
    assert as_tuple == as_list and as_tuple["score_error"] is None


def test_hostile_rows_through_the_metric(tiny_model, smol_tokenizer, scorer):
    module = evaluate.load(str(METRIC_DIR))
    predictions = [GOOD[0], "bad \ud800 x.", 42, None, GOOD[1], GOOD[1]]
    questions = ["Q", "Q", "Q", "Q", {"a": 1}, "Q\udfff"]
    got = module.compute(predictions=predictions, questions=questions, model=tiny_model, tokenizer=smol_tokenizer,
                         window=2)
    assert got["score_error"] == [None, "invalid_response", "invalid_response", "missing_response",
                                  "invalid_question", "invalid_question"]
    assert got["lalp"][0] == pytest.approx(scorer.score([GOOD[0]], ["Q"])[0]["lalp"], abs=1e-4)
    steps = module.compute(predictions=[["First.", " Second."], 7, ["a", None], ["ok \ud800"]], model=tiny_model,
                           tokenizer=smol_tokenizer, window=2)
    assert steps["score_error"] == [None, "invalid_steps", "invalid_steps", "invalid_steps"]


# -------------------------------------------------------------------------------------------- arbitrary values
@MANY
@given(response=st.one_of(TRACE_TEXT, ANY_TEXT), segmenter=st.sampled_from(["sentence", "line", "paragraph"]))
def test_steps_partition_any_text_and_every_token_has_one_step(smol_tokenizer, response, segmenter):
    if not _is_text(response):
        with pytest.raises(Exception):  # a string no tokenizer can take; the scorer gives it `invalid_response`
            response.encode("utf-8")
        return
    spans = segment(response, segmenter)
    assert "".join(response[a:b] for a, b in spans) == response
    assert all(a < b for a, b in spans) and all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    ids, offsets = tokenize_response(smol_tokenizer, response)
    ranges = align_steps(offsets, spans)
    owned = [t for a, e in ranges for t in range(a, e)]
    assert owned == list(range(len(ids)))  # each token in exactly one step, in order
    for (a, e), (start, end) in zip(ranges, spans, strict=True):  # ... the step that holds its last character
        for t in range(a, e):
            char = offsets[t][1] - 1 if offsets[t][1] > offsets[t][0] else offsets[t][0]
            assert start <= char < end or (t == 0 and char < start == 0)


@SOME
@given(rows=st.lists(st.tuples(ANY_VALUE, st.one_of(st.none(), ANY_VALUE)), min_size=1, max_size=5))
def test_score_never_raises_and_keeps_rows_in_order(scorer, rows):
    responses, questions = map(list, zip(*rows))
    out = scorer.score(responses, questions)
    assert len(out) == len(rows)
    for record, (response, question) in zip(out, rows, strict=True):
        assert list(record) == list(OUTPUT_COLUMNS)
        reason = _expected_reason(response, question)
        if reason is not None:
            assert record["score_error"] == reason and record["lalp"] is None and record["lalp_steps"] == []
        else:
            assert record["score_error"] in (None, "no_scored_tokens")
            assert len(record["lalp_steps"]) == record["num_steps"]


@pytest.mark.slow
@SOME
@given(steps=st.lists(st.one_of(st.none(), ANY_VALUE, st.lists(TRACE_TEXT, max_size=4)), min_size=1, max_size=5))
def test_given_steps_never_raise(given_scorer, steps):
    out = given_scorer.score(steps=steps)
    assert len(out) == len(steps)
    for record, value in zip(out, steps, strict=True):
        if value is None:
            assert record["score_error"] == "missing_steps"
        elif not isinstance(value, (list, tuple)) or not all(_is_text(s) for s in value):
            assert record["score_error"] == "invalid_steps"
        elif not "".join(value).strip():
            assert record["score_error"] == "empty_response"
        else:
            assert record["score_error"] in (None, "no_scored_tokens")


@pytest.mark.slow
@FEW
@given(rows=st.lists(st.tuples(ANY_VALUE, st.one_of(st.none(), ANY_VALUE)), min_size=1, max_size=6))
def test_map_over_arbitrary_values_keeps_every_row_in_order(scorer, rows):
    def generate():
        for i, (response, question) in enumerate(rows):
            yield {"i": i, "response": response, "question": question}

    mapped = list(IterableDataset.from_generator(generate).map(scorer, batched=True, batch_size=2))
    assert [row["i"] for row in mapped] == list(range(len(rows)))
    for row, (response, question) in zip(mapped, rows, strict=True):
        assert row["response"] is response or row["response"] == response
        reason = _expected_reason(response, question)
        assert row["score_error"] == reason if reason else row["score_error"] in (None, "no_scored_tokens")


@FEW
@given(rows=st.lists(st.tuples(ANY_VALUE, st.one_of(st.none(), ANY_VALUE)), min_size=1, max_size=4))
def test_metric_over_arbitrary_values_keeps_every_row_in_order(tiny_model, smol_tokenizer, rows):
    module = evaluate.load(str(METRIC_DIR))
    predictions, questions = map(list, zip(*rows))
    out = module.compute(predictions=predictions, questions=questions, model=tiny_model, tokenizer=smol_tokenizer,
                         window=2)
    assert len(out["score_error"]) == len(out["lalp"]) == len(rows)
    if not any(isinstance(p, (list, tuple)) for p in predictions):  # else the `given` segmenter reads them as steps
        for error, (response, question) in zip(out["score_error"], rows, strict=True):
            reason = _expected_reason(response, question)
            assert error == reason if reason else error in (None, "no_scored_tokens")


# ------------------------------------------------------------------------------------------------------- threads
@pytest.mark.slow
def test_two_scorers_in_two_threads_equal_sequential(tiny_model, smol_tokenizer):
    """The sentence segmenter is per thread: scorers used at the same time give the numbers they give one by one."""
    import random
    import threading

    rng = random.Random(5)
    words = ["The", "cat", "sat", "on", "Dr.", "Smith's", "mat", "e.g.", "3.14", "so", "x", "Yes"]
    responses = [" ".join(" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) + rng.choice(".!?")
                          for _ in range(rng.randint(150, 250))) for _ in range(2)]
    scorers = [LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=0, max_length=32) for _ in range(2)]
    expected = scorers[0].score(responses)
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [scorers[k].score(responses)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runs in results.values():
        for rows in runs:
            assert [r["num_steps"] for r in rows] == [r["num_steps"] for r in expected]
            for got, want in zip(rows, expected, strict=True):
                _close(got, want)
