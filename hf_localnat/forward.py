"""The model stack: load a causal LM once, and compute log-probs at the scored positions only.

Only this module (and `models.py`) imports torch and transformers. Logits are never materialized for a whole
`batch x length x vocab` tensor: hidden states at the positions that predict a scored token are gathered first,
then projected by the LM head in chunks, in float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .windows import Window

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


def _pad(windows: Sequence[Window], pad_id: int, padding_side: str, device: torch.device):
    """Dense `(B, T)` ids, attention mask and position ids; positions restart at 0 for every window."""
    longest = max(len(w) for w in windows)
    ids = torch.full((len(windows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), longest), dtype=torch.long)
    offsets = []
    for b, w in enumerate(windows):
        offset = longest - len(w) if padding_side == "left" else 0
        ids[b, offset : offset + len(w)] = torch.tensor(w.input_ids, dtype=torch.long)
        mask[b, offset : offset + len(w)] = 1
        offsets.append(offset)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device), offsets


@torch.inference_mode()
def scored_logprobs(
    model, windows: Sequence[Window], pad_id: int, padding_side: str = "right"
) -> list[torch.Tensor]:
    """Log-probabilities (float32, natural log) of the `num_scored` trailing tokens of each window.

    Args:
        model: a causal LM (`PreTrainedModel`) in eval mode.
        windows (`Sequence[Window]`): inputs of one batch.
        pad_id (`int`): id written in padding positions (masked out; never scored).
        padding_side (`str`, *optional*, defaults to `"right"`): where padding goes.

    Returns:
        `list[torch.Tensor]`: one 1-D CPU tensor per window, of length `num_scored`.
    """
    device = next(model.parameters()).device
    ids, mask, positions, offsets = _pad(windows, pad_id, padding_side, device)
    backbone = model.base_model
    hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    # (B, T, H): keep only positions that predict a scored token: input position p predicts token p + 1.
    rows, cols = [], []
    for b, (w, offset) in enumerate(zip(windows, offsets, strict=True)):
        end = offset + len(w)
        cols.extend(range(end - w.num_scored - 1, end - 1))
        rows.extend([b] * w.num_scored)
    if not rows:
        return [torch.empty(0) for _ in windows]
    rows_t = torch.tensor(rows, device=device)
    cols_t = torch.tensor(cols, device=device)
    states = hidden[rows_t, cols_t]  # (N, H)
    targets = ids[rows_t, cols_t + 1]  # (N,)
    head = model.get_output_embeddings()
    transform = _output_transform(model)
    chunk = max(1, LOGITS_CHUNK_ELEMENTS // head.weight.shape[0])
    out = []
    for start in range(0, len(rows), chunk):
        logits = transform(head(states[start : start + chunk]).float())  # (n, V) float32
        logprobs = torch.log_softmax(logits, dim=-1)
        out.append(logprobs.gather(-1, targets[start : start + chunk, None]).squeeze(-1))
    flat = torch.cat(out).cpu()
    return list(torch.split(flat, [w.num_scored for w in windows]))
