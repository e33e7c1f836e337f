"""The scoring configuration: every knob that changes a number the scorer prints (see SPEC.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .errors import ConfigError
from .segment import SEGMENTERS

PromptFormat = Literal["auto", "chat", "plain", "none"]
PROMPT_FORMATS: tuple[str, ...] = ("auto", "chat", "plain", "none")
PaddingSide = Literal["right", "left"]


@dataclass(frozen=True)
class ScoringConfig:
    """What decides the scores, apart from the model itself.

    Args:
        window (`int`, *optional*, defaults to 4):
            Number of preceding steps each step is conditioned on (the paper's k; 4 sentences in its v1 setting).
        segmenter (`str`, *optional*, defaults to `"sentence"`):
            How a response is cut into steps: `"sentence"`, `"line"`, `"paragraph"` or `"given"`.
        prompt_format (`str`, *optional*, defaults to `"auto"`):
            How the question becomes the prefix P: `"chat"`, `"plain"`, `"none"`, or `"auto"` (chat when the
            tokenizer has a chat template, else plain).
        max_length (`int`, *optional*):
            Bound on every model input in tokens; defaults to the model's maximum positions.
        batch_tokens (`int`, *optional*, defaults to 16384):
            Token budget of one forward batch (padded tokens: rows x longest row).
        reuse_galp (`bool`, *optional*, defaults to `True`):
            Read the scores of steps whose window starts at the first response token from the GALP pass instead of
            running them again (they are prefixes of it). `False` is the plain path, kept for tests.
        padding_side (`str`, *optional*, defaults to `"right"`):
            Side on which dense batches are padded; scores do not depend on it.
    """

    window: int = 4
    segmenter: str = "sentence"
    prompt_format: str = "auto"
    max_length: int | None = None
    batch_tokens: int = 16384
    reuse_galp: bool = True
    padding_side: str = "right"

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise ConfigError(f"`window` must be a whole number >= 0 (preceding steps), got {self.window!r}.")
        if self.segmenter not in SEGMENTERS:
            raise ConfigError(f"Unknown segmenter {self.segmenter!r}; use one of {', '.join(SEGMENTERS)}.")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(f"Unknown prompt_format {self.prompt_format!r}; use one of {', '.join(PROMPT_FORMATS)}.")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 2):
            raise ConfigError(f"`max_length` must be an integer >= 2 or None, got {self.max_length!r}.")
        if not isinstance(self.batch_tokens, int) or self.batch_tokens < 1:
            raise ConfigError(f"`batch_tokens` must be a positive integer, got {self.batch_tokens!r}.")
        if self.padding_side not in ("right", "left"):
            raise ConfigError(f"`padding_side` must be 'right' or 'left', got {self.padding_side!r}.")

    def to_dict(self) -> dict:
        """The configuration as a plain dict (for cards, fingerprints and logs)."""
        return asdict(self)
