"""The scorer against a plain one-forward-pass-per-step reference, and the SPEC §6 invariants, on real models."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from hf_localnat import ConfigError, LocalNaturalnessScorer, TokenizerError
from hf_localnat.scoring.prepare.segment import segment

#: Cases only the full run (`make test`) needs: one case of each test keeps `-m "not slow"` covered.
SLOW = pytest.mark.slow

QUESTION = "Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?"
RESPONSES = [
    "Tom starts with 3 boxes. Each box has 12 pencils, so he has 3 * 12 = 36 pencils. "
    "He gives away 5.\n\nThat leaves 36 - 5 = 31 pencils. The answer is 31.",
    "  Leading spaces here. Then a list:\n1. First item.\n2. Second item.\n\n$$\\frac{36}{1} - 5 = 31$$ so 31.",
    "```python\nprint(3 * 12 - 5)\n```\n\nIt prints 31. Yes. Yes. Yes.",
    "no punctuation at all just words and numbers 36 minus 5 equals 31",
    "One sentence only.",
]


def reference(model, tokenizer, response, question, window, prompt_format, max_length=10**9):
    """SPEC §2–5 written out directly: one forward pass per step, full logits, no batching, no reuse."""
    spans = segment(response)
    enc = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    owner = []
    for a, b in enc["offset_mapping"]:
        char = b - 1 if b > a else a
        owner.append(next(j for j, (s, e) in enumerate(spans) if s <= char < e))
    bos = tokenizer.bos_token_id
    start = [bos] if tokenizer("a")["input_ids"][:1] == [bos] else []  # SmolLM2's own tokenizer writes no BOS
    if prompt_format == "chat" and question:
        prefix = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
    elif prompt_format == "plain" and question:
        prefix = start + tokenizer(question + "\n\n", add_special_tokens=False)["input_ids"]
    else:
        prefix = start

    def logprobs(inputs, count):
        with torch.no_grad():
            out = model(torch.tensor([inputs])).logits[0].float().log_softmax(-1)
        return [out[p - 1, inputs[p]].item() for p in range(len(inputs) - count, len(inputs)) if p > 0]

    budget = max_length - len(prefix)
    step_means, weights = [], []
    for i in range(len(spans)):
        tokens = [t for t, o in enumerate(owner) if o == i]
        if not tokens:
            step_means.append(None)
            continue
        a_i, e_i = tokens[0], tokens[-1] + 1
        a_w = min([t for t, o in enumerate(owner) if o >= max(0, i - window)])
        end = min(e_i, a_i + budget)
        start = max(a_w, end - budget)
        lps = logprobs(prefix + ids[start:end], end - a_i)
        step_means.append(sum(lps) / len(lps) if lps else None)
        weights.append(len(lps))
    galp_lps = logprobs(prefix + ids[:budget], min(len(ids), budget))
    scored = [s for s in step_means if s is not None]
    return {"lalp": sum(scored) / len(scored), "galp": sum(galp_lps) / len(galp_lps), "lalp_steps": step_means,
            "weights": weights, "galp_lps": galp_lps}


def assert_close(rows_a, rows_b, tol):
    """Rows agree: scores within `tol` (SPEC §6), every other output column exactly (reference rows carry scores only)."""
    for a, b in zip(rows_a, rows_b, strict=True):
        for key in ("num_steps", "num_tokens", "truncated", "score_error"):
            if key in a and key in b:
                assert a[key] == b[key], (key, a[key], b[key])
        for key in ("lalp", "galp"):
            assert (a[key] is None) == (b[key] is None)
            if a[key] is not None:
                assert abs(a[key] - b[key]) <= tol, (key, a[key], b[key])
        assert len(a["lalp_steps"]) == len(b["lalp_steps"])
        for x, y in zip(a["lalp_steps"], b["lalp_steps"]):
            assert (x is None) == (y is None)
            if x is not None:
                assert abs(x - y) <= tol


@pytest.fixture(scope="module")
def tiny_scorer(tiny_model, smol_tokenizer):
    return LocalNaturalnessScorer(tiny_model, smol_tokenizer)


@pytest.mark.parametrize("window", [0, pytest.param(1, marks=SLOW), pytest.param(4, marks=SLOW)])
@pytest.mark.parametrize("prompt_format", ["chat", pytest.param("plain", marks=SLOW), pytest.param("none", marks=SLOW)])
def test_matches_plain_per_step_reference_on_tiny_model(tiny_model, smol_tokenizer, window, prompt_format):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=window, prompt_format=prompt_format)
    got = scorer.score(RESPONSES, questions=[QUESTION] * len(RESPONSES))
    want = [reference(tiny_model, smol_tokenizer, r, QUESTION, window, prompt_format) for r in RESPONSES]
    assert_close(got, want, 1e-4)
    assert all(row["score_error"] is None and not row["truncated"] for row in got)


@pytest.mark.slow
def test_matches_plain_per_step_reference_on_embedded_model(smol_model, smol_tokenizer, sample_rows):
    rows = [r for r in sample_rows if r["question_id"] in ("q01", "q08")][:5]
    scorer = LocalNaturalnessScorer(smol_model, smol_tokenizer)
    got = scorer.score([r["response"] for r in rows], questions=[r["question"] for r in rows])
    want = [reference(smol_model, smol_tokenizer, r["response"], r["question"], 4, "chat") for r in rows]
    assert_close(got, want, 1e-4)


@pytest.mark.parametrize("max_length", [40, pytest.param(52, marks=SLOW), pytest.param(60, marks=SLOW)])
def test_truncation_matches_reference_and_is_flagged(tiny_model, smol_tokenizer, max_length):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="plain", max_length=max_length)
    got = scorer.score(RESPONSES[:2], questions=[QUESTION] * 2)
    want = [reference(tiny_model, smol_tokenizer, r, QUESTION, 4, "plain", max_length) for r in RESPONSES[:2]]
    assert_close(got, want, 1e-4)
    assert all(row["truncated"] for row in got)


@pytest.mark.parametrize(("window", "max_length"), [(0, 1000), pytest.param(4, 6, marks=SLOW), (4, 12)])
def test_empty_prefix_leaves_the_first_token_of_every_input_unscored(tiny_model, smol_tokenizer, window, max_length):
    """SPEC §3: with P empty (`prompt_format="none"`; SmolLM2 writes no BOS), the first token of every model input has
    no context and is not scored: the first response token, and the first token of a step whose window has no context
    left (k = 0, or all context dropped by max_length). The reference drops input position 0 everywhere."""
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=window, prompt_format="none", max_length=max_length)
    from hf_localnat.scoring.prepare.prefix import build_prefix

    assert build_prefix(scorer.tokenizer, QUESTION, "none") == []
    got = scorer.score(RESPONSES[:3], questions=[QUESTION] * 3)
    want = [reference(tiny_model, smol_tokenizer, r, QUESTION, window, "none", max_length) for r in RESPONSES[:3]]
    assert_close(got, want, 1e-4)
    # A one-token step with no context left has nothing to score.
    if window == 0:
        (row,) = scorer.score(["Yes. No. Maybe."])
        spans = segment("Yes. No. Maybe.")
        single = [len(scorer.tokenizer("Yes. No. Maybe."[a:b], add_special_tokens=False)["input_ids"]) for a, b in spans]
        assert [s is None for s in row["lalp_steps"]] == [n <= 1 for n in single]


def test_prompt_longer_than_max_length_is_a_row_error(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, max_length=8)
    (row,) = scorer.score(["Fine."], questions=[QUESTION])
    assert row["score_error"] == "prompt_too_long" and row["lalp"] is None


def test_window_covering_all_steps_gives_galp_as_token_weighted_mean(tiny_model, smol_tokenizer):
    for response in RESPONSES:
        n = len(segment(response))
        scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, window=n - 1, reuse_galp=False)
        (row,) = scorer.score([response], questions=[QUESTION])
        weights = reference(tiny_model, smol_tokenizer, response, QUESTION, n - 1, "chat")["weights"]
        scores = [s for s in row["lalp_steps"] if s is not None]
        weighted = sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)
        assert abs(weighted - row["galp"]) < 1e-4


@pytest.mark.parametrize("window", [0, 1, 4])
def test_single_step_lalp_equals_galp(tiny_scorer, smol_tokenizer, window):
    scorer = LocalNaturalnessScorer(tiny_scorer.model, smol_tokenizer, window=window, reuse_galp=False)
    for prompt in (None, QUESTION):
        (row,) = scorer.score(["One sentence only, with a few more words in it."], questions=[prompt])
        assert row["num_steps"] == 1 and abs(row["lalp"] - row["galp"]) < 1e-5


def _variants(model, tokenizer, dtype):
    base = dict(window=2, dtype=dtype)
    return {
        "default": LocalNaturalnessScorer(model, tokenizer, **base),
        "one_window_per_batch": LocalNaturalnessScorer(model, tokenizer, batch_tokens=1, **base),
        "small_batches": LocalNaturalnessScorer(model, tokenizer, batch_tokens=150, **base),
        "left_padding": LocalNaturalnessScorer(model, tokenizer, padding_side="left", **base),
        "no_galp_reuse": LocalNaturalnessScorer(model, tokenizer, reuse_galp=False, **base),
    }


@pytest.mark.slow
def test_scores_do_not_depend_on_batching_order_padding_or_reuse(tiny_model, smol_tokenizer):
    questions = [QUESTION, None, "Another question?", QUESTION, QUESTION]
    variants = _variants(tiny_model, smol_tokenizer, "float32")
    base = variants.pop("default").score(RESPONSES, questions)
    for name, scorer in variants.items():
        assert_close(scorer.score(RESPONSES, questions), base, 1e-4), name
    order = list(range(len(RESPONSES)))
    random.Random(0).shuffle(order)
    shuffled = variants["small_batches"].score([RESPONSES[i] for i in order], [questions[i] for i in order])
    assert_close([shuffled[order.index(i)] for i in range(len(order))], base, 1e-4)
    alone = [variants["small_batches"].score([r], [q])[0] for r, q in zip(RESPONSES, questions)]
    assert_close(alone, base, 1e-4)


@pytest.mark.slow
def test_bfloat16_scores_agree_across_batching_within_spec_tolerance(tiny_model, smol_tokenizer):
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    variants = _variants(model, smol_tokenizer, "bfloat16")
    base = variants.pop("default").score(RESPONSES, [QUESTION] * len(RESPONSES))
    for scorer in variants.values():
        assert_close(scorer.score(RESPONSES, [QUESTION] * len(RESPONSES)), base, 0.05)


def test_bad_rows_get_a_reason_and_the_rest_is_scored(tiny_scorer):
    responses = [RESPONSES[0], None, "", "   \n\n ", 42, RESPONSES[1]]
    rows = tiny_scorer.score(responses, questions=[QUESTION] * len(responses))
    assert [r["score_error"] for r in rows] == [None, "missing_response", "empty_response", "empty_response",
                                                 "invalid_response", None]
    assert all(r["lalp"] is None and r["galp"] is None for r in rows[1:5])
    good = tiny_scorer.score([RESPONSES[0], RESPONSES[1]], questions=[QUESTION] * 2)
    assert_close([rows[0], rows[5]], good, 1e-5)


def test_given_steps_match_the_same_cut_by_the_segmenter(tiny_model, smol_tokenizer):
    steps = [[RESPONSES[0][a:b] for a, b in segment(RESPONSES[0])], ["Only", "", " one.\n"], None]
    given = LocalNaturalnessScorer(tiny_model, smol_tokenizer, segmenter="given")
    rows = given.score(steps=steps, questions=[QUESTION] * 3)
    (expected,) = LocalNaturalnessScorer(tiny_model, smol_tokenizer).score([RESPONSES[0]], [QUESTION])
    assert_close(rows[:1], [expected], 1e-4)
    assert rows[1]["num_steps"] == 2 and rows[1]["lalp"] is not None
    assert rows[2]["score_error"] == "missing_steps"


def test_output_fields_and_types(tiny_scorer):
    (row,) = tiny_scorer.score([RESPONSES[0]], questions=[QUESTION])
    assert set(row) == {"lalp", "galp", "lalp_steps", "num_steps", "num_tokens", "truncated", "score_error"}
    assert row["num_steps"] == len(segment(RESPONSES[0])) == len(row["lalp_steps"])
    assert row["num_tokens"] == len(tiny_scorer.tokenizer(RESPONSES[0], add_special_tokens=False)["input_ids"])
    assert all(math.isfinite(s) and s <= 0 for s in row["lalp_steps"])


def test_prefix_formats(smol_tokenizer):
    from hf_localnat.scoring.prepare.prefix import build_prefix, start_tokens

    assert start_tokens(smol_tokenizer) == []  # SmolLM2's tokenizer writes no BOS when encoding text
    chat = build_prefix(smol_tokenizer, "Hi?", "chat")
    assert smol_tokenizer.decode(chat).endswith("<|im_start|>assistant\n")
    assert build_prefix(smol_tokenizer, "Hi?", "auto") == chat
    assert build_prefix(smol_tokenizer, "Hi?", "plain") == smol_tokenizer("Hi?\n\n", add_special_tokens=False)["input_ids"]
    assert build_prefix(smol_tokenizer, "Hi?", "none") == [] == build_prefix(smol_tokenizer, None, "chat")
    no_template = copy.deepcopy(smol_tokenizer)
    no_template.chat_template = None
    assert build_prefix(no_template, "Hi?", "auto") == build_prefix(smol_tokenizer, "Hi?", "plain")
    with pytest.raises(TokenizerError, match="chat template"):
        build_prefix(no_template, "Hi?", "chat")


@pytest.fixture(scope="module")
def bos_tokenizer(tiny_model_path):
    """The tiny model's tokenizer, told to put a BOS first (as Llama's tokenizers do)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path, add_bos_token=True)
    assert tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id  # not a skip: a test that cannot fail proves nothing
    return tokenizer


