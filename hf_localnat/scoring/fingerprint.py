"""What identifies a scorer's numbers across processes: its configuration and the identity of its model, never weights.

`datasets` caches a `map` under a fingerprint hashed from the function it is given. For a `LocalNaturalnessScorer`
that hash is taken over `LocalNaturalnessScorer.fingerprint_state()` only (registered with `datasets`' hasher below):

- a Hub id: the id and the revision resolved to a commit sha (`HfApi().model_info`, online only; else the local
  snapshot in the Hub cache; else the revision as given, with a warning);
- a local folder: its absolute path, the sha256 of `config.json` and the name, size and mtime of every file in it
  (cheap: weights are never read);
- the embedded default: the package that ships it and its version;
- a model object: its class, `name_or_path`, config and a checksum of up to 4096 evenly spaced elements of every
  tensor of its `state_dict()`. So the same weights loaded again in a new process give the same fingerprint; two
  models that differ only between sampled elements would collide (pass a fresh `new_fingerprint=` to `map` then).

plus the scoring configuration, the columns read, the dtype, the accelerator type (cpu / cuda) and the hf_localnat
version. Any change of one of these changes the fingerprint, so `map` recomputes.
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


def folder_signature(folder: Path) -> dict:
    """sha256 of `config.json` plus (name, size, mtime) of every file in `folder`: cheap, never reads weights."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    config = folder / "config.json"
    return {
        "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None,
        "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


def name_identity(name: str | None, revision: str | None = None, resolved: dict | None = None) -> dict:
    """Identity of a model or tokenizer given by name: the embedded default, a local folder or a Hub id.

    Args:
        name (`str`, *optional*): `None`/`"smollm2-135m-instruct"`, a folder or a Hub id.
        revision (`str`, *optional*): Hub revision.
        resolved (`dict`, *optional*): memo of Hub revisions already resolved (`{(id, revision): sha}`), filled in.
    """
    from .models import EMBEDDED_MODEL, EMBEDDED_PACKAGE, embedded_gguf, is_embedded

    if is_embedded(name):
        _, version = embedded_gguf()
        return {"kind": "embedded", "name": EMBEDDED_MODEL, "package": EMBEDDED_PACKAGE, "package_version": version}
    folder = Path(name).expanduser()
    if folder.is_dir():
        return {"kind": "folder", "path": str(folder.resolve()), **folder_signature(folder)}
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
                index = torch.linspace(0, flat.numel() - 1, SAMPLED_ELEMENTS, device=flat.device).long()
                flat = flat[index]
            digest.update(flat.contiguous().cpu().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def object_identity(model) -> dict:
    """Identity of an in-memory model: class, `name_or_path`, config and `model_checksum`."""
    config = getattr(model, "config", None)
    return {
        "kind": "object",
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "name_or_path": getattr(model, "name_or_path", None),
        "config": config.to_json_string(use_diff=False) if config is not None else None,
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


def digest(state: dict) -> str:
    """A short stable hex digest of a fingerprint state (canonical JSON, sha256)."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]


_REGISTERED = False


def _rebuild_for_hash(state: dict):  # never called: only named in the bytes that `datasets` hashes
    raise RuntimeError("A fingerprint reduction of LocalNaturalnessScorer is for hashing only.")


def register_datasets_hasher(cls) -> None:
    """Make `datasets`' fingerprint hash `cls` instances through `fingerprint_state()` only (once per process).

    `datasets.fingerprint.Hasher` pickles a `map` function with its own dill `Pickler`, whose `dispatch` table takes
    per-type reducers (`datasets.utils._dill.pklregister`). Ordinary pickling (to `num_proc` workers) is unaffected
    and goes through `__getstate__`.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        from datasets.utils._dill import pklregister
    except ImportError:  # a datasets without this hook: map still works, with datasets' own hash of __getstate__
        logger.debug("datasets.utils._dill.pklregister not found; using datasets' default hashing.")
        _REGISTERED = True
        return

    def save(pickler, obj) -> None:
        pickler.save_reduce(_rebuild_for_hash, (obj.fingerprint_state(),), obj=obj)

    pklregister(cls)(save)
    _REGISTERED = True
