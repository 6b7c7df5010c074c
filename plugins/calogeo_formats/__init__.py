"""Public shower-file layouts (CaloGAN, CLIC/LCD, ILD, CaloChallenge) for calogeo.

Registers, through the public hooks exactly as a third-party package would:

- formats ``calogan``, ``lcd``, ``ild``, ``calochallenge`` (auto-detected from a file's keys;
  each module's docstring lists the datasets it reads and every unit and axis conversion);
- geometries ``calochallenge_1_photons``, ``calochallenge_1_pions``, ``calochallenge_2`` and
  ``calochallenge_3``, built from the challenge's binning XMLs shipped with this package.

Both are registered lazily (names and descriptions only): a format's module, h5py included, is
imported when a file is first read or written, a geometry's XML when it is first built.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from calogeo import hookimpl

if TYPE_CHECKING:
    from calogeo import Geometry

FORMATS = {  # name -> (reference, description): checked against the class on first use
    "calogan": (
        "calogeo_formats.calogan:CaloGANFormat",
        "CaloGAN: energy, layer_0 (3x96), layer_1 (12x12), layer_2 (12x6)",
    ),
    "lcd": (
        "calogeo_formats.lcd:LCDFormat",
        "CLIC/LCD (Belayneh et al.): ECAL (N,eta,phi,z), HCAL, energy, pdgID",
    ),
    "ild": (
        "calogeo_formats.ild:ILDFormat",
        "ILD AHCAL (Buhmann et al.): hcal_only/layers (N,48,25,25), energy",
    ),
    "calochallenge": (
        "calogeo_formats.calochallenge:CaloChallengeFormat",
        "CaloChallenge datasets 1-3: incident_energies, showers (MeV, deposited energy)",
    ),
}
GEOMETRIES = {  # name -> title, as in calochallenge.DATASETS (a test keeps the two in step)
    "calochallenge_1_photons": "CaloChallenge dataset 1 photons: ATLAS barrel, 5 layers, 368 voxels",
    "calochallenge_1_pions": "CaloChallenge dataset 1 pions: ATLAS barrel, 7 layers, 533 voxels",
    "calochallenge_2": "CaloChallenge dataset 2: 45 layers x 16 alpha x 9 r",
    "calochallenge_3": "CaloChallenge dataset 3: 45 layers x 50 alpha x 18 r",
}


def dataset_geometry(name: str) -> Geometry:
    """Build the CaloChallenge geometry ``name`` (imports the layout module on first use)."""
    from .calochallenge import load_dataset_geometry

    return load_dataset_geometry(name)


@hookimpl
def calogeo_register_formats(register: Callable[..., None]) -> None:
    """Register the public layouts (imported on first use)."""
    for name, (ref, description) in FORMATS.items():
        register(ref, name=name, description=description)


@hookimpl
def calogeo_register_geometries(register: Callable[..., None]) -> None:
    """Register the CaloChallenge r-alpha geometries (built on first use)."""
    for name, title in GEOMETRIES.items():
        register(partial(dataset_geometry, name), name=name, description=title)
