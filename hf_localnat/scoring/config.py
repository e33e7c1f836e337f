"""The scoring configuration, split in two: the definition of the number (`ScoringDefinition`, see SPEC.md) and
how it is computed (`ComputeOptions`, speed and memory knobs that never change a score)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from ..errors import ConfigError
from ..io.parts import RESPONSE_PARTS
from ..scores import DEFAULT_DROP_TOKENS, DEFAULT_SCORES, parse_scores
from .prepare.segment import SEGMENTERS
from .prepare.windows import WindowSpec, parse_window

#: The default observation cap of agent traces, in tokens (SPEC §14).
DEFAULT_MAX_OBSERVATION_TOKENS = 1024

PromptFormat = Literal["auto", "chat", "plain", "none"]
PROMPT_FORMATS: tuple[str, ...] = ("auto", "chat", "plain", "none")
PaddingSide = Literal["right", "left"]


@dataclass(frozen=True)
class ScoringDefinition:
    """What decides the scores, apart from the student and its dtype: part of every fingerprint and provenance.

    Args:
        window (`int` or `str`, *optional*, defaults to 4):
            Number of preceding steps each step is conditioned on (the paper's k; 4 sentences in its v1 setting),
            or a share of the preceding steps, `"10%"` (SPEC §12; the paper's v2 setting), recorded as written.
        segmenter (`str`, *optional*, defaults to `"sentence"`):
            How a response is cut into steps: `"sentence"`, `"line"`, `"paragraph"` or `"given"`.
        prompt_format (`str`, *optional*, defaults to `"auto"`):
            How the question becomes the prefix P: `"chat"`, `"plain"`, `"none"`, or `"auto"` (chat when the
            tokenizer has a chat template, else plain).
        max_length (`int`, *optional*):
            Bound on every model input in tokens; defaults to the model's maximum positions.
        mode (`str`, *optional*, defaults to `"exact"`):
            `"exact"`: LALP as SPEC §4 defines it. `"blockmask"`: an opt-in approximation that is NOT LALP: one
            forward pass per response with an attention mask letting each step's tokens see P and the `window`
            steps before it; deeper layers see context beyond the window. About one extra GALP pass instead of
            (k+1); see `benchmarks/RESULTS.md` for its rank agreement with exact LALP.
        response_part (`str`, *optional*, defaults to `"full"`):
            The part of each response that is scored (SPEC §9): `"full"`, `"thinking"` (inside the `<think>` or
            `<|begin_of_thought|>` block) or `"answer"` (after it); see `hf_localnat.io.parts`.
        steps_provenance (`dict`, *optional*):
            With `segmenter="given"`: how the given steps were made, as `localnat segment` records it (SPEC §12: the
            LLM, its endpoint's model name, the prompt's sha256, the chunk size). Part of the definition, so rows
            whose steps were made differently are never pooled.
        scores (`str` or `Sequence[str]`, *optional*, defaults to `("lalp", "galp")`):
            The score columns written (SPEC §11): `"lalp,galp,rsr"`, a list of names from `hf_localnat.scores.SCORES`,
            or `"all"`; `lalp` and `galp` are always written. Stored as a tuple in column order.
        drop_tokens (`int`, *optional*, defaults to 2):
            `m`, the tokens at the start of every step that `galp_drop` and `lalp_drop` leave out (SPEC §11).
        max_observation_tokens (`int`, *optional*, defaults to 1024):
            With `segmenter="turns"` (agent traces, SPEC §14): a tool result or other non-assistant turn longer than
            this many tokens keeps its first and last halves; 0 = no cap. Part of the definition of agent traces.
    """

    window: WindowSpec = 4
    segmenter: str = "sentence"
    prompt_format: str = "auto"
    max_length: int | None = None
    mode: str = "exact"
    response_part: str = "full"
    steps_provenance: dict | None = None
    scores: tuple[str, ...] = DEFAULT_SCORES
    drop_tokens: int = DEFAULT_DROP_TOKENS
    max_observation_tokens: int = DEFAULT_MAX_OBSERVATION_TOKENS

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", parse_window(self.window))
        if (isinstance(self.max_observation_tokens, bool) or not isinstance(self.max_observation_tokens, int)
                or self.max_observation_tokens < 0):
            raise ConfigError(f"`max_observation_tokens` must be a whole number >= 0 (0 = no cap), got "
                              f"{self.max_observation_tokens!r}.")
        if self.segmenter == "turns" and (self.mode != "exact" or self.response_part != "full"):
            raise ConfigError("segmenter='turns' scores every assistant turn of an agent trace exactly (SPEC §14): "
                              "use mode='exact' and response_part='full' with it.")
        object.__setattr__(self, "scores", parse_scores(self.scores))
        if isinstance(self.drop_tokens, bool) or not isinstance(self.drop_tokens, int) or self.drop_tokens < 0:
            raise ConfigError(f"`drop_tokens` must be a whole number >= 0, got {self.drop_tokens!r}.")
        if self.segmenter not in SEGMENTERS:
            raise ConfigError(f"Unknown segmenter {self.segmenter!r}; use one of {', '.join(SEGMENTERS)}.")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(f"Unknown prompt_format {self.prompt_format!r}; use one of {', '.join(PROMPT_FORMATS)}.")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 2):
            raise ConfigError(f"`max_length` must be an integer >= 2 or None, got {self.max_length!r}.")
        if self.mode not in ("exact", "blockmask"):
            raise ConfigError(f"Unknown mode {self.mode!r}; use 'exact' (LALP) or 'blockmask' (an approximation).")
        if self.response_part not in RESPONSE_PARTS:
            raise ConfigError(f"Unknown response_part {self.response_part!r}; use one of {', '.join(RESPONSE_PARTS)}.")
        if self.response_part != "full" and self.segmenter == "given":
            raise ConfigError("response_part applies to a response text; with segmenter='given' the steps are the "
                              "text: pass the steps of the part you want scored, with response_part='full'.")
        if self.steps_provenance is not None and (self.segmenter != "given" or not isinstance(self.steps_provenance, dict)):
            raise ConfigError("`steps_provenance` (a dict, as `localnat segment` records it) describes given steps: "
                              "pass it with segmenter='given', or drop it.")


@dataclass(frozen=True)
class ComputeOptions:
    """How the scores are computed: speed and memory knobs that never change a score (SPEC §6 tolerances), so they
    are left out of the `datasets` fingerprint and the provenance: changing one is a cache hit.

    Args:
        batch_tokens (`int`, *optional*, defaults to 16384):
            Token budget of one forward batch (padded tokens: rows x longest row).
        reuse_galp (`bool`, *optional*, defaults to `True`):
            Read the scores of steps whose window starts at the first response token from the GALP pass instead of
            running them again (they are prefixes of it). `False` is the plain path, kept for tests.
        padding_side (`str`, *optional*, defaults to `"right"`):
            Side on which dense batches are padded; scores do not depend on it.
        bucket_ratio (`float`, *optional*, defaults to 0.9):
            A dense batch closes when the next (shorter) window is below `bucket_ratio` x its longest, so at least
            that share of every batch is real tokens. `0` fills batches up to `batch_tokens` whatever the padding.
        prefix_reuse (`bool` or `"auto"`, *optional*, defaults to `"auto"`):
            Compute the keys/values of each distinct prefix P once and run only the tokens after P for every window
            that starts with it. `"auto"`: on the CPU (on a GPU, recomputing P in dense batches measured faster),
            when P has at least `prefix_reuse_min_tokens` tokens, the model's layers all use full attention, and
            batches are not packed. Same numbers either way (SPEC §6 tolerances).
        prefix_reuse_min_tokens (`int`, *optional*, defaults to 16):
            Shortest P that `prefix_reuse="auto"` reuses (shorter ones cost less to re-run than to batch apart).
        packing (`bool` or `"auto"`, *optional*, defaults to `"auto"`):
            Pack the windows of a batch into one row without padding (position ids restart for each window and
            windows never attend to each other). `"auto"`: on a GPU whose model uses FlashAttention or flex attention;
            elsewhere dense padded batches (SDPA would build a dense mask over the whole packed row).
        oom_backoff (`bool`, *optional*, defaults to `True`):
            After an out-of-memory error, halve the batch budget and retry the same windows (the budget grows back
            once windows get shorter); a window that fails alone gives its row `score_error="out_of_memory"`.
        prefetch_rows (`int`, *optional*, defaults to 64):
            Rows are prepared (segmented, tokenized, windowed) and scored in chunks of this many; the next chunk is
            prepared in a background thread while the model scores the current one. Windows are batched within a
            chunk. `0`: one chunk per call (no overlap).
        prepare_workers (`int` or `"auto"`, *optional*, defaults to `"auto"`):
            Processes that prepare chunks (`prepare.pool`), several chunks in flight; `0` prepares in one background
            thread. `"auto"`: none on the CPU (the model needs the cores), else half the cores, at most 8.
    """

    batch_tokens: int = 16384
    reuse_galp: bool = True
    padding_side: str = "right"
    bucket_ratio: float = 0.9
    prefix_reuse: bool | str = "auto"
    prefix_reuse_min_tokens: int = 16
    packing: bool | str = "auto"
    oom_backoff: bool = True
    prefetch_rows: int = 64
    prepare_workers: int | str = "auto"

    def __post_init__(self) -> None:
        if self.prepare_workers != "auto" and (isinstance(self.prepare_workers, bool) or not isinstance(self.prepare_workers, int) or self.prepare_workers < 0):
            raise ConfigError(f"`prepare_workers` must be an integer >= 0 or 'auto', got {self.prepare_workers!r}.")
        if not isinstance(self.batch_tokens, int) or self.batch_tokens < 1:
            raise ConfigError(f"`batch_tokens` must be a positive integer, got {self.batch_tokens!r}.")
        if isinstance(self.bucket_ratio, bool) or not isinstance(self.bucket_ratio, (int, float)) or not 0 <= self.bucket_ratio <= 1:
            raise ConfigError(f"`bucket_ratio` must be a number in [0, 1], got {self.bucket_ratio!r}.")
        for name in ("prefix_reuse", "packing"):
            if getattr(self, name) not in (True, False, "auto"):
                raise ConfigError(f"`{name}` must be True, False or 'auto', got {getattr(self, name)!r}.")
        if isinstance(self.prefix_reuse_min_tokens, bool) or not isinstance(self.prefix_reuse_min_tokens, int) or self.prefix_reuse_min_tokens < 1:
            raise ConfigError(f"`prefix_reuse_min_tokens` must be a positive integer, got {self.prefix_reuse_min_tokens!r}.")
        if isinstance(self.prefetch_rows, bool) or not isinstance(self.prefetch_rows, int) or self.prefetch_rows < 0:
            raise ConfigError(f"`prefetch_rows` must be an integer >= 0, got {self.prefetch_rows!r}.")
        if self.padding_side not in ("right", "left"):
            raise ConfigError(f"`padding_side` must be 'right' or 'left', got {self.padding_side!r}.")


@dataclass(frozen=True)
class ScoringConfig(ComputeOptions, ScoringDefinition):
    """A `ScoringDefinition` (what the number is) and `ComputeOptions` (how fast it is computed), as one flat set
    of fields: `ScoringConfig(window=3, batch_tokens=2048).window`. See both classes for every field.

    Only `definition` enters fingerprints and provenance; `compute` never changes a score.
    """

    def __post_init__(self) -> None:
        ScoringDefinition.__post_init__(self)
        ComputeOptions.__post_init__(self)

    @property
    def definition(self) -> ScoringDefinition:
        """The fields that decide the numbers."""
        return ScoringDefinition(**{f.name: getattr(self, f.name) for f in fields(ScoringDefinition)})

    @property
    def compute(self) -> ComputeOptions:
        """The speed and memory knobs."""
        return ComputeOptions(**{f.name: getattr(self, f.name) for f in fields(ComputeOptions)})

    def to_dict(self) -> dict:
        """The configuration as a plain dict (definition and compute fields; for logs and `__init__` kwargs)."""
        return asdict(self)
