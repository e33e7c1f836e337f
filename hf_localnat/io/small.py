"""Small text files named by an option (`--truth FILE`, `--prompt-file FILE`): read whole, or refused in one line.

A user's file can be missing, a folder, empty, binary, far too large for what it is, or unreadable; each is a
`ConfigError` naming the option, the file and the fix, raised before any work starts, so nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

#: The largest option file read (a truth table or a prompt is a few KiB; 16 MiB is not one).
MAX_OPTION_FILE_BYTES = 16 * 2**20


def read_option_file(path: str | os.PathLike, option: str, *, expect: str,
                     max_bytes: int = MAX_OPTION_FILE_BYTES) -> str:
    """The text of the file `path` given to `option`.

    Args:
        path (`str` or `os.PathLike`): the file.
        option (`str`): the option that names it (`"--truth"`), for the message.
        expect (`str`): what the file should hold, for the message ("teacher,value lines or a JSON object").
        max_bytes (`int`, *optional*, defaults to 16 MiB): larger files are refused.

    Raises:
        ConfigError: the file is missing, a folder, unreadable, empty (or only blanks), larger than `max_bytes`, or
            not UTF-8 text.
    """
    path = Path(path)
    where = f"{option} {path}"
    if not path.exists():
        raise ConfigError(f"{where}: no such file; give the path of a file of {expect}.")
    if path.is_dir():
        raise ConfigError(f"{where} is a folder, not a file; give the path of a file of {expect}.")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{where} is {size / 2**20:.1f} MiB; a file of {expect} is at most "
                              f"{max_bytes / 2**20:.0f} MiB. Check that this is the file you meant.")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # bounded: a special file (/dev/zero) reports size 0
    except PermissionError as e:
        raise ConfigError(f"{where} cannot be read (permission denied); make it readable (chmod u+r) or copy "
                          "it.") from e
    except OSError as e:
        raise ConfigError(f"{where} cannot be read ({e.strerror or e}); give the path of a file of {expect}.") from e
    if len(data) > max_bytes:
        raise ConfigError(f"{where} is more than {max_bytes / 2**20:.0f} MiB; a file of {expect} is smaller. Check "
                          "that this is the file you meant.")
    if b"\x00" in data:
        raise ConfigError(f"{where} is a binary file, not text; give a file of {expect}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not UTF-8 text (byte {e.start}); save it as UTF-8, a file of {expect}.") from e
    if not text.strip():
        raise ConfigError(f"{where} is empty; write {expect} in it.")
    return text
