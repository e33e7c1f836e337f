"""A DataTrove pipeline step that scores documents by local naturalness (LALP) and GALP (`pip install
"hf-localnat[datatrove]"`).

`LocalNaturalnessScorer` reads the response from `doc.text` and the question from `doc.metadata["question"]`, and
writes the SPEC §7 columns (`lalp`, `galp`, `lalp_steps`, `num_steps`, `num_tokens`, `truncated`, `score_error`), and
the other score columns asked for with `scores=` (`rsr`, `galp_drop`, `lalp_drop`; SPEC §11), into `doc.metadata`; every document goes on down the pipeline, a bad one with its `score_error` reason. A writer with
`expand_metadata=True` makes them top-level columns; `localnat select`, `rank-teachers`, `inspect` and `publish` read
the writer's output folder as one input (`hf_localnat.io.load_input`), nested `metadata` too.

Provenance: the step writes `hf_localnat.json` (how it scored: definition, dtype, student, version) into
`output_folder`, which should be the writer's own `output_folder`: JsonlWriter and ParquetWriter write only the
documents, so the folder file is the one place that survives both; `hf_localnat.io.read_provenance(folder)` reads it.
Tasks that would record a different provenance in the same folder (another window, student, or dtype) fail rather
than mix.

See dataset_scripts/DATATROVE.md for the recipe (LocalPipelineExecutor, SlurmPipelineExecutor, then `localnat
select` and `localnat publish`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import ProvenanceError
from .provenance import FOLDER_FILE, Provenance

try:
    from datatrove.pipeline.base import PipelineStep
except ModuleNotFoundError as _error:  # the extra is not installed: the module imports, the step says what to do
    if (_error.name or "").partition(".")[0] != "datatrove":
        raise

    class PipelineStep:  # type: ignore[no-redef]
        """Stand-in for `datatrove.pipeline.base.PipelineStep` when datatrove is missing."""

        def __new__(cls, *args, **kwargs):
            # The wording of datatrove's own `_requires_dependencies` check, with the extra that brings it.
            raise ImportError(f"Please install `datatrove` to use {cls.__name__} "
                              '(`pip install datatrove orjson`: hf-localnat\'s `datatrove` extra).')

if TYPE_CHECKING:
    import pyarrow as pa
    from datatrove.data import Document, DocumentsPipeline

#: The metadata keys the step writes (SPEC §7), in order.
SCORE_KEYS: tuple[str, ...] = ("lalp", "galp", "lalp_steps", "num_steps", "num_tokens", "truncated", "score_error")


class LocalNaturalnessScorer(PipelineStep):
    """Score each document's text by LALP and GALP under a student model; a DataTrove `PipelineStep`.

    Documents are scored `batch_size` at a time by one `hf_localnat.scoring.scorer.LocalNaturalnessScorer.score` call
    (so its engine packs their windows together), with a model loaded lazily, once per task, on the task's device:
    rank `r` runs on `cuda:{r % device_count}` when GPUs exist and no `device` is given, else on the CPU. Nothing is
    dropped: a document that cannot be scored (text not a string, empty, a lone surrogate, a prompt longer than
    `max_length`, ...) gets `score_error` and its reason's stat, and goes on to the next step.

    Args:
        model (`str` or `PreTrainedModel`, *optional*):
            The student: a Hub id, a local folder, or `None` for the embedded SmolLM2-135M-Instruct.
        question_key (`str`, *optional*, defaults to `"question"`):
            The `doc.metadata` key holding the question. A document without it is scored without a question
            (P = S, SPEC §3), counted in the `no_question` stat and warned about once per task.
        steps_key (`str`, *optional*, defaults to `"steps"`):
            The `doc.metadata` key holding the list of steps, with `segmenter="given"`.
        messages_key, tools_key (`str`, *optional*, defaults to `"messages"` and `"tools"`):
            With `segmenter="turns"` (agent traces, SPEC §14): the `doc.metadata` keys of the conversation (else the
            document's text holds it, as a list of turns or its JSON text) and of its tools; the trace columns are
            written beside the scores.
        batch_size (`int`, *optional*, defaults to 64):
            Documents per scoring call. Larger batches pack forward batches better; `batch_tokens` bounds memory.
        output_folder (`str`, `Path`, `tuple` or `DataFolder`, *optional*):
            Where to write `hf_localnat.json`, the provenance of the scores: pass the writer's `output_folder`. Without
            it the provenance is not recorded, and `localnat publish` then needs `--model` and `--window`.
        scores (`str` or `Sequence[str]`, *optional*, defaults to `"lalp,galp"`), drop_tokens (`int`, *optional*,
        defaults to 2): the score columns written and the drop scores' `m` (SPEC §11); pass the same `scores` to
            `parquet_schema`.
        window, segmenter, prompt_format, max_length, dtype, device, batch_tokens, revision, model_kwargs,
        adapter, tokenizer, **scorer_options:
            Passed to `hf_localnat.scoring.scorer.LocalNaturalnessScorer` (see it for each; `scorer_options` takes
            the speed knobs such as `prefix_reuse` or `packing`). They are checked here, when the pipeline is
            built, not in the tasks.

    Stats (in the task's `stats/*.json`): `total` (documents), `scored`, `score_error_<reason>` for each reason,
    `truncated`, `no_question`, `response_tokens` (per document: total, mean, min, max), `batches` and
    `model_loads` (1 per task that scored anything).

    Raises:
        ImportError: datatrove is not installed (`pip install datatrove orjson`, the `datatrove` extra).
        ConfigError: an option outside what the scorer accepts.
        ProvenanceError: in a task, when `output_folder` already records a different provenance.

    Example:
        ```python
        >>> from datatrove.executor import LocalPipelineExecutor
        >>> from datatrove.pipeline.readers import JsonlReader
        >>> from datatrove.pipeline.writers import JsonlWriter
        >>> LocalPipelineExecutor([
        ...     JsonlReader("traces/", text_key="response"),
        ...     LocalNaturalnessScorer("Qwen/Qwen2.5-1.5B-Instruct", window=4, output_folder="scored/"),
        ...     JsonlWriter("scored/", expand_metadata=True),
        ... ], tasks=4, logging_dir="logs/score").run()  # doctest: +SKIP
        ```
    """

    name = "🌿 Local naturalness"
    type = "🎯 - SCORER"
    _requires_dependencies = ["torch", "transformers"]

    def __init__(
        self,
        model=None,
        *,
        question_key: str = "question",
        steps_key: str = "steps",
        messages_key: str = "messages",
        tools_key: str = "tools",
        batch_size: int = 64,
        output_folder=None,
        window: int | str = 4,
        segmenter: str = "sentence",
        prompt_format: str = "auto",
        max_length: int | None = None,
        dtype="auto",
        device: str | None = None,
        batch_tokens: int = 16384,
        revision: str | None = None,
        model_kwargs: dict | None = None,
        adapter: str | None = None,
        tokenizer=None,
        scores=None,
        drop_tokens: int = 2,
        **scorer_options: Any,
    ) -> None:
        from .errors import ConfigError
        from .scoring.scorer import LocalNaturalnessScorer as Scorer

        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"`batch_size` must be a positive integer (documents per scoring call), got "
                              f"{batch_size!r}.")
        self.question_key, self.steps_key, self.batch_size = question_key, steps_key, batch_size
        self.messages_key, self.tools_key = messages_key, tools_key
        self.scorer_kwargs = dict(
            model=model, tokenizer=tokenizer, window=window, segmenter=segmenter, prompt_format=prompt_format,
            max_length=max_length, dtype=dtype, device=device, batch_tokens=batch_tokens, revision=revision,
            model_kwargs=model_kwargs, adapter=adapter, scores=scores, drop_tokens=drop_tokens, **scorer_options,
        )
        Scorer(**self.scorer_kwargs)  # checks every option now, before any task starts; loads nothing
        self.output_folder = _datafolder(output_folder) if output_folder is not None else None
        self._scorer = None  # one per task (per process), built on first use

    # ---------------------------------------------------------------------------------------------------- run
    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Score the documents of `data` in batches of `batch_size` and yield every one of them, in order."""
        from datatrove.utils.batching import batched

        if data is None:
            return
        scorer = self._scorer_for(rank)
        self._record_provenance(scorer)
        for batch in batched(data, self.batch_size):
            self.stat_update("batches")
            with self.track_time("batch"):
                self._score_batch(scorer, batch)
            yield from batch

    def _scorer_for(self, rank: int):
        """This task's scorer, on `cuda:{rank % device_count}` when GPUs exist and no device was given (the rule of
        `localnat score --num-proc`), else on the CPU. Built once: several ranks in one process (Slurm's
        `tasks_per_job`) share it."""
        from .scoring.scorer import LocalNaturalnessScorer as Scorer

        if self._scorer is None:
            self._scorer = Scorer(**self.scorer_kwargs)
        self._scorer._place_for_rank(rank)
        return self._scorer

    def _score_batch(self, scorer, batch: list[Document]) -> None:
        """One `score` call for the batch; the SPEC §7 fields and the other scores go into each document's metadata."""
        from datatrove.utils.logging import logger

        from .records import output_columns

        uses_question = scorer.config.prompt_format != "none" and scorer.config.segmenter != "turns"
        questions = []
        for doc in batch:
            if uses_question and self.question_key not in doc.metadata:
                self.stat_update("no_question")
                if not getattr(self, "_warned_no_question", False):
                    self._warned_no_question = True
                    logger.warning(f"Document {doc.id!r} has no metadata[{self.question_key!r}]: it is scored "
                                   "without a question (SPEC §3). Set `question_key=` if the question is elsewhere.")
            questions.append(doc.metadata.get(self.question_key))
        steps = [doc.metadata.get(self.steps_key) for doc in batch] if scorer.config.segmenter == "given" else None
        loaded = scorer.is_loaded
        texts = [doc.text for doc in batch]
        if scorer.config.segmenter == "turns":
            from .io.turns import RawTrace

            texts = [RawTrace(doc.metadata.get(self.messages_key, doc.text), doc.metadata.get(self.tools_key))
                     for doc in batch]
        results = scorer.score(texts, questions, steps, progress=False)
        if not loaded and scorer.is_loaded:
            self.stat_update("model_loads", unit="task")
        for doc, result in zip(batch, results, strict=True):
            doc.metadata.update({key: result.get(key)
                                 for key in output_columns(scorer.config.scores, scorer.config.segmenter)})
            self.stat_update("total")
            reason = result["score_error"]
            self.stat_update("scored" if reason is None else f"score_error_{reason}")
            if result["truncated"]:
                self.stat_update("truncated")
            self.stat_update("response_tokens", value=result["num_tokens"])

    # ---------------------------------------------------------------------------------------------- provenance
    def _record_provenance(self, scorer) -> None:
        """Write `hf_localnat.json` into `output_folder`, or check the one there says the same.

        Written under a unique temporary name and moved into place, so a task never reads another's half-written
        file. Raises `ProvenanceError` when the folder already records a different provenance.
        """
        if self.output_folder is None:
            return
        provenance = scorer.provenance()
        folder = self.output_folder
        if folder.isfile(FOLDER_FILE):
            with folder.open(FOLDER_FILE, "r") as f:
                recorded = Provenance.from_json(f.read())
            if recorded != provenance:
                raise ProvenanceError(
                    f"{folder.resolve_paths(FOLDER_FILE)} records scores made with {recorded.describe()}, but this "
                    f"step scores with {provenance.describe()}; write to a new output folder (and a new logging_dir) "
                    "instead of mixing the two.")
            return
        temporary = f".{FOLDER_FILE}.{uuid.uuid4().hex}.tmp"
        with folder.open(temporary, "w") as f:
            f.write(provenance.to_json())
        folder.mv(temporary, FOLDER_FILE)


def parquet_schema(metadata_fields: Iterable[pa.Field | tuple[str, pa.DataType]] = (("question", "string"),),
                   *, expand_metadata: bool = True, scores=None) -> pa.Schema:
    """An explicit schema for DataTrove's `ParquetWriter` after the step: `text`, `id`, the given metadata fields
    and the SPEC §7 score columns (with the other `scores` the step writes, SPEC §11).

    `ParquetWriter` otherwise infers the schema from the first document, so a first document without a score
    (`lalp` null) fixes `lalp` to the null type and the next batch with a score fails. Fields not listed are not
    written (`pyarrow` drops keys outside an explicit schema): list every metadata key to keep.

    Args:
        metadata_fields (`Iterable`, *optional*, defaults to a string `question`):
            `pyarrow.Field`s or `(name, type)` pairs (a type may be a `pyarrow.DataType` or a name such as
            `"string"`, `"bool"`, `"int64"`) for the metadata keys to keep.
        expand_metadata (`bool`, *optional*, defaults to `True`):
            The writer's own `expand_metadata`: metadata keys as top-level columns, else one `metadata` struct.
        scores (`str` or `Sequence[str]`, *optional*): the step's `scores=`, so their columns are kept.

    Example:
        ```python
        >>> schema = parquet_schema([("question", "string"), ("teacher", "string")])
        >>> schema.names
        ['text', 'id', 'question', 'teacher', 'lalp', 'galp', 'lalp_steps', 'num_steps', 'num_tokens', 'truncated', 'score_error']
        >>> parquet_schema(expand_metadata=False).field("metadata").type.num_fields
        8

        ```
    """
    import pyarrow as pa

    from .records import schema_for
    from .scores import parse_scores

    fields = [f if isinstance(f, pa.Field) else pa.field(f[0], _arrow_type(f[1])) for f in metadata_fields]
    metadata = [*fields, *schema_for(parse_scores(scores))]
    if expand_metadata:
        return pa.schema([pa.field("text", pa.string()), pa.field("id", pa.string()), *metadata])
    return pa.schema([pa.field("text", pa.string()), pa.field("id", pa.string()),
                      pa.field("metadata", pa.struct(metadata))])


def _datafolder(folder):
    """`datatrove.io.get_datafolder`, also for a `pathlib.Path`."""
    from datatrove.io import get_datafolder

    return get_datafolder(os.fspath(folder) if isinstance(folder, os.PathLike) else folder)


def _arrow_type(value):
    """A `pyarrow.DataType`, or one named by a string (`"string"`, `"int64"`, `"bool"`, ...)."""
    import pyarrow as pa

    return value if isinstance(value, pa.DataType) else pa.type_for_alias(value)


def read_stats(logging_dir) -> dict[str, float]:
    """The totals of the step's stats, merged over the tasks of the latest run on `logging_dir`, from its
    `stats.json` (`{}` if it has none): `{"total": 12, "scored": 11, "score_error_empty_response": 1, ...}`.

    Example:
        ```python
        >>> read_stats("logs/score")["score_error_empty_response"]  # doctest: +SKIP
        3
        ```
    """
    folder = _datafolder(logging_dir)
    if not folder.isfile("stats.json"):
        return {}
    with folder.open("stats.json", "r") as f:
        blocks = json.load(f)
    for block in blocks:
        if block.get("name", "").startswith(f"{LocalNaturalnessScorer.type}: {LocalNaturalnessScorer.name}"):
            # DataTrove writes a plain count as a number, a stat with values as a dict with its "total"
            return {k: v["total"] if isinstance(v, dict) else v for k, v in block.get("stats", {}).items()}
    return {}
