"""The model stack: compute log-probs at the scored positions only, in dense batches, with a reused prefix, or packed.

Only this module (and `models.py`) imports torch and transformers. Logits are never materialized for a whole
`batch x length x vocab` tensor: hidden states at the positions that predict a scored token are gathered first,
then projected by the LM head in chunks, in float32. Nothing here waits for the device: inputs go up from pinned
memory without blocking, and log-probs stay on the device (the engine brings a whole chunk back at once).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..prepare.windows import Window
from .packing import PackLayout

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


def head_logprobs(model, states: torch.Tensor, targets: torch.Tensor, ranked: int | None = None) -> torch.Tensor:
    """`log p(target | state)` for `N` hidden states: LM head in chunks, float32 log-softmax, gather; with `ranked`,
    also the rank of the target of each of the first `ranked` states among its logits, `1 + |{v : z_v > z_target}|`
    (SPEC §11: a tie does not count).

    At most `LOGITS_CHUNK_ELEMENTS` logits exist at once, whatever the window length or the number of positions. The
    rank is one float32 comparison of a chunk's rows against their target logits, on the device, in the same chunk.

    Args:
        states (`torch.Tensor`): `(N, H)` final hidden states at the positions that predict the targets.
        targets (`torch.Tensor`): `(N,)` token ids.
        ranked (`int`, *optional*): how many leading states also get their target's rank (`None`: no rank column).

    Returns:
        `torch.Tensor`: `(N,)` float32 log-probs, on the states' device; with `ranked`, `(N, 2)`: log-probs and ranks
        (float32, exact up to 2^24 tokens of vocabulary; 0 past the first `ranked` rows), so both come back to the
        host in one copy.
    """
    if states.shape[0] == 0:
        return torch.empty((0, 2) if ranked is not None else 0, device=states.device)
    head = model.get_output_embeddings()
    transform = _output_transform(model)
    chunk = max(1, LOGITS_CHUNK_ELEMENTS // head.weight.shape[0])
    out = []
    for start in range(0, states.shape[0], chunk):
        logits = transform(head(states[start : start + chunk]).float())  # (n, V) float32
        target = targets[start : start + chunk, None]  # (n, 1)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, target)  # (n, 1)
        if ranked is None:
            out.append(logprobs.squeeze(-1))
            continue
        ranks = torch.zeros_like(logprobs)
        k = min(max(ranked - start, 0), logits.shape[0])  # rows of this chunk that are ranked (known on the host)
        if k:
            # ties do not count; an int32 count is 1.6x faster than the default int64 one on the CPU
            above = (logits[:k] > logits[:k].gather(-1, target[:k])).sum(-1, keepdim=True, dtype=torch.int32)
            ranks[:k] = (above + 1).float()
        out.append(torch.cat([logprobs, ranks], dim=-1))  # (n, 2)
    return torch.cat(out)


def ranked_first(counts: Sequence[int], ranks: Sequence[bool] | None) -> tuple[list[int], int | None]:
    """An order of windows with those whose ranks are asked for first, and how many positions those hold (`None`
    when no rank is asked for), so that the head ranks one leading block of positions (`head_logprobs`).

    Example:
        >>> ranked_first([3, 2, 4], [False, True, False])
        ([1, 0, 2], 2)
    """
    if ranks is None:
        return list(range(len(counts))), None
    order = sorted(range(len(counts)), key=lambda b: not ranks[b])
    return order, sum(c for c, r in zip(counts, ranks, strict=True) if r)


def split_in_order(flat: torch.Tensor, counts: Sequence[int], order: Sequence[int]) -> list[torch.Tensor]:
    """`flat` holds the positions of windows `order[0]`, `order[1]`, ... (`counts` per window): each window's rows,
    in window order."""
    out: list = [None] * len(counts)
    for b, piece in zip(order, torch.split(flat, [counts[b] for b in order]), strict=True):
        out[b] = piece
    return out


def to_device(values: Sequence[int], device: torch.device) -> torch.Tensor:
    """A 1-D long tensor of `values` on `device`, copied from pinned memory without waiting on an accelerator."""
    tensor = torch.tensor(values, dtype=torch.long)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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
    ranks: Sequence[bool] | None = None,
) -> list[torch.Tensor]:
    """Log-probs of the `num_scored` trailing tokens of each window (and, for the windows `ranks` flags, the targets'
    ranks: `head_logprobs`), from the backbone's output of one batch.

    Window `b` sits in row `rows[b]` of `hidden` (`(R, T, H)`) and `ids` (`(R, T)`), from column `starts[b]` on, holding
    `len(w) - skip` tokens (`skip` = |P| when `prefix` holds P's keys/values, else 0). Input position `p` predicts
    token `p + 1`: only the positions that predict a scored token are gathered and projected (`head_logprobs`). A
    position before a row's first token is P's last one, whose hidden state is `prefix.last_hidden`.

    Returns:
        `list[torch.Tensor]`: one float32 tensor per window (on the model's device), of `num_scored` rows; with
        `ranks`, `(num_scored, 2)` log-probs and ranks (0 for windows not flagged).
    """
    skip = prefix.length if prefix is not None else 0
    counts = [w.num_scored for w in windows]
    order, ranked = ranked_first(counts, ranks)
    row_of, cols, start_of = [], [], []
    for b in order:
        w, row, start = windows[b], rows[b], starts[b]
        cols.extend(start - skip + j - 1 for j in w.scored_positions())  # input index j is column start - skip + j
        row_of.extend([row] * w.num_scored)
        start_of.extend([start] * w.num_scored)
    if not cols:
        return [torch.empty((0, 2) if ranks is not None else 0, device=hidden.device) for _ in windows]
    device = hidden.device
    rows_t, cols_t, starts_t = (to_device(v, device) for v in (row_of, cols, start_of))
    before = cols_t < starts_t  # only possible with a prefix: the state is P's last one
    states = hidden[rows_t, torch.where(before, starts_t, cols_t)]  # (N, H)
    if prefix is not None:  # a select, not a masked write: no wait on the device to learn whether any is before
        states = torch.where(before[:, None], prefix.last_hidden.to(states.dtype), states)
    flat = head_logprobs(model, states, ids[rows_t, cols_t + 1], ranked)
    return split_in_order(flat, counts, order)


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
    ranks: Sequence[bool] | None = None,
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
        ranks (`Sequence[bool]`, *optional*): per window, whether its targets' ranks are computed too
            (`head_logprobs`); `None`: no rank column.

    Returns:
        `list[torch.Tensor]`: one tensor per window (on the model's device), of `num_scored` rows: log-probs, or
        with `ranks` `(num_scored, 2)` log-probs and ranks (0 for windows not flagged).
    """
    device = next(model.parameters()).device
    backbone = model.base_model
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
    return gather_logprobs(model, hidden, ids, windows, range(len(windows)), offsets, prefix, ranks)


def attention_implementation(model) -> str:
    """The attention implementation `model` runs (`sdpa`, `eager`, `flex_attention`, `flash_attention_2`, ...)."""
    return getattr(model.config, "_attn_implementation", None) or "sdpa"


def is_varlen(implementation: str) -> bool:
    """FlashAttention in any form (`flash_attention_2/3`, hub kernels): packed rows run as variable-length sequences
    from their position ids alone, with no mask, so each window is laid out whole, its P included."""
    return "flash" in implementation


def shares_prefix(model) -> bool:
    """Whether packs for `model` hold each P once: every attention implementation but the varlen ones."""
    return not is_varlen(attention_implementation(model))


def dense_attention_mask(allowed: torch.Tensor, model) -> torch.Tensor:
    """A `(B, 1, T, T)` attention mask from a bool one (True = may attend): as it is for SDPA, additive for eager."""
    if attention_implementation(model) == "eager":
        dtype = next(model.parameters()).dtype
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)
    return allowed


def pack_attention_mask(model, layout: PackLayout, device: torch.device):
    """The mask of a pack (`PackLayout.allowed`) in the form the model's attention takes: a flex attention
    `BlockMask` (blocks no query sees are skipped), nothing for varlen kernels (the position ids restart for every
    window, which is their mask), or a dense `(1, 1, T, T)` mask for SDPA and eager."""
    implementation = attention_implementation(model)
    if is_varlen(implementation):
        return None
    segments = to_device(layout.segments, device)
    prefixes = to_device(layout.prefix_segments, device)
    if implementation == "flex_attention":
        return flex_block_mask(segments, prefixes)
    same = (segments[:, None] == segments[None, :]) | (prefixes[:, None] == segments[None, :])
    allowed = torch.ones(len(layout), len(layout), dtype=torch.bool, device=device).tril_() & same
    return dense_attention_mask(allowed[None, None], model)


# The tile of flex attention's block sparsity (its default).
FLEX_BLOCK = 128


def flex_block_mask(segments: torch.Tensor, prefixes: torch.Tensor):
    """The `BlockMask` of a pack from its per-token segments and prefix segments (`packing.PackLayout`).

    Built from block summaries, never from the `T x T` mask: a tile of `FLEX_BLOCK` queries x `FLEX_BLOCK` keys is
    visited when it is on or below the diagonal and some query's segment or prefix segment falls in the keys' range
    of segments (segments grow along the pack, so that range holds every segment of the key tile). That is a superset
    of the tiles holding an allowed pair; the mask function decides each pair inside them, except in tiles where
    every pair is allowed (P's tiles below a window, a long window's own tiles below its diagonal), which the kernel
    runs unmasked. Memory `T x T / FLEX_BLOCK` and no wait on the device. A length that is not a multiple of the tile
    goes through `create_block_mask`.
    """
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask

    def mask_mod(batch, head, query, key):
        return (key <= query) & ((segments[query] == segments[key]) | (prefixes[query] == segments[key]))

    length = segments.shape[0]
    if length % FLEX_BLOCK:
        return create_block_mask(mask_mod, None, None, length, length, device=segments.device)
    tiles = length // FLEX_BLOCK
    by_tile = segments.view(tiles, FLEX_BLOCK)
    lowest, highest = by_tile.amin(1), by_tile.amax(1)

    def reaches(values: torch.Tensor) -> torch.Tensor:  # (query tiles, key tiles): some value in the keys' range
        inside = (values[:, None] >= lowest[None, :]) & (values[:, None] <= highest[None, :])
        return inside.view(tiles, FLEX_BLOCK, tiles).any(1)

    visited = (reaches(segments) | reaches(prefixes)).tril_()
    # Full tiles (every pair allowed, so the kernel skips the mask): strictly below the diagonal, keys of one segment
    # that every query of the tile sees as its own segment or its prefix.
    one = lowest[None, :]
    sees = ((segments[:, None] == one) | (prefixes[:, None] == one)).view(tiles, FLEX_BLOCK, tiles).all(1)
    full = sees & (lowest == highest)[None, :] & visited
    full.tril_(-1)
    partial = visited & ~full

    def listed(tiles_visited: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        counts = tiles_visited.sum(1, dtype=torch.int32)
        indices = torch.argsort((~tiles_visited).to(torch.int8), dim=1, stable=True).to(torch.int32)  # listed first
        return counts[None, None], indices[None, None]

    return BlockMask.from_kv_blocks(*listed(partial), *listed(full), BLOCK_SIZE=FLEX_BLOCK, mask_mod=mask_mod,
                                    seq_lengths=(length, length))


@torch.inference_mode()
def packed_logprobs(model, layout: PackLayout, ranks: Sequence[bool] | None = None) -> list[torch.Tensor]:
    """Log-probs of the scored tokens of the windows of one pack (`packing.pack_layout`), in one row.

    Every window sees exactly its own input (P, then its tokens, at its own positions), through the pack's mask, so
    the numbers are the dense path's (SPEC §6 tolerances), with each P computed once.

    Returns:
        `list[torch.Tensor]`: one tensor per window of the layout (on the model's device), of `num_scored` rows
        (log-probs; with `ranks`, per window whether it is ranked, `(num_scored, 2)` log-probs and ranks, see
        `head_logprobs` and `gather_logprobs`).
    """
    device = next(model.parameters()).device
    ids = to_device(layout.input_ids, device)[None]
    positions = to_device(layout.positions, device)[None]
    mask = pack_attention_mask(model, layout, device)
    hidden = model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    order, ranked = ranked_first(layout.counts, ranks)
    predictors, targets = layout.predictors, layout.targets
    if ranks is not None:  # the ranked windows' positions first (host lists: no wait on the device)
        offsets = [0, *itertools.accumulate(layout.counts)]
        index = [i for b in order for i in range(offsets[b], offsets[b + 1])]
        predictors, targets = [predictors[i] for i in index], [targets[i] for i in index]
    states = hidden[0, to_device(predictors, device)]
    return split_in_order(head_logprobs(model, states, to_device(targets, device), ranked), layout.counts, order)
