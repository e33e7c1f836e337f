"""Errors raised by hf_localnat.

Each error also inherits the built-in exception a caller would naturally catch (``ValueError``, ``LookupError``,
``RuntimeError``), so ``except ValueError`` keeps working. Messages say what failed, the offending value, the rule, and
the fix.
"""

from __future__ import annotations


class LocalNatError(Exception):
    """Base class of every error raised by hf_localnat."""


class ConfigError(LocalNatError, ValueError):
    """A scorer, selection or CLI option has a value outside what it accepts."""


class TokenizerError(LocalNatError, ValueError):
    """The tokenizer cannot do what the SPEC needs (offsets from a fast tokenizer, a chat template)."""


class ModelNotFoundError(LocalNatError, LookupError):
    """The model name is neither a local folder, a known alias, nor loadable from the Hub."""


class UnsupportedModelError(LocalNatError, ValueError):
    """A model folder or repo that cannot be loaded safely: it needs its own code (`trust_remote_code`) or holds
    pickled weights that are not plain tensors."""


class ColumnError(LocalNatError, KeyError):
    """A dataset lacks a column the operation needs."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class InputError(LocalNatError, ValueError):
    """An input file, folder or dataset id cannot be read as a dataset (unknown file type, not a dataset folder)."""


class OutputExistsError(LocalNatError, FileExistsError):
    """An output path already exists and overwriting was not asked for."""


class SelectionError(LocalNatError, ValueError):
    """Ranking or selection cannot run on the given data (no scored rows, no question every teacher answered)."""


class PublishError(LocalNatError, RuntimeError):
    """Publishing to (or pulling from) the Hub failed; the message says whether anything changed and what to do."""


class ProvenanceError(LocalNatError, ValueError):
    """A flag contradicts how the input was scored, or inputs scored under different definitions would be mixed."""


class WriteError(LocalNatError, OSError):
    """Writing an output, a sidecar, a checkpoint, a report, a plot, a repo folder or the model cache failed in the
    environment: no space left (`ENOSPC`), permission denied, a read-only file system (`EROFS`), an I/O error
    (`EIO`), a folder that vanished mid-run. Nothing partial is left at the target and what was there is intact.

    Attributes:
        path (`str`): the path that could not be written.
        errno (`int`, *optional*), strerror (`str`, *optional*): those of the `OSError` it comes from (`__cause__`).
    """

    def __init__(self, message: str, *, path: str, cause: OSError | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = cause.errno if cause is not None else None
        self.strerror = cause.strerror if cause is not None else None
        self.filename = path

    def __str__(self) -> str:  # OSError would format errno and filename; the message already says both
        return str(self.args[0])


class EndpointError(LocalNatError, RuntimeError):
    """An LLM endpoint (`localnat segment`) cannot be reached, does not know the model, refuses the key, or keeps
    failing after retries."""
