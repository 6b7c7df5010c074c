"""Parametric shower simulation for calogeo: GFlash electromagnetic showers, pi0 -> two
photons, charged-pion showers with a Bock hadronic profile, in any registered geometry.

It registers :class:`GFlashSimulator` as the generative model ``gflash`` through the public
``calogeo_register_models`` hook, as a third-party package would; ``calogeo simulate`` finds it
with ``calogeo.get_model("gflash")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calogeo import hookimpl

from .simulator import PARTICLES, GFlashSimulator

__all__ = ["PARTICLES", "GFlashSimulator"]


@hookimpl
def calogeo_register_models(register: Callable[[Any], None]) -> None:
    """Register the parametric simulator as the generative model ``gflash``."""
    register(GFlashSimulator)
