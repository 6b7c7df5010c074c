"""The one exception hierarchy of calogeo.

Library code raises these; only the command line turns them into one-line messages and exit
codes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CalogeoError",
    "GeometryMismatchError",
    "Interrupted",
    "MissingDependencyError",
    "PluginError",
    "ShowerDataError",
    "ShowerFileError",
    "SpecError",
    "UnknownFormatError",
    "UnknownGeometryError",
    "UnknownHitReaderError",
    "UnknownMetricError",
    "UnknownModelError",
    "UnknownNameError",
]


class CalogeoError(Exception):
    """Base class of every error calogeo raises on purpose."""


class SpecError(CalogeoError, ValueError):
    """A geometry spec is invalid; the message names the file and every key at fault."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        joined = "; ".join(self.problems)
        super().__init__(f"{source}: {joined}")


class UnknownNameError(CalogeoError, KeyError):
    """A name looked up in a registry does not exist; the message suggests close names."""

    what = "item"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        lower = {k.lower(): k for k in self.known}  # 'ATLAS' -> 'atlas'
        close = [lower[k] for k in difflib.get_close_matches(name.lower(), lower, n=3, cutoff=0.5)]
        if not close:
            close = [k for k in self.known if k.startswith(name) or name in k][:3]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = f" (known: {', '.join(self.known)})" if not close and self.known else ""
        super().__init__(f"unknown {self.what} {name!r}{hint}{listing}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownGeometryError(UnknownNameError):
    what = "geometry"


class UnknownModelError(UnknownNameError):
    what = "model"


class UnknownMetricError(UnknownNameError):
    what = "metric"


class UnknownFormatError(UnknownNameError):
    what = "format"


class UnknownHitReaderError(UnknownNameError):
    what = "hit reader"


class PluginError(CalogeoError):
    """A plugin failed to import or registered something invalid."""


class ShowerFileError(CalogeoError, OSError):
    """A shower file cannot be read or written; the message names the file and dataset."""


class ShowerDataError(CalogeoError, ValueError):
    """Shower energies or labels calogeo refuses: non-finite, complex or non-numeric values."""


class GeometryMismatchError(CalogeoError, ValueError):
    """Data on one geometry was given to something built for another."""


class MissingDependencyError(CalogeoError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class Interrupted(KeyboardInterrupt):
    """The process was told to stop (Ctrl-C, SIGTERM, SIGHUP) while the command line ran;
    ``signum`` is the signal. A KeyboardInterrupt, so cleanup written for Ctrl-C applies."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        super().__init__(signal.Signals(signum).name)
