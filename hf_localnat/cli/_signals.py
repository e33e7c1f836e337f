"""Ctrl-C (SIGINT) and SIGTERM during a long command: stop cleanly, say what was kept and how to go on.

Inside `catch_signals()`, SIGTERM raises `Terminated` in the main thread and SIGINT `Interrupted` (a
`KeyboardInterrupt`); both are `BaseException`s, so ordinary `except Exception` clauses let them through, and every
`atomic_output` on the way removes its temporary file. A library with a bare `except:` can still swallow one
(`datasets` hashes a `map` function inside one), so the signal is also remembered, and `raise_if_signalled()`, called
between chunks of work, raises it again. The command then prints one line and exits with the shell's code for the
signal (128 + its number: 130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

_received: list[int] = []  # signals caught inside `catch_signals`, in order


class Terminated(BaseException):
    """SIGTERM (or another caught signal) arrived; raised in the main thread by `catch_signals`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) arrived; a `KeyboardInterrupt`, raised in the main thread by `catch_signals`."""

    signum = signal.SIGINT


def _raise(signum: int) -> None:
    raise Interrupted() if signum == signal.SIGINT else Terminated(signum)


def raise_if_signalled() -> None:
    """Raise again a signal caught in this `catch_signals` block (its first raise may have been swallowed)."""
    if _received:
        _raise(_received[0])


@contextmanager
def catch_signals() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` and SIGINT into `Interrupted` for the block, and remember them for
    `raise_if_signalled`; the previous handlers are put back after it. A SIGINT that was ignored (a job started with
    `nohup`) stays ignored. Outside the main thread (where handlers cannot be set) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        _received.append(signum)
        _raise(signum)

    caught = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler
                                 else [])
    previous = {signum: signal.signal(signum, handler) for signum in caught}
    _received.clear()
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _received.clear()


def signal_of(error: BaseException) -> int:
    """The signal an interruption came from: SIGINT for `KeyboardInterrupt`, else the `Terminated` one."""
    return getattr(error, "signum", signal.SIGINT)


def exit_code(signum: int) -> int:
    """The shell's exit status for a command stopped by `signum`: 128 + its number."""
    return 128 + int(signum)


def same_command(ctx: click.Context) -> str:
    """The command line that ran `ctx`'s command, as typed (see `RecordingGroup`), to rerun it."""
    root = ctx.find_root()
    argv = root.meta.get("localnat.argv")
    if argv is None:  # the command was invoked without the group: rebuild what can be
        return ctx.command_path
    return " ".join([root.info_name or "localnat", shlex.join(argv)])


class RecordingGroup(click.Group):
    """A click group that keeps the arguments it was given (`ctx.meta["localnat.argv"]`), for `same_command`, and
    runs its commands under `progress.quiet_libraries` (no `Generating train split`, `Loading weights`, ... bars)."""

    def make_context(self, info_name, args, parent=None, **extra):
        argv = list(args)
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta["localnat.argv"] = argv
        return ctx

    def invoke(self, ctx):
        """Run the command with other libraries' progress bars hidden: the command line shows its own only."""
        from ..jobs.progress import quiet_libraries

        with quiet_libraries():
            return super().invoke(ctx)
