"""The dataset card of a curated dataset: provenance in, `huggingface_hub.DatasetCard` out.

`LocalNatCardParams` gathers every fact a reader needs to trust and reproduce the selection (student model and
revision, scoring settings, package version, source data, selection options, row counts, the teacher ranking with its
intervals, each teacher's share in each selection, the distribution plot). `render_card` turns it into a card whose
YAML metadata the Hub and `load_dataset` read (`configs`, `license`, `tags`, ...) and whose Markdown body sits between
the markers `<!-- localnat:start -->` and `<!-- localnat:end -->`. `merge_card` puts that managed section and our
metadata into a card that already exists, keeping everything the user wrote, or refuses when it cannot tell the
section apart from the user's text (a missing, repeated or misplaced marker line).

The section's text is `templates/card.md` (a `## ` block whose placeholder has no value is left out) and its
citation `templates/citation.bib`, the one BibTeX source of the project. Every user string (teacher names, model
names, options) is escaped for Markdown and HTML, so no value can add markup or a marker to the card.
Tables arrive already computed (lists of plain dicts), so this module knows nothing about how they were computed.
"""

from __future__ import annotations

import html
import json
import math
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from ..errors import ConfigError, PublishError
from ..wording import counted
from ..scores import SCORES

MARK_START = "<!-- localnat:start -->"
MARK_END = "<!-- localnat:end -->"

#: Configs this package writes, with what each holds: a selection per score (`lalp` the default), then `scored`
#: and `rejected`. A card lists the selections it has in its own order (`LocalNatCardParams.selections`).
CONFIG_DESCRIPTIONS: dict[str, str] = {
    "lalp": "the LALP selection: per question, the candidate response with the highest local naturalness, with "
            "`messages` to train on",
    "galp": "the GALP baseline: the same selection by global naturalness (GRAPE's score), with `messages`",
    **{name: f"the {name} selection: per question, the candidate response with the "
             f"{'highest' if score.direction == 'higher' else 'lowest'} `{name}` ({score.source}; "
             f"{score.direction} is better), with `messages`"
       for name, score in SCORES.items() if name not in ("lalp", "galp")},
    "scored": "every input row with its scores",
    "rejected": "rows the LALP selection did not keep, each with its `rejection_reason`",
    "slice_top": "pilot slice: the top fraction of the rows by the slice score (see Pilot slices), with messages",
    "slice_middle": "pilot slice: the same fraction around the median, with messages",
    "slice_bottom": "pilot slice: the bottom fraction, with messages",
}
DEFAULT_CONFIG = "lalp"
BASE_TAGS = ("localnat", "lalp", "distillation", "reasoning", "data-selection")
#: Metadata keys whose values are unions of ours and the user's; every other key we set is ours only if absent,
#: except `configs` (merged by `config_name`), `size_categories` and `localnat` (facts, always ours).
UNION_KEYS = ("tags", "task_categories")
OWNED_KEYS = ("size_categories", "localnat")



@lru_cache(maxsize=None)
def template(name: str) -> str:
    """The text of `hf_localnat/hub/templates/NAME` (package data): `card.md`, `citation.bib`."""
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")


def citation() -> str:
    """The BibTeX entries of the paper (LALP) and of GRAPE (GALP): the one source for the card, README and metric."""
    return template("citation.bib").strip()


