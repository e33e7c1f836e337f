"""`mode="blockmask"`: a single-pass APPROXIMATION of LALP, opt-in only. It is not LALP (SPEC §4).

One forward pass runs over P + R with a custom attention mask: the position that predicts a token of step `i` (and
so every token of step `i` but its first, plus the last token of step `i-1`) attends to P and to steps `i-k … i`
only. In the first layer each token sees exactly its exact-LALP window; deeper layers see beyond it (the keys of step
`i-k` were themselves computed from steps `i-2k …`), and P sits at its GALP distance rather than next to the window.
It costs about one GALP pass instead of (k+1); `benchmarks/run.py` reports its rank agreement with exact LALP.

The dense `T x T` mask makes memory grow with the square of the response length; SDPA and eager attention only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import ConfigError
from .forward import dense_attention_mask, gather_logprobs, pad_windows
from ..prepare.windows import Window, WindowSpec, preceding_steps


def step_of_tokens(token_ranges: Sequence[tuple[int, int]], count: int) -> list[int]:
    """Step index of each of the first `count` response tokens."""
    owner = [0] * count
    for step, (a, e) in enumerate(token_ranges):
        for t in range(a, min(e, count)):
            owner[t] = step
    return owner


def blockmask_allowed(prefix_length: int, owner: Sequence[int], window: WindowSpec) -> torch.Tensor:
    """`(T, T)` bool mask (True = may attend) for P (`prefix_length` tokens) followed by `len(owner)` response tokens.

    Query position `q` belongs to the step of the token it predicts (`q + 1`); it attends to every P position and to
    response positions `k <= q` whose step is at least that step's window start (`prepare.windows.window_start`: the
    step minus `window`, or minus its share of the preceding steps), and always to itself.

    Example (P of 1 token, steps [0, 0, 1, 2], window 0):
        >>> blockmask_allowed(1, [0, 0, 1, 2], 0).int().tolist()
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [1, 0, 0, 0, 1]]
    """
    total = prefix_length + len(owner)
    key_step = torch.full((total,), -(10**9), dtype=torch.long)  # P keys are always allowed (below)
    key_step[prefix_length:] = torch.tensor(list(owner), dtype=torch.long)
    row_step = torch.full((total,), -(10**9), dtype=torch.long)  # P queries predicting P: only P keys
    predicted = torch.arange(total) + 1  # position q predicts token q + 1
    inside = (predicted >= prefix_length) & (predicted < total)
    row_step[inside] = key_step[predicted[inside]]
    row_step[-1] = key_step[-1]  # the last position predicts nothing; keep it in its own step
    causal = torch.ones(total, total, dtype=torch.bool).tril()
    first_step = row_step - preceding_steps(row_step.clamp(min=0), window)  # window_start, on every query at once
    in_window = (key_step[None, :] >= first_step[:, None]) | (torch.arange(total) < prefix_length)[None, :]
    return (causal & in_window) | torch.eye(total, dtype=torch.bool)


@torch.inference_mode()
def blockmask_logprobs(
    model,
    windows: Sequence[Window],
    prefix_lengths: Sequence[int],
    token_ranges: Sequence[Sequence[tuple[int, int]]],
    window: WindowSpec,
    pad_id: int,
) -> list[torch.Tensor]:
    """Log-probs of the scored tokens of GALP windows (`P + R[:cover]`), each token conditioned through the block
    mask above instead of the causal one. Same layout as `scored_logprobs` on those windows."""
    implementation = getattr(model.config, "_attn_implementation", "sdpa")
    if implementation not in ("sdpa", "eager"):
        raise ConfigError(
            f"mode='blockmask' needs a custom dense attention mask, which {implementation!r} does not take; load the "
            "model with attn_implementation='sdpa' (or use mode='exact')."
        )
    device = next(model.parameters()).device
    ids, _, positions, _ = pad_windows(windows, pad_id, "right", device)
    longest = ids.shape[1]
    allowed = torch.eye(longest, dtype=torch.bool).repeat(len(windows), 1, 1, 1)  # padding queries: themselves only
    for b, (w, p, ranges) in enumerate(zip(windows, prefix_lengths, token_ranges, strict=True)):
        n = len(w)
        allowed[b, 0, :n, :n] = blockmask_allowed(p, step_of_tokens(ranges, n - p), window)
    mask = dense_attention_mask(allowed.to(device), model)
    hidden = model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    return gather_logprobs(model, hidden, ids, windows, range(len(windows)), [0] * len(windows))
