"""Run every window of a call through the model: plan batches, reuse prefixes, pack, back off on out-of-memory.

`run_windows` is the loop between `windows` and `aggregate`: it decides whether batches are packed (`packing`: one
row per batch, each P held once, padded to a fixed length) or dense, and in dense batches whether P's keys/values are
computed once and reused (`prefix_reuse`); plans token-budget batches (`batching`), runs them (`forward`) and retries
smaller batches after an out-of-memory error. `run_blockmask` runs `mode="blockmask"`'s passes through the same
batching and back-off. Every exact path gives the same numbers as the plain dense one (SPEC §6 tolerances). Log-probs
stay on the device until the whole call has run, then come back in one copy: the loop never waits for the device.

Failures are explicit: a window that ran out of memory even alone is in `WindowRun.failed`; every other window has
its log-probs, or the run raises (any other error propagates as it is, never labelled out of memory).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .batching import BatchRun, batch_cost, run_batches
from .blockmask import blockmask_logprobs
from ..config import ScoringConfig
from ...errors import ConfigError
from ...scores import needs_ranks
from .forward import (
    PrefixState, attention_implementation, auto_prefix_reuse, is_varlen, packed_logprobs, prefix_state,
    scored_logprobs, shares_prefix, supports_prefix_reuse,
)
from .packing import pack_layout, pack_length
from ..prepare.windows import Window


@dataclass
class WindowRun:
    """Log-probs of every window and what it took.

    Attributes:
        logprobs (`list[torch.Tensor | None]`): per window, its scored tokens' log-probs (`(num_scored, 2)` with
            their ranks when a score needs them, `forward.head_logprobs`); `None` exactly for the windows in `failed`.
        failed (`set[int]`): windows that ran out of memory even alone (their rows get `out_of_memory`).
        real_tokens (`int`): tokens of all windows (P included).
        model_tokens (`int`): tokens the model had to run: window tokens, each reused P counted once.
        computed_tokens (`int`): tokens the model computed: `model_tokens` plus padding.
        retries (`int`): batches retried after an out-of-memory error.
        batches (`int`): batches run.
        prefix_reuse (`bool`): some prefix's keys/values were reused.
        packed (`bool`): batches were packed.
        prepare_wait_seconds (`float`): how long the model side waited for prepared rows (set by `pipeline`).
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
    prepare_wait_seconds: float = 0.0


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


def packs_without_dense_mask(implementation: str) -> bool:
    """Flex attention (a block mask) and FlashAttention (varlen): packed rows cost no dense `T x T` mask."""
    return implementation == "flex_attention" or is_varlen(implementation)


def resolve_packing(model, packing: bool | str) -> bool:
    """`"auto"`: pack on an accelerator when the attention implementation handles packed rows without a dense mask
    (flex attention, FlashAttention); dense padded batches otherwise (CPU, SDPA, eager)."""
    if packing != "auto":
        return bool(packing)
    device = next(model.parameters()).device
    return device.type != "cpu" and packs_without_dense_mask(attention_implementation(model))


def scoring_path(model, config: ScoringConfig) -> tuple[str, str | None]:
    """What `run_windows` will run for `model`, in words, and on an accelerator the reason it is not the fast path
    (`None` when it is, and on the CPU, where dense batches with a reused prefix are the fast path)."""
    implementation = attention_implementation(model)
    device = next(model.parameters()).device
    if config.mode == "blockmask":
        return f"blockmask approximation (one masked pass per response, {implementation})", None
    packed = config.prefix_reuse is not True and resolve_packing(model, config.packing)
    if packed:
        held = "each question's prompt computed once per pack" if shares_prefix(model) else "prompt in every window"
        return f"packed windows ({implementation}, {held})", None
    reuse = config.prefix_reuse is True or (config.prefix_reuse == "auto" and auto_prefix_reuse(model))
    shared = ", each prompt's keys/values shared by its windows" if reuse else ""
    path = f"dense batches ({implementation}{shared})"
    if device.type == "cpu":
        return path, None
    if config.packing is False or config.prefix_reuse is True:
        return path, "packing is turned off (packing=False or prefix_reuse=True)"
    return path, (f"the model runs attn_implementation={implementation!r}, which packs only through a dense mask; load "
                  "it with attn_implementation='flex_attention' (or pass a model name) for packed windows")