@dataclass
class LocalNatCardParams:
    """Everything the card says about how the dataset was made.

    Args:
        pretty_name (`str`): the card's title.
        repo_id (`str`, *optional*): where the dataset lives (`NS/NAME`), or `None` for a local folder; used in the
            `load_dataset` snippet.
        student_model (`str`): the scoring student (`smollm2-135m-instruct`, a Hub id or a folder).
        student_revision (`str`, *optional*): its Hub revision, when there is one.
        student_provenance (`dict`, *optional*): `ModelSource.provenance` (original model, package, quantisation).
        window (`int`), segmenter (`str`), prompt_format (`str`): the scoring settings (see SPEC.md).
        scoring_options (`dict`, *optional*): other scoring settings worth recording (`max_length`, `dtype`, ...).
        package_version (`str`): the hf-localnat version that made the data.
        source_dataset (`str`, *optional*): the input traces (Hub id or file name).
        selection_options (`dict`, *optional*): how the selections were made (`correct_only`, column names, ...).
        counts (`dict[str, int]`): rows per config; a config with 0 rows is left out of `configs`.
        ranking (`list[dict]`, *optional*): the teacher ranking table, one dict per teacher, columns in key order.
        mix (`dict[str, dict[str, float]]`, *optional*): per selection (`lalp`, `galp`), each teacher's share (0-1).
        selections (`dict[str, str]`, *optional*, defaults to LALP then GALP): each selection config, in card order,
            with the direction of the score that chose its rows (`"higher"`/`"lower"` is better); the first is the
            default config.
        plot_path (`str`, *optional*): repo-relative path of the distribution plot image.
        reproduce_command (`str`, *optional*): the one command that rebuilds this dataset.
        license (`str`, *optional*, defaults to `"other"`): the data's license (that of the teacher outputs).
        language (`list[str]`, *optional*, defaults to `["en"]`).
        tags (`list[str]`, *optional*): tags added to the package's own.
        confidence (`float`, *optional*, defaults to 0.95): coverage of the ranking's intervals, as stated.
        slices (`list[dict]`, *optional*): the pilot slices table (config, rows, rows per teacher), one dict each.
        slices_rule (`str`, *optional*): the exact rule the pilot slices follow (score, direction, fraction, filters).
        data_dir (`str`, *optional*, defaults to `"data"`): folder holding one sub-folder of Parquet files per config.
    """

    pretty_name: str
    student_model: str
    window: int | str
    segmenter: str
    prompt_format: str
    package_version: str
    counts: dict[str, int]
    repo_id: str | None = None
    student_revision: str | None = None
    student_provenance: dict[str, Any] = field(default_factory=dict)
    scoring_options: dict[str, Any] = field(default_factory=dict)
    source_dataset: str | None = None
    selection_options: dict[str, Any] = field(default_factory=dict)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    mix: dict[str, dict[str, float]] = field(default_factory=dict)
    plot_path: str | None = None
    reproduce_command: str | None = None
    license: str = "other"
    language: list[str] = field(default_factory=lambda: ["en"])
    tags: list[str] = field(default_factory=list)
    confidence: float = 0.95
    data_dir: str = "data"
    slices: list[dict[str, Any]] = field(default_factory=list)
    slices_rule: str | None = None
    selections: dict[str, str] = field(default_factory=lambda: {"lalp": "higher", "galp": "higher"})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(CONFIG_DESCRIPTIONS))
        if unknown:
            raise ConfigError(f"Unknown config(s) {unknown} in `counts`; use {', '.join(CONFIG_DESCRIPTIONS)}.")
        if not self.counts.get(self.default_config):
            raise ConfigError(f"The `{self.default_config}` selection is empty (counts={self.counts}); nothing to "
                              "publish. Check that the input has scored rows (`score_error` is None).")

    @property
    def default_config(self) -> str:
        """The config `load_dataset` loads by default: the first selection (`lalp` unless another score chose)."""
        return next(iter(self.selections), DEFAULT_CONFIG)

    @property
    def configs(self) -> list[str]:
        """Configs that have rows, in card order: the selections, then `scored` and `rejected`."""
        order = [*self.selections, *(name for name in CONFIG_DESCRIPTIONS if name not in self.selections)]
        return [name for name in order if self.counts.get(name)]

    def describe(self, config: str) -> str:
        """What `config` holds, for the configs table."""
        if config == "rejected":
            return f"rows the {self.default_config.upper()} selection did not keep, each with its `rejection_reason`"
        return CONFIG_DESCRIPTIONS[config]


def size_category(n: int) -> str:
    """The Hub's size bucket for `n` rows.

    Example:

    >>> size_category(32), size_category(1000), size_category(12_345)
    ('n<1K', '1K<n<10K', '10K<n<100K')
    """
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1B" if n < 10**12 else "n>1T"


def configs_metadata(configs: list[str], data_dir: str = "data", default: str = DEFAULT_CONFIG) -> list[dict[str, Any]]:
    """The `configs:` metadata `load_dataset` reads: one train split of Parquet files per config, `default` (`lalp`)
    the default one.

    Example:

    >>> configs_metadata(["lalp"])
    [{'config_name': 'lalp', 'data_files': [{'split': 'train', 'path': 'data/lalp/*.parquet'}], 'default': True}]
    """
    out = []
    for name in configs:
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train",
                                                                     "path": f"{data_dir}/{name}/*.parquet"}]}
        if name == default:
            entry["default"] = True
        out.append(entry)
    return out


