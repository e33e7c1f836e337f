"""The other scores of SPEC §11 (rsr, galp_drop, lalp_drop) against a plain reference written here: one unbatched
forward pass per input, `torch.log_softmax` and a rank counted with `(logits > logits[target]).sum() + 1`, on every
compute path."""

from __future__ import annotations

import copy

import pytest
import torch

from hf_localnat import ConfigError, LocalNaturalnessScorer
from hf_localnat.scoring.compute.forward import head_logprobs
from hf_localnat.scoring.prepare.prefix import build_prefix
from hf_localnat.scoring.prepare.segment import segment

SLOW = pytest.mark.slow
EXTRA = ("lalp_drop", "galp_drop", "rsr")

QUESTION = "Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?"
RESPONSES = [
    "Tom starts with 3 boxes. Each box has 12 pencils, so he has 3 * 12 = 36 pencils. "
    "He gives away 5.\n\nThat leaves 36 - 5 = 31 pencils. The answer is 31.",
    "Ok. So. 31. Yes it is 31 because 36 - 5 = 31 and nothing else. Done.",  # steps shorter than drop_tokens
    "```python\nprint(3 * 12 - 5)\n```\n\nIt prints 31. Yes. Yes. Yes.",
    "One sentence only.",
]


def plain_scores(model, tokenizer, response, question, *, window=4, prompt_format="chat", max_length=10**9, m=2):
    """SPEC §2–5 and §11 written out directly: every input run alone, full logits, float32 log-softmax and ranks."""
    spans = segment(response)
    enc = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    owner = [next(j for j, (s, e) in enumerate(spans) if s <= (b - 1 if b > a else a) < e)
             for a, b in enc["offset_mapping"]]
    prefix = build_prefix(tokenizer, question, prompt_format)
    budget = max_length - len(prefix)

    def stats(start, end, first):
        """{response index: (log p, rank)} of tokens first..end-1 of the input P + ids[start:end]."""
        inputs = prefix + ids[start:end]
        with torch.no_grad():
            logits = model(torch.tensor([inputs])).logits[0].float()
        out = {}
        for t in range(first, end):
            p = len(prefix) + t - start
            if p == 0:
                continue
            z = logits[p - 1]
            out[t] = (torch.log_softmax(z, -1)[inputs[p]].item(), int((z > z[inputs[p]]).sum()) + 1)
        return out

    def step_start(t):
        return min(u for u, o in enumerate(owner) if o == owner[t])

    def mean(values):
        return sum(values) / len(values) if values else None

    galp = stats(0, min(len(ids), budget), 0)
    steps, dropped = [], []
    for i in range(len(spans)):
        tokens = [t for t, o in enumerate(owner) if o == i]
        if not tokens:
            continue
        a_i, e_i = tokens[0], tokens[-1] + 1
        a_w = min(t for t, o in enumerate(owner) if o >= max(0, i - window))
        end = min(e_i, a_i + budget)
        own = stats(max(a_w, end - budget), end, a_i)
        steps.append(mean([lp for lp, _ in own.values()]))
        dropped.append(mean([lp for t, (lp, _) in own.items() if t - a_i >= m]))
    ranks = sum(min(r, 100) for _, r in galp.values())
    return {
        "lalp": mean([s for s in steps if s is not None]),
        "galp": mean([lp for lp, _ in galp.values()]),
        "lalp_drop": mean([s for s in dropped if s is not None]),
        "galp_drop": mean([lp for t, (lp, _) in galp.items() if t - step_start(t) >= m]),
        "rsr": ranks / max(-sum(lp for lp, _ in galp.values()), 1e-12) if galp else None,
    }


def assert_scores_close(got, want, columns=("lalp", "galp", *EXTRA)):
    """rsr within 1e-4 relative, the log-prob scores within 1e-4 absolute; `None` exactly where the reference has none."""
    for g, w in zip(got, want, strict=True):
        for name in columns:
            assert (g[name] is None) == (w[name] is None), (name, g[name], w[name])
            if w[name] is not None:
                tol = 1e-4 * abs(w[name]) if name == "rsr" else 1e-4
                assert abs(g[name] - w[name]) <= tol, (name, g[name], w[name])


@pytest.fixture(scope="module")
def tiny_reference(tiny_model, smol_tokenizer):
    return [plain_scores(tiny_model, smol_tokenizer, r, QUESTION) for r in RESPONSES]


