"""Ctrl-C, SIGTERM and SIGHUP that always stop a command.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is, including a weakref callback or a ``__del__``; a KeyboardInterrupt raised there is printed
as "Exception ignored" and lost, and the command runs on. :func:`handle_signals` installs a
handler that records the signal and raises :class:`~calogeo.errors.Interrupted` (a
KeyboardInterrupt) once; long loops call :func:`check_interrupted` at every batch, which
raises it again if it was lost; Python's "Exception ignored" report of the lost one is
silenced (``sys.unraisablehook``), since the stop goes on. Further signals while the first is
being handled are ignored, so cleanup (removing partial files) is not cut short. Library code calling
:func:`check_interrupted` costs one global read when no handler is installed.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from calogeo.errors import Interrupted

__all__ = ["STOP_SIGNALS", "check_interrupted", "exit_code", "handle_signals"]

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_pending: int | None = None  # the first stop signal received while handlers are installed


def _handler(signum: int, frame: Any) -> None:
    global _pending
    if _pending is not None:
        return  # already stopping: let the cleanup run
    _pending = signum
    raise Interrupted(signum)


def check_interrupted() -> None:
    """Raise :class:`~calogeo.errors.Interrupted` if a stop signal arrived (its first raise
    may have been swallowed where Python ignores exceptions)."""
    if _pending is not None:
        raise Interrupted(_pending)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's exit code for a stop: 128 + the signal (130 for Ctrl-C)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _quiet_lost_interrupts(previous: Any) -> Any:
    """A ``sys.unraisablehook`` that drops the Interrupted a signal raised where Python could
    only report it (it is raised again by :func:`check_interrupted`) and passes on the rest."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            previous(unraisable)

    return hook


@contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread
    (see the module docstring); the previous handlers are restored afterwards. Outside the
    main thread it does nothing."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal the caller ignores (``nohup`` ignores SIGHUP) stays ignored
    previous = {
        signum: handler
        for signum in STOP_SIGNALS
        if (handler := signal.getsignal(signum)) is not signal.SIG_IGN
    }
    _pending = None
    unraisable_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_lost_interrupts(unraisable_hook)
    for signum in previous:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = unraisable_hook
        _pending = None