def card_metadata(params: LocalNatCardParams) -> dict[str, Any]:
    """The card's YAML metadata as a plain dict (key order is the order written)."""
    provenance = {
        "package_version": params.package_version,
        "student_model": params.student_model,
        "student_revision": params.student_revision,
        "window": params.window,
        "segmenter": params.segmenter,
        "prompt_format": params.prompt_format,
        **{k: v for k, v in params.scoring_options.items() if v is not None},
        "source_dataset": params.source_dataset,
        "selection": dict(params.selection_options) or None,
        "selected_by": {name: direction for name, direction in params.selections.items() if params.counts.get(name)},
        "counts": {name: params.counts[name] for name in params.configs},
    }
    return {
        "license": params.license,
        "language": list(params.language),
        "pretty_name": params.pretty_name,
        "tags": _unique([*BASE_TAGS, *params.tags]),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(params.counts.get("scored") or max(params.counts.values()))],
        "configs": configs_metadata(params.configs, params.data_dir, params.default_config),
        "localnat": {k: v for k, v in provenance.items() if v is not None},
    }


def pin_data_files(card: "DatasetCard", files: dict[str, str | list[str]]) -> "DatasetCard":
    """A copy of `card` whose `configs` name each config's exact data file(s) instead of a `*.parquet` pattern.

    `datasets` caches a local folder by its card's patterns, not by the files' content, so a folder rewritten with
    new rows under the same name would load stale rows; a file name carrying a content hash changes the cache key.

    Example:

    >>> card = render_card(LocalNatCardParams(pretty_name="x", student_model="m", window=4, segmenter="sentence",
    ...                                       prompt_format="auto", package_version="0", counts={"lalp": 1}))
    >>> pin_data_files(card, {"lalp": "data/lalp/train-0123.parquet"}).data.configs[0]["data_files"]
    [{'split': 'train', 'path': 'data/lalp/train-0123.parquet'}]
    """
    from huggingface_hub import DatasetCard

    pinned = DatasetCard(str(card))
    configs = [dict(c, data_files=[{"split": "train", "path": files[c["config_name"]]}])
               if c.get("config_name") in files else c for c in pinned.data.to_dict().get("configs") or []]
    pinned.data.configs = configs
    return DatasetCard(str(pinned))


