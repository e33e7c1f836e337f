"""Write faults in one line: an `OSError` met while writing (a full disk, a read-only file system, a folder removed
mid-run) becomes a `WriteError` that names the path, the cause and the fix. Imports nothing of `io` (`write` and
`remote` both use it).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LocalNatError, WriteError


#: Why a write failed, by errno, and what to do about it.
_FAULTS = {
    errno.ENOSPC: ("no space left on the device", "free some space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota"),
    errno.EACCES: ("permission denied", "fix the permissions or choose another path"),
    errno.EPERM: ("operation not permitted", "fix the permissions or choose another path"),
    errno.EROFS: ("read-only file system", "choose a path on a writable file system"),
    errno.EIO: ("input/output error", "check the disk"),
    errno.ENOENT: ("a folder on the way is gone (removed mid-run?)", "check that the folder exists"),
    errno.ENOTDIR: ("a folder on the way is not a folder", "check the path"),
}


def write_error(target: str | os.PathLike, error: OSError, *, what: str = "") -> WriteError:
    """The one-line `WriteError` for an `OSError` met while writing `target`: the path, the cause, that what was at
    `target` is intact, and that a rerun resumes."""
    cause, fix = _FAULTS.get(error.errno, (error.strerror or type(error).__name__, "fix the cause"))
    name = errno.errorcode.get(error.errno, type(error).__name__) if error.errno else type(error).__name__
    return WriteError(
        f"Cannot write {what + ' ' if what else ''}{target}: {cause} ({name}). Nothing partial was left and what was "
        f"there is intact; {fix}, then rerun the same command: it resumes where it stopped.",
        path=str(target), cause=error)


def _concerns(error: OSError, places: list[Path]) -> bool:
    """Whether `error` came from writing under one of `places` (not, say, from reading an input): it names no file,
    or a file in or under one of them."""
    names = [n for n in (error.filename, getattr(error, "filename2", None)) if n is not None]
    if not names:
        return True
    for name in names:
        try:
            path = Path(os.fsdecode(name)).absolute()
        except (TypeError, ValueError):
            return True
        if any(path == place or place in path.parents for place in places):
            return True
    return False


@contextmanager
def translated_os_errors(target: str | os.PathLike, *, what: str = "", places=None) -> Iterator[None]:
    """Turn an `OSError` raised in the block while writing `target` into a `WriteError` (see `write_error`); an
    `OSError` about another file (an input being read) passes unchanged. `places` (default: `target`'s folder) are
    where the block writes."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        where = [Path(p).absolute() for p in (places or [Path(target).parent])]
        if isinstance(e, LocalNatError) or not _concerns(e, where):
            raise
        raise write_error(target, e, what=what) from e
