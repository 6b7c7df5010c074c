"""Ctrl-C, SIGTERM and SIGHUP that always stop a command.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is, including a weakref callback or a ``__del__``; a KeyboardInterrupt raised there is printed
as "Exception ignored" and lost, the command runs on, and the object being finalised may be
left half torn down (llvmlite's, for one). :func:`handle_signals` installs a handler that
records the signal and raises :class:`~calogeo.errors.Interrupted` (a KeyboardInterrupt) once,
unless a finaliser is running: then it only records it. Long loops call
:func:`check_interrupted` at every batch, which raises it if it was not raised or was lost;
Python's "Exception ignored" report of a lost one (a finaliser called from C code) is
silenced (``sys.unraisablehook``), since the stop goes on; a signal still pending when the
block ends is raised there. Further signals while the first is being handled are ignored, so
cleanup (removing partial files) is not cut short. Library code calling
:func:`check_interrupted` costs one global read when no handler is installed.
"""

from __future__ import annotations

import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from calogeo.errors import Interrupted

__all__ = ["STOP_SIGNALS", "check_interrupted", "exit_code", "handle_signals"]

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_pending: int | None = None  # the first stop signal received while handlers are installed
_raised = False  # whether Interrupted has been raised for it


def _handler(signum: int, frame: Any) -> None:
    global _pending
    if _pending is not None:
        return  # already stopping: let the cleanup run
    _pending = signum
    if _in_finaliser(frame):
        return  # raising there would be lost and could leave the object half torn down
    _raise_pending(signum)


def _raise_pending(signum: int) -> None:
    global _raised
    _raised = True
    raise Interrupted(signum)


def _in_finaliser(frame: Any) -> bool:
    """Whether ``frame`` or a caller is a ``__del__`` or a weakref finaliser, where Python can
    only report an exception (the next :func:`check_interrupted` raises it instead)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename == weakref.__file__:
            return True
        frame = frame.f_back
    return False


def check_interrupted() -> None:
    """Raise :class:`~calogeo.errors.Interrupted` if a stop signal arrived (its first raise
    may have been swallowed where Python ignores exceptions)."""
    if _pending is not None:
        _raise_pending(_pending)


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
    global _pending, _raised
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal the caller ignores (``nohup`` ignores SIGHUP) stays ignored
    previous = {
        signum: handler
        for signum in STOP_SIGNALS
        if (handler := signal.getsignal(signum)) is not signal.SIG_IGN
    }
    _pending, _raised = None, False
    unraisable_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_lost_interrupts(unraisable_hook)
    for signum in previous:
        signal.signal(signum, _handler)
    try:
        yield
        if _pending is not None and not _raised:  # recorded where no later check came
            _raise_pending(_pending)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = unraisable_hook
        _pending, _raised = None, False
