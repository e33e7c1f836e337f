"""What scoring an input will cost, before any scoring: the SPEC §10 token counts, exact, from the tokenizer alone,
and the FLOPs and a projected GPU time from the student's config.

Counts come from the same row preparation the scorer runs (`rows.prepare_row`: segment, tokenize, align, prefix;
`turns.prepare_trace` for agent traces),
so they are the scorer's own: for each scored step `i` (a step that owns tokens) with `w = max(0, i - k_i)`
(`prepare.windows.window_start`: `k_i = k`, or a share of `i`, SPEC §12), its input
holds `min(|P| + e_i - a_w, max_length)` tokens (SPEC §5 drops context, then cuts the step, to fit). FLOPs count
`2 * N * T` (N: the student's parameters without the embeddings; attention is not counted).

`estimate_rows` counts a dataset with the student's tokenizer (`sampled_estimate`: an evenly spaced sample, scaled,
for `localnat score`'s estimate line); `device_rate` is how fast a device runs the student (measured on the CPU,
projected on a known GPU). `hf_localnat.jobs.estimate` is the job of `localnat estimate` over them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from ..errors import ConfigError
from .config import ScoringConfig
from .prepare.pool import prepare_any
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
    traces: dict = field(default_factory=dict)

    def add(self, other: TokenCounts) -> None:
        for key in (*COUNT_KEYS, "share_sum", "share_rows"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.errors.update(other.errors)
        for teacher, sums in other.traces.items():
            mine = self.traces.setdefault(teacher, {})
            for column, (total, n) in sums.items():
                before = mine.get(column, (0.0, 0))
                mine[column] = (before[0] + total, before[1] + n)

    def add_trace(self, teacher, columns: dict) -> None:
        """Add one agent trace's columns (SPEC §14) to its teacher's sums (a `None` value is left out)."""
        mine = self.traces.setdefault(teacher, {})
        for column, value in columns.items():
            if value is not None:
                total, n = mine.get(column, (0.0, 0))
                mine[column] = (total + value, n + 1)

    def trace_means(self) -> dict:
        """Per teacher, the mean of each trace column over its traces that have one."""
        return {teacher: {c: total / n for c, (total, n) in sums.items() if n}
                for teacher, sums in self.traces.items()}

    def trace_table(self) -> str:
        """The trace columns' means per teacher, as a small table (`localnat estimate` on agent traces)."""
        from ..records import TRACE_COLUMNS

        columns = ("num_steps", *TRACE_COLUMNS)
        means = self.trace_means()
        names = [str(t) if t is not None else "(no teacher)" for t in means]
        width = max(len(n) for n in [*names, "teacher"])
        lines = ["Trace columns (SPEC §14), mean per teacher; no declared direction (rank or select by one with "
                 "--direction COLUMN=higher or =lower):",
                 f"  {'teacher':<{width}}  " + "  ".join(f"{c:>17}" for c in columns)]
        for name, values in zip(names, means.values(), strict=True):
            cells = [f"{values[c]:>17.3f}" if c in values else f"{'-':>17}" for c in columns]
            lines.append(f"  {name:<{width}}  " + "  ".join(cells))
        return "\n".join(lines)

    @property
    def whole_prefix_share(self) -> float | None:
        """The mean `whole_prefix_share` of the rows (SPEC §12), `None` when no row has a scored step."""
        return self.share_sum / self.share_rows if self.share_rows else None

    def to_dict(self) -> dict:
        out = {key: getattr(self, key) for key in COUNT_KEYS}
        out["whole_prefix_share"] = self.whole_prefix_share
        out["errors"] = dict(self.errors.most_common())
        if self.traces:
            out["traces"] = {str(t): v for t, v in self.trace_means().items()}
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
                 steps: Sequence | None = None, input_errors: Sequence | None = None,
                 teachers: Sequence | None = None) -> TokenCounts:
    """The SPEC §10 counts of these rows under `config`, with no model; with `segmenter="turns"` also the trace
    columns' sums per teacher (`teachers`, one per row)."""
    totals, cache = TokenCounts(), {}
    steps = steps if steps is not None else [None] * len(responses)
    errors = input_errors if input_errors is not None else [None] * len(responses)
    teachers = teachers if teachers is not None else [None] * len(responses)
    for index, (response, question, given, error, teacher) in enumerate(
            zip(responses, questions, steps, errors, teachers, strict=True)):
        totals.rows += 1
        if error is not None:
            totals.errors[error] += 1
            continue
        row = prepare_any(tokenizer, config, max_length, index, response, question, given, cache)
        if config.segmenter == "turns" and row.extra_columns():
            totals.add_trace(teacher, {"num_steps": row.num_steps, **row.extra_columns()})
        if row.error is not None:
            totals.errors[row.error] += 1
            continue
        if config.segmenter == "turns":
            window_tokens, model_tokens, galp_tokens = row.counts()
            share = whole_prefix_share([s is not None for s in row.lalp_source], config.window)
            totals.add(TokenCounts(0, row.num_steps, row.num_tokens, window_tokens, model_tokens, galp_tokens,
                                   share_sum=share or 0.0, share_rows=share is not None))
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


