"""Public shower-file layouts (CaloGAN, CLIC/LCD, ILD, CaloChallenge) for calogeo.

Registers, through the public hooks exactly as a third-party package would:

- formats ``calogan``, ``lcd``, ``ild``, ``calochallenge`` (auto-detected from a file's keys;
  each module's docstring lists the datasets it reads and every unit and axis conversion);
- geometries ``calochallenge_1_photons``, ``calochallenge_1_pions``, ``calochallenge_2`` and
  ``calochallenge_3``, built from the challenge's binning XMLs shipped with this package.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from calogeo import hookimpl

from .calochallenge import DATASETS, CaloChallengeFormat, load_dataset_geometry
from .calogan import CaloGANFormat
from .ild import ILDFormat
from .lcd import LCDFormat

FORMATS = (CaloGANFormat, LCDFormat, ILDFormat, CaloChallengeFormat)


@hookimpl
def calogeo_register_formats(register: Callable[[Any], None]) -> None:
    """Register the public layouts."""
    for fmt in FORMATS:
        register(fmt)


@hookimpl
def calogeo_register_geometries(register: Callable[..., None]) -> None:
    """Register the CaloChallenge r-alpha geometries (built on first use)."""
    for name, (_, title, _) in DATASETS.items():
        register(partial(load_dataset_geometry, name), name=name, description=title)