def render_card(params: LocalNatCardParams) -> "DatasetCard":
    """The dataset card for `params`: metadata plus a title and the managed section.

    Returns:
        `huggingface_hub.DatasetCard`: `str(card)` is the README.md to write; `DatasetCard(str(card)).data` gives
        the same metadata back.
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(**card_metadata(params))
    title = escape(params.pretty_name)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n# {title}\n\n{managed_section(params)}\n")


def managed_section(params: LocalNatCardParams) -> str:
    """The Markdown body between the localnat markers (markers included), from `templates/card.md`.

    Raises:
        ConfigError: a value that cannot be escaped (inside a code block) holds a marker.
    """
    p = params
    settings = [
        ("student model", _code(p.student_model)),
        ("student revision",
         _code(p.student_revision) if p.student_revision else "not recorded (a local or embedded model)"),
        *[(f"student {k.replace('_', ' ')}", _code(v)) for k, v in p.student_provenance.items()],
        ("window (preceding steps)", escape(p.window)),
        ("segmenter", _code(p.segmenter)),
        ("prompt format", _code(p.prompt_format)),
        *[(k.replace("_", " "), _code(v)) for k, v in p.scoring_options.items() if v is not None],
        ("source data", _code(p.source_dataset) if p.source_dataset else "n/a"),
        ("selected by", Markdown(", ".join(
            f"{_code(name)} ({direction} is better{', default config' if name == p.default_config else ''})"
            for name, direction in p.selections.items() if p.counts.get(name)))),
        *[(f"selection: {k.replace('_', ' ')}", _code(v)) for k, v in p.selection_options.items()],
        ("hf-localnat version", _code(p.package_version)),
    ]
    mix_table = None
    if p.mix:
        teachers_in_mix = _unique([t for shares in p.mix.values() for t in shares])
        mix_table = _table([{"teacher": t, **{Markdown(f"share in {_code(sel)}"): f"{100 * shares.get(t, 0.0):.1f}%"
                                              for sel, shares in p.mix.items()}} for t in teachers_in_mix])
    values = {
        "teachers": f" from {counted(len(p.ranking), 'teacher')}" if p.ranking else "",
        "student_model": _code(p.student_model, table=False),
        "package_version": escape(p.package_version),
        "configs_table": _table([{"config": Markdown(_code(name) + (" (default)" if name == p.default_config else "")),
                                  "rows": p.counts[name], "what": Markdown(p.describe(name))} for name in p.configs]),
        "repo": json.dumps(p.repo_id or "path/to/this/folder"),
        # The student the rows were scored for; the embedded one is a GGUF copy of a Hub model, which SFT loads.
        "train_model": json.dumps(str(p.student_provenance.get("original_model") or p.student_model)),
        "default_config": p.default_config,
        "other_scores": _other_scores(p),
        "window": escape(p.window if isinstance(p.window, int) else f"{p.window} of the"),  # "the 10% of the preceding"
        "settings_table": _table([{"setting": k, "value": Markdown(v)} for k, v in settings]),
        "confidence": f"{100 * p.confidence:g}%",
        "ranking_table": _table(p.ranking) if p.ranking else None,
        "mix_table": mix_table,
        "slices_rule": escape(p.slices_rule) if p.slices and p.slices_rule else None,
        "slices_table": _table(p.slices) if p.slices else None,
        "plot_path": quote(p.plot_path, safe="/") if p.plot_path else None,
        "reproduce_block": _fenced(p.reproduce_command, "bash") if p.reproduce_command else None,
        "citation": citation(),
    }
    body = fill_template(template("card.md"), values).strip("\n")
    if MARK_START in body or MARK_END in body:
        raise ConfigError(f"A value written into the card's code blocks (the reproduce command or the repo id) holds "
                          f"the marker {MARK_START!r} or {MARK_END!r}; remove it from that value.")
    return f"{MARK_START}\n\n{body}\n\n{MARK_END}"


def _other_scores(params: LocalNatCardParams) -> str | None:
    """The card's lines on the selections by a score other than LALP and GALP (`None`: there is none)."""
    lines = [f"- `{name}` ({SCORES[name].source}): **{direction} is better**; the `{name}` config keeps, per question, "
             f"the response with the {'highest' if direction == 'higher' else 'lowest'} `{name}`."
             for name, direction in params.selections.items()
             if name not in ("lalp", "galp") and name in SCORES and params.counts.get(name)]
    return "\n".join(lines) if lines else None


def fill_template(text: str, values: dict[str, str | None]) -> str:
    """`text` with `$name` placeholders filled from `values`, leaving out each `## ` block that uses a `None` value.

    Example:

    >>> fill_template("A $a\\n\\n## B\\n\\n$b\\n\\n## C\\n\\n$c\\n", {"a": "1", "b": None, "c": "3"})
    'A 1\\n\\n## C\\n\\n3\\n'
    """
    blocks = re.split(r"(?m)^(?=## )", text)
    names = string.Template.pattern
    kept = [block for block in blocks
            if all(values.get(m.group("named") or m.group("braced")) is not None for m in names.finditer(block)
                   if m.group("named") or m.group("braced"))]
    return string.Template("".join(kept)).substitute({k: v for k, v in values.items() if v is not None})