def method_tokens(counts: TokenCounts) -> dict[str, int]:
    """The tokens the model runs for each way to score: exact LALP (`lalp`), exact LALP with each question computed
    once (`lalp_shared_prefix`, the default paths), the blockmask approximation (two passes) and GALP alone."""
    return {"lalp": counts.window_tokens, "lalp_shared_prefix": counts.model_tokens,
            "blockmask": 2 * counts.galp_tokens, "galp": counts.galp_tokens}


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
        return cls(params, gpu, gpus, GPU_PEAK_TFLOPS[gpu], mfu,
                   {name: 2.0 * params * t for name, t in method_tokens(counts).items()})

    @property
    def hours(self) -> dict[str, float]:
        rate = self.peak_tflops * 1e12 * self.mfu * self.gpus
        return {name: flops / rate / 3600 for name, flops in self.flops.items()}

    def to_dict(self) -> dict:
        return {**asdict(self), "hours": self.hours}


def duration_phrase(seconds: float) -> str:
    """A duration as a person says it: `"under a second"`, `"about 3 s"`, `"about 12 min"`, `"about 2.5 h"`.

    Example:
        >>> [duration_phrase(s) for s in (0.2, 3.4, 725, 9000)]
        ['under a second', 'about 3 s', 'about 12 min', 'about 2.5 h']
    """
    if seconds < 1:
        return "under a second"
    if round(seconds) < 60:
        return f"about {round(seconds)} s"
    if round(seconds / 60) < 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Rate:
    """How fast a device runs the student, in tokens per second, and where that figure comes from.

    Attributes:
        where (`str`): the device, in words (`"this CPU"`, `"1 H100"`).
        how (`str`): how the rate was found (`"measured 3 forward passes of 128 tokens"`, `"projected from FLOPs
            at 27% MFU"`).
        tokens_per_second (`float`): model tokens per second.
    """

    where: str
    how: str
    tokens_per_second: float

    def seconds(self, tokens: float) -> float:
        """Time to run `tokens` model tokens."""
        return tokens / self.tokens_per_second

    def describe(self, tokens: float) -> str:
        """`"about 12 min on this CPU (measured 3 forward passes of 128 tokens)"`."""
        return f"{duration_phrase(self.seconds(tokens))} on {self.where} ({self.how})"


def projected_rate(params: int, *, gpu: str = "h100", gpus: int = 1, mfu: float = MEASURED_MFU,
                   measured_mfu: bool = True) -> Rate:
    """The rate 2·N FLOPs per token gives on `gpus` x `gpu` at `mfu` of its published peak (a projection: nothing
    runs)."""
    flops = GPU_PEAK_TFLOPS[gpu] * 1e12 * mfu * gpus
    note = ", this project's measured CUDA default" if measured_mfu else ""
    return Rate(f"{gpus} {gpu.upper()}", f"projected from FLOPs at {mfu:.0%} MFU{note}", flops / (2.0 * params))


def known_gpu(name: str) -> str | None:
    """The `GPU_PEAK_TFLOPS` key of a CUDA device name, or `None`.

    Example:
        >>> known_gpu("NVIDIA H100 80GB HBM3"), known_gpu("NVIDIA A100-SXM4-80GB"), known_gpu("Tesla T4")
        ('h100', 'a100', None)
    """
    words = re.split(r"[^a-z0-9]+", name.lower())
    return next((key for key in GPU_PEAK_TFLOPS if key in words), None)


