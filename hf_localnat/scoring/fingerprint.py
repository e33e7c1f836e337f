"""What identifies a scorer's numbers across processes: the scoring definition and the identity of its student.

`datasets` caches a `map` under a fingerprint hashed from the function it is given. For a `LocalNaturalnessScorer`
that hash is taken over `LocalNaturalnessScorer.fingerprint_state()` only (see `scoring.hf_datasets`): its
`Provenance` (definition, dtype, student identity, hf_localnat version) and the columns it reads. The student's
identity is

- a Hub id: the id and the revision resolved to a commit sha (`HfApi().model_info`, online only; else the local
  snapshot in the Hub cache; else the revision as given, with a warning);
- a local folder: its absolute path and a content hash of its files (`folder_identity`; weights above 64 MiB are
  sampled: their first MiB and 256 blocks of 64 KiB);
- the embedded default: the package that ships it and its version;
- a model object: its class, `name_or_path`, config and a checksum of up to 4096 evenly spaced elements of every
  tensor of its `state_dict()`. So the same weights loaded again in a new process give the same fingerprint; two
  models that differ only between sampled elements would collide (pass a fresh `new_fingerprint=` to `map` then).

Speed knobs (`ComputeOptions`: batch size, packing, prefetch, ...) and the device are left out, so changing them
is a cache hit; any change of the definition, dtype, student, columns or package version is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

SAMPLED_ELEMENTS = 4096  # elements per tensor that enter an in-memory model's checksum
_SHA = re.compile(r"[0-9a-f]{40}")


def package_version() -> str:
    """The hf_localnat version (part of every fingerprint: a new release may change numbers)."""
    from .. import __version__

    return __version__


def resolve_revision(repo_id: str, revision: str | None) -> str:
    """The commit sha behind `revision` (default `main`) of a Hub model, or the revision as given if it cannot be found.

    Online, asks the Hub (`HfApi().model_info`); offline, or if that fails, reads the local snapshot of the Hub cache.
    """
    if revision is not None and _SHA.fullmatch(revision):
        return revision
    from huggingface_hub import HfApi, constants, try_to_load_from_cache

    from .models import _HUB_CHECKED

    if _HUB_CHECKED.get((repo_id, revision)):  # `check_model_name` asked the Hub already
        return _HUB_CHECKED[(repo_id, revision)]
    if not constants.HF_HUB_OFFLINE:
        try:
            sha = HfApi().model_info(repo_id, revision=revision).sha
            if sha:
                return sha
        except Exception as e:  # offline, private, rate-limited: fall back to the cache below
            logger.debug("Could not resolve %s@%s on the Hub (%s); trying the local cache.", repo_id, revision, e)
    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(cached, str):
        return Path(cached).parent.name  # .../snapshots/<sha>/config.json
    logger.warning(
        "Could not resolve %r revision %r to a commit: the datasets cache key uses %r as is, so a later change of "
        "that branch on the Hub would not invalidate cached scores. Pass revision=<commit sha> to pin it.",
        repo_id, revision or "main", revision or "main",
    )
    return revision or "main"


FULL_HASH_BYTES = 64 * 2**20  # files up to this size are hashed in full
HEAD_BYTES = 2**20  # of a larger file: its first MiB (a safetensors header lists every tensor's name, dtype, offsets)
SAMPLE_BLOCKS = 256  # ... plus this many blocks spread evenly over the rest
SAMPLE_BLOCK_BYTES = 64 * 2**10
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> digest: each file is read once


def file_digest(path: Path) -> str:
    """sha256 of a file's size and content: all of it up to `FULL_HASH_BYTES`; above that, its first `HEAD_BYTES`
    and `SAMPLE_BLOCKS` blocks of `SAMPLE_BLOCK_BYTES` at evenly spaced offsets (about 17 MiB read per file).

    A fine-tune, a re-quantisation or another checkpoint changes bytes everywhere, so it changes the digest; two
    weight files that differ only between the sampled blocks would collide (pass `new_fingerprint=` to `map` then).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256(str(stat.st_size).encode())
        with path.open("rb") as f:
            if stat.st_size <= FULL_HASH_BYTES:
                for block in iter(lambda: f.read(2**20), b""):
                    digest.update(block)
            else:
                digest.update(f.read(HEAD_BYTES))
                span = stat.st_size - HEAD_BYTES - SAMPLE_BLOCK_BYTES
                for i in range(SAMPLE_BLOCKS):
                    f.seek(HEAD_BYTES + span * i // (SAMPLE_BLOCKS - 1))
                    digest.update(f.read(SAMPLE_BLOCK_BYTES))
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]