def merge_card(existing: str, new: "DatasetCard") -> "DatasetCard":
    """Put `new`'s managed section and metadata into the `existing` README text, keeping what the user wrote.

    The section is found only when it is unambiguous: exactly one `<!-- localnat:start -->` line and one
    `<!-- localnat:end -->` line, in that order, each on a line of its own, and no other marker text anywhere. Then the
    lines between them are replaced; a card with no marker at all gets the section appended; anything else is
    refused. Text outside the section is kept character for character. Metadata: `configs` is merged by
    `config_name` (ours replace same-named entries that read our own files, the user's others stay); `tags` and
    `task_categories` become the union; `size_categories` and `localnat` are ours; every other key keeps the user's
    value when present, and takes ours when absent.

    Raises:
        PublishError: the section cannot be located, the front matter is not valid YAML (or not a mapping), or a
            config of the user's has one of our names but reads other files. Nothing is changed; the message says
            how to repair the card.

    Example:

    >>> from huggingface_hub import DatasetCard
    >>> old = "---\\nlicense: mit\\ntags: [mine]\\n---\\n# My notes\\n"
    >>> section = "<!-- localnat:start -->\\nA\\n<!-- localnat:end -->\\n"
    >>> new = DatasetCard("---\\nlicense: other\\ntags: [localnat]\\n---\\n# X\\n" + section)
    >>> card = merge_card(old, new)
    >>> card.data.license, card.data.tags, "# My notes" in card.text, "\\nA\\n" in card.text
    ('mit', ['mine', 'localnat'], True, True)
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    old = _parse_user_card(existing)
    ours = new.data.to_dict()
    merged = dict(old.data.to_dict())
    for key, value in ours.items():
        if key == "configs":
            merged["configs"] = _merge_configs(merged.get("configs"), value)
        elif key in UNION_KEYS:
            mine = merged.get(key) or []
            merged[key] = _unique([*([mine] if isinstance(mine, str) else mine), *value])
        elif key in OWNED_KEYS or merged.get(key) in (None, [], ""):
            merged[key] = value
    section = _section(new.text)
    text = old.text
    span = locate_section(text)
    if span is None:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + section + "\n"
    else:
        text = text[:span[0]] + section + text[span[1]:]
    data = DatasetCardData(**merged)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{'' if text.startswith(chr(10)) else chr(10)}{text}")


def locate_section(text: str) -> tuple[int, int] | None:
    """The span of the managed section in a card body (from the start marker to the end marker, both included), or
    `None` when the body has no marker at all.

    Raises:
        PublishError: the section cannot be located unambiguously (see `merge_card`), with how to repair the card.

    Example:

    >>> locate_section("mine\\n<!-- localnat:start -->\\nours\\n<!-- localnat:end -->\\nmine\\n")
    (5, 55)
    >>> locate_section("mine\\n") is None
    True
    """
    found = {mark: [m.start() for m in re.finditer(re.escape(mark), text)] for mark in (MARK_START, MARK_END)}
    starts, ends = found[MARK_START], found[MARK_END]
    if not starts and not ends:
        return None
    fix = None
    for mark, positions in found.items():
        for pos in positions:
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line = text[line_start:len(text) if line_end < 0 else line_end]
            if line.strip() != mark:
                fix = (f"the marker text {mark} appears inside a line ({line.strip()[:60]!r}); remove it from that "
                       "line (a marker must stand on a line of its own)")
    if fix is None:
        if len(starts) > 1 or len(ends) > 1:
            fix = (f"it has {len(starts)} start and {len(ends)} end marker lines; keep one {MARK_START} line where the "
                   f"localnat section begins and one {MARK_END} line where it ends, and delete the other copies")
        elif not ends:
            fix = (f"the {MARK_END} line is missing; put it back on its own line where the localnat section ends "
                   "(before your own text)")
        elif not starts:
            fix = (f"the {MARK_START} line is missing; put it back on its own line where the localnat section "
                   "begins (after your own text)")
        elif starts[0] > ends[0]:
            fix = f"the {MARK_END} line comes before the {MARK_START} line; swap them around the localnat section"
        else:
            return starts[0], ends[0] + len(MARK_END)
    raise PublishError(f"The existing README.md's localnat section cannot be located unambiguously, so nothing was "
                       f"changed: {fix}; then rerun the same command.")


def _parse_user_card(text: str) -> "DatasetCard":
    """The existing card, or a `PublishError` saying how to fix front matter that is not a YAML mapping."""
    import yaml
    from huggingface_hub import DatasetCard

    try:
        return DatasetCard(text, ignore_metadata_errors=True)
    except (yaml.YAMLError, ValueError) as err:
        detail = " ".join(str(err).split())[:200]
        raise PublishError(f"The existing README.md's front matter (the YAML between the first two `---` lines) is "
                           f"not a valid YAML mapping ({detail}), so nothing was changed; fix it, then rerun the same "
                           "command.") from err


def _merge_configs(theirs: Any, ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our configs first, then the user's others; a user config named like ours must read only our folder."""
    theirs = [c for c in theirs or [] if isinstance(c, dict)] if isinstance(theirs, list) else []
    folders = {c["config_name"]: _folders(c) for c in ours}
    for config in theirs:
        name = config.get("config_name")
        if name in folders and not all(any(path.startswith(folder) for folder in folders[name])
                                       for path in _paths(config.get("data_files"))):
            raise PublishError(f"The existing README.md has its own config {name!r} (reading "
                               f"{', '.join(_paths(config.get('data_files'))) or 'no files'}), and localnat writes a "
                               f"config of that name; nothing was changed. Rename your config in the card's "
                               f"`configs:` metadata, then rerun the same command.")
    kept = [c for c in theirs if c.get("config_name") not in folders]
    if any(c.get("default") for c in ours):  # only one default config
        kept = [{k: v for k, v in c.items() if k != "default"} for c in kept]
    return [*ours, *kept]