def test_bos_tokenizer_puts_bos_in_the_prefix(bos_tokenizer):
    from hf_localnat.scoring.prepare.prefix import build_prefix

    assert build_prefix(bos_tokenizer, None, "none") == [bos_tokenizer.bos_token_id]
    assert build_prefix(bos_tokenizer, "Q", "plain")[0] == bos_tokenizer.bos_token_id


@pytest.mark.parametrize("window", [0, pytest.param(2, marks=SLOW)])
@pytest.mark.parametrize("prompt_format", ["none", pytest.param("plain", marks=SLOW), "chat"])
def test_a_bos_tokenizer_scores_like_the_reference_including_the_first_token(tiny_model, bos_tokenizer, window,
                                                                             prompt_format):
    questions = [QUESTION, None, QUESTION, None, QUESTION]
    scorer = LocalNaturalnessScorer(tiny_model, bos_tokenizer, window=window, prompt_format=prompt_format)
    got = scorer.score(RESPONSES, questions)
    want = [reference(tiny_model, bos_tokenizer, r, q, window, prompt_format) for r, q in zip(RESPONSES, questions)]
    assert_close(got, want, 1e-4)
    for row, ref in zip(got, want, strict=True):
        # P is never empty now, so every response token is scored, the first one too (it sees the BOS) ...
        assert len(ref["galp_lps"]) == row["num_tokens"] and all(s is not None for s in row["lalp_steps"])
        # ... and leaving it out would show: the first token alone moves GALP by more than the tolerance
        assert abs(row["galp"] - sum(ref["galp_lps"][1:]) / (len(ref["galp_lps"]) - 1)) > 1e-3


