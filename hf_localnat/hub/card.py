"""The dataset card of a curated dataset: provenance in, `huggingface_hub.DatasetCard` out.

`LocalNatCardParams` gathers every fact a reader needs to trust and reproduce the selection (student model and
revision, scoring settings, package version, source data, selection options, row counts, the teacher ranking with its
intervals, each teacher's share in each selection, the distribution plot). `render_card` turns it into a card whose
YAML metadata the Hub and `load_dataset` read (`configs`, `license`, `tags`, ...) and whose Markdown body sits between
the markers `<!-- localnat:start -->` and `<!-- localnat:end -->`. `merge_card` puts that managed section and our
metadata into a card that already exists, keeping everything the user wrote.

Tables arrive already computed (lists of plain dicts), so this module knows nothing about how they were computed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

MARK_START = "<!-- localnat:start -->"
MARK_END = "<!-- localnat:end -->"

#: Configs this package writes, in card order, with what each holds. `lalp` is the default config.
CONFIG_DESCRIPTIONS: dict[str, str] = {
    "lalp": "the LALP selection: per question, the candidate response with the highest local naturalness",
    "galp": "the GALP baseline: the same selection by global naturalness (GRAPE's score)",
    "scored": "every input row with its scores",
    "rejected": "rows the LALP selection did not keep, each with its `rejection_reason`",
}
DEFAULT_CONFIG = "lalp"
BASE_TAGS = ("localnat", "lalp", "distillation", "reasoning", "data-selection")
#: Metadata keys whose values are unions of ours and the user's; every other key we set is ours only if absent,
#: except `configs` (merged by `config_name`), `size_categories` and `localnat` (facts, always ours).
UNION_KEYS = ("tags", "task_categories")
OWNED_KEYS = ("size_categories", "localnat")

PAPER_BIBTEX = """@article{just2025signal,
  title   = {The Signal is in the Steps: Local Scoring for Reasoning Data Selection},
  author  = {Just, Hoang Anh and Ko, Myeongseob and Jia, Ruoxi},
  journal = {arXiv preprint arXiv:2510.03988},
  year    = {2025}
}"""
GRAPE_BIBTEX = """@article{zhang2025grape,
  title   = {The Best Instruction-Tuning Data are Those That Fit},
  author  = {Zhang, Dylan and Dai, Qirun and Peng, Hao},
  journal = {arXiv preprint arXiv:2502.04194},
  year    = {2025}
}"""


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
        plot_path (`str`, *optional*): repo-relative path of the distribution plot image.
        reproduce_command (`str`, *optional*): the one command that rebuilds this dataset.
        license (`str`, *optional*, defaults to `"other"`): the data's license (that of the teacher outputs).
        language (`list[str]`, *optional*, defaults to `["en"]`).
        tags (`list[str]`, *optional*): tags added to the package's own.
        data_dir (`str`, *optional*, defaults to `"data"`): folder holding one sub-folder of Parquet files per config.
    """

    pretty_name: str
    student_model: str
    window: int
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
    data_dir: str = "data"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(CONFIG_DESCRIPTIONS))
        if unknown:
            raise ConfigError(f"Unknown config(s) {unknown} in `counts`; use {', '.join(CONFIG_DESCRIPTIONS)}.")
        if not self.counts.get(DEFAULT_CONFIG):
            raise ConfigError(f"The `{DEFAULT_CONFIG}` selection is empty (counts={self.counts}); nothing to publish. "
                              "Check that the input has scored rows (`score_error` is None).")

    @property
    def configs(self) -> list[str]:
        """Configs that have rows, in card order."""
        return [name for name in CONFIG_DESCRIPTIONS if self.counts.get(name)]


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


def configs_metadata(configs: list[str], data_dir: str = "data") -> list[dict[str, Any]]:
    """The `configs:` metadata `load_dataset` reads: one train split of Parquet files per config, `lalp` default.

    Example:

    >>> configs_metadata(["lalp"])
    [{'config_name': 'lalp', 'data_files': [{'split': 'train', 'path': 'data/lalp/*.parquet'}], 'default': True}]
    """
    out = []
    for name in configs:
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train",
                                                                     "path": f"{data_dir}/{name}/*.parquet"}]}
        if name == DEFAULT_CONFIG:
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
        "counts": {name: params.counts[name] for name in params.configs},
    }
    return {
        "license": params.license,
        "language": list(params.language),
        "pretty_name": params.pretty_name,
        "tags": _unique([*BASE_TAGS, *params.tags]),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(params.counts.get("scored") or max(params.counts.values()))],
        "configs": configs_metadata(params.configs, params.data_dir),
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
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n# {params.pretty_name}\n\n{managed_section(params)}\n")


