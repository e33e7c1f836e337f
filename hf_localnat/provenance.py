"""Provenance of scored rows: the scoring definition, the student's identity and the hf_localnat version.

Every scored output carries one `Provenance`, as JSON under the key `hf_localnat`:

- a Parquet file: in its schema metadata (`pyarrow.parquet.read_schema(path).metadata[b"hf_localnat"]`);
- a `save_to_disk` folder: in `hf_localnat.json` inside it (`datasets` rewrites the Arrow files' schema metadata
  with its own key only, so it cannot live there);
- a `.jsonl`, `.json` or `.csv` file (no metadata in these formats): in the sidecar file `<file>.hf_localnat.json`;
- a `Dataset` in memory (what `scorer.map` returns): in the schema metadata of its table, inside the `huggingface`
  entry `datasets` keeps (`datasets` drops every other key; a later `map` drops it too).

Later steps (`rank-teachers`, `select`, `publish`, `pull`) read it with `hf_localnat.io.read_provenance`, refuse flags that contradict it
(`check`) and refuse to mix rows scored under different definitions (`common`).

Imports no torch, transformers or `datasets` at module level: selection and hub code read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProvenanceError
from .scores import DEFAULT_SCORES, SCORE_DIRECTIONS, parse_scores, uses_drop_tokens

METADATA_KEY = "hf_localnat"
"""Key of the provenance JSON in schema metadata, and the stem of its file names."""
SIDECAR_SUFFIX = f".{METADATA_KEY}.json"
"""Suffix of the sidecar file beside a `.jsonl`/`.json`/`.csv` output: `scored.jsonl.hf_localnat.json`."""
FOLDER_FILE = f"{METADATA_KEY}.json"
"""Name of the provenance file inside a `save_to_disk` folder."""
DEFINITION_FIELDS: tuple[str, ...] = ("window", "segmenter", "prompt_format", "max_length", "mode", "dtype",
                                      "response_part", "steps_provenance", "scores",
                                      "drop_tokens", "turns")
"""What decides a score besides the student (SPEC.md): the same values and student give the same numbers."""


@dataclass(frozen=True)
class Provenance:
    """How a set of scores was made.

    Attributes:
        window (`int`), segmenter (`str`), prompt_format (`str`), mode (`str`): the scoring definition (SPEC.md).
        max_length (`int`, *optional*): bound on every model input; `None` means the student's maximum positions.
        dtype (`str`): the dtype the student ran in (`float32`, `bfloat16`, `float16`).
        student (`dict`): the student's identity; `kind` is one of
            - `hub`: `id` and `revision` (the commit sha it resolved to);
            - `folder`: `path` and `sha256` (a content hash of its files, see `scoring.fingerprint.folder_identity`);
            - `embedded`: `name` (`smollm2-135m-instruct`), `package` and `package_version`;
            - `object`: a model passed in memory: `name_or_path`, `class`, `checksum`;
            - `stated`: not recorded with the scores, only stated by a user's flags (`localnat publish` of a file
              that records nothing): `name`, `revision`.
        version (`str`): the hf_localnat version that scored.
        response_part (`str`): the part of each response that was scored (`full`, `thinking`, `answer`; SPEC §9).
            Outputs of versions that did not record it scored the `full` response.
        steps_provenance (`dict`, *optional*): with `segmenter="given"` steps from `localnat segment`, how they were
            made (LLM, endpoint model name, prompt sha256, chunk size; SPEC §12); `None` otherwise.
        sample (`dict`, *optional*): `{"questions": N, "seed": S}` when only a sample of the questions was scored
            (`localnat score --sample-questions N --seed S`, `hf_localnat.io.questions`); `None` for every question.
        scores (`tuple[str, ...]`): the score columns written (SPEC §11), in column order; `("lalp", "galp")` for
            outputs of versions that did not record it. Their directions are stored beside the definition.
        drop_tokens (`int`, *optional*): `m` of the drop scores, recorded only when one of them was written (`None`
            otherwise, whatever was passed: it changes no number then).
        turns (`dict`, *optional*): with `segmenter="turns"` (agent traces, SPEC §14), how the traces were rendered:
            `max_observation_tokens`, `calls_in_content` (the template does not write tool calls, so they were
            written into the content) and `chat_template_sha256`; `None` otherwise. Files rendered differently are
            never pooled.
    """

    window: int | str
    segmenter: str
    prompt_format: str
    max_length: int | None
    mode: str
    dtype: str
    student: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""
    response_part: str = "full"
    steps_provenance: Mapping[str, Any] | None = None
    sample: Mapping[str, int] | None = None
    scores: tuple[str, ...] = DEFAULT_SCORES
    drop_tokens: int | None = None
    turns: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", parse_scores(self.scores))
        if not uses_drop_tokens(self.scores):
            object.__setattr__(self, "drop_tokens", None)

    @property
    def directions(self) -> dict[str, str]:
        """The direction of each score column written (`"higher"` or `"lower"` is better; SPEC §11)."""
        return {name: SCORE_DIRECTIONS[name] for name in self.scores}

    # ------------------------------------------------------------------------------------------- serialisation
    @property
    def definition(self) -> dict[str, Any]:
        """The scoring definition: `DEFINITION_FIELDS` and their values."""
        return {name: getattr(self, name) for name in DEFINITION_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """`{"definition": {...}, "directions": {...}, "student": {...}, "version": "..."}` (the stored JSON)."""
        definition = {**self.definition, "scores": list(self.scores)}
        if self.turns is None:  # recorded for agent traces only: flat runs keep the provenance they always had
            del definition["turns"]
        out = {"definition": definition, "directions": self.directions, "student": dict(self.student),
               "version": self.version}
        return out | ({"sample": dict(self.sample)} if self.sample else {})

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal provenances give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """The inverse of `to_dict`.

        Raises:
            ProvenanceError: `data` lacks a definition field.
        """
        if "definition" not in data and "steps" in data:  # `localnat segment`'s record: steps, not scores
            raise ProvenanceError("This input records how its steps were made (`localnat segment`), not how it was "
                                  "scored; score it first: `localnat score INPUT -o OUTPUT --segmenter given`.")
        # response_part: recorded since 0.1.0's §9; scores and drop_tokens since §11; steps_provenance since §12
        definition = {"response_part": "full", "steps_provenance": None, "scores": DEFAULT_SCORES, "drop_tokens": None,
                      "turns": None, **(data.get("definition") or {})}
        missing = [name for name in DEFINITION_FIELDS if name not in definition]
        if missing:
            raise ProvenanceError(f"The recorded provenance lacks {', '.join(missing)}; rescore with this version "
                                  "of hf-localnat to record it.")
        return cls(**{name: definition[name] for name in DEFINITION_FIELDS}, student=dict(data.get("student") or {}),
                   version=str(data.get("version", "")), sample=data.get("sample") or None)

    @classmethod
    def from_json(cls, text: str | bytes) -> Provenance:
        """The inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    # -------------------------------------------------------------------------------------------------- student
    @property
    def student_name(self) -> str:
        """The student as users name it: a Hub id, a folder path, `smollm2-135m-instruct`, or a class name."""
        s = self.student
        return str(s.get("id") or s.get("path") or s.get("name") or s.get("name_or_path") or s.get("class") or "?")

    @property
    def student_revision(self) -> str | None:
        """The Hub commit the student resolved to (`None` unless it came from the Hub)."""
        return self.student.get("revision")

    def student_facts(self) -> dict[str, Any]:
        """The identity fields beyond the name and revision (content hash, package version, ...), for cards."""
        skip = {"id", "path", "name", "revision"}
        return {k: v for k, v in self.student.items() if k not in skip and v is not None}

    def describe(self) -> str:
        """One line for terminals and reports.

        Example:
            >>> Provenance(3, "sentence", "auto", None, "exact", "float32", {"kind": "hub", "id": "a/b",
            ...            "revision": "0123456789abcdef0123456789abcdef01234567"}, "0.1.0").describe()
            'student a/b@0123456789ab, window 3, sentence steps, prompt auto, max_length model maximum, mode exact, float32, hf-localnat 0.1.0'
        """
        student = self.student_name
        if self.student_revision:
            student += f"@{self.student_revision[:12]}"
        elif self.student.get("sha256"):
            student += f" (sha256 {self.student['sha256'][:12]})"
        elif self.student.get("package_version"):
            student += f" ({self.student.get('package')} {self.student['package_version']})"
        max_length = self.max_length if self.max_length is not None else "model maximum"
        part = "" if self.response_part == "full" else f", {self.response_part} part"
        if self.steps_provenance:
            from .scoring.prepare.llm_steps import describe_steps

            part += f" ({describe_steps(self.steps_provenance)})"
        sample = (f", a sample of {self.sample['questions']} questions (seed {self.sample['seed']})" if self.sample
                  else "")
        scores = "" if self.scores == DEFAULT_SCORES else f", scores {','.join(self.scores)}"
        drop = "" if self.drop_tokens is None else f" (drop_tokens {self.drop_tokens})"
        if self.turns:
            calls = "calls written into the content" if self.turns.get("calls_in_content") else "calls by the template"
            part += (f" (observations capped at {self.turns.get('max_observation_tokens')} tokens, {calls}, chat "
                     f"template sha256 {str(self.turns.get('chat_template_sha256'))[:12]})")
        return (f"student {student}, window {self.window}, {self.segmenter} steps{part}, prompt {self.prompt_format}, "
                f"max_length {max_length}, mode {self.mode}, {self.dtype}{scores}{drop}, hf-localnat {self.version}"
                f"{sample}")

    # ------------------------------------------------------------------------------------------------- checking
    def names_student(self, model: str) -> bool:
        """Whether the user's `--model` value names this student (Hub id, folder path, or the embedded alias)."""
        kind = self.student.get("kind")
        if kind == "embedded":
            return model.lower() == str(self.student.get("name", "")).lower()
        if kind == "folder":
            return Path(model).expanduser().resolve() == Path(str(self.student.get("path"))).resolve()
        return model in (self.student.get("id"), self.student.get("name_or_path"))

    def check(self, *, model: str | None = None, revision: str | None = None, **definition: Any) -> None:
        """Refuse flags that contradict this provenance; `None` means "not given" and always passes.

        Args:
            model (`str`, *optional*): the `--model` a user passed.
            revision (`str`, *optional*): the `--model-revision` a user passed (a commit prefix matches).
            **definition: `window=`, `segmenter=`, ... as passed.

        Raises:
            ProvenanceError: one line naming the flag, both values, and the fix.
        """
        for name, value in definition.items():
            if name not in DEFINITION_FIELDS:
                raise TypeError(f"Unknown definition field {name!r}.")
            if value is not None and value != getattr(self, name):
                flag = "--" + name.replace("_", "-")
                raise ProvenanceError(f"{flag} {value} contradicts the input, which was scored with {name} "
                                      f"{getattr(self, name)}; drop {flag} (the recorded value is used) or rescore.")
        if model is not None and not self.names_student(model):
            raise ProvenanceError(f"--model {model} contradicts the input, which was scored with "
                                  f"{self.student_name}; drop --model (the recorded student is used) or rescore.")
        recorded = self.student_revision
        if revision is not None and not (recorded and recorded.startswith(revision)):
            raise ProvenanceError(f"--model-revision {revision} contradicts the input, which was scored at "
                                  f"{recorded or 'no Hub revision'}; drop --model-revision or rescore.")


