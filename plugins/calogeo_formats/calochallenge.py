"""CaloChallenge datasets 1, 2 and 3 (Krause et al., "CaloChallenge 2022: A Community
Challenge for Fast Calorimeter Simulation", arXiv:2410.21611): layout and r-alpha geometries.

Every dataset's binning comes from the challenge's binning XML, shipped in ``calochallenge/``:
each ``<Layer>`` is an r-alpha grid with ``r_edges`` (mm) and ``n_bin_alpha`` sectors; a layer
whose ``r_edges`` is ``"0"`` has no voxels and is not a layer of the geometry.

- Datasets 2 and 3 (Geant4 Par04): a cylinder whose front face lies 80 cm from the origin, 90
  layers of 1.4 mm W + 0.3 mm Si read out in 45 z-bins of 3.4 mm. Dataset 2: 45 x 16 x 9 = 6480
  voxels; dataset 3: 45 x 50 x 18 = 40,500 voxels. Sampling fraction 0.033, the challenge's own
  (its dataset-creation notebook scales the Si deposits by 1 / 0.033; its ``evaluate.py`` sets
  the voxel threshold to 0.5 keV / 0.033); the MIP fraction of the Par04 period would be 0.036.
- Dataset 1 (ATLAS open-data Geant4 showers, particles at |eta| = 0.20-0.25 from the
  calorimeter surface; the AtlFast3 / FastCaloGAN inputs, ATL-SOFT-PUB-2020-006): photons, 368
  voxels in the ATLAS samplings PreSamplerB, EMB1-3 and TileBar0 (XML layers 0-3, 12), and
  charged pions, 533 voxels, adding TileBar1-2 (XML layers 13, 14). No public source gives the
  material per voxelised layer, so the layers are the ATLAS barrel's as in ``atlas_calo``
  (accordion Pb/LAr, Tile Fe/scintillator; EMB1-3 4.3 / 16 / 2 X0 and Tile A / BC / D
  1.5 / 4.1 / 1.8 lambda_I at eta = 0; ATLAS, JINST 3 (2008) S08003 Sect. 5.2-5.3;
  ATL-PHYS-PUB-2020-018 Table 1), with the presampler an 11 mm homogeneous LAr layer about
  9 cm in front of the accordion (approximate: its radius is not stated in those sources).
  Depths and distances are along the particle at eta = 0.225 (radial lengths x cosh(0.225));
  the ~2 X0 of cryostat and solenoid in front of the presampler are not modelled.

Layout and conversions:

- ``incident_energies`` (N, 1) in MeV -> ``incident_energy`` (N,) in GeV;
- ``showers`` (N, voxels) in MeV, voxels ordered (layer, alpha, r) -> per-layer images
  (rows = alpha, cols = r) in GeV, as ``PolygonLayout.r_alpha`` orders its cells.
  The challenge's alpha bins start at -pi (its ``XMLHandler``: ``minAlpha = -pi``), calogeo's
  r-alpha rows start at 0, so the rows are rotated by half a turn
  (``np.roll(..., n_alpha // 2, axis=alpha)``) to put every voxel at its true position; layers
  of a ``--from`` geometry that are not r-alpha grids are taken in file order.
- Energy scale: the files hold each layer's **deposited** energy, the active-medium deposit
  divided by the sampling fraction, so that E_total / E_incident is about 1 for an
  electromagnetic shower (datasets 2 and 3: Si deposit / 0.033, stated in the challenge's
  code; dataset 1: the challenge copies the ATLAS voxel energies without rescaling, and we take
  them, as the FastCaloSim inputs they are, to be hit energies scaled by each sampling's inverse
  sampling fraction; we found no public document that states it). Reading multiplies each layer by the
  geometry's sampling fraction to give calogeo's visible energy
  (``calogeo.energy_scale.convert_layers``, "deposited" -> "visible"); writing divides by it.
  A homogeneous layer (no sampling fraction) is taken as is.

Writing does the inverse, so public -> native -> public is exact up to float32 rounding.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from calogeo import Geometry, Layer, ShowerFileError, Showers, geometry_from_spec
from calogeo.formats import ShowerFormat, from_mev, read_dataset, to_mev
from calogeo.layout import RAlphaLayout

from ._common import (
    deposited_mev,
    event_column,
    event_count,
    registered_geometry,
    shape_of,
    visible_gev,
)

XML_DIR = Path(__file__).resolve().parent / "calochallenge"
CITATION = (
    "Krause et al., CaloChallenge 2022, arXiv:2410.21611 ({detector}); binning from the "
    "challenge's {xml}"
)

# -- datasets 2 and 3: Geant4 Par04 ----------------------------------------------------------
DISTANCE_MM = 800.0  # front face of the Par04 cylinder (inner radius 80 cm), see module docstring
W_MM, SI_MM, READOUT_MM = 1.4, 0.3, 3.4  # absorber, sensor, readout z-bin (two periods)
PAR04_SAMPLING_FRACTION = 0.033  # the challenge's scale factor, see module docstring

# -- dataset 1: the ATLAS barrel at eta = 0.2-0.25 (sources in the module docstring) -----------
ATLAS_ETA = 0.225
PATH = math.cosh(ATLAS_ETA)  # path length along the particle per radial length
PRESAMPLER_R_MM = 1410.0  # approximate, ~9 cm in front of the accordion
ACCORDION_R_MM = 1500.0  # first accordion fold (as atlas_calo)
TILE_R_MM = 2280.0  # Tile barrel inner radius (as atlas_calo)
PRESAMPLER_MM = 11.0  # active LAr thickness of the barrel presampler
ATLAS_MATERIALS = """
[materials.atlas_accordion]
# One accordion period for |eta| < 0.8, as in atlas_calo: 1.532 mm Pb + 0.4 mm steel + 0.278 mm
# glue; electrode 0.105 mm Cu + 0.17 mm kapton; two 2.1 mm LAr gaps.
slices = [
    ["Pb", 1.532], ["Fe", 0.4], ["epoxy", 0.278], ["LAr", 2.1], ["Cu", 0.105],
    ["kapton", 0.17], ["LAr", 2.1],
]

