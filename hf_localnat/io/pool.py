"""Pool several scored inputs into one dataset, so teachers scored at different times are ranked and selected together.

A team scores one teacher at a time (`localnat score a.jsonl -o a.parquet`, later `b.jsonl -o b.parquet`) and then
runs `localnat rank-teachers a.parquet b.parquet`: `pool_scored` reads each input (`read.load_input`) with its
recorded provenance (`read.read_provenance`), refuses inputs scored under different definitions (any field of
`provenance.DEFINITION_FIELDS`, or the student), and concatenates the rows in the order given. Rows of different
inputs are the same question when their question texts are equal (SPEC §9, several inputs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ColumnError, InputError, ProvenanceError

if TYPE_CHECKING:
    import datasets

    from ..provenance import Provenance


def pool_scored(sources: Sequence[str | os.PathLike | datasets.Dataset], *, config: str | None = None,
                split: str | None = None, storage_options: Mapping[str, Any] | None = None,
                ignore_provenance: bool = False, question_column: str = "question",
                question_id_column: str = "question_id", teachers: Sequence[str | None] | None = None,
                teacher_column: str = "teacher") -> tuple[datasets.Dataset, Provenance | None]:
    """Load several scored inputs as one dataset, and the provenance they share.

    Rows keep their order, inputs in the order given. Columns are unified: a column one input lacks holds nulls in
    its rows, and a column that is all null in one input takes the other inputs' type. Question ids: an input's own
    `question_id_column` is kept; when only some inputs carry one, the rows of the others get the id that the
    carrying inputs give the same question text (else the id derived from the text, `io.columns.question_id`),
    so that equal texts stay one question.

    Args:
        sources (`Sequence[str | datasets.Dataset]`): files, `save_to_disk` folders, Hub ids or URLs, as
            `read.load_input` takes them, or `datasets.Dataset`s (their provenance is the one they carry in memory,
            `provenance.of_dataset`); one source returns that input unchanged.
        config, split (`str`, *optional*): the Hub configuration and split, for every source that needs one.
        storage_options (`Mapping`, *optional*): filesystem options for every URL source.
        ignore_provenance (`bool`, *optional*, defaults to `False`): pool without comparing how the inputs were
            scored; the returned provenance is then `None` (nothing vouches for the pooled scores).
        question_column, question_id_column (`str`, *optional*): the column names ranking and selection read.
        teachers (`Sequence[str | None]`, *optional*): per source, the teacher of all its rows (`None`: the rows
            keep their own `teacher_column`); a source named with a teacher gets `teacher_column` set to it.
        teacher_column (`str`, *optional*, defaults to `"teacher"`): where `teachers` go.

    Returns:
        `tuple[datasets.Dataset, Provenance | None]`: the pooled rows, and the provenance every input records
        (`None` when none records one). Inputs scored by different hf-localnat versions under the same definition
        and student pool; the provenance then names every version (`"0.1.0 + 0.1.1"`).

    Raises:
        ProvenanceError: two inputs were scored under different definitions or students, or only some of them
            record how they were scored (one line naming the field, both values and both inputs).
        ColumnError: a column holds types that cannot be unified, or the inputs give one question text different
            question ids.
        InputError: no source, or a source given twice.

    Example:
        ```python
        >>> import tempfile
        >>> from pathlib import Path
        >>> from datasets import Dataset
        >>> from hf_localnat.io import save_output
        >>> folder = Path(tempfile.mkdtemp())
        >>> a = save_output(Dataset.from_dict({"question": ["1+1?"], "teacher": ["a"], "lalp": [-0.5]}),
        ...                 folder / "a.parquet")
        >>> b = save_output(Dataset.from_dict({"question": ["1+1?"], "teacher": ["b"], "lalp": [-0.7],
        ...                                    "correct": [True]}), folder / "b.parquet")
        >>> pooled, provenance = pool_scored([a, b])
        >>> pooled["teacher"][:], pooled["correct"][:], provenance is None
        (['a', 'b'], [None, True], True)

        ```
    """
    from .read import load_input

    names = _names(sources)
    options = dict(storage_options or {}) or None
    provenance = None if ignore_provenance else pool_provenance(sources, storage_options=options)
    loaded = [source if _is_dataset(source) else load_input(os.fspath(source), config=config, split=split,
                                                             storage_options=options) for source in sources]
    if teachers is not None:
        loaded = [part if teacher is None else _with_teacher(part, teacher, teacher_column)
                  for part, teacher in zip(loaded, teachers, strict=True)]
    if len(loaded) == 1:
        return loaded[0], provenance
    return concatenate(loaded, names, question_column=question_column,
                       question_id_column=question_id_column), provenance


def _is_dataset(source: Any) -> bool:
    return hasattr(source, "column_names") and hasattr(source, "num_rows")


def source_name(source: str | os.PathLike | datasets.Dataset, index: int = 0) -> str:
    """How messages name a scored input: its path, URL or Hub id, or `<Dataset 1: 32 rows>` for a `Dataset`."""
    from ..wording import counted

    return f"<Dataset {index + 1}: {counted(source.num_rows, 'row')}>" if _is_dataset(source) else os.fspath(source)


def _names(sources: Sequence[str | os.PathLike | datasets.Dataset]) -> list[str]:
    sources = list(sources)
    names = [source_name(s, i) for i, s in enumerate(sources)]
    if not names:
        raise InputError("No scored input given; pass one or more files, folders or Hub ids.")
    twice = next((names[i] for i, s in enumerate(sources)
                  if any(s is t or (not _is_dataset(s) and not _is_dataset(t) and names[i] == names[j])
                         for j, t in enumerate(sources[:i]))), None)
    if twice is not None:
        raise InputError(f"{twice} is given twice; pass each scored input once (its rows would count twice).")
    return names


def _with_teacher(dataset: datasets.Dataset, teacher: str, teacher_column: str) -> datasets.Dataset:
    """`dataset` with `teacher_column` set to `teacher` on every row (an existing column is replaced)."""
    if teacher_column in dataset.column_names:
        dataset = dataset.remove_columns(teacher_column)
    return dataset.add_column(teacher_column, [teacher] * dataset.num_rows)


def pool_provenance(sources: Sequence[str | os.PathLike | datasets.Dataset], *,
                    storage_options: Mapping[str, Any] | None = None) -> Provenance | None:
    """The provenance `pool_scored(sources)` returns, read without loading any row (a Parquet footer, a sidecar), so
    that a command can check its flags against it before the work.

    Raises:
        ProvenanceError, InputError: as `pool_scored`.
    """
    from ..provenance import of_dataset
    from .read import read_provenance

    names = _names(sources)
    options = dict(storage_options or {}) or None
    return pooled_provenance([of_dataset(s) if _is_dataset(s) else read_provenance(n, options)
                              for s, n in zip(sources, names, strict=True)], names)


def pooled_provenance(recorded: Sequence[Provenance | None], names: Sequence[str]) -> Provenance | None:
    """The provenance inputs `names` share, compared field by field (`DEFINITION_FIELDS`, then the student).

    Raises:
        ProvenanceError: the first field that differs between the first input and another, with both values; or
            the inputs that record nothing, when others do.
    """
    from dataclasses import replace

    from ..provenance import DEFINITION_FIELDS

    known = [(name, p) for name, p in zip(names, recorded, strict=True) if p is not None]
    if not known:
        return None
    missing = [name for name, p in zip(names, recorded, strict=True) if p is None]
    if missing:
        which = listed(missing)
        raise ProvenanceError(
            f"Cannot pool {listed(names)}: {which} {'records' if len(missing) == 1 else 'record'} no provenance "
            f"(how it was scored) while {known[0][0]} does; rescore {which} with `localnat score`, keep the "
            ".hf_localnat.json sidecar beside a .jsonl/.json/.csv file, or `localnat pull` a Hub dataset first.")
    first_name, first = known[0]
    for name, other in known[1:]:
        for field in DEFINITION_FIELDS:
            a, b = getattr(first, field), getattr(other, field)
            if a != b:
                raise ProvenanceError(f"Cannot pool {first_name} and {name}: {field} differs ({_shown(a)} vs "
                                      f"{_shown(b)}); rescore one of them with the other's setting.")
        if dict(first.student) != dict(other.student):
            raise ProvenanceError(f"Cannot pool {first_name} and {name}: student differs ({student_label(first)} vs "
                                  f"{student_label(other)}); rescore one of them with the other's student.")
    versions = list(dict.fromkeys(p.version for _, p in known))
    return first if len(versions) == 1 else replace(first, version=" + ".join(versions))


def student_label(provenance: Provenance) -> str:
    """The student as one short label: its name, and its revision, content hash or package version when known."""
    s = provenance.student
    label = provenance.student_name
    if provenance.student_revision:
        return f"{label}@{provenance.student_revision[:12]}"
    if s.get("sha256"):
        return f"{label} (sha256 {str(s['sha256'])[:12]})"
    if s.get("package_version"):
        return f"{label} ({s.get('package')} {s['package_version']})"
    if s.get("checksum"):
        return f"{label} (checksum {str(s['checksum'])[:12]})"
    return label


def listed(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------- the rows
def concatenate(parts: Sequence[datasets.Dataset], names: Sequence[str], *, question_column: str = "question",
                question_id_column: str = "question_id") -> datasets.Dataset:
    """`parts` one after another as one dataset (the Arrow data is not copied), columns unified, question ids made
    consistent (see `pool_scored`).

    Raises:
        ColumnError: a column's types cannot be unified, or the parts give one question text different ids.
    """
    import datasets

    parts = _unify_types(list(parts), names)
    parts = _fill_question_ids(parts, names, question_column=question_column, question_id_column=question_id_column)
    pooled = datasets.concatenate_datasets(parts)
    # The first part's schema metadata may carry its own provenance (`provenance.of_dataset`); the pooled rows are
    # described by the provenance `pool_scored` returns, never by one part's.
    return datasets.Dataset(pooled.data.replace_schema_metadata(_features_only(pooled)), info=pooled.info,
                            indices_table=pooled._indices, fingerprint=pooled._fingerprint)


def _features_only(dataset) -> dict[bytes, bytes]:
    import json

    metadata = dict(dataset.data.schema.metadata or {})
    hf = metadata.get(b"huggingface")
    if hf:
        entry = json.loads(hf)
        entry.pop("hf_localnat", None)
        metadata[b"huggingface"] = json.dumps(entry).encode()
    metadata.pop(b"hf_localnat", None)
    return metadata


def _unify_types(parts: list, names: Sequence[str]) -> list:
    """Cast columns whose types differ between parts to one type pyarrow can promote both to (int64 and double ->
    double); a column that is all null in a part takes the others' type when the parts are concatenated."""
    import pyarrow as pa
    from datasets import Features

    first_seen: dict[str, tuple[int, pa.DataType]] = {}
    targets: dict[str, pa.DataType] = {}
    for i, part in enumerate(parts):
        for field in part.data.schema:
            if pa.types.is_null(field.type):
                continue
            if field.name not in first_seen:
                first_seen[field.name] = (i, field.type)
                continue
            j, seen = first_seen[field.name]
            target = targets.get(field.name, seen)
            if field.type == target:
                continue
            try:
                unified = pa.unify_schemas([pa.schema([pa.field(field.name, target)]),
                                            pa.schema([pa.field(field.name, field.type)])],
                                           promote_options="permissive").field(field.name).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                raise ColumnError(f"Cannot pool {names[j]} and {names[i]}: column {field.name!r} holds {seen} in "
                                  f"{names[j]} and {field.type} in {names[i]}; convert one of them, or drop the "
                                  "column.") from None
            targets[field.name] = unified
    if not targets:
        return parts
    out = []
    for part in parts:
        schema = part.data.schema
        wanted = {n: t for n, t in targets.items() if n in schema.names and schema.field(n).type != t
                  and not pa.types.is_null(schema.field(n).type)}
        if wanted:
            features = Features.from_arrow_schema(pa.schema([pa.field(n, wanted.get(n, schema.field(n).type))
                                                             for n in schema.names]))
            part = part.cast(features)
        out.append(part)
    return out