def scored_with(provenance: Provenance | None) -> str:
    """The report line that says how an input was scored."""
    if provenance is None:
        return "Scored with: not recorded (not written by `localnat score`, or a .jsonl/.csv without its sidecar)."
    return f"Scored with: {provenance.describe()}."


def common(provenances: Iterable[Provenance | None], what: str = "the input") -> Provenance | None:
    """The one provenance shared by several parts (shards, files) of `what`; `None` when none records one.

    Raises:
        ProvenanceError: the parts were scored under different definitions or students, or only some record one.
    """
    found = list(provenances)
    known = {p.to_json(): p for p in found if p is not None}
    if not known:
        return None
    if len(known) > 1:
        a, b = list(known.values())[:2]
        diff = [k for k in (*DEFINITION_FIELDS, "student", "version", "sample") if getattr(a, k) != getattr(b, k)]
        raise ProvenanceError(f"Parts of {what} were scored differently ({', '.join(diff)}: {a.describe()} vs "
                              f"{b.describe()}); score them again with one setting before combining them.")
    if None in found:
        raise ProvenanceError(f"Only some parts of {what} record how they were scored; score them again with one "
                              "setting before combining them.")
    return next(iter(known.values()))


# --------------------------------------------------------------------------------------- schema metadata, files
def to_metadata(provenance: Provenance) -> dict[bytes, bytes]:
    """`{b"hf_localnat": <JSON>}`, to merge into a schema's metadata."""
    return {METADATA_KEY.encode(): provenance.to_json().encode()}