def folder_identity(folder: Path) -> dict:
    """Identity of a model folder: its absolute path and a sha256 over the name and `file_digest` of every file in
    it (hidden files aside). Copying the folder keeps the hash; replacing the weights or the config changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.name}\0{file_digest(path)}\0".encode())
    return {"kind": "folder", "path": str(folder.resolve()), "sha256": digest.hexdigest()}


def name_identity(name: str | None, revision: str | None = None, resolved: dict | None = None) -> dict:
    """Identity of a model or tokenizer given by name: the embedded default, a local folder or a Hub id.

    Args:
        name (`str`, *optional*): `None`/`"smollm2-135m-instruct"`, a folder or a Hub id.
        revision (`str`, *optional*): Hub revision.
        resolved (`dict`, *optional*): memo of Hub revisions already resolved (`{(id, revision): sha}`), filled in.
    """
    from .models import EMBEDDED_MODEL, embedded_gguf, embedded_provenance, is_embedded

    if is_embedded(name):
        return {"kind": "embedded", "name": EMBEDDED_MODEL, **embedded_provenance(embedded_gguf()[1])}
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder_identity(folder)
    resolved = {} if resolved is None else resolved
    if (name, revision) not in resolved:
        resolved[(name, revision)] = resolve_revision(name, revision)
    return {"kind": "hub", "id": name, "revision": resolved[(name, revision)]}


def model_checksum(model) -> str:
    """sha256 over every `state_dict()` entry's name, shape, dtype and up to `SAMPLED_ELEMENTS` evenly spaced values."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
            flat = tensor.detach().reshape(-1)
            if flat.numel() > SAMPLED_ELEMENTS:
                # integer steps: a float32 linspace rounds the last index past the end above 2**24 elements
                index = torch.arange(SAMPLED_ELEMENTS, device=flat.device) * (flat.numel() - 1) \
                    // (SAMPLED_ELEMENTS - 1)
                flat = flat[index]
            digest.update(flat.contiguous().cpu().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def object_identity(model) -> dict:
    """Identity of an in-memory model: class, `name_or_path`, the sha256 of its config and `model_checksum`."""
    config = getattr(model, "config", None)
    return {
        "kind": "object",
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "name_or_path": getattr(model, "name_or_path", None),
        "config_sha256": (hashlib.sha256(config.to_json_string(use_diff=False).encode()).hexdigest()
                          if config is not None else None),
        "checksum": model_checksum(model),
    }


def tokenizer_identity(tokenizer) -> dict:
    """Identity of an in-memory tokenizer: class, vocabulary and rules (fast tokenizer JSON), chat template, specials."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    rules = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    template = getattr(tokenizer, "chat_template", None)
    return {
        "kind": "object",
        "class": f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}",
        "name_or_path": getattr(tokenizer, "name_or_path", None),
        "rules_sha256": hashlib.sha256(rules.encode()).hexdigest(),
        "chat_template": template if isinstance(template, str) else json.dumps(template, sort_keys=True),
        "special_tokens": json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str),
        "bos_token_id": getattr(tokenizer, "bos_token_id", None),
    }


#: `from_pretrained` arguments that only decide where and how fast the student runs, not its numbers (SPEC §6).
PLACEMENT_KWARGS = frozenset({"attn_implementation", "device_map", "low_cpu_mem_usage", "max_memory"})


def student_identity(model, tokenizer=None, *, revision: str | None = None, adapter: str | None = None,
                     model_kwargs: dict | None = None, resolved: dict | None = None) -> dict:
    """Who the student is, as a scorer's `Provenance.student`: the model's identity (`name_identity` of a name,
    `object_identity` of an object), plus a tokenizer other than the model's own, a merged PEFT adapter, and the
    `from_pretrained` arguments that change the numbers (a `quantization_config`; not `PLACEMENT_KWARGS`).

    Args:
        model (`str` or model, *optional*): the scorer's `model` argument. `tokenizer`: its `tokenizer` argument.
        revision (`str`, *optional*): the Hub revision of `model`.
        resolved (`dict`, *optional*): memo of Hub revisions already resolved (see `name_identity`).
    """
    if model is None or isinstance(model, str):
        student = name_identity(model, revision, resolved)
    else:
        student = object_identity(model)
    if tokenizer is not None:  # else the model's own tokenizer, part of its identity
        student["tokenizer"] = (name_identity(tokenizer, None, resolved) if isinstance(tokenizer, str)
                                else tokenizer_identity(tokenizer))
    if adapter is not None:  # a PEFT adapter merged into the student is part of who the student is
        student["adapter"] = name_identity(adapter, None, resolved)
    loading = {k: repr(v) for k, v in sorted((model_kwargs or {}).items()) if k not in PLACEMENT_KWARGS}
    if loading:  # e.g. a quantization_config changes the numbers; where the layers go does not
        student["model_kwargs"] = loading
    return student


def digest(state: dict) -> str:
    """A short stable hex digest of a fingerprint state (canonical JSON, sha256)."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]
