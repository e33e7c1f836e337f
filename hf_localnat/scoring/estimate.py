"""What scoring an input will cost, before any scoring: the SPEC §10 token counts, exact, from the tokenizer alone,
and the FLOPs and a projected GPU time from the student's config.

Counts come from the same row preparation the scorer runs (`rows.prepare_row`: segment, tokenize, align, prefix),
so they are the scorer's own: for each scored step `i` (a step that owns tokens) with `w = max(0, i - k_i)`
(`prepare.windows.window_start`: `k_i = k`, or a share of `i`, SPEC §12), its input
holds `min(|P| + e_i - a_w, max_length)` tokens (SPEC §5 drops context, then cuts the step, to fit). FLOPs count
`2 * N * T` (N: the student's parameters without the embeddings; attention is not counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from .config import ScoringConfig
from .prepare.rows import prepare_row
from .prepare.windows import WindowSpec, whole_prefix_share, window_start

#: Published dense bf16 tensor peaks (TFLOP/s, no sparsity) of the GPUs `--gpu` names.
GPU_PEAK_TFLOPS: dict[str, float] = {
    "a10": 125.0, "l4": 121.0, "l40s": 362.0, "a100": 312.0, "h100": 989.0, "h200": 989.0, "b200": 2250.0,
    "mi300x": 1307.0,
}
#: Share of the *published* peak that the CUDA default path (packed windows, flex attention) reached in this project's
#: only GPU measurement: an H100, Qwen2-1.5B in bf16, traces up to 8K tokens, 2·N·T at 37% of the 715 TFLOP/s matmul
#: rate measured in that run, i.e. 264 of the published 989 TFLOP/s (`benchmarks/RESULTS.md`). The dense SDPA path
#: reached a quarter of that.
MEASURED_MFU = 0.27
COUNT_KEYS: tuple[str, ...] = ("rows", "steps", "response_tokens", "window_tokens", "model_tokens", "galp_tokens")


@dataclass
class TokenCounts:
    """SPEC §10 totals over an input (rows with a `score_error` count nothing but `rows` and `errors`), and the
    SPEC §12 `whole_prefix_share` summed over the rows that have one (`whole_prefix_share` is their mean)."""

    rows: int = 0
    steps: int = 0
    response_tokens: int = 0
    window_tokens: int = 0
    model_tokens: int = 0
    galp_tokens: int = 0
    errors: Counter = field(default_factory=Counter)
    share_sum: float = 0.0
    share_rows: int = 0

    def add(self, other: TokenCounts) -> None:
        for key in (*COUNT_KEYS, "share_sum", "share_rows"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.errors.update(other.errors)

    @property
    def whole_prefix_share(self) -> float | None:
        """The mean `whole_prefix_share` of the rows (SPEC §12), `None` when no row has a scored step."""
        return self.share_sum / self.share_rows if self.share_rows else None

    def to_dict(self) -> dict:
        out = {key: getattr(self, key) for key in COUNT_KEYS}
        out["whole_prefix_share"] = self.whole_prefix_share
        out["errors"] = dict(self.errors.most_common())
        return out


def count_row(prefix_length: int, token_ranges: Sequence[tuple[int, int]], num_tokens: int, window: WindowSpec,
              max_length: int) -> tuple[int, int, int]:
    """`(window_tokens, model_tokens, galp_tokens)` of one row (SPEC §10).

    Example:
        >>> count_row(3, [(0, 2), (2, 2), (2, 5)], 5, window=1, max_length=100)  # steps of 2, 0 and 3 tokens
        (11, 8, 8)
    """
    window_tokens = model_tokens = 0
    for i, (a, e) in enumerate(token_ranges):
        if e <= a:
            continue  # a step with no token of its own is not scored
        start = token_ranges[window_start(i, window)][0]
        size = min(prefix_length + e - start, max_length)
        window_tokens += size
        model_tokens += size - prefix_length
    return window_tokens, prefix_length + model_tokens, prefix_length + min(num_tokens, max_length - prefix_length)


def count_tokens(tokenizer, config: ScoringConfig, max_length: int, responses: Sequence, questions: Sequence,
                 steps: Sequence | None = None, input_errors: Sequence | None = None) -> TokenCounts:
    """The SPEC §10 counts of these rows under `config`, with no model."""
    totals, cache = TokenCounts(), {}
    steps = steps if steps is not None else [None] * len(responses)
    errors = input_errors if input_errors is not None else [None] * len(responses)
    for index, (response, question, given, error) in enumerate(zip(responses, questions, steps, errors, strict=True)):
        totals.rows += 1
        if error is not None:
            totals.errors[error] += 1
            continue
        row = prepare_row(tokenizer, config, max_length, index, response, question, given, cache)
        if row.error is not None:
            totals.errors[row.error] += 1
            continue
        window_tokens, model_tokens, galp_tokens = count_row(row.prefix_length, row.token_ranges, row.num_tokens,
                                                             config.window, max_length)
        share = whole_prefix_share([a < e for a, e in row.token_ranges], config.window)
        totals.add(TokenCounts(0, row.num_steps, row.num_tokens, window_tokens, model_tokens, galp_tokens,
                               share_sum=share or 0.0, share_rows=share is not None))
    return totals


def non_embedding_parameters(model_config) -> int:
    """N: the student's parameters without its input embeddings (and an untied output projection), counted on the
    meta device from its config (no weights are read)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    seen, total = set(), 0
    skip = {id(model.get_input_embeddings().weight)}
    output = model.get_output_embeddings()
    if output is not None:
        skip.add(id(output.weight))
    for parameter in model.parameters():
        if id(parameter) not in seen and id(parameter) not in skip:
            total += parameter.numel()
        seen.add(id(parameter))
    return total


@dataclass(frozen=True)
class Projection:
    """FLOPs (2·N·T, attention not counted) of each way to score, and the GPU-hours they project to."""

    params: int
    gpu: str
    gpus: int
    peak_tflops: float
    mfu: float
    flops: dict[str, float]

    @classmethod
    def of(cls, counts: TokenCounts, params: int, *, gpu: str = "h100", gpus: int = 1,
           mfu: float = MEASURED_MFU) -> Projection:
        tokens = {"lalp": counts.window_tokens, "lalp_shared_prefix": counts.model_tokens,
                  "blockmask": 2 * counts.galp_tokens, "galp": counts.galp_tokens}
        return cls(params, gpu, gpus, GPU_PEAK_TFLOPS[gpu], mfu,
                   {name: 2.0 * params * t for name, t in tokens.items()})

    @property
    def hours(self) -> dict[str, float]:
        rate = self.peak_tflops * 1e12 * self.mfu * self.gpus
        return {name: flops / rate / 3600 for name, flops in self.flops.items()}

    def to_dict(self) -> dict:
        return {**asdict(self), "hours": self.hours}
