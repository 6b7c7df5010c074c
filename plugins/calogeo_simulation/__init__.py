"""Parametric shower simulation for calogeo: GFlash electromagnetic showers, pi0 -> two
photons, charged-pion showers with a Bock hadronic profile, in any registered geometry.

It registers :class:`GFlashSimulator` as the generative model ``gflash`` through the public
``calogeo_register_models`` hook, as a third-party package would, as a lazy reference: the
simulator (and numba) is imported when ``calogeo simulate`` first asks for
``calogeo.get_model("gflash")``.
"""

from __future__ import annotations

from collections.abc import Callable

from calogeo import hookimpl
from calogeo.plugins import lazy_attributes

__all__ = ["PARTICLES", "GFlashSimulator"]

__getattr__ = lazy_attributes(
    __name__,
    {
        "GFlashSimulator": "calogeo_simulation.simulator:GFlashSimulator",
        "PARTICLES": "calogeo_simulation.simulator:PARTICLES",
    },
)


@hookimpl
def calogeo_register_models(register: Callable[..., None]) -> None:
    """Register the parametric simulator as the generative model ``gflash``."""
    register(
        "calogeo_simulation.simulator:GFlashSimulator",
        name="gflash",
        kind="generate",
        description="Parametric showers: GFlash electromagnetic profiles, pi0 -> two photons, "
        "Bock hadronic profile for charged pions; any geometry",
    )