def _to_host(logprobs: list) -> list:
    """The per-window log-probs on the CPU, copied from an accelerator in one transfer (the only wait of a call)."""
    present = [lp for lp in logprobs if lp is not None]
    if not present or all(lp.device.type == "cpu" for lp in present):
        return logprobs
    pieces = iter(torch.split(torch.cat(present).cpu(), [len(lp) for lp in present]))
    return [None if lp is None else next(pieces) for lp in logprobs]


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
    """Log-probs of the scored tokens of every window; with a score that needs them (`config.scores`, SPEC §11),
    each window's tensor is `(num_scored, 2)`: log-probs and the targets' ranks (`forward.head_logprobs`), computed
    for the GALP windows only (`rsr` reads GALP's pass; the step windows' rank column is 0).

    Args:
        model: a causal LM in eval mode.
        windows (`Sequence[Window]`): all windows of a call.
        prefix_lengths (`Sequence[int]`): |P| of each window (its first |P| ids are P).
        pad_id (`int`): id written in padding positions.
        config (`ScoringConfig`): `batch_tokens`, `bucket_ratio`, `prefix_reuse`, `prefix_reuse_min_tokens`,
            `packing`, `oom_backoff`, `padding_side`, and `scores` (whether ranks are computed).
        on_batch (`Callable[[int], None]`, *optional*): called with the real tokens of each finished batch.
    """
    result = WindowRun(logprobs=[None] * len(windows), real_tokens=sum(len(w) for w in windows))
    ranks = needs_ranks(config.scores)
    reuse = config.prefix_reuse
    # Packed rows carry no cache: an explicit `prefix_reuse=True` wins over packing, packing over "auto" reuse.
    packed = reuse is not True and resolve_packing(model, config.packing)
    if packed:
        return _run_packed(model, windows, prefix_lengths, pad_id, config, result, on_batch, ranks)
    can_reuse = reuse is True or (reuse == "auto" and auto_prefix_reuse(model))
    if reuse is True and not supports_prefix_reuse(model):
        raise ConfigError(
            f"prefix_reuse=True needs a model whose layers all use full attention, and {type(model).__name__} has "
            "sliding, chunked or shared cache layers; use prefix_reuse='auto' (or False)."
        )
    # Group windows by P when P is reused (group -1: no reuse, any windows may share a batch).
    groups, plan_lengths, keys = _prefix_groups(
        windows, prefix_lengths, lambda p: can_reuse and p > 0 and (reuse is True or p >= config.prefix_reuse_min_tokens)
    )
    result.prefix_reuse = bool(keys)
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
        out = scored_logprobs(model, batch_windows, pad_id, config.padding_side, prefix=state,
                              ranks=_galp_windows(batch_windows) if ranks else None)
        for i, lp in zip(batch, out, strict=True):
            result.logprobs[i] = lp
        if on_batch is not None:
            on_batch(sum(len(w) for w in batch_windows))

    # Dense batches are costed rows x longest and kept in tight length buckets.
    batch_run = run_batches(
        plan_lengths, config.batch_tokens, run, groups=groups, bucket_ratio=config.bucket_ratio,
        backoff=config.oom_backoff, on_oom=_release_memory,
    )
    return _account(result, batch_run, plan_lengths)


def _galp_windows(windows: Sequence[Window]) -> list[bool]:
    """Which windows are GALP passes, the only ones whose targets' ranks a score reads (SPEC §11)."""
    return [w.step is None for w in windows]


