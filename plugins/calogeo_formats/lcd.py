"""The CLIC/LCD calorimeter layout (Belayneh et al., EPJC 80 (2020) 688, Sect. 2; the
"Triforce" reconstruction code and the 3DGAN data use the same keys).

Datasets and conversions:

- ``ECAL`` (N, eta, phi, z): (N, 51, 51, 25) for the GEN window or (N, 25, 25, 25) for the
  REC window, cell energies in GeV; ``HCAL`` (N, 11, 11, 60) in GeV, same axis order. Slice z
  is one layer. The first axis runs along eta (the polar direction), the second along phi, as
  the reference resampling code of Belayneh et al. Sect. 5.4 takes them (its ATLAS EMB1
  strips, 0.025/8 in eta, are cut along the first axis). calogeo images are (rows = y = eta,
  cols = x = phi), so the layer image is ``array[:, :, :, z]`` as is:
  ``np.moveaxis(array, 3, 1)``. ECAL layers come first, then HCAL layers (geometry groups
  "ECAL" and "HCAL").
- ``energy`` (N,) or (N, 1): incident energy in GeV.
- ``pdgID`` -> label ``pdg``; optional ``recoEta``, ``recoPhi``, ``recoTheta`` (rad),
  ``openingAngle`` (rad, pi0 -> gamma gamma), ``conversion`` -> labels ``reco_eta``,
  ``reco_phi``, ``reco_theta``, ``opening_angle``, ``conversion``. Other keys (derived
  features such as ``ECAL_E``) are not read.

Energy scale: **visible** energy, the hits of the sensitive silicon (ECAL) and scintillator
(HCAL) slices of the CLIC full simulation, the scale calogeo stores, so no sampling-fraction
conversion is applied.

Default geometries: ECAL 51x51x25 alone -> ``clic_ecal``; with HCAL 11x11x60 (the published
large-window files) -> ``clic_large``; ECAL 25x25x25 with HCAL 11x11x60 -> ``clic``; ECAL
25x25x25 alone -> ``clic_ecal_rec``; HCAL alone -> ``clic_hcal``.
Writing does the inverse: ``energy`` is written as (N,).
"""

from __future__ import annotations

from typing import ClassVar

import h5py
import numpy as np

from calogeo import Geometry, Showers
from calogeo.formats import ShowerFormat, read_dataset

from ._common import event_column, event_count, layers_of_groups, registered_geometry, shape_of

GROUPS = ("ECAL", "HCAL")
LABELS = {
    "pdgID": "pdg",
    "recoEta": "reco_eta",
    "recoPhi": "reco_phi",
    "recoTheta": "reco_theta",
    "openingAngle": "opening_angle",
    "conversion": "conversion",
}
"""File key -> calogeo label name."""
GEOMETRIES = {
    ((51, 51, 25), None): "clic_ecal",
    ((51, 51, 25), (11, 11, 60)): "clic_large",
    ((25, 25, 25), (11, 11, 60)): "clic",
    ((25, 25, 25), None): "clic_ecal_rec",
    (None, (11, 11, 60)): "clic_hcal",
}
"""(ECAL shape, HCAL shape) per event -> registered geometry."""


class LCDFormat(ShowerFormat):
    """CLIC/LCD HDF5: ECAL and/or HCAL (N, eta, phi, z) in GeV, energy, pdgID, reco labels."""

    name: ClassVar[str] = "lcd"
    description: ClassVar[str] = (
        "CLIC/LCD (Belayneh et al.): ECAL (N,eta,phi,z), HCAL, energy, pdgID"
    )
    geometry_names: ClassVar[tuple[str, ...]] = tuple(GEOMETRIES.values())

    @classmethod
    def _shapes(cls, h5: h5py.File) -> tuple[tuple[int, ...] | None, ...]:
        shapes = (shape_of(h5, "ECAL"), shape_of(h5, "HCAL"))
        return tuple(s[1:] if s is not None else None for s in shapes)

    @classmethod
    def detect(cls, h5: h5py.File) -> bool:
        shapes = cls._shapes(h5)
        return (
            shape_of(h5, "energy") is not None
            and any(s is not None for s in shapes)
            and all(s is None or len(s) == 3 for s in shapes)
        )

    @classmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        name = GEOMETRIES.get(cls._shapes(h5))  # type: ignore[call-overload]
        return None if name is None else registered_geometry(h5, "CLIC/LCD", name)

    @classmethod
    def count(cls, h5: h5py.File) -> int:
        return event_count(h5, "energy")

    @classmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        layers: list[np.ndarray] = []
        for key in GROUPS:
            if key in h5:
                cube = read_dataset(h5, key, start, stop).astype(np.float32, copy=False)
                layers.extend(np.moveaxis(cube, 3, 0))  # (z, N, eta rows, phi cols)
        labels = {
            name: event_column(h5, key, start, stop) for key, name in LABELS.items() if key in h5
        }
        return Showers(geometry, layers, event_column(h5, "energy", start, stop), labels)

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        arrays = {
            group: np.ascontiguousarray(np.stack(layers, axis=-1))  # (N, eta, phi, z)
            for group, layers in layers_of_groups(showers, GROUPS, "CLIC/LCD").items()
        }
        arrays["energy"] = showers.incident_energy
        for key, name in LABELS.items():
            if name in showers.labels:
                arrays[key] = showers.labels[name]
        return arrays