def from_metadata(metadata: Mapping[bytes, bytes] | None) -> Provenance | None:
    """The provenance in a schema's metadata: its own key, or inside the `huggingface` entry; else `None`."""
    if not metadata:
        return None
    if METADATA_KEY.encode() in metadata:
        return Provenance.from_json(metadata[METADATA_KEY.encode()])
    hf = metadata.get(b"huggingface")
    if hf:
        nested = json.loads(hf).get(METADATA_KEY)
        if nested:
            return Provenance.from_dict(nested)
    return None


#: The fix every unreadable-provenance error ends with: the flag that goes on without it.
IGNORE_HINT = "or pass --ignore-provenance to go on as if none were recorded"


def _cause(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def parse_sidecar(text: str | bytes, where: str) -> Provenance:
    """The provenance in the JSON file `where` (a sidecar or a folder's `hf_localnat.json`).

    Raises:
        ProvenanceError: it cannot be parsed; the message names the file and how to repair it or go on without it.
    """
    try:
        return Provenance.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # bad UTF-8 and JSON are ValueErrors
        raise ProvenanceError(
            f"The provenance file {where} cannot be read ({_cause(e)}): delete it (the scores stay; how they were "
            f"scored becomes 'not recorded'), rescore with `localnat score`, {IGNORE_HINT}."
        ) from e


def parse_footer(metadata: Mapping[bytes, bytes] | None, where: str) -> Provenance | None:
    """`from_metadata` of the Parquet file `where`'s schema metadata.

    Raises:
        ProvenanceError: the entry is there but cannot be parsed; the message names the file and the fixes.
    """
    try:
        return from_metadata(metadata)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ProvenanceError(
            f"The provenance in the Parquet footer of {where} (schema metadata key {METADATA_KEY}) cannot be read "
            f"({_cause(e)}): rescore with `localnat score` (it rewrites the file), {IGNORE_HINT}."
        ) from e


def with_provenance(table, provenance: Provenance):
    """`table` (a `pyarrow.Table` or a `datasets` table) with the provenance in its schema metadata.

    It goes inside the `huggingface` entry when there is one (the only entry `datasets` keeps when it wraps a table)
    and under its own key otherwise.
    """
    metadata = dict(table.schema.metadata or {})
    if b"huggingface" in metadata:
        hf = json.loads(metadata[b"huggingface"])
        hf[METADATA_KEY] = provenance.to_dict()
        metadata[b"huggingface"] = json.dumps(hf).encode()
    else:
        metadata.update(to_metadata(provenance))
    return table.replace_schema_metadata(metadata)


def of_dataset(dataset) -> Provenance | None:
    """The provenance a `datasets.Dataset` carries in memory (see `with_provenance`), else `None`."""
    data = getattr(dataset, "data", None)
    schema = getattr(data, "schema", None)
    return from_metadata(schema.metadata) if schema is not None else None


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the provenance of the output `path` lives when the format cannot hold it (`None` for Parquet).

    A folder: `FOLDER_FILE` inside it; a `.jsonl`/`.json`/`.csv` file: `<file>.hf_localnat.json` beside it.
    """
    path = Path(path)
    return path / FOLDER_FILE if not path.suffix else path.with_name(path.name + SIDECAR_SUFFIX)
