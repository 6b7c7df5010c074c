"""Generative shower models for calogeo: CaloGAN (Paganini et al. 2018), 3DGAN (Belayneh et al.
2020), the WGAN with an energy constrainer and the BIB-AE (Buhmann et al. 2021), on any geometry.

Registered through the public ``calogeo_register_models`` hook as lazy references: listing the
models imports nothing; a model's module, and torch, are imported when it is first used.
"""

from __future__ import annotations

from collections.abc import Callable

from calogeo import hookimpl
from calogeo.plugins import lazy_attributes

__all__ = ["BIBAE", "GAN3D", "WGAN", "CaloGAN"]

MODELS = {  # name -> (reference, description): checked against the class on first use
    "calogan": (
        "calogeo_generative.calogan:CaloGAN",
        "CaloGAN: per-layer LAGAN streams with attention (Paganini et al. 2018)",
    ),
    "gan3d": (
        "calogeo_generative.gan3d:GAN3D",
        "3DGAN: 3D convolutional GAN with energy and angle heads (Belayneh et al. 2020)",
    ),
    "wgan": (
        "calogeo_generative.wgan:WGAN",
        "WGAN-GP with a frozen energy constrainer (Buhmann et al. 2021)",
    ),
    "bibae": (
        "calogeo_generative.bibae:BIBAE",
        "BIB-AE with resetting critics, post-processor and latent KDE (Buhmann et al. 2021)",
    ),
}

__getattr__ = lazy_attributes(__name__, {ref.rpartition(":")[2]: ref for ref, _ in MODELS.values()})


@hookimpl
def calogeo_register_models(register: Callable[..., None]) -> None:
    """Register every generative model (imported on first use)."""
    for name, (ref, description) in MODELS.items():
        register(ref, name=name, kind=("generate",), description=description)
