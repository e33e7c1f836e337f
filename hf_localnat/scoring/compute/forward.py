"""The model stack: load a causal LM once, and compute log-probs at the scored positions only.

Only this module (and `models.py`) imports torch and transformers. Logits are never materialized for a whole
`batch x length x vocab` tensor: hidden states at the positions that predict a scored token are gathered first,
then projected by the LM head in chunks, in float32.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from itertools import accumulate
from dataclasses import dataclass

import torch

from ..prepare.windows import Window

# Largest logits chunk (positions x vocab) materialized at once, in float32 elements: 2^26 = 256 MiB.
LOGITS_CHUNK_ELEMENTS = 1 << 26


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """`"auto"`: bfloat16 on a GPU that supports it (else float16), float32 on CPU; names map to torch dtypes."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ValueError(f"Unknown dtype {dtype!r}; use 'auto', 'float32', 'bfloat16' or 'float16'.")
    return names[dtype]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` picks `cuda` when a GPU is visible, else `cpu`."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _output_transform(model):
    """Logit post-processing some architectures apply after the LM head (scale, soft-capping)."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    scale = getattr(config, "logit_scale", None)
    cap = getattr(config, "final_logit_softcapping", None)

    def transform(logits: torch.Tensor) -> torch.Tensor:
        if scale is not None:
            logits = logits * scale
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    return transform


def _cache_kwarg(backbone) -> str:
    """Name of the cache argument of the backbone's forward (`cache` from transformers 5.x, else `past_key_values`)."""
    return "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"


def head_logprobs(model, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`log p(target | state)` for `N` hidden states: LM head in chunks, float32 log-softmax, gather.

    At most `LOGITS_CHUNK_ELEMENTS` logits exist at once, whatever the window length or the number of positions.

    Args:
        states (`torch.Tensor`): `(N, H)` final hidden states at the positions that predict the targets.
        targets (`torch.Tensor`): `(N,)` token ids.

    Returns:
        `torch.Tensor`: `(N,)` float32 log-probs on the CPU.
    """
    if states.shape[0] == 0:
        return torch.empty(0)
    head = model.get_output_embeddings()
    transform = _output_transform(model)
    chunk = max(1, LOGITS_CHUNK_ELEMENTS // head.weight.shape[0])
    out = []
    for start in range(0, states.shape[0], chunk):
        logits = transform(head(states[start : start + chunk]).float())  # (n, V) float32
        logprobs = torch.log_softmax(logits, dim=-1)
        out.append(logprobs.gather(-1, targets[start : start + chunk, None]).squeeze(-1))
    return torch.cat(out).cpu()


@dataclass
class PrefixState:
    """The keys/values of a prefix P (batch of one) and the final hidden state of its last token.

    Attributes:
        length (`int`): |P|.
        layers (`list[tuple[torch.Tensor, torch.Tensor]]`): per layer `(keys, values)`, `(1, heads, |P|, dim)`.
        last_hidden (`torch.Tensor`): `(H,)` final hidden state at P's last position (it predicts the first token
            after P).
    """

    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    last_hidden: torch.Tensor


def pad_windows(windows: Sequence[Window], pad_id: int, padding_side: str, device: torch.device, skip: int = 0):
    """Dense `(B, T)` ids, attention mask and position ids of `input_ids[skip:]` of every window; positions restart
    at 0 for every window (padding positions repeat a neighbour's). Also the column where each row's tokens start."""
    longest = max(len(w) - skip for w in windows)
    ids = torch.full((len(windows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), longest), dtype=torch.long)
    offsets = []
    for b, w in enumerate(windows):
        n = len(w) - skip
        offset = longest - n if padding_side == "left" else 0
        ids[b, offset : offset + n] = torch.tensor(w.input_ids[skip:], dtype=torch.long)
        mask[b, offset : offset + n] = 1
        offsets.append(offset)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device), offsets


def gather_logprobs(
    model,
    hidden: torch.Tensor,
    ids: torch.Tensor,
    windows: Sequence[Window],
    rows: Sequence[int],
    starts: Sequence[int],
    prefix: PrefixState | None = None,
) -> list[torch.Tensor]:
    """Log-probs of the `num_scored` trailing tokens of each window, from the backbone's output of one batch.

    Window `b` sits in row `rows[b]` of `hidden` (`(R, T, H)`) and `ids` (`(R, T)`), from column `starts[b]` on, holding
    `len(w) - skip` tokens (`skip` = |P| when `prefix` holds P's keys/values, else 0). Input position `p` predicts
    token `p + 1`: only the positions that predict a scored token are gathered and projected (`head_logprobs`). A
    position before a row's first token is P's last one, whose hidden state is `prefix.last_hidden`.

    Returns:
        `list[torch.Tensor]`: one 1-D float32 CPU tensor per window, of length `num_scored`.
    """
    skip = prefix.length if prefix is not None else 0
    row_of, cols, start_of = [], [], []
    for w, row, start in zip(windows, rows, starts, strict=True):
        end = start + len(w) - skip
        cols.extend(range(end - w.num_scored - 1, end - 1))
        row_of.extend([row] * w.num_scored)
        start_of.extend([start] * w.num_scored)
    if not cols:
        return [torch.empty(0) for _ in windows]
    device = hidden.device
    rows_t = torch.tensor(row_of, dtype=torch.long, device=device)
    cols_t = torch.tensor(cols, dtype=torch.long, device=device)
    starts_t = torch.tensor(start_of, dtype=torch.long, device=device)
    before = cols_t < starts_t  # only possible with a prefix: the state is P's last one
    states = hidden[rows_t, torch.where(before, starts_t, cols_t)]  # (N, H)
    if prefix is not None and bool(before.any()):
        states[before] = prefix.last_hidden.to(states.dtype)
    flat = head_logprobs(model, states, ids[rows_t, cols_t + 1])
    return list(torch.split(flat, [w.num_scored for w in windows]))


def auto_prefix_reuse(model) -> bool:
    """What `prefix_reuse="auto"` decides for `model`: reuse on the CPU, where it measured 1.5x faster, and not on an
    accelerator, where recomputing the prefix in dense batches measured 1.3-5x faster (`benchmarks/RESULTS.md`, H100)."""
    return next(model.parameters()).device.type == "cpu" and supports_prefix_reuse(model)


def supports_prefix_reuse(model) -> bool:
    """Whether the model's cache is plain full-attention layers (no sliding, chunked or shared layers), so that a
    prefix's keys/values can be computed once and extended by any window."""
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        cache = DynamicCache(config=model.config)
    except Exception:  # noqa: BLE001 - an architecture the cache API does not know: use the plain path
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


@torch.inference_mode()
def prefix_state(model, prefix: Sequence[int]) -> PrefixState:
    """Run P once and keep its keys/values and last hidden state (`PrefixState`)."""
    device = next(model.parameters()).device
    backbone = model.base_model
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=device)
    out = backbone(input_ids=ids, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    return PrefixState(len(prefix), layers, out.last_hidden_state[0, -1])


def _expanded_cache(model, state: PrefixState, rows: int):
    from transformers import DynamicCache

    data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in state.layers]
    return DynamicCache(ddp_cache_data=data, config=model.config)


@torch.inference_mode()
def scored_logprobs(
    model,
    windows: Sequence[Window],
    pad_id: int,
    padding_side: str = "right",
    *,
    prefix: PrefixState | None = None,
    packed: bool = False,
) -> list[torch.Tensor]:
    """Log-probabilities (float32, natural log) of the `num_scored` trailing tokens of each window.

    Three ways to run a batch, all giving the same numbers (SPEC §6 tolerances):
    - dense (default): windows padded to the longest, one row each;
    - `prefix`: every window starts with the same P, whose keys/values were computed once (`prefix_state`); only
      the tokens after P run through the model;
    - `packed`: all windows in one row without padding, position ids restarting at 0 for each, no attention mask:
      transformers then keeps windows from attending to each other (a block-diagonal mask; varlen kernels with
      FlashAttention). Worth it only with an attention implementation that does not build a dense mask.

    Args:
        model: a causal LM (`PreTrainedModel`) in eval mode.
        windows (`Sequence[Window]`): inputs of one batch.
        pad_id (`int`): id written in padding positions (masked out; never scored).
        padding_side (`str`, *optional*, defaults to `"right"`): where padding goes (dense and prefix batches).
        prefix (`PrefixState`, *optional*): the shared P of all `windows`.
        packed (`bool`, *optional*, defaults to `False`): pack the windows into one row.

    Returns:
        `list[torch.Tensor]`: one 1-D CPU tensor per window, of length `num_scored`.
    """
    device = next(model.parameters()).device
    backbone = model.base_model
    if packed:
        ids = torch.tensor([[t for w in windows for t in w.input_ids]], dtype=torch.long, device=device)
        positions = torch.tensor([[p for w in windows for p in range(len(w))]], dtype=torch.long, device=device)
        hidden = backbone(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state
        starts = list(accumulate((len(w) for w in windows[:-1]), initial=0))
        return gather_logprobs(model, hidden, ids, windows, [0] * len(windows), starts)
    skip = prefix.length if prefix is not None else 0
    ids, mask, positions, offsets = pad_windows(windows, pad_id, padding_side, device, skip)
    if prefix is None:
        hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    else:
        full_mask = torch.cat([mask.new_ones(len(windows), skip), mask], dim=1)
        cache = _expanded_cache(model, prefix, len(windows))
        hidden = backbone(
            input_ids=ids, attention_mask=full_mask, position_ids=positions + skip, use_cache=True,
            **{_cache_kwarg(backbone): cache},
        ).last_hidden_state
    return gather_logprobs(model, hidden, ids, windows, range(len(windows)), offsets, prefix)
