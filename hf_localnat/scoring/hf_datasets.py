"""The `datasets` integration of `LocalNaturalnessScorer`: `__call__` (a `map` batch in, SPEC §7 columns out), `map`,
its features, fingerprint and pickling, the worker's rank placement and fork handling. `DatasetsIntegration` is a
mixin; `scorer.py` keeps the scoring itself.

Fingerprint: `datasets` caches a `map` under a hash of the function's dill pickle, taken by
`datasets.fingerprint.Hasher`. A scorer must pickle with its speed knobs (a `num_proc` worker needs them) yet hash
without them (changing one must be a cache hit), and no public hook tells the two picklings apart. So the reducer
`datasets`' own pickler uses for the scorer type is registered through `datasets.utils._dill.pklregister`, a private
hook; `tests/test_map_scale.py::test_private_datasets_hook_still_works` fails loudly if a `datasets` release moves
it, and without it `map` still works, with cache misses on knob changes (a warning says so).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading

import pyarrow as pa

from .. import provenance as _provenance
from ..io.shapes import batch_texts
from ..records import output_features, to_columns, to_table
from . import fingerprint as _fingerprint

logger = logging.getLogger(__name__)

# GNU OpenMP (torch's CPU thread pool) deadlocks in a child forked after the parent used it, which is what
# `Dataset.map(num_proc=N)` does with the default `fork` start method. A scorer in such a child runs torch on one thread.
_FORKED_AFTER_TORCH = False


def _note_fork() -> None:
    global _FORKED_AFTER_TORCH
    _FORKED_AFTER_TORCH = "torch" in sys.modules


os.register_at_fork(after_in_child=_note_fork)


def features_for(dataset, scores=None, segmenter=None):
    """The dataset's features plus `output_features(scores)` (so empty and all-error batches keep the schema);
    `None` if the dataset's features are unknown (a streaming dataset that was not typed)."""
    if dataset.features is None:
        return None
    features = dataset.features.copy()
    features.update(output_features(scores, segmenter))
    return features


