"""The ``calogeo`` command line.

Each sub-command lives in its own module ``calogeo.cli.cmd_<name>`` exposing ``ORDER`` (its
place in ``--help``) and ``add_parser(subparsers)``; the parser it adds sets
``func(args) -> int``. Modules are found by name, so adding a command touches no other file.

:func:`main` is the one error boundary: library errors (CalogeoError), and the failures of the
machine rather than of the code (a full disk, a missing permission, memory that cannot be
had), become one-line messages on stderr and exit code 1; usage errors exit 2. Ctrl-C, SIGTERM
and SIGHUP stop every command (:mod:`calogeo.interrupts`) with 128 + the signal (130 for
Ctrl-C), and whatever ends a command, no partial output stays (:mod:`calogeo.outputs`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
from collections.abc import Sequence
from types import ModuleType

from calogeo._version import __version__
from calogeo.errors import CalogeoError
from calogeo.interrupts import check_interrupted, exit_code, handle_signals
from calogeo.outputs import os_error_reason, remove_partials

__all__ = ["main"]


def command_modules(only: str | None = None) -> list[ModuleType]:
    """The ``cmd_*`` modules of this package, in ``ORDER``; with ``only`` (a command name),
    just ``cmd_<only>`` if there is one, so running a command does not import the others."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")]
    if only is not None and f"cmd_{only}" in names:
        names = [f"cmd_{only}"]
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every sub-command (or only the command ``only``, when a
    module ``cmd_<only>`` provides it)."""
    parser = argparse.ArgumentParser(
        prog="calogeo",
        description="Machine learning on calorimeter showers across detector geometries.",
    )
    parser.add_argument("--version", action="version", version=f"calogeo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules(only):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    with handle_signals():
        try:
            return _run(list(sys.argv[1:] if argv is None else argv))
        finally:
            remove_partials()


def _run(argv: list[str]) -> int:
    command = argv[0] if argv and not argv[0].startswith("-") else None
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
    except KeyboardInterrupt as exc:
        return exit_code(exc)
    if args.command is None:
        parser.print_help()
        return 2
    name = args.command if getattr(args, "mode", None) is None else f"{args.command} {args.mode}"
    try:
        code = int(args.func(args) or 0)
        check_interrupted()  # a stop signal whose KeyboardInterrupt Python swallowed
        return code
    except CalogeoError as exc:
        return _fail(name, str(exc))
    except KeyboardInterrupt as exc:
        code = exit_code(exc)
        what = "interrupted" if code == 130 else f"stopped by {signal.Signals(code - 128).name}"
        print(f"calogeo {name}: {what}", file=sys.stderr)
        return code
    except BrokenPipeError:
        return 0
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        return _fail(name, f"out of memory{detail}; use smaller batches or fewer events")
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return _fail(name, f"{where}{os_error_reason(exc)}")


def _fail(command: str, message: str) -> int:
    """Print ``message`` as one line (newlines folded) and return exit code 1."""
    print(f"calogeo {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