# --- every SPEC §4 row reason (invalid_* are tested with the hostile-input tests) ---------------------------------------
def test_a_row_with_no_scored_token_gets_no_scored_tokens(tiny_model, smol_tokenizer):
    # no BOS and no prompt: the first token of every input has no context; "Hi" is a single token, so nothing is scored
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="none")
    assert smol_tokenizer("Hi", add_special_tokens=False)["input_ids"] == [26843]
    rows = scorer.score(["Hi", RESPONSES[0]])
    assert rows[0] == {"lalp": None, "galp": None, "lalp_steps": [], "num_steps": 1, "num_tokens": 1,
                       "truncated": False, "score_error": "no_scored_tokens"}
    assert_close(rows[1:], scorer.score([RESPONSES[0]]), 1e-5)  # the rest of the batch is scored as alone


def test_a_step_whose_tokens_are_all_unscored_has_no_score_and_does_not_count(tiny_model, smol_tokenizer):
    # window 0 and no prompt: each step's input starts at its own first token, which is not scored; " Hi" is one token
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, segmenter="given", window=0, prompt_format="none")
    (row,) = scorer.score(steps=[["Hello there.", " Hi", " and more words here."]])
    assert row["score_error"] is None and row["num_steps"] == 3 and row["num_tokens"] == 9
    first, middle, last = row["lalp_steps"]
    assert middle is None and first is not None and last is not None
    assert row["lalp"] == pytest.approx((first + last) / 2, abs=1e-12)  # the unscored step is left out, not zero


