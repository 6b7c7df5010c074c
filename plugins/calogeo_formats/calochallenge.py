"""CaloChallenge datasets 2 and 3 (Krause et al., "CaloChallenge 2022: A Community Challenge
for Fast Calorimeter Simulation", arXiv:2410.21611): layout and r-alpha geometries.

Geometry (from the challenge's binning XMLs, shipped in ``calochallenge/``, and the Geant4
Par04 detector): a cylinder whose front face lies 80 cm from the origin, 90 layers of 1.4 mm
W + 0.3 mm Si read out in 45 z-bins of 3.4 mm; each readout layer is an r-alpha grid with the
XML's ``r_edges`` (mm) and ``n_bin_alpha`` sectors. Dataset 2: 45 x 16 x 9 = 6480 voxels;
dataset 3: 45 x 50 x 18 = 40,500 voxels.

Layout and conversions:

- ``incident_energies`` (N, 1) in MeV -> ``incident_energy`` (N,) in GeV;
- ``showers`` (N, voxels) in MeV, voxels ordered (layer, alpha, r) -> per-layer images
  (rows = alpha, cols = r) in GeV, as ``PolygonLayout.r_alpha`` orders its cells.
  The challenge's alpha bins start at -pi (its ``XMLHandler``: ``minAlpha = -pi``), calogeo's
  r-alpha rows start at 0, so the rows are rotated by half a turn
  (``np.roll(..., n_alpha // 2, axis=alpha)``) to put every voxel at its true position; layers
  of a ``--from`` geometry that are not r-alpha grids are taken in file order.

Writing does the inverse, so public -> native -> public is exact up to the MeV/GeV scaling.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from calogeo import Geometry, Layer, ShowerFileError, Showers, geometry_from_spec
from calogeo.formats import ShowerFormat, from_mev, read_dataset, to_mev

from ._common import event_column, registered_geometry, shape_of

XML_DIR = Path(__file__).resolve().parent / "calochallenge"
CITATION = (
    "Krause et al., CaloChallenge 2022, arXiv:2410.21611 (datasets 2 and 3, Geant4 Par04); "
    "binning from the challenge's {xml}"
)
DISTANCE_MM = 800.0  # front face of the Par04 cylinder (inner radius 80 cm), see module docstring
W_MM, SI_MM, READOUT_MM = 1.4, 0.3, 3.4  # absorber, sensor, readout z-bin (two periods)
DATASETS = {
    "calochallenge_2": (
        "binning_dataset_2.xml",
        "CaloChallenge dataset 2: 45 layers x 16 alpha x 9 r",
    ),
    "calochallenge_3": (
        "binning_dataset_3.xml",
        "CaloChallenge dataset 3: 45 layers x 50 alpha x 18 r",
    ),
}
"""Registered geometry name -> (binning XML, title)."""


def binning_layers(xml_path: Path) -> list[tuple[list[float], int]]:
    """(r_edges in mm, n_alpha) of each layer of a CaloChallenge binning XML, in layer order."""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as exc:
        msg = f"{xml_path}: cannot read binning XML: {exc}"
        raise ShowerFileError(msg) from exc
    layers = []
    for element in root.iter("Layer"):
        try:
            edges = [float(v) for v in element.attrib["r_edges"].split(",")]
            layers.append((int(element.attrib["id"]), edges, int(element.attrib["n_bin_alpha"])))
        except (KeyError, ValueError) as exc:
            msg = (
                f"{xml_path}: Layer {element.attrib.get('id', '?')}: bad or missing attribute {exc}"
            )
            raise ShowerFileError(msg) from exc
    if not layers:
        msg = f"{xml_path}: no <Layer> elements"
        raise ShowerFileError(msg)
    return [(edges, n_alpha) for _, edges, n_alpha in sorted(layers)]


def geometry_spec(name: str, xml_path: Path, title: str) -> str:
    """The geometry spec (TOML) of a CaloChallenge dataset built from its binning XML."""
    lines = [
        f'name = "{name}"',
        f'title = "{title}"',
        f'citation = "{CITATION.format(xml=xml_path.name)}"',
        f"distance_from_ip_mm = {DISTANCE_MM}",
        "",
        "[materials.par04_w_si]",
        "# One Par04 period: 1.4 mm W absorber + 0.3 mm Si sensor (PDG materials).",
        f'slices = [["W", {W_MM}], ["Si", {SI_MM}]]',
    ]
    for i, (edges, n_alpha) in enumerate(binning_layers(xml_path)):
        lines += [
            "",
            "[[layers]]",
            f'name = "layer{i:02d}"',
            f"thickness_mm = {READOUT_MM}",
            'material = "par04_w_si"',
            'active = "Si"',
            f'layout = {{ type = "r_alpha", r_edges_mm = {edges}, n_alpha = {n_alpha} }}',
        ]
    return "\n".join(lines) + "\n"


def load_dataset_geometry(name: str) -> Geometry:
    """The registered CaloChallenge geometry ``name`` (``calochallenge_2`` or ``_3``)."""
    xml, title = DATASETS[name]
    path = XML_DIR / xml
    return geometry_from_spec(geometry_spec(name, path, title), source=str(path))


def _alpha_shift(layer: Layer) -> int:
    """Rows to roll a layer image by to go from the challenge's alpha order to calogeo's."""
    return layer.shape[0] // 2 if layer.layout.to_spec().get("type") == "r_alpha" else 0


class CaloChallengeFormat(ShowerFormat):
    """CaloChallenge HDF5: incident_energies (N,1) MeV, showers (N, voxels) MeV."""

    name: ClassVar[str] = "calochallenge"
    description: ClassVar[str] = "CaloChallenge datasets 2/3: incident_energies, showers (MeV)"
    geometry_names: ClassVar[tuple[str, ...]] = tuple(DATASETS)

    @classmethod
    def detect(cls, h5: h5py.File) -> bool:
        showers = shape_of(h5, "showers")
        return showers is not None and len(showers) == 2 and "incident_energies" in h5

    @classmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        voxels = shape_of(h5, "showers")[1]  # type: ignore[index]
        known = {6480: "calochallenge_2", 40500: "calochallenge_3"}
        return registered_geometry(h5, "CaloChallenge", known[voxels]) if voxels in known else None

    @classmethod
    def count(cls, h5: h5py.File) -> int:
        return len(h5["showers"])

    @classmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        voxels = from_mev(read_dataset(h5, "showers", start, stop))
        energy = from_mev(event_column(h5, "incident_energies", start, stop))
        if voxels.shape[1] != geometry.n_cells:
            msg = (
                f"{h5.filename}: dataset 'showers' has {voxels.shape[1]} voxels, geometry "
                f"{geometry.name!r} has {geometry.n_cells} cells"
            )
            raise ShowerFileError(msg)
        off = geometry.layer_offsets
        layers = [
            np.roll(
                voxels[:, off[i] : off[i + 1]].reshape(-1, *layer.shape), _alpha_shift(layer), 1
            )
            for i, layer in enumerate(geometry.layers)
        ]
        return Showers(geometry, layers, energy)

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        n = len(showers)
        parts = [
            np.roll(array, -_alpha_shift(layer), 1).reshape(n, -1)
            for layer, array in zip(showers.geometry.layers, showers.layers, strict=True)
        ]
        return {
            "incident_energies": to_mev(showers.incident_energy).reshape(-1, 1),
            "showers": to_mev(np.concatenate(parts, axis=1)),
        }