[materials.tile_period]
# One Tile period, as in atlas_calo: 14 mm iron + 3 mm polystyrene scintillator.
slices = [["Fe", 14.0], ["polystyrene", 3.0]]
"""
ATLAS_SAMPLINGS: dict[int, tuple[str, str, str, str | None, str, float, float | None]] = {
    # XML layer id (the ATLAS CaloSampling number) -> (name, group, material, active slice,
    # thickness key, thickness at eta = 0, radius of the front in mm where a gap precedes it)
    0: ("PreSamplerB", "ECAL", "LAr", None, "thickness_mm", PRESAMPLER_MM, None),
    1: ("EMB1", "ECAL", "atlas_accordion", "LAr", "thickness_x0", 4.3, ACCORDION_R_MM),
    2: ("EMB2", "ECAL", "atlas_accordion", "LAr", "thickness_x0", 16.0, None),
    3: ("EMB3", "ECAL", "atlas_accordion", "LAr", "thickness_x0", 2.0, None),
    12: ("TileBar0", "HCAL", "tile_period", "polystyrene", "thickness_lambda", 1.5, TILE_R_MM),
    13: ("TileBar1", "HCAL", "tile_period", "polystyrene", "thickness_lambda", 4.1, None),
    14: ("TileBar2", "HCAL", "tile_period", "polystyrene", "thickness_lambda", 1.8, None),
}


def binning_layers(xml_path: Path) -> list[tuple[int, list[float], int]]:
    """(layer id, r_edges in mm, n_alpha) of each layer of a CaloChallenge binning XML that has
    voxels (``r_edges="0"`` has none), in layer order."""
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
    layers = [layer for layer in sorted(layers) if len(layer[1]) > 1]
    if not layers:
        msg = f"{xml_path}: no <Layer> elements with voxels"
        raise ShowerFileError(msg)
    return layers


def _layout_line(edges: list[float], n_alpha: int) -> str:
    return f'layout = {{ type = "r_alpha", r_edges_mm = {edges}, n_alpha = {n_alpha} }}'


def par04_spec(name: str, xml_path: Path, title: str) -> str:
    """The geometry spec (TOML) of CaloChallenge dataset 2 or 3 built from its binning XML."""
    citation = CITATION.format(detector="datasets 2 and 3, Geant4 Par04", xml=xml_path.name)
    lines = [
        f'name = "{name}"',
        f'title = "{title}"',
        f'citation = "{citation}"',
        f"distance_from_ip_mm = {DISTANCE_MM}",
        "",
        "[materials.par04_w_si]",
        "# One Par04 period: 1.4 mm W absorber + 0.3 mm Si sensor (PDG materials).",
        f'slices = [["W", {W_MM}], ["Si", {SI_MM}]]',
    ]
    for i, (_, edges, n_alpha) in enumerate(binning_layers(xml_path)):
        lines += [
            "",
            "[[layers]]",
            f'name = "layer{i:02d}"',
            f"thickness_mm = {READOUT_MM}",
            'material = "par04_w_si"',
            "# the challenge's sampling fraction (module docstring)",
            f"sampling_fraction = {PAR04_SAMPLING_FRACTION}",
            _layout_line(edges, n_alpha),
        ]
    return "\n".join(lines) + "\n"


def atlas_spec(name: str, xml_path: Path, title: str) -> str:
    """The geometry spec (TOML) of CaloChallenge dataset 1 (photons or pions) built from its
    binning XML: one layer per ATLAS sampling that has voxels."""
    citation = CITATION.format(
        detector="dataset 1, ATLAS barrel; layers as atlas_calo: ATLAS, JINST 3 (2008) S08003 "
        "Sect. 5.2-5.3, ATL-PHYS-PUB-2020-018 Table 1",
        xml=xml_path.name,
    )
    lines = [
        f'name = "{name}"',
        f'title = "{title}"',
        f'citation = "{citation}"',
        f"distance_from_ip_mm = {PRESAMPLER_R_MM * PATH!r}",
        "# EM barrel: 10%/sqrt(E) (+) 0.7% (ATLAS, JINST 3 (2008) S08003, Table 1.1).",
        "stochastic_term = 0.10",
        ATLAS_MATERIALS,
    ]
    for layer_id, edges, n_alpha in binning_layers(xml_path):
        if layer_id not in ATLAS_SAMPLINGS:
            msg = f"{xml_path}: layer {layer_id} has voxels but is not an ATLAS barrel sampling"
            raise ShowerFileError(msg)
        layer_name, group, material, active, key, thickness, front_r = ATLAS_SAMPLINGS[layer_id]
        lines += ["[[layers]]", f'name = "{layer_name}"', f'group = "{group}"']
        if front_r is not None:
            lines.append(f"z_front_mm = {(front_r - PRESAMPLER_R_MM) * PATH!r}")
        lines.append(f'material = "{material}"')
        if active is not None:
            lines.append(f'active = "{active}"')
        lines += [f"{key} = {thickness * PATH!r}", _layout_line(edges, n_alpha), ""]
    return "\n".join(lines)


DATASETS: dict[str, tuple[str, str, Callable[[str, Path, str], str]]] = {
    "calochallenge_1_photons": (
        "binning_dataset_1_photons.xml",
        "CaloChallenge dataset 1 photons: ATLAS barrel, 5 layers, 368 voxels",
        atlas_spec,
    ),
    "calochallenge_1_pions": (
        "binning_dataset_1_pions.xml",
        "CaloChallenge dataset 1 pions: ATLAS barrel, 7 layers, 533 voxels",
        atlas_spec,
    ),
    "calochallenge_2": (
        "binning_dataset_2.xml",
        "CaloChallenge dataset 2: 45 layers x 16 alpha x 9 r",
        par04_spec,
    ),
    "calochallenge_3": (
        "binning_dataset_3.xml",
        "CaloChallenge dataset 3: 45 layers x 50 alpha x 18 r",
        par04_spec,
    ),
}
"""Registered geometry name -> (binning XML, title, spec builder)."""


def geometry_spec(name: str) -> str:
    """The geometry spec (TOML) of the registered CaloChallenge dataset ``name``."""
    xml, title, build = DATASETS[name]
    return build(name, XML_DIR / xml, title)


def load_dataset_geometry(name: str) -> Geometry:
    """The registered CaloChallenge geometry ``name`` (a key of ``DATASETS``)."""
    return geometry_from_spec(geometry_spec(name), source=str(XML_DIR / DATASETS[name][0]))


@cache
def voxel_counts() -> dict[int, str]:
    """Voxels per event -> the dataset's geometry name, counted from the binning XMLs."""
    counts = {}
    for name, (xml, _, _) in DATASETS.items():
        layers = binning_layers(XML_DIR / xml)
        counts[sum((len(edges) - 1) * n_alpha for _, edges, n_alpha in layers)] = name
    return counts