def measured_rate(model, shape: tuple[int, int], *, passes: int = 3, budget_seconds: float = 3.0) -> Rate:
    """Run a few forward passes of `model` on its own device (random token ids of `shape`, rows x tokens, no
    gradient) and time them: at most `passes` timed passes, fewer once `budget_seconds` have gone (at least one),
    after one short warm-up pass. See `pass_shape` for a shape like a scoring batch's."""
    import time

    import torch

    device = next(model.parameters()).device
    vocab = int(model.get_input_embeddings().num_embeddings)
    generator = torch.Generator().manual_seed(0)

    def run(size) -> None:
        ids = torch.randint(0, vocab, size, generator=generator).to(device)
        with torch.no_grad():
            model(input_ids=ids)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run((1, 8))  # warm-up: first-call allocations and kernel selection
    timed, start = 0, time.perf_counter()
    while timed < passes and (timed == 0 or time.perf_counter() - start < budget_seconds):
        run(shape)
        timed += 1
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        where = f"this {torch.cuda.get_device_name(device)}"
    else:
        where = "this CPU" if device.type == "cpu" else f"this {device.type.upper()} device"
    plural = "es" if timed > 1 else ""
    size = f"{shape[0]} x {shape[1]}" if shape[0] > 1 else f"{shape[1]}"
    return Rate(where, f"measured {timed} forward pass{plural} of {size} tokens", timed * shape[0] * shape[1] / seconds)


#: Tokens of one timed pass on the CPU (a few seconds at most for a small student on two cores).
CPU_PASS_TOKENS = 256