def _paths(data_files: Any) -> list[str]:
    """Every path or pattern in a `configs` entry's `data_files` (a string, a list, or split dicts)."""
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, dict):
        return _paths(data_files.get("path"))
    if isinstance(data_files, list):
        return [path for item in data_files for path in _paths(item)]
    return []


def _folders(config: dict[str, Any]) -> set[str]:
    """The folders (with a trailing `/`) our config's `data_files` read."""
    return {path.rsplit("/", 1)[0] + "/" for path in _paths(config.get("data_files"))}


def card_summary(text: str) -> str:
    """A short summary of a card for a terminal: the title and the teacher ranking table, else the first paragraph.

    Example:

    >>> card_summary("---\\nlicense: mit\\n---\\n# Title\\n\\nFirst para.\\n\\nSecond.\\n")
    '# Title\\n\\nFirst para.'
    """
    from huggingface_hub import DatasetCard

    body = DatasetCard(text, ignore_metadata_errors=True).text
    title = next((line for line in body.splitlines() if line.startswith("# ")), None)
    ranking = re.search(r"^## Teacher ranking\n(.*?)(?=^## |\Z)", body, flags=re.S | re.M)
    if ranking:
        summary = "## Teacher ranking\n" + ranking.group(1).strip()
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip() and not p.strip().startswith(
            ("# ", "<!--"))]
        summary = paragraphs[0] if paragraphs else ""
    return "\n\n".join(part for part in (title, summary) if part)


def _section(text: str) -> str:
    match = re.search(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), text, flags=re.S)
    if match is None or text.count(MARK_START) != 1 or text.count(MARK_END) != 1:
        raise ValueError("The new card must have exactly one localnat section; render it with `render_card`.")
    return match.group(0)


class Markdown(str):
    """Text already written as Markdown (escaped where needed): table cells take it as is."""


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def escape(value: Any) -> Markdown:
    r"""`value` as Markdown text that renders as written: HTML escaped, Markdown punctuation backslash-escaped,
    line breaks made spaces (so a value cannot open a tag, a link, a table cell or a marker).

    Example:

    >>> escape("x <!-- localnat:end --> *b* | c")
    'x &lt;!-- localnat:end --&gt; \\*b\\* \\| c'
    """
    text = " ".join(str(value).splitlines())
    return Markdown(_MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)))


def _code(value: Any, table: bool = True) -> Markdown:
    """`value` as inline code, or as escaped text when it holds a backtick or marker-like text (a code span shows
    `&lt;` literally, so it cannot hide a `<!--`). In a table a `|` is escaped, as GitHub's tables need."""
    text = " ".join(str(value).splitlines())
    if "`" in text or "<!--" in text or "-->" in text or not text.strip():
        return escape(text)
    return Markdown(f"`{text.replace('|', chr(92) + '|') if table else text}`")


def _fenced(text: str, language: str) -> str:
    """A fenced code block of `text`, its fence longer than any backtick run inside."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}{language}\n{text}\n{fence}"


def _table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of `rows` (columns in the first row's key order, plus any new keys later rows add)."""
    if not rows:
        return "_(empty)_"
    columns = _unique([key for row in rows for key in row])
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Markdown):
        return value
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return escape(value)


def _unique(items: list) -> list:
    seen: list = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