def _fill_question_ids(parts: list, names: Sequence[str], *, question_column: str, question_id_column: str) -> list:
    """Give every part a `question_id_column` when some part has one (equal texts keep one id), and refuse parts
    that give one question text different ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .columns import arrow_column, question_id

    with_ids = [i for i, p in enumerate(parts) if question_id_column in p.column_names]
    if not with_ids:
        return parts  # ids are derived from the pooled question texts later, the same for every input
    pairs = []  # one row per distinct (text, id) of a part that has both columns
    for i in with_ids:
        if question_column in parts[i].column_names:
            table = pa.table({"q": arrow_column(parts[i], question_column).cast(pa.string()),
                              "id": arrow_column(parts[i], question_id_column).cast(pa.string())})
            distinct = table.group_by(["q", "id"]).aggregate([])
            pairs.append(distinct.append_column("part", pa.repeat(pa.scalar(i, pa.int64()), distinct.num_rows)))
    known = pa.concat_tables(pairs) if pairs else pa.table({"q": pa.array([], pa.string()),
                                                            "id": pa.array([], pa.string()),
                                                            "part": pa.array([], pa.int64())})
    _check_one_id_per_text(known, names)
    out = list(parts)
    for i, part in enumerate(parts):
        if i in with_ids:
            continue
        if question_column not in part.column_names:
            raise ColumnError(f"Cannot pool {names[i]} with {names[with_ids[0]]}: {names[i]} has neither "
                              f"{question_id_column!r} nor {question_column!r}, so its questions cannot be matched.")
        texts = arrow_column(part, question_column).cast(pa.string())
        first_ids = known.group_by("q", use_threads=False).aggregate([("id", "first")])
        position = pc.index_in(texts, value_set=first_ids["q"])
        ids = pc.take(first_ids["id_first"], position)
        if ids.null_count:  # texts no other part names: the id derived from the text
            unique = pc.unique(texts)
            derived = pa.array([question_id(q) for q in unique.to_pylist()], pa.string())
            ids = pc.coalesce(ids, pc.take(derived, pc.index_in(texts, value_set=unique)))
        out[i] = part.add_column(question_id_column, ids)
    return out


def _check_one_id_per_text(pairs, names: Sequence[str]) -> None:
    """Refuse a question text whose ids differ between parts (each part's own ids for the text must be the same)."""
    import pyarrow.compute as pc

    if pairs.num_rows == 0:
        return
    per_text = pairs.group_by("q").aggregate([("part", "count_distinct")])
    per_pair = pairs.group_by(["q", "id"]).aggregate([("part", "count_distinct")])
    joined = per_pair.join(per_text, "q", right_suffix="_text")
    conflict = joined.filter(pc.less(joined["part_count_distinct"], joined["part_count_distinct_text"]))
    if conflict.num_rows:
        text = conflict["q"][0].as_py()
        rows = pairs.filter(pc.equal(pairs["q"], text)).to_pylist()
        a, b = rows[0], next(r for r in rows if r["part"] != rows[0]["part"])
        shown = repr(text if text is None or len(text) <= 60 else text[:57] + "...")
        raise ColumnError(f"Cannot pool {names[a['part']]} and {names[b['part']]}: the question {shown} has "
                          f"question id {a['id']!r} in {names[a['part']]} and {b['id']!r} in {names[b['part']]}; "
                          "give it one id in both, or drop the question_id column to derive ids from the text.")