def _alpha_shift(layer: Layer) -> int:
    """Rows to roll a layer image by to go from the challenge's alpha order to calogeo's."""
    return layer.shape[0] // 2 if isinstance(layer.layout, RAlphaLayout) else 0


class CaloChallengeFormat(ShowerFormat):
    """CaloChallenge HDF5: incident_energies (N,1) MeV, showers (N, voxels) MeV, deposited
    energy (visible / sampling fraction)."""

    name: ClassVar[str] = "calochallenge"
    description: ClassVar[str] = (
        "CaloChallenge datasets 1-3: incident_energies, showers (MeV, deposited energy)"
    )
    geometry_names: ClassVar[tuple[str, ...]] = tuple(DATASETS)

    @classmethod
    def detect(cls, h5: h5py.File) -> bool:
        showers = shape_of(h5, "showers")
        return showers is not None and len(showers) == 2 and "incident_energies" in h5

    @classmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        voxels = shape_of(h5, "showers")[1]  # type: ignore[index]
        known = voxel_counts()
        return registered_geometry(h5, "CaloChallenge", known[voxels]) if voxels in known else None

    @classmethod
    def count(cls, h5: h5py.File) -> int:
        return event_count(h5, "showers")

    @classmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        voxels = read_dataset(h5, "showers", start, stop)
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
        return Showers(geometry, visible_gev(geometry, layers), energy)

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        n = len(showers)
        geometry = showers.geometry
        parts = [
            np.roll(array, -_alpha_shift(layer), 1).reshape(n, -1)
            for layer, array in zip(
                geometry.layers, deposited_mev(geometry, showers.layers), strict=True
            )
        ]
        return {
            "incident_energies": to_mev(showers.incident_energy).reshape(-1, 1),
            "showers": np.concatenate(parts, axis=1),
        }