class DatasetsIntegration:
    """`Dataset.map` support for `LocalNaturalnessScorer` (see the module docstring). Needs `score()`,
    `provenance()`, `_init_args()`, `config`, `_resolved`, `_model`, `device_arg` and the `*_column` attributes of the
    scorer."""

    def __call__(self, batch, rank: int | None = None):
        """`Dataset.map(scorer, batched=True[, with_rank=True])`: read the configured columns, return the SPEC §7
        columns and the other `scores` (exactly `output_features(config.scores)`, in that order), typed, so that `map` needs no `features=` whatever
        the batch (a first batch whose `score_error` values are all `None` still writes a string column).

        Args:
            batch (`dict[str, list]` or `pyarrow.Table`): a batch of rows (`question`/`response`; a `messages` or
                `conversations` column of turns when there is no response column, see `io.shapes.batch_texts`; or
                `steps` with `segmenter="given"`). An Arrow table (an `"arrow"`-formatted dataset) gets back the same table with
                the SPEC §7 columns added, since `datasets` does not merge a returned table with its input.
            rank (`int`, *optional*): the worker's rank, from `map(..., with_rank=True)`. With GPUs and no explicit
                device (or `device="cuda"`), rank `r` runs on `cuda:{r % device_count}`; otherwise it changes nothing.

        Returns:
            `dict[str, list]` of `records.TypedColumn` (for a table: a `pyarrow.Table`).
        """
        self._before_batch(rank)
        table = batch if isinstance(batch, pa.Table) else None
        names = table.column_names if table is not None else list(batch)

        def column(name: str):
            if name not in names:
                return None
            return table.column(name) if table is not None else batch[name]

        texts = self.read_texts(column, names)
        rows = self.score(responses=texts.responses, questions=texts.questions, steps=texts.steps, progress=False,
                          input_errors=texts.errors, progress_callback=self.progress_callback)
        if table is None:
            return to_columns(rows, self.config.scores, self.config.segmenter)
        scored = to_table(rows, self.config.scores, self.config.segmenter)
        kept = table.drop_columns([name for name in scored.column_names if name in names])
        for field_ in scored.schema:
            kept = kept.append_column(field_, scored.column(field_.name))
        return kept

    def read_texts(self, column, names):
        """What this scorer reads from a batch (`io.shapes.batch_texts` with its columns): the responses (or
        steps), questions and input errors, row for row."""
        return batch_texts(column, names, question_column=self.question_column, response_column=self.response_column,
                           messages_column=self.messages_column,
                           steps_column=self.steps_column if self.config.segmenter == "given" else None,
                           turns=self.config.segmenter == "turns", tools_column=self.tools_column)

    def content_digests(self, dataset, ranges, *, read_rows: int = 4096) -> list[str]:
        """A digest per row range of `dataset` of what this scorer reads in those rows (question, response or
        steps, input error, as `read_texts` gives them) and of `fingerprint()`: the key under which their scores
        are kept. Other columns (teacher, correctness, ...) are not part of it, so changing them keeps the key.

        Args:
            dataset (`datasets.Dataset`): the rows.
            ranges (`Sequence[tuple[int, int]]`): `(start, stop)` row ranges, in increasing order, not overlapping.
            read_rows (`int`, *optional*): rows read at a time.
        """
        arrow = dataset.with_format("arrow")
        fingerprint = self.fingerprint()
        digests = []
        for start, stop in ranges:
            digest = hashlib.sha256(f"{fingerprint}\0{stop - start}\0".encode())
            for at in range(start, stop, read_rows):
                table = arrow[at:min(stop, at + read_rows)]
                texts = self.read_texts(lambda name: table.column(name) if name in table.column_names else None,
                                        table.column_names)
                steps = texts.steps if texts.steps is not None else [None] * len(texts.responses)
                questions = texts.questions if texts.questions is not None else [None] * len(texts.responses)
                errors = texts.errors if texts.errors is not None else [None] * len(texts.responses)
                for row in zip(questions, texts.responses, steps, errors, strict=True):
                    digest.update(json.dumps(row, separators=(",", ":"), default=str).encode())
                    digest.update(b"\n")
            digests.append(digest.hexdigest()[:24])
        return digests

    # ---------------------------------------------------------------------------------------------- in a worker
    def _before_batch(self, rank: int | None) -> None:
        """Called by `__call__`: keep a forked worker off torch's inherited thread pool, then place it by `rank`."""
        if _FORKED_AFTER_TORCH:
            self._single_thread_after_fork()
        if rank is not None:
            self._place_for_rank(rank)

    @staticmethod
    def _single_thread_after_fork() -> None:
        """In a forked worker, keep torch off the OpenMP pool inherited from the parent (it would hang)."""
        import torch

        if torch.get_num_threads() != 1:
            logger.info("Forked worker: torch runs on 1 thread (OpenMP cannot be reused after fork). "
                        "For multi-threaded workers use multiprocess.set_start_method('spawn').")
            torch.set_num_threads(1)

    def _place_for_rank(self, rank: int) -> None:
        """Put worker `rank` on `cuda:{rank % device_count}` when GPUs exist and no specific device was asked for."""
        import torch

        if not torch.cuda.is_available() or self.device_arg not in (None, "cuda"):
            return
        device = torch.device("cuda", rank % torch.cuda.device_count())
        if self._model is None:
            self.device_arg = str(device)
        elif next(self._model.parameters()).device != device:
            self._model = self._model.to(device)

    # ----------------------------------------------------------------------------------------------- fingerprint
    def fingerprint_state(self) -> dict:
        """Everything that decides this scorer's numbers, and nothing else: what `datasets` hashes for `map` caching.

        Returns:
            `dict`: `provenance` (`Provenance.to_dict()`: the scoring definition with the dtype, the student's
            identity, the hf_localnat version) and `columns` (the columns read). Speed knobs and the device are not
            part of it.
        """
        return {"scorer": "hf_localnat.LocalNaturalnessScorer", "provenance": self.provenance().to_dict(),
                "columns": [self.question_column, self.response_column, self.steps_column, self.messages_column,
                            *([self.tools_column] if self.config.segmenter == "turns" else [])]}

    def fingerprint(self) -> str:
        """A short hex digest of `fingerprint_state()` (for logs and cache keys)."""
        return _fingerprint.digest(self.fingerprint_state())

    # -------------------------------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        """Configuration only: a loaded model or tokenizer is never pickled unless it was passed in as an object."""
        return {"init": self._init_args(), "resolved": dict(self._resolved), "version": _fingerprint.package_version()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["init"])
        self._resolved = dict(state["resolved"])

    # ------------------------------------------------------------------------------------------------------- map
    def features_for(self, dataset):
        """The `features=` to pass to `dataset.map(self, batched=True, features=...)`: the dataset's own plus
        `output_features(self.config.scores)`. `None` if the dataset's features are unknown."""
        return features_for(dataset, self.config.scores, self.config.segmenter)

    def map(self, dataset, **kwargs):
        """`dataset.map(self, batched=True, features=self.features_for(dataset), **kwargs)` for a `Dataset` or an
        `IterableDataset`; a `Dataset` result carries `self.provenance()` in its schema metadata
        (`hf_localnat.provenance.of_dataset(result)`).

        Example:
            ```python
            >>> scored = scorer.map(ds, batch_size=256, num_proc=2, with_rank=True)  # doctest: +SKIP
            ```
        """
        from datasets import Dataset

        kwargs.setdefault("batched", True)
        kwargs.setdefault("features", self.features_for(dataset))
        if getattr(dataset, "num_rows", None) == 0 and kwargs["features"] is not None:  # datasets skips map on 0 rows
            out = Dataset.from_dict({name: [] for name in kwargs["features"]}, features=kwargs["features"])
        else:
            out = dataset.map(self, **kwargs)
        if not isinstance(out, Dataset):
            return out  # an IterableDataset has no table to carry metadata
        # `map` wrote a fresh table (no indices mapping); same rows, same fingerprint, plus the provenance
        return Dataset(_provenance.with_provenance(out.data, self.provenance()), info=out.info, split=out.split,
                       fingerprint=out._fingerprint)

    def save(self, dataset, path, *, overwrite: bool = False, storage_options: dict | None = None):
        """Write scored rows to `path` with this scorer's provenance, so `localnat select`, `rank-teachers`,
        `inspect` and `publish` (and their `hf_localnat` functions) know how they were scored.

        `dataset.map(scorer, batched=True)` returns rows without provenance, and `Dataset.to_parquet` writes none:
        save them with this instead. The provenance goes into a Parquet file's schema metadata, else into
        `<path>.hf_localnat.json` beside it (`hf_localnat.json` inside a folder); the write is atomic.

        Args:
            dataset (`datasets.Dataset`): rows scored by this scorer.
            path (`str` or `Path`): a `.parquet`/`.jsonl`/`.json`/`.csv` file, a folder, or an fsspec URL.
            overwrite (`bool`): replace an existing output. storage_options (`dict`): for a URL `path`.

        Returns:
            The path written (a URL stays a `str`).

        Raises:
            ColumnError: the rows hold no score columns (they were not scored).
            ProvenanceError: the rows carry the provenance of another scorer.

        Example:
            ```python
            >>> scored = ds.map(scorer, batched=True)  # doctest: +SKIP
            >>> scorer.save(scored, "scored.parquet")  # doctest: +SKIP
            ```
        """
        from ..io import require_columns, save_output

        require_columns(dataset, list(self.config.scores), what="saving scores")
        provenance = self.provenance()
        _provenance.common([_provenance.of_dataset(dataset) or provenance, provenance],
                           what="the rows and this scorer's scores")
        return save_output(dataset, path, overwrite=overwrite, provenance=provenance, storage_options=storage_options)


