"""A third-party calogeo plugin registering one geometry: a lead-scintillator tower calorimeter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from calogeo import hookimpl


@hookimpl
def calogeo_register_geometries(register: Callable[..., None]) -> None:
    """Register the tower calorimeter spec that ships with this package."""
    register(Path(__file__).with_name("tower.toml"))
