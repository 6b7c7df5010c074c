"""The CaloGAN layout (Paganini, de Oliveira, Nachman, PRD 97 (2018) 014021; data set
doi:10.17632/pvn3xc3wy5.1).

Datasets and conversions:

- ``energy`` (N, 1), incident energy in GeV -> ``incident_energy`` (N,);
- ``layer_0`` (N, 3, 96), ``layer_1`` (N, 12, 12), ``layer_2`` (N, 12, 6): cell energies in
  MeV (the CaloGAN training code multiplies ``energy`` by 1000 to compare it with the cell
  sums) -> the three layers of the ``calogan`` geometry in GeV; the arrays are already
  (rows, cols) images, so no axis is moved;
- ``overflow`` (N, 3), optional: energy outside the window per layer in MeV -> label
  ``overflow`` (N, 3) in GeV.
- Energy scale: **deposited** energy. The generation code (hep-lbdl/CaloGAN,
  ``generation/src/SteppingAction.cc``) adds every step's energy deposit to its cell whatever
  the volume, lead or liquid argon, so a cell holds the energy left in all of its material (and
  the discriminator's |E - E_tot| feature compares the sum with the incident energy). Reading
  multiplies each layer (and its overflow) by the geometry's sampling fraction to give calogeo's
  visible energy (``calogeo.energy_scale``); writing divides by it.

Writing does the inverse (``overflow`` only when the showers carry that label).
"""

from __future__ import annotations

from typing import ClassVar

import h5py
import numpy as np

from calogeo import Geometry, ShowerFileError, Showers
from calogeo.formats import ShowerFormat, read_dataset

from ._common import (
    deposited_mev,
    event_column,
    event_count,
    registered_geometry,
    shape_of,
    visible_gev,
)

LAYER_KEYS = ("layer_0", "layer_1", "layer_2")
SHAPES = ((3, 96), (12, 12), (12, 6))


class CaloGANFormat(ShowerFormat):
    """CaloGAN HDF5: energy (N,1) GeV, layer_0/1/2 in MeV, optional overflow (N,3) MeV."""

    name: ClassVar[str] = "calogan"
    description: ClassVar[str] = "CaloGAN: energy, layer_0 (3x96), layer_1 (12x12), layer_2 (12x6)"
    geometry_names: ClassVar[tuple[str, ...]] = ("calogan",)

    @classmethod
    def detect(cls, h5: h5py.File) -> bool:
        shapes = [shape_of(h5, key) for key in (*LAYER_KEYS, "energy")]
        return all(s is not None for s in shapes) and all(len(s) == 3 for s in shapes[:3])  # type: ignore[arg-type]

    @classmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        found = tuple(shape_of(h5, key)[1:] for key in LAYER_KEYS)  # type: ignore[index]
        if found != SHAPES:
            shown = ", ".join(f"{k} {s}" for k, s in zip(LAYER_KEYS, found, strict=True))
            msg = (
                f"{h5.filename}: CaloGAN layers of shapes {shown} per event, but the CaloGAN "
                f"calorimeter's are {', '.join(map(str, SHAPES))}; for another geometry with "
                "these shapes pass --from GEOMETRY"
            )
            raise ShowerFileError(msg)
        return registered_geometry(h5, "CaloGAN", "calogan")

    @classmethod
    def count(cls, h5: h5py.File) -> int:
        return event_count(h5, "energy")

    @classmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        layers = visible_gev(geometry, [read_dataset(h5, key, start, stop) for key in LAYER_KEYS])
        labels = {}
        if "overflow" in h5:
            overflow = read_dataset(h5, "overflow", start, stop)
            labels["overflow"] = np.stack(visible_gev(geometry, list(overflow.T)), axis=1)
        return Showers(geometry, layers, event_column(h5, "energy", start, stop), labels)

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        geometry = showers.geometry
        if geometry.n_layers != len(LAYER_KEYS):
            msg = (
                f"the CaloGAN layout holds 3 layers; geometry {geometry.name!r} has "
                f"{geometry.n_layers}"
            )
            raise ShowerFileError(msg)
        layers = deposited_mev(geometry, showers.layers)
        arrays = dict(zip(LAYER_KEYS, layers, strict=True))
        arrays["energy"] = showers.incident_energy.reshape(-1, 1)
        if "overflow" in showers.labels:
            overflow = np.asarray(showers.labels["overflow"])
            arrays["overflow"] = np.stack(deposited_mev(geometry, list(overflow.T)), axis=1)
        return arrays
