"""Windows, alignment and batching on integer token lists with gold outputs (no model)."""

from __future__ import annotations

import pytest

from hf_localnat.scoring.prepare.align import align_steps
from hf_localnat.scoring.compute.batching import padding_efficiency, token_budget_batches
from hf_localnat.scoring.prepare.windows import galp_window, row_windows, step_window

RESPONSE = list(range(100, 112))  # 12 tokens
RANGES = [(0, 3), (3, 5), (5, 6), (6, 10), (10, 12)]  # 5 steps


@pytest.mark.parametrize(
    ("step", "window", "expected_slice"),
    [(0, 4, (0, 3)), (1, 0, (3, 5)), (1, 1, (0, 5)), (3, 1, (5, 10)), (3, 2, (3, 10)), (4, 4, (0, 12)), (4, 9, (0, 12))],
)
def test_step_window_is_prefix_plus_k_preceding_steps(step, window, expected_slice):
    w = step_window(0, step, [1, 2], RESPONSE, RANGES, window, max_length=1000)
    a, e = expected_slice
    assert w.input_ids == [1, 2] + RESPONSE[a:e]
    assert w.num_scored == RANGES[step][1] - RANGES[step][0]
    assert w.first_token == RANGES[step][0]
    assert not w.truncated


def test_every_target_token_is_scored_exactly_once_and_context_stays_within_k_steps():
    for window in range(0, 6):
        covered = []
        for step, (a_i, e_i) in enumerate(RANGES):
            w = step_window(0, step, [7], RESPONSE, RANGES, window, max_length=1000)
            scored = w.input_ids[len(w.input_ids) - w.num_scored :]
            assert scored == RESPONSE[a_i:e_i]
            context = w.input_ids[1 : len(w.input_ids) - w.num_scored]
            assert context == RESPONSE[RANGES[max(0, step - window)][0] : a_i]
            covered.extend(range(w.first_token, w.first_token + w.num_scored))
        assert covered == list(range(len(RESPONSE)))


def test_empty_prefix_leaves_the_first_input_token_unscored():
    galp = galp_window(0, [], RESPONSE, max_length=1000)
    assert (galp.num_scored, galp.first_token) == (11, 1)
    first = step_window(0, 0, [], RESPONSE, RANGES, 4, max_length=1000)
    assert (first.num_scored, first.first_token) == (2, 1)
    later = step_window(0, 3, [], RESPONSE, RANGES, 0, max_length=1000)  # k=0: the step has no context at all
    assert (later.num_scored, later.first_token) == (3, 7)


def test_long_inputs_drop_context_from_the_left_then_cut_the_step():
    # P + window = 2 + 10 > 8: keep P, drop oldest context tokens.
    w = step_window(0, 3, [1, 2], RESPONSE, RANGES, 2, max_length=8)
    assert w.input_ids == [1, 2] + RESPONSE[4:10] and w.num_scored == 4 and w.truncated
    # P + step alone = 2 + 4 > 5: score only the step's first 3 tokens, no context.
    w = step_window(0, 3, [1, 2], RESPONSE, RANGES, 2, max_length=5)
    assert w.input_ids == [1, 2] + RESPONSE[6:9] and w.num_scored == 3 and w.truncated
    # GALP scores only the first max_length - |P| tokens.
    g = galp_window(0, [1, 2], RESPONSE, max_length=8)
    assert g.input_ids == [1, 2] + RESPONSE[:6] and g.num_scored == 6 and g.truncated


def test_row_windows_reuse_galp_for_prefix_steps():
    galp, steps = row_windows(0, [1], RESPONSE, RANGES, window=2, max_length=1000, reuse_galp=True)
    assert [w.step for w in steps] == [3, 4]
    _, plain = row_windows(0, [1], RESPONSE, RANGES, window=2, max_length=1000, reuse_galp=False)
    assert [w.step for w in plain] == [0, 1, 2, 3, 4]
    # A step whose window would start at 0 but ends beyond the truncated GALP input needs its own window.
    _, cut = row_windows(0, [1], RESPONSE, RANGES, window=9, max_length=8, reuse_galp=True)
    assert [w.step for w in cut] == [3, 4]


def test_align_tokens_by_last_character():
    # "Hi there.\n\nNext" -> steps "Hi there.\n\n" (0-11) and "Next" (11-15); tokens "Hi", " there", ".", "\n\n", "Next"
    offsets = [(0, 2), (2, 8), (8, 9), (9, 11), (11, 15)]
    assert align_steps(offsets, [(0, 11), (11, 15)]) == [(0, 4), (4, 5)]
    # A leading-space token goes with the sentence it starts; an empty-span token with the step containing its start.
    assert align_steps([(0, 3), (3, 7), (7, 7)], [(0, 4), (4, 7)]) == [(0, 1), (1, 3)]
    # A step owning no token gets an empty range.
    assert align_steps([(0, 5)], [(0, 2), (2, 5)]) == [(0, 0), (0, 1)]


@pytest.mark.parametrize("batch_tokens", [1, 5, 16, 40, 10_000])
def test_token_budget_batches_cover_every_window_once(batch_tokens):
    lengths = [3, 8, 2, 8, 5, 1, 7, 7, 4]
    batches = list(token_budget_batches(lengths, batch_tokens))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= batch_tokens
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)
    assert 0 < padding_efficiency(lengths, batches) <= 1
    assert list(token_budget_batches([], batch_tokens)) == []