def test_ranks_in_the_head_count_only_strictly_larger_logits(tiny_model):
    """A tie with the target does not count (SPEC §11): give token 7 the exact output embedding of token 5."""
    model = copy.deepcopy(tiny_model)
    with torch.no_grad():
        model.get_output_embeddings().weight[7] = model.get_output_embeddings().weight[5]
        states = torch.randn(6, model.config.hidden_size)
        states[1] = states[0]  # the same position, targets 5 and 7: tied logits
        targets = torch.tensor([5, 7, 0, 1, 2, 3])
        got = head_logprobs(model, states, targets, ranked=6)
        logits = model.get_output_embeddings()(states).float()
    want_ranks = [int((z > z[t]).sum()) + 1 for z, t in zip(logits, targets, strict=True)]
    assert got.shape == (6, 2) and got[:, 1].tolist() == want_ranks
    assert want_ranks[0] == want_ranks[1]  # the tie: each sees the other as equal, not larger
    torch.testing.assert_close(got[:, 0], head_logprobs(model, states, targets), atol=0, rtol=0)
    torch.testing.assert_close(got[:, 0], logits.log_softmax(-1).gather(-1, targets[:, None])[:, 0], atol=1e-5, rtol=0)


def test_only_the_leading_rows_asked_for_are_ranked_across_chunks(tiny_model, monkeypatch):
    from hf_localnat.scoring.compute import forward

    monkeypatch.setattr(forward, "LOGITS_CHUNK_ELEMENTS", 2 * tiny_model.config.vocab_size)  # chunks of 2 rows
    states, targets = torch.randn(5, tiny_model.config.hidden_size), torch.tensor([3, 1, 4, 1, 5])
    with torch.no_grad():
        all_ranked = head_logprobs(tiny_model, states, targets, ranked=5)
        three = head_logprobs(tiny_model, states, targets, ranked=3)
    assert three[:3, 1].tolist() == all_ranked[:3, 1].tolist() and three[3:, 1].tolist() == [0.0, 0.0]
    assert (all_ranked[:, 1] >= 1).all()
    torch.testing.assert_close(three[:, 0], all_ranked[:, 0], atol=0, rtol=0)


@pytest.mark.parametrize("options", [
    dict(prefix_reuse=False, reuse_galp=False),  # the plain dense path
    dict(),  # the CPU default: a reused prefix, steps read from the GALP pass
    dict(packing=True, batch_tokens=64),  # packs through SDPA's dense mask, several packs
    pytest.param(dict(packing=True, batch_tokens=16384, padding_side="left"), marks=SLOW),
    pytest.param(dict(prefix_reuse=False, batch_tokens=48, padding_side="left"), marks=SLOW),
], ids=["plain", "default", "packed", "one-pack", "dense-left"])
def test_every_score_matches_the_plain_reference_on_the_tiny_model(tiny_model, smol_tokenizer, tiny_reference, options):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores="all", **options)
    got = scorer.score(RESPONSES, questions=[QUESTION] * len(RESPONSES))
    assert_scores_close(got, tiny_reference)


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["eager", "flex_attention"])
def test_every_score_matches_the_reference_in_packs_of_other_attention_kernels(tiny_model_path, smol_tokenizer,
                                                                               tiny_reference, implementation):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype="float32",
                                                 attn_implementation=implementation).eval()
    scorer = LocalNaturalnessScorer(model, smol_tokenizer, scores="all", packing=True)
    with torch._dynamo.config.patch(automatic_dynamic_shapes=False):  # see test_perf: CPU flex needs static shapes
        got = scorer.score(RESPONSES, questions=[QUESTION] * len(RESPONSES))
    assert_scores_close(got, tiny_reference)


@pytest.mark.parametrize("drop_tokens", [0, 1, pytest.param(3, marks=SLOW), 50])
def test_drop_tokens_and_steps_shorter_than_it(tiny_model, smol_tokenizer, drop_tokens):
    """m = 0 gives LALP and GALP back; a step with at most m tokens is unscored; m longer than every step: None."""
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores="lalp_drop,galp_drop", drop_tokens=drop_tokens)
    got = scorer.score(RESPONSES[:2], questions=[QUESTION] * 2)
    want = [plain_scores(tiny_model, smol_tokenizer, r, QUESTION, m=drop_tokens) for r in RESPONSES[:2]]
    assert_scores_close(got, want, ("lalp", "galp", "lalp_drop", "galp_drop"))
    assert "rsr" not in got[0]
    if drop_tokens == 0:
        assert all(abs(r["lalp_drop"] - r["lalp"]) < 1e-9 and abs(r["galp_drop"] - r["galp"]) < 1e-9 for r in got)
    if drop_tokens == 50:
        assert all(r["lalp_drop"] is None and r["galp_drop"] is None and r["lalp"] is not None for r in got)


