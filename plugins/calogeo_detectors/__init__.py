"""First-party detectors: registers every spec in calogeo's ``geometries/`` folder.

It registers through the ``calogeo`` entry-point group and the public hooks, exactly as a
third-party detector package would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from calogeo import hookimpl

SPEC_DIR = Path(__file__).resolve().parent / "specs"


@hookimpl
def calogeo_register_geometries(register: Callable[..., None]) -> None:
    """Register one geometry per ``*.toml`` spec file."""
    for path in sorted(SPEC_DIR.glob("*.toml")):
        register(path)