def test_a_prompt_longer_than_max_length_fails_only_its_row(tiny_model, smol_tokenizer):
    long_question = "Why? " * 60
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="plain", max_length=64)
    rows = scorer.score([RESPONSES[4], RESPONSES[4], RESPONSES[3]], questions=[QUESTION, long_question, None])
    assert rows[1] == {"lalp": None, "galp": None, "lalp_steps": [], "num_steps": 1,
                       "num_tokens": rows[0]["num_tokens"], "truncated": False, "score_error": "prompt_too_long"}
    assert_close([rows[0], rows[2]], scorer.score([RESPONSES[4], RESPONSES[3]], questions=[QUESTION, None]), 1e-5)


def test_a_window_that_runs_out_of_memory_alone_fails_only_its_row(tiny_model, smol_tokenizer):
    # the model itself raises torch's out-of-memory error for any input longer than 30 tokens, as a small GPU would
    def oom_when_long(module, args):
        if args[0].shape[-1] > 30:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")

    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="none", window=1)
    short = [RESPONSES[4], RESPONSES[3]]
    expected = scorer.score(short)
    long_ids = smol_tokenizer(RESPONSES[0], add_special_tokens=False)["input_ids"]
    assert len(long_ids) > 30 and all(r["num_tokens"] <= 30 for r in expected)
    handle = tiny_model.get_input_embeddings().register_forward_pre_hook(oom_when_long)
    try:
        rows = scorer.score([RESPONSES[4], RESPONSES[0], RESPONSES[3]])
    finally:
        handle.remove()
    assert rows[1] == {"lalp": None, "galp": None, "lalp_steps": [], "num_steps": len(segment(RESPONSES[0])),
                       "num_tokens": len(long_ids), "truncated": False, "score_error": "out_of_memory"}
    assert_close([rows[0], rows[2]], expected, 1e-5)


def test_bad_configuration_fails_with_the_fix_in_the_message():
    with pytest.raises(ConfigError, match="use one of sentence"):
        LocalNaturalnessScorer(segmenter="words")
    with pytest.raises(ConfigError, match="window"):
        LocalNaturalnessScorer(window=-1)
    with pytest.raises(ValueError, match="prompt_format"):
        LocalNaturalnessScorer(prompt_format="jinja")


def test_slow_tokenizer_is_refused(tiny_scorer):
    from transformers import PreTrainedTokenizer

    from hf_localnat.scoring.prepare.align import tokenize_response

    class CharTokenizer(PreTrainedTokenizer):  # a real (slow) transformers tokenizer, one token per character
        def __init__(self):
            super().__init__()

        @property
        def vocab_size(self):
            return 256

        def get_vocab(self):
            return {chr(i): i for i in range(256)}

        def _tokenize(self, text):
            return list(text)

        def _convert_token_to_id(self, token):
            return ord(token) % 256

        def _convert_id_to_token(self, index):
            return chr(index)

    with pytest.raises(TokenizerError, match="slow tokenizer"):
        tokenize_response(CharTokenizer(), "abc")
