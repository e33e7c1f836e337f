"""Run every window of a call through the model: plan batches, reuse prefixes, pack, back off on out-of-memory.

`run_windows` is the loop between `windows` and `aggregate`: it decides per prefix whether P's keys/values are
computed once and reused (`prefix_reuse`), whether batches are packed without padding (`packing`), plans
length-sorted token-budget batches (`batching`), runs them (`forward.scored_logprobs`) and retries smaller batches
after an out-of-memory error. `run_blockmask` runs `mode="blockmask"`'s passes through the same batching and back-off.
Every exact path gives the same numbers as the plain dense one (SPEC §6 tolerances).

Failures are explicit: a window that ran out of memory even alone is in `WindowRun.failed`; every other window has
its log-probs, or the run raises (any other error propagates as it is, never labelled out of memory).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .batching import BatchRun, run_batches
from .blockmask import blockmask_logprobs
from ..config import ScoringConfig
from ...errors import ConfigError
from .forward import PrefixState, auto_prefix_reuse, prefix_state, scored_logprobs, supports_prefix_reuse
from ..prepare.windows import Window

# Attention implementations whose packed (padding-free) batches cost no dense T x T mask.
PACKING_ATTENTION = ("flash_attention_2", "flash_attention_3", "flex_attention")


@dataclass
class WindowRun:
    """Log-probs of every window and what it took.

    Attributes:
        logprobs (`list[torch.Tensor | None]`): per window; `None` exactly for the windows in `failed`.
        failed (`set[int]`): windows that ran out of memory even alone (their rows get `out_of_memory`).
        real_tokens (`int`): tokens of all windows (P included).
        model_tokens (`int`): tokens the model had to run: window tokens, each reused P counted once.
        computed_tokens (`int`): tokens the model computed: `model_tokens` plus padding.
        retries (`int`): batches retried after an out-of-memory error.
        batches (`int`): batches run.
        prefix_reuse (`bool`): some prefix's keys/values were reused.
        packed (`bool`): batches were packed.
    """

    logprobs: list = field(default_factory=list)
    failed: set[int] = field(default_factory=set)
    real_tokens: int = 0
    model_tokens: int = 0
    computed_tokens: int = 0
    retries: int = 0
    batches: int = 0
    prefix_reuse: bool = False
    packed: bool = False


def merge_runs(runs: Sequence[WindowRun]) -> WindowRun:
    """One `WindowRun` summing several (the chunks of a call); log-probs concatenated in order."""
    merged = WindowRun()
    for run in runs:
        merged.failed.update(len(merged.logprobs) + i for i in run.failed)
        merged.logprobs.extend(run.logprobs)
        for name in ("real_tokens", "model_tokens", "computed_tokens", "retries", "batches"):
            setattr(merged, name, getattr(merged, name) + getattr(run, name))
        merged.prefix_reuse |= run.prefix_reuse
        merged.packed |= run.packed
    return merged


def resolve_packing(model, packing: bool | str) -> bool:
    """`"auto"`: pack on an accelerator when the attention implementation handles packed rows without a dense mask
    (FlashAttention varlen, flex attention); dense padded batches otherwise (CPU, SDPA, eager)."""
    if packing != "auto":
        return bool(packing)
    device = next(model.parameters()).device
    implementation = getattr(model.config, "_attn_implementation", None)
    return device.type != "cpu" and implementation in PACKING_ATTENTION


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_windows(
    model,
    windows: Sequence[Window],
    prefix_lengths: Sequence[int],
    pad_id: int,
    config: ScoringConfig,
    on_batch: Callable[[int], None] | None = None,
) -> WindowRun:
    """Log-probs of the scored tokens of every window.

    Args:
        model: a causal LM in eval mode.
        windows (`Sequence[Window]`): all windows of a call.
        prefix_lengths (`Sequence[int]`): |P| of each window (its first |P| ids are P).
        pad_id (`int`): id written in padding positions.
        config (`ScoringConfig`): `batch_tokens`, `bucket_ratio`, `prefix_reuse`, `prefix_reuse_min_tokens`,
            `packing`, `oom_backoff`, `padding_side`.
        on_batch (`Callable[[int], None]`, *optional*): called with the real tokens of each finished batch.
    """
    result = WindowRun(logprobs=[None] * len(windows), real_tokens=sum(len(w) for w in windows))
    reuse = config.prefix_reuse
    # Packed rows carry no cache: an explicit `prefix_reuse=True` wins over packing, packing over "auto" reuse.
    packed = reuse is not True and resolve_packing(model, config.packing)
    can_reuse = reuse is True or (reuse == "auto" and not packed and auto_prefix_reuse(model))
    if reuse is True and not supports_prefix_reuse(model):
        raise ConfigError(
            f"prefix_reuse=True needs a model whose layers all use full attention, and {type(model).__name__} has "
            "sliding, chunked or shared cache layers; use prefix_reuse='auto' (or False)."
        )
    # Group windows by P when P is reused (group -1: no reuse, any windows may share a batch).
    prefixes: dict[tuple[int, ...], int] = {}
    groups: list[int] = []
    plan_lengths: list[int] = []
    for w, p in zip(windows, prefix_lengths, strict=True):
        if can_reuse and p > 0 and (reuse is True or p >= config.prefix_reuse_min_tokens):
            groups.append(prefixes.setdefault(tuple(w.input_ids[:p]), len(prefixes)))
            plan_lengths.append(len(w) - p)
        else:
            groups.append(-1)
            plan_lengths.append(len(w))
    result.prefix_reuse = bool(prefixes)
    result.packed = packed
    keys = {g: list(key) for key, g in prefixes.items()}
    current: dict[int, PrefixState] = {}

    def run(batch: list[int]) -> None:
        group = groups[batch[0]]
        state = None
        if group >= 0:
            if group not in current:
                current.clear()  # batches come group by group: keep one prefix at a time
                current[group] = prefix_state(model, keys[group])
                result.computed_tokens += len(keys[group])
                result.model_tokens += len(keys[group])
            state = current[group]
        batch_windows = [windows[i] for i in batch]
        out = scored_logprobs(
            model, batch_windows, pad_id, config.padding_side, prefix=state, packed=packed
        )
        for i, lp in zip(batch, out, strict=True):
            result.logprobs[i] = lp
        if on_batch is not None:
            on_batch(sum(len(w) for w in batch_windows))

    # Dense batches are costed rows x longest and kept in tight length buckets; packed ones by their sum of lengths.
    batch_run = run_batches(
        plan_lengths, config.batch_tokens, run, groups=groups, bucket_ratio=0.0 if packed else config.bucket_ratio,
        packed=packed, backoff=config.oom_backoff, on_oom=_release_memory,
    )
    return _account(result, batch_run, plan_lengths)


def run_blockmask(
    model,
    windows: Sequence[Window],
    prefix_lengths: Sequence[int],
    token_ranges: Sequence[Sequence[tuple[int, int]]],
    pad_id: int,
    config: ScoringConfig,
) -> WindowRun:
    """`mode="blockmask"`: the block-masked pass (`blockmask.blockmask_logprobs`) of each GALP window, in dense
    token-budget batches with the same out-of-memory back-off as `run_windows`.

    Args:
        windows (`Sequence[Window]`): the GALP window of each row.
        prefix_lengths (`Sequence[int]`): |P| of each window.
        token_ranges (`Sequence[Sequence[tuple[int, int]]]`): each row's step token ranges.
        config (`ScoringConfig`): `window`, `batch_tokens`, `bucket_ratio`, `oom_backoff`.
    """
    result = WindowRun(logprobs=[None] * len(windows), real_tokens=sum(len(w) for w in windows))
    lengths = [len(w) for w in windows]

    def run(batch: list[int]) -> None:
        out = blockmask_logprobs(
            model, [windows[i] for i in batch], [prefix_lengths[i] for i in batch], [token_ranges[i] for i in batch],
            config.window, pad_id,
        )
        for i, lp in zip(batch, out, strict=True):
            result.logprobs[i] = lp

    batch_run = run_batches(
        lengths, config.batch_tokens, run, bucket_ratio=config.bucket_ratio, backoff=config.oom_backoff,
        on_oom=_release_memory,
    )
    return _account(result, batch_run, lengths)


def _account(result: WindowRun, batch_run: BatchRun, lengths: Sequence[int]) -> WindowRun:
    """Fold what `run_batches` did into `result`, and check that every window has log-probs or failed."""
    result.failed = set(batch_run.failed)
    missing = [i for i, lp in enumerate(result.logprobs) if (lp is None) != (i in result.failed)]
    if missing:
        raise RuntimeError(
            f"Internal error: windows {missing[:5]} have no log-probs although they did not run out of memory (or "
            "the reverse); please report it at the hf-localnat issue tracker."
        )
    result.computed_tokens += batch_run.computed_tokens
    result.model_tokens += sum(n for i, n in enumerate(lengths) if i not in result.failed)
    result.retries = batch_run.retries
    result.batches = len(batch_run.batches)
    return result
