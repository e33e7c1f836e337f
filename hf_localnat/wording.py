"""Wording shared by the reports, the card and the command line. Imports nothing, so every layer can use it."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, the noun plural unless `n` is 1.

    Example:

    >>> counted(1, "question"), counted(0, "teacher"), counted(3, "reply", "replies")
    ('1 question', '0 teachers', '3 replies')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
