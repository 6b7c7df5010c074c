"""The ``calogeo`` command line.

Each sub-command lives in its own module ``calogeo.cli.cmd_<name>`` exposing ``ORDER`` (its
place in ``--help``) and ``add_parser(subparsers)``; the parser it adds sets
``func(args) -> int``. Modules are found by name, so adding a command touches no other file. Library errors
(CalogeoError) become one-line messages on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from calogeo._version import __version__
from calogeo.errors import CalogeoError

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
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CalogeoError as exc:
        print(f"calogeo {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"calogeo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
