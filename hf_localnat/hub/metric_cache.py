"""Install the `evaluate` metric into evaluate's module cache, so `evaluate.load("local_naturalness")` works by name.

evaluate 0.4.6 resolves a bare name as the canonical Hub module `evaluate-metric/<name>`; when that fails (offline, no
Hub, or no such Space) it falls back to the newest copy in its module cache,
`HF_MODULES_CACHE/evaluate_modules/metrics/evaluate-metric--<name>/<hash>/<name>.py`. `install_metric` places the
packaged metric there exactly as evaluate places a downloaded module (the same folders, `__init__.py` files, content
hash and metadata file), and records the hf-localnat version in that metadata file: the metric warns when it is loaded
from a copy of another version, and the next `install_metric` replaces that copy.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from .space import METRIC_NAME, metric_folder

VERSION_KEY = "hf_localnat_version"  # in the metadata file; marks the copies this module placed


@dataclass(frozen=True)
class InstalledMetric:
    """Where `install_metric` put the metric and what it changed."""

    path: Path  # the module file evaluate imports
    version: str  # the hf-localnat version it came from
    changed: bool  # False: the same copy was already there, nothing was written
    replaced: tuple[Path, ...]  # folders of older copies this module had placed, now removed


def module_cache_dir() -> Path:
    """evaluate's cache folder for the canonical metric `evaluate-metric/local_naturalness` (from `HF_MODULES_CACHE`,
    else `HF_HOME/modules`, as evaluate reads them when first imported)."""
    from evaluate.loading import init_dynamic_modules

    return Path(init_dynamic_modules()) / "metrics" / f"evaluate-metric--{METRIC_NAME}"


def install_metric(folder: str | Path | None = None) -> InstalledMetric:
    """Place the metric in evaluate's module cache for the current `HF_HOME`; idempotent.

    Only `evaluate-metric--local_naturalness/` is written (plus evaluate's `__init__.py` files where they are missing);
    copies placed there by evaluate itself (from a Hub Space) are left alone.

    Args:
        folder (`str` or `Path`, *optional*): the metric folder; defaults to the installed one (`metric_folder()`).

    Returns:
        `InstalledMetric`: the module file, and whether anything changed.
    """
    from evaluate.loading import files_to_hash

    from .. import __version__

    source = (Path(folder) if folder is not None else metric_folder()) / f"{METRIC_NAME}.py"
    module_dir = module_cache_dir()
    target_dir = module_dir / files_to_hash([str(source)])  # evaluate's own name for this code
    target = target_dir / source.name
    replaced = tuple(old for old in _placed_copies(module_dir) if old != target_dir)
    for old in replaced:
        shutil.rmtree(old)
    changed = bool(replaced)
    for init in (module_dir.parent / "__init__.py", module_dir / "__init__.py", target_dir / "__init__.py"):
        changed |= _write_if_different(init, None)
    meta = {"original file path": str(source), "local file path": str(target), VERSION_KEY: __version__}
    meta_path = target.with_suffix(".json")
    if target.exists() and meta_path.exists() and VERSION_KEY not in _read_meta(meta_path):
        return InstalledMetric(target, __version__, changed, replaced)  # evaluate's own copy of the same code
    changed |= _write_if_different(target, source.read_bytes())
    changed |= _write_if_different(meta_path, json.dumps(meta).encode())
    return InstalledMetric(target, __version__, changed, replaced)


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _placed_copies(module_dir: Path) -> list[Path]:
    """The hash folders whose metadata says `install_metric` placed them."""
    if not module_dir.is_dir():
        return []
    return sorted(
        entry for entry in module_dir.iterdir()
        if entry.is_dir() and len(entry.name) == 64 and VERSION_KEY in _read_meta(entry / f"{METRIC_NAME}.json")
    )


def _write_if_different(path: Path, data: bytes | None) -> bool:
    """Write `data` to `path` through a temporary file beside it, unless it already holds it; `None`: create an empty
    file only if there is none. Returns whether it wrote."""
    if path.exists() and (data is None or path.read_bytes() == data):
        return False
    from ..io import translated_os_errors

    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with translated_os_errors(path, what="the metric cache file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(temporary, "xb") as file:  # the umask's permissions, like evaluate's own copies
                file.write(data or b"")
            os.replace(temporary, path)
        except BaseException:
            try:
                Path(temporary).unlink(missing_ok=True)
            except OSError:
                pass
            raise
    return True