def pass_shape(counts: TokenCounts, device_type: str, batch_tokens: int) -> tuple[int, int]:
    """`(rows, tokens)` of one timed pass for `measured_rate`, like a scoring batch: rows of the input's average
    window (16 to 512 tokens), `CPU_PASS_TOKENS` of them in all on the CPU, `batch_tokens` on an accelerator."""
    length = max(16, min(512, round(counts.window_tokens / max(1, counts.steps))))
    total = CPU_PASS_TOKENS if device_type == "cpu" else batch_tokens
    return max(1, total // length), length


def estimate_rows(dataset, *, model: str | None, revision: str | None, window: int | str, segmenter: str,
                  prompt_format: str, max_length: int | None, response_part: str, steps_column: str = "steps",
                  on_rows: Callable[[int], None] | None = None, messages_column: str | None = None,
                  max_observation_tokens: int = 1024, tools_column: str = "tools") -> tuple[TokenCounts, int]:
    """`(TokenCounts, N)` of long rows: the SPEC §10 counts with the student's tokenizer, and its non-embedding
    parameter count from its config. Reads no weights (the embedded student is converted once if it never was).
    With `segmenter="turns"` the counts are those of agent traces (SPEC §14) and `TokenCounts.traces` holds the
    trace columns' sums per teacher.

    Args:
        on_rows (`Callable[[int], None]`, *optional*): called with the number of rows counted after every chunk.
        messages_column, max_observation_tokens, tools_column: the conversation column, the observation cap and the
            tools column of agent traces.
    """
    from transformers import AutoConfig

    from ..io.shapes import batch_texts
    from .models import _check_supported as check_supported
    from .models import load_tokenizer, resolve_model

    source = resolve_model(model, revision)
    tokenizer = load_tokenizer(source.path, revision)
    try:
        model_config = AutoConfig.from_pretrained(source.path, revision=revision, trust_remote_code=False)
    except ValueError as e:  # a model that ships its own code: refused in one line, never run, never prompted for
        check_supported(source.path, e)
        raise
    limit = max_length or getattr(model_config.get_text_config(), "max_position_embeddings", None)
    if limit is None:
        raise ConfigError(f"{source.model_id!r} does not say its maximum input length; pass --max-length "
                          "(max_length=).")
    config = ScoringConfig(window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
                           response_part=response_part, max_observation_tokens=max_observation_tokens)
    totals = TokenCounts()
    arrow = dataset.with_format("arrow")
    chunk = 4096
    for start in range(0, dataset.num_rows, chunk):
        table = arrow[start:start + chunk]
        texts = batch_texts(lambda name: table.column(name) if name in table.column_names else None,
                            table.column_names, question_column="question", response_column="response",
                            steps_column=steps_column if segmenter == "given" else None,
                            messages_column=messages_column if segmenter == "turns" else None,
                            turns=segmenter == "turns", tools_column=tools_column)
        responses = texts.responses
        teachers = table.column("teacher").to_pylist() if "teacher" in table.column_names else None
        totals.add(count_tokens(tokenizer, config, int(limit), responses, texts.questions or [None] * len(responses),
                                texts.steps, texts.errors, teachers=teachers))
        if on_rows is not None:
            on_rows(table.num_rows)
    return totals, non_embedding_parameters(model_config)


#: `localnat score` counts at most this many rows for its estimate line (evenly spaced), and scales the counts up:
#: counting every row of 10^6 long traces would cost as much as the preparation of the scoring itself.
SCORE_SAMPLE_ROWS = 2000


def sampled_estimate(dataset, **options) -> tuple[TokenCounts, int, bool]:
    """`(TokenCounts, N, sampled)`: `estimate_rows` of at most `SCORE_SAMPLE_ROWS` evenly spaced rows, its counts
    scaled to the whole dataset (`sampled`: whether it was a sample)."""
    import numpy as np

    if dataset.num_rows <= SCORE_SAMPLE_ROWS:
        return (*estimate_rows(dataset, **options), False)
    picked = np.linspace(0, dataset.num_rows - 1, SCORE_SAMPLE_ROWS).round().astype(int)
    counts, params = estimate_rows(dataset.select(picked), **options)
    scale = dataset.num_rows / SCORE_SAMPLE_ROWS
    for key in COUNT_KEYS:
        setattr(counts, key, round(getattr(counts, key) * scale))
    counts.rows = dataset.num_rows
    counts.errors = type(counts.errors)({reason: round(n * scale) for reason, n in counts.errors.items()})
    return counts, params, True


def estimate_line(counts: TokenCounts, projection: Projection, rate: Rate | None = None, *,
                  rows_left: int | None = None, sampled: bool = False) -> str:
    """The one line `localnat score` prints before it starts: the counts, the FLOPs, and the time on the device of
    the run (`rate`, see `device_rate`) for the `rows_left` rows not yet checkpointed (default: all)."""
    about = f" (counted on {SCORE_SAMPLE_ROWS} evenly spaced rows, scaled)" if sampled else ""
    rows_left = counts.rows if rows_left is None else rows_left
    line = (f"Estimate{about}: {counts.rows} rows, {counts.steps} steps, {counts.response_tokens} response tokens; "
            f"{counts.window_tokens} window tokens ({counts.model_tokens} with each question computed once), "
            f"{counts.galp_tokens} GALP tokens; {projection.flops['lalp_shared_prefix']:.2g} FLOPs (each question "
            "once, as the default paths run it)")
    if counts.whole_prefix_share is not None:
        line += f"; whole-prefix share {counts.whole_prefix_share:.2f} (SPEC §12)"
    if rows_left == 0:
        return f"{line}; every row is checkpointed already: nothing to score."
    if rate is None:
        rate = projected_rate(projection.params, gpu=projection.gpu, gpus=projection.gpus, mfu=projection.mfu)
    tokens = counts.model_tokens * rows_left / max(1, counts.rows)
    left = f"{rows_left} of the {counts.rows} rows left to score: " if rows_left < counts.rows else ""
    return f"{line}; {left}{rate.describe(tokens)}."


def device_rate(device: str | None, params: int, counts: TokenCounts, *, load: Callable[[str], object] | None,
                batch_tokens: int = 16384, gpus: int = 1) -> Rate | None:
    """How fast the student runs on `device`, for an estimate: on the CPU (and any device but CUDA) a measured rate
    (`measured_rate`, a few seconds at most, on the model `load(device)` returns); on a CUDA GPU whose peak is known
    (`GPU_PEAK_TFLOPS`), the FLOP projection for it; on another GPU, measured too. A GPU name (`h100`, ...) is
    that GPU's projection, with nothing loaded.

    Args:
        device (`str`, *optional*): `cpu`, `cuda`, `cuda:N`, a name of `GPU_PEAK_TFLOPS`; `None`: cuda when a GPU
            is visible, else cpu.
        params (`int`): the student's non-embedding parameters. `counts`: the input's `TokenCounts`.
        load (`Callable[[str], model]`, *optional*): loads the student on a torch device (called only to measure);
            `None`: do not measure, return `None` where a measurement would be needed.
        gpus (`int`): GPUs of the projection on CUDA.
    """
    import torch

    if device is not None and device.lower() in GPU_PEAK_TFLOPS:
        return projected_rate(params, gpu=device.lower(), gpus=gpus)
    from .compute.forward import resolve_device

    try:
        resolved = resolve_device(device)
    except RuntimeError:
        raise ConfigError(f"Unknown device {device!r}; use cpu, cuda, cuda:N or a GPU name "
                          f"({', '.join(sorted(GPU_PEAK_TFLOPS))}).") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Device {device!r}: no CUDA GPU is visible here; use --device cpu, or a GPU name "
                          f"({', '.join(sorted(GPU_PEAK_TFLOPS))}) for its projection.")
    if resolved.type == "cuda":
        gpu = known_gpu(torch.cuda.get_device_name(resolved))
        if gpu is not None:
            return projected_rate(params, gpu=gpu, gpus=gpus)
    if load is None:
        return None
    model = load(str(resolved))
    return measured_rate(model, pass_shape(counts, next(model.parameters()).device.type, batch_tokens))