_REGISTERED = False
_REGISTER_LOCK = threading.Lock()  # scorers may be built in several threads at once


def _rebuild_for_hash(state: dict):  # never called: only named in the bytes that `datasets` hashes
    raise RuntimeError("A fingerprint reduction of LocalNaturalnessScorer is for hashing only.")


def register_datasets_hasher(cls) -> None:
    """Make `datasets`' fingerprint hash `cls` instances through `fingerprint_state()` only (once per process).

    `datasets.fingerprint.Hasher` pickles a `map` function with its own dill `Pickler`, whose `dispatch` table takes
    per-type reducers (`datasets.utils._dill.pklregister`, private). Ordinary pickling (to `num_proc` workers) is
    unaffected and goes through `__getstate__`.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    with _REGISTER_LOCK:
        if not _REGISTERED:
            _register(cls)
            _REGISTERED = True


def _register(cls) -> None:
    try:
        from datasets.utils._dill import pklregister
    except ImportError:
        logger.warning("This datasets version has no datasets.utils._dill.pklregister: Dataset.map caching still "
                       "works, but changing a speed knob (batch_tokens, ...) now rescores. Please report it.")
        return

    def save(pickler, obj) -> None:
        pickler.save_reduce(_rebuild_for_hash, (obj.fingerprint_state(),), obj=obj)

    pklregister(cls)(save)