def _prefix_groups(windows: Sequence[Window], prefix_lengths: Sequence[int], held: Callable[[int], bool]):
    """Per window its P's group (-1 when its P of length p is not held apart: `held(p)` false), the tokens each
    window adds to a batch (after P, or all of them), and each group's P."""
    prefixes: dict[tuple[int, ...], int] = {}
    groups: list[int] = []
    lengths: list[int] = []
    for w, p in zip(windows, prefix_lengths, strict=True):
        if held(p):
            groups.append(prefixes.setdefault(tuple(w.input_ids[:p]), len(prefixes)))
            lengths.append(len(w) - p)
        else:
            groups.append(-1)
            lengths.append(len(w))
    return groups, lengths, {g: list(key) for key, g in prefixes.items()}


def _run_packed(model, windows, prefix_lengths, pad_id, config, result: WindowRun, on_batch, ranks: bool) -> WindowRun:
    """`run_windows` in packs (`packing`): one row per batch, each P held once (unless the kernel is varlen),
    padded to `packing.pack_length` of the budget so that compiled kernels see few shapes."""
    share = shares_prefix(model)
    groups, plan_lengths, keys = _prefix_groups(windows, prefix_lengths, lambda p: share and p > 0)
    shared = {g: len(key) for g, key in keys.items()}
    result.packed = True

    def run(batch: list[int]) -> None:
        batch_windows = [windows[i] for i in batch]
        cost = batch_cost(plan_lengths, batch, packed=True, groups=groups, shared=shared)
        layout = pack_layout(
            batch_windows, [prefix_lengths[i] if share else 0 for i in batch], share_prefix=share,
            length=pack_length(cost, config.batch_tokens), pad_id=pad_id,
        )
        out = packed_logprobs(model, layout, _galp_windows(batch_windows) if ranks else None)
        for i, lp in zip(batch, out, strict=True):
            result.logprobs[i] = lp
        result.model_tokens += layout.prefix_tokens
        result.computed_tokens += len(layout) - layout.real_tokens  # padding (the rest is counted by run_batches)
        if on_batch is not None:
            on_batch(sum(len(w) for w in batch_windows))

    batch_run = run_batches(
        plan_lengths, config.batch_tokens, run, groups=groups, packed=True, shared=shared,
        backoff=config.oom_backoff, on_oom=_release_memory,
    )
    return _account(result, batch_run, plan_lengths)


def run_blockmask(
    model,
    windows: Sequence[Window],
    prefix_lengths: Sequence[int],
    token_ranges: Sequence[Sequence[tuple[int, int]]],
    pad_id: int,
    config: ScoringConfig,
    on_batch: Callable[[int], None] | None = None,
) -> WindowRun:
    """`mode="blockmask"`: the block-masked pass (`blockmask.blockmask_logprobs`) of each GALP window, in dense
    token-budget batches with the same out-of-memory back-off as `run_windows`.

    Args:
        windows (`Sequence[Window]`): the GALP window of each row.
        prefix_lengths (`Sequence[int]`): |P| of each window.
        token_ranges (`Sequence[Sequence[tuple[int, int]]]`): each row's step token ranges.
        config (`ScoringConfig`): `window`, `batch_tokens`, `bucket_ratio`, `oom_backoff`.
        on_batch (`Callable[[int], None]`, *optional*): called with the real tokens of each finished batch.
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
        if on_batch is not None:
            on_batch(sum(lengths[i] for i in batch))

    batch_run = run_batches(
        lengths, config.batch_tokens, run, bucket_ratio=config.bucket_ratio, backoff=config.oom_backoff,
        on_oom=_release_memory,
    )
    return _account(result, batch_run, lengths)


def _account(result: WindowRun, batch_run: BatchRun, lengths: Sequence[int]) -> WindowRun:
    """Fold what `run_batches` did into `result`, bring the log-probs to the CPU in one copy, and check that every
    window has log-probs or failed."""
    result.logprobs = _to_host(result.logprobs)
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
