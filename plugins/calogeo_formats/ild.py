"""The ILD AHCAL pion-shower layout (Buhmann et al., "Hadrons, Better, Faster, Stronger",
2021; 5k example showers at doi:10.5281/zenodo.5529677).

The training code of that paper (FLC-QU-hep/HCAL-showers, ``dataUtils.PionsDataset``) reads
the group ``hcal_only`` with datasets ``layers`` and ``energy``; files with the same two
datasets at the top level (or in any other top-level group) are accepted too.

- ``layers`` (N, 48, 25, 25), indexed (event, layer, x, y), visible cell energies in MeV (the
  paper's cell-energy plots and its 0.25 MeV = half-MIP threshold) -> the 48 layers of the
  ``ild_ahcal`` geometry in GeV, each image (rows = y, cols = x), i.e.
  ``layers.transpose(0, 1, 3, 2)``;
- ``energy`` (N, 1), incident pion energy in GeV.
- Energy scale: **visible** energy (the scintillator's, in MeV; a MIP leaves ~0.5 MeV), the
  scale calogeo stores, so no sampling-fraction conversion is applied.

Writing produces ``hcal_only/layers`` and ``hcal_only/energy`` with the inverse conversion.
"""

from __future__ import annotations

from typing import ClassVar

import h5py
import numpy as np

from calogeo import Geometry, ShowerFileError, Showers
from calogeo.formats import ShowerFormat, from_mev, read_dataset, to_mev

from ._common import event_column, event_count, registered_geometry, shape_of

GROUP = "hcal_only"
SHAPE = (48, 25, 25)


def _prefix(h5: h5py.File) -> str | None:
    """The group holding ``layers`` (N, layers, x, y) and ``energy``: "" for the top level."""
    for prefix in ("", *(f"{k}/" for k in h5 if isinstance(h5[k], h5py.Group))):
        shape = shape_of(h5, f"{prefix}layers")
        if shape is not None and len(shape) == 4 and shape_of(h5, f"{prefix}energy") is not None:
            return prefix
    return None


class ILDFormat(ShowerFormat):
    """ILD AHCAL HDF5: [hcal_only/]layers (N,48,25,25) in MeV and [hcal_only/]energy in GeV."""

    name: ClassVar[str] = "ild"
    description: ClassVar[str] = "ILD AHCAL (Buhmann et al.): hcal_only/layers (N,48,25,25), energy"
    geometry_names: ClassVar[tuple[str, ...]] = ("ild_ahcal",)

    @classmethod
    def detect(cls, h5: h5py.File) -> bool:
        return _prefix(h5) is not None

    @classmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        if shape_of(h5, f"{_prefix(h5)}layers")[1:] != SHAPE:  # type: ignore[index]
            return None
        return registered_geometry(h5, "ILD AHCAL", "ild_ahcal")

    @classmethod
    def count(cls, h5: h5py.File) -> int:
        return event_count(h5, f"{_prefix(h5)}energy")

    @classmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        prefix = _prefix(h5)
        cube = from_mev(read_dataset(h5, f"{prefix}layers", start, stop))
        layers = list(np.moveaxis(cube.transpose(0, 1, 3, 2), 1, 0))
        return Showers(geometry, layers, event_column(h5, f"{prefix}energy", start, stop))

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        shapes = sorted(set(showers.geometry.shapes))
        if len(shapes) != 1:
            msg = (
                f"the ILD layout stacks layers of one image shape; geometry "
                f"{showers.geometry.name!r} has {shapes}"
            )
            raise ShowerFileError(msg)
        cube = np.stack(showers.layers, axis=1).transpose(0, 1, 3, 2)
        return {
            f"{GROUP}/layers": np.ascontiguousarray(to_mev(cube)),
            f"{GROUP}/energy": showers.incident_energy.reshape(-1, 1),
        }
