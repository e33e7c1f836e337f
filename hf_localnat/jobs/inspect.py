"""`hf_localnat.inspect`: the job of `localnat inspect` (the step report, one self-contained HTML page)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._scored import ScoredInput, pool, provenance_of
from .results import Report


def inspect(
    scored: ScoredInput,
    output: str | os.PathLike | None = None,
    *,
    questions: Sequence[str] | None = None,
    num_questions: int = 3,
    least_natural: int = 5,
    correct_column: str | None = None,
    segmenter: str | None = None,
    steps_column: str = "steps",
    response_column: str = "response",
    max_mb: float = 8.0,
    title: str | None = None,
    teacher_column: str = "teacher",
    question_column: str = "question",
    question_id_column: str = "question_id",
    config: str | None = None,
    split: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    ignore_provenance: bool = False,
    overwrite: bool = False,
    tokenizer=None,
    max_observation_tokens: int | None = None,
) -> Report:
    """Build the step report of `scored` (the ranking, the chosen questions step by step shaded by step score, each
    teacher's least natural steps, the mix) and write it to `output`.

    The same job as `localnat inspect` (see its `--help` for each option); `str(result)` is its text, and in a
    notebook the result shows the page itself.

    Args:
        scored (`str`, `os.PathLike`, `datasets.Dataset`, a list of them, or `dict[str, ...]`): scored rows.
        output (`str` or `os.PathLike`, *optional*): the HTML file to write; `None` writes nothing.
        questions, num_questions, least_natural, correct_column, segmenter, steps_column, response_column, max_mb,
        title: as the flags of `localnat inspect`.
        teacher_column, question_column, question_id_column, config, split, storage_options, ignore_provenance,
        overwrite: as in `rank_teachers`.
        tokenizer (`PreTrainedTokenizerBase` or `str`, *optional*): for agent traces (`segmenter="turns"`), the
            student's tokenizer (or its folder), to mark exactly the observations over the cap; default: the
            recorded student's, when it is a local folder or the embedded model (no network).
        max_observation_tokens (`int`, *optional*): the cap the traces were scored with, for a file that does not
            record it; default: the recorded one, else 1024.

    Returns:
        `Report`: `html`, `output`.
    """
    from ..report.html import build_report, check_report_path, write_report

    if output is not None:
        check_report_path(output, overwrite=overwrite)  # before the work
    provenance = provenance_of(scored, storage_options=storage_options, ignore_provenance=ignore_provenance)
    if provenance is not None:
        provenance.check(segmenter=segmenter)  # before any row is read
    inputs = pool(scored, config=config, split=split, storage_options=storage_options,
                  ignore_provenance=ignore_provenance, teacher_column=teacher_column,
                  question_column=question_column, question_id_column=question_id_column)
    counter = None
    resolved = provenance.segmenter if provenance is not None else segmenter
    if resolved == "turns":
        counter = _token_counter(tokenizer, provenance)
    html = build_report(
        inputs.dataset, segmenter=segmenter, questions=list(questions) if questions else None,
        num_questions=num_questions, least_natural=least_natural, correct_column=correct_column, title=title,
        source=", ".join(inputs.names), provenance=provenance, max_bytes=int(max_mb * 1_000_000),
        teacher_column=teacher_column, question_column=question_column, question_id_column=question_id_column,
        response_column=response_column, steps_column=steps_column, count_tokens=counter,
        max_observation_tokens=max_observation_tokens)
    path = None if output is None else write_report(output, html, overwrite=overwrite)
    return Report(html, path)


def _token_counter(tokenizer, provenance):
    """`text -> tokens` of the student's tokenizer (`add_special_tokens=False`, SPEC §14's count), or `None` when
    none is at hand without the network: `tokenizer` (an object or a folder), else the recorded student's folder or
    the embedded model."""
    from pathlib import Path

    from ..errors import LocalNatError

    if tokenizer is None and provenance is not None:
        student = dict(provenance.student or {})
        if student.get("kind") == "folder" and Path(str(student.get("path"))).is_dir():
            tokenizer = str(student["path"])
        elif student.get("kind") == "embedded":
            from ..scoring.models import convert_embedded_model

            tokenizer = str(convert_embedded_model())
    if tokenizer is None:
        return None
    if isinstance(tokenizer, (str, os.PathLike)):
        from ..scoring.models import load_tokenizer

        try:
            tokenizer = load_tokenizer(str(tokenizer))
        except (LocalNatError, OSError, ValueError):
            return None  # the report then marks long observations as possibly capped, and says so

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count