@pytest.mark.parametrize("max_length", [40, pytest.param(60, marks=SLOW)])
def test_long_rows_that_are_truncated_match_the_reference(tiny_model, smol_tokenizer, max_length):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="plain", max_length=max_length, scores="all")
    got = scorer.score(RESPONSES[:2], questions=[QUESTION] * 2)
    want = [plain_scores(tiny_model, smol_tokenizer, r, QUESTION, prompt_format="plain", max_length=max_length)
            for r in RESPONSES[:2]]
    assert got[0]["truncated"]  # the long row is cut at either length
    assert_scores_close(got, want)


@pytest.mark.parametrize("window", [0, pytest.param(4, marks=SLOW)])
def test_an_empty_prefix_matches_the_reference(tiny_model, smol_tokenizer, window):
    """P empty: the first response token (and with k = 0 the first token of every step) is unscored."""
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, prompt_format="none", window=window, scores="all")
    got = scorer.score(RESPONSES, questions=[QUESTION] * len(RESPONSES))
    want = [plain_scores(tiny_model, smol_tokenizer, r, QUESTION, prompt_format="none", window=window)
            for r in RESPONSES]
    assert_scores_close(got, want)


def test_rows_with_a_score_error_get_none_in_every_score_column(tiny_model, smol_tokenizer):
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores="all", max_length=80)
    got = scorer.score([RESPONSES[0], "", None, "   ", RESPONSES[3]], questions=[QUESTION, QUESTION, QUESTION, QUESTION,
                                                                           "word " * 100])
    assert [r["score_error"] for r in got] == [None, "empty_response", "missing_response", "empty_response",
                                                "prompt_too_long"]
    for row in got[1:]:
        assert all(row[name] is None for name in ("lalp", "galp", *EXTRA)) and row["lalp_steps"] == []
    assert all(got[0][name] is not None for name in EXTRA)


def test_blockmask_keeps_gal_p_based_scores_exact(tiny_model, smol_tokenizer, tiny_reference):
    """`mode="blockmask"` changes the step scores only: rsr and galp_drop still come from GALP's own pass."""
    scorer = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores="all", mode="blockmask")
    got = scorer.score(RESPONSES, questions=[QUESTION] * len(RESPONSES))
    assert_scores_close(got, tiny_reference, ("galp", "galp_drop", "rsr"))
    assert all(row["lalp_drop"] is not None for row in got[:3])


def test_default_scores_write_only_the_spec_7_columns(tiny_model, smol_tokenizer):
    [row] = LocalNaturalnessScorer(tiny_model, smol_tokenizer).score(RESPONSES[:1], questions=[QUESTION])
    assert set(row) == {"lalp", "galp", "lalp_steps", "num_steps", "num_tokens", "truncated", "score_error"}
    [row] = LocalNaturalnessScorer(tiny_model, smol_tokenizer, scores=["rsr"]).score(RESPONSES[:1], questions=[QUESTION])
    assert list(row)[-1] == "rsr" and "galp_drop" not in row


def test_unknown_scores_and_bad_drop_tokens_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="Unknown score 'grape'.*lalp, galp, lalp_drop, galp_drop, rsr, or all"):
        LocalNaturalnessScorer(scores="lalp,grape")
    with pytest.raises(ConfigError, match="drop_tokens"):
        LocalNaturalnessScorer(drop_tokens=-1)


@pytest.mark.slow
def test_every_score_matches_the_plain_reference_on_the_embedded_model(smol_model, smol_tokenizer, sample_rows):
    rows = [r for r in sample_rows if r["question_id"] in ("q01", "q08")][:4]
    got = LocalNaturalnessScorer(smol_model, smol_tokenizer, scores="all").score(
        [r["response"] for r in rows], questions=[r["question"] for r in rows])
    want = [plain_scores(smol_model, smol_tokenizer, r["response"], r["question"]) for r in rows]
    assert_scores_close(got, want)
