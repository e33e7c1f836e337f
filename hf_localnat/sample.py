"""The bundled multi-teacher sample: 8 questions, 4 teachers of clearly different styles, correctness known."""

from __future__ import annotations

from pathlib import Path

SAMPLE_PATH = Path(__file__).parent / "data" / "multi_teacher_sample.jsonl"


def load_sample():
    """The sample as a `datasets.Dataset` (columns `question_id`, `question`, `teacher`, `response`, `correct`)."""
    from datasets import load_dataset

    return load_dataset("json", data_files=str(SAMPLE_PATH), split="train")