def managed_section(params: LocalNatCardParams) -> str:
    """The Markdown body between the localnat markers."""
    p = params
    repo = p.repo_id or "path/to/this/folder"
    teachers = len(p.ranking)
    parts = [MARK_START, ""]
    parts.append(
        f"Reasoning traces{f' from {teachers} teachers' if teachers else ''}, scored and selected for distillation "
        f"into `{p.student_model}` by **local naturalness** with "
        f"hf-localnat {p.package_version}. Every number here was computed by the command "
        "under *Reproduce*."
    )
    parts += ["", "## Configs", "", _table([{"config": f"`{name}`" + (" (default)" if name == DEFAULT_CONFIG else ""),
                                             "rows": p.counts[name], "what": CONFIG_DESCRIPTIONS[name]}
                                            for name in p.configs])]
    parts += ["", "## Load it", "", "```python", "from datasets import load_dataset", "",
              f'ds = load_dataset("{repo}", "{DEFAULT_CONFIG}", split="train")   # the curated training set',
              f'scored = load_dataset("{repo}", "scored", split="train")   # every row with its scores', "```"]
    parts += ["", "## Local naturalness", "",
              "**LALP** (local average log-probability, [arXiv 2510.03988](https://arxiv.org/abs/2510.03988)) cuts "
              "a response into steps and scores each step with the student, conditioned only on the question and the "
              f"{p.window} preceding step(s); a response's LALP is the unweighted mean of its step scores. **GALP** "
              "(from GRAPE, [arXiv 2502.04194](https://arxiv.org/abs/2502.04194)) is the mean log-probability of the "
              "whole response in one pass. Both are natural-log probabilities per token: **higher is better** (more "
              "natural to the student; 0 is the maximum). Per question, the `lalp` config keeps the response with "
              "the highest LALP, the `galp` config the one with the highest GALP (the baseline the paper beats)."]
    settings = [
        ("student model", f"`{p.student_model}`"),
        ("student revision",
         f"`{p.student_revision}`" if p.student_revision else "not recorded (a local or embedded model)"),
        *[(f"student {k.replace('_', ' ')}", f"`{v}`") for k, v in p.student_provenance.items()],
        ("window (preceding steps)", str(p.window)),
        ("segmenter", f"`{p.segmenter}`"),
        ("prompt format", f"`{p.prompt_format}`"),
        *[(k.replace("_", " "), f"`{v}`") for k, v in p.scoring_options.items() if v is not None],
        ("source data", f"`{p.source_dataset}`" if p.source_dataset else "n/a"),
        *[(f"selection: {k.replace('_', ' ')}", f"`{v}`") for k, v in p.selection_options.items()],
        ("hf-localnat version", f"`{p.package_version}`"),
    ]
    parts += ["", "## How it was made", "", _table([{"setting": k, "value": v} for k, v in settings])]
    if p.ranking:
        parts += ["", "## Teacher ranking", "",
                  "Teachers by mean LALP over the same questions (best first; intervals are 95% confidence intervals "
                  "of the mean).", "", _table(p.ranking)]
    if p.mix:
        teachers_in_mix = _unique([t for shares in p.mix.values() for t in shares])
        rows = [{"teacher": t, **{f"share in `{sel}`": f"{100 * shares.get(t, 0.0):.1f}%"
                                  for sel, shares in p.mix.items()}} for t in teachers_in_mix]
        parts += ["", "## Teacher share in each selection", "", _table(rows)]
    if p.plot_path:
        parts += ["", "## Score distributions", "", f"![LALP and GALP distributions per teacher]({p.plot_path})"]
    if p.reproduce_command:
        parts += ["", "## Reproduce", "", "```bash", p.reproduce_command, "```"]
    parts += ["", "## Citation", "", "```bibtex", PAPER_BIBTEX, "", GRAPE_BIBTEX, "```", "", MARK_END]
    return "\n".join(parts)


def merge_card(existing: str, new: "DatasetCard") -> "DatasetCard":
    """Put `new`'s managed section and metadata into the `existing` README text, keeping what the user wrote.

    The body between the localnat markers is replaced (appended if the existing card has none); text outside them
    is kept as is. Metadata: `configs` is merged by `config_name` (ours replace same-named entries, the user's
    others stay); `tags` and `task_categories` become the union; `size_categories` and `localnat` are ours; every
    other key keeps the user's value when present, and takes ours when absent.

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

    old = DatasetCard(existing, ignore_metadata_errors=True)
    ours = new.data.to_dict()
    merged = dict(old.data.to_dict())
    for key, value in ours.items():
        if key == "configs":
            names = {c.get("config_name") for c in value}
            kept = [c for c in merged.get("configs") or [] if c.get("config_name") not in names]
            if any(c.get("default") for c in value):  # only one default config
                kept = [{k: v for k, v in c.items() if k != "default"} for c in kept]
            merged["configs"] = [*value, *kept]
        elif key in UNION_KEYS:
            mine = merged.get(key) or []
            merged[key] = _unique([*([mine] if isinstance(mine, str) else mine), *value])
        elif key in OWNED_KEYS or merged.get(key) in (None, [], ""):
            merged[key] = value
    section = _section(new.text)
    text = old.text
    if MARK_START in text and MARK_END in text:
        text = re.sub(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), lambda _: section, text, count=1,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + section + "\n"
    data = DatasetCardData(**merged)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{'' if text.startswith(chr(10)) else chr(10)}{text}")


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
    if match is None:
        raise ValueError("The new card has no localnat section; render it with `render_card`.")
    return match.group(0)


def _table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of `rows` (columns in the first row's key order, plus any new keys later rows add)."""
    if not rows:
        return "_(empty)_"
    columns = _unique([key for row in rows for key in row])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _unique(items: list) -> list:
    seen: list = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
