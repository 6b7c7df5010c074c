"""CaloChallenge layout: its energy scale (deposited energy, visible / sampling fraction), the
dataset-1 geometries (ATLAS photons and pions) and the published cell-centre convention. Each
test writes a small file of the challenge's shape with h5py."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import calogeo_formats
import h5py
import numpy as np
import pytest
from calogeo_formats.calochallenge import CaloChallengeFormat

from calogeo import Showers, get_geometry, open_showers, read_showers, write_showers
from calogeo.formats import FormatWriter
from calogeo.layout import RAlphaLayout
from calogeo.testing import isolated_plugins

XML_DIR = Path(calogeo_formats.__file__).resolve().parent / "calochallenge"
N = 6


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(calogeo_formats) as manager:
        yield manager


def xml_layers(xml: str) -> list[tuple[int, int, int]]:
    """(layer id, n_alpha, n_r) of every layer of a binning XML, empty ones included, read here
    independently of the plugin."""
    out = []
    for layer in ET.parse(XML_DIR / xml).getroot().iter("Layer"):
        n_r = len(layer.attrib["r_edges"].split(",")) - 1
        out.append((int(layer.attrib["id"]), int(layer.attrib["n_bin_alpha"]), n_r))
    return out


def challenge_file(path: Path, showers_mev: np.ndarray, incident_mev: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        f["incident_energies"] = incident_mev.reshape(-1, 1).astype(np.float32)
        f["showers"] = showers_mev.astype(np.float32)
    return path


def random_showers(rng: np.random.Generator, voxels: int, incident_mev: np.ndarray) -> np.ndarray:
    """Sparse showers whose voxels sum to the incident energy, as the challenge's files do."""
    showers = rng.exponential(1.0, (len(incident_mev), voxels)) * (
        rng.random((len(incident_mev), voxels)) < 0.3
    )
    return showers / showers.sum(axis=1, keepdims=True) * incident_mev[:, None]


def rewrite(path: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    """public -> native -> public; the datasets of the rewritten public file."""
    with open_showers(path) as source:
        fmt = source.format
        write_showers(tmp_path / "native.h5", source.read())
    back = tmp_path / "back.h5"
    with open_showers(tmp_path / "native.h5") as native, FormatWriter(back, fmt) as writer:
        for batch in native.iter_batches(4):
            writer.append(batch)
    with h5py.File(back, "r") as f:
        return {key: f[key][()] for key in f}


# -- energy scale --------------------------------------------------------------------------------


def test_dataset_2_files_hold_deposited_energy(tmp_path):
    """Showers summing to E_inc (the challenge's Si deposit / 0.033) read as calogeo visible
    energy 0.033 E_inc, layer by layer; writing gives the file back."""
    rng = np.random.default_rng(1)
    incident = rng.uniform(1e3, 1e6, N)
    raw = random_showers(rng, 6480, incident)
    path = challenge_file(tmp_path / "ds2.h5", raw, incident)
    showers = read_showers(path)
    assert showers.geometry.name == "calochallenge_2"
    np.testing.assert_allclose(showers.total_energy(), 0.033 * incident / 1000, rtol=1e-5)
    per_layer = raw.reshape(N, 45, -1).sum(axis=2) * 0.033 / 1000
    read_layers = np.stack([a.reshape(N, -1).sum(axis=1) for a in showers.layers], axis=1)
    np.testing.assert_allclose(read_layers, per_layer, rtol=1e-5)
    back = rewrite(path, tmp_path)
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(back["showers"], f["showers"][()], rtol=1e-6, atol=0)
        np.testing.assert_allclose(back["incident_energies"], f["incident_energies"][()], rtol=0)


def test_writing_divides_visible_energy_by_the_sampling_fraction(tmp_path):
    geometry = get_geometry("calochallenge_2")
    layers = [np.full((2, *shape), 1e-3, dtype=np.float32) for shape in geometry.shapes]
    showers = Showers(geometry, layers, np.array([10.0, 20.0], dtype=np.float32))
    with FormatWriter(tmp_path / "out.h5", CaloChallengeFormat) as writer:
        writer.append(showers)
    with h5py.File(tmp_path / "out.h5", "r") as f:
        np.testing.assert_allclose(f["showers"][()], 1e-3 * 1000 / 0.033, rtol=1e-6)
        np.testing.assert_allclose(f["incident_energies"][()][:, 0], [1e4, 2e4], rtol=0)


# -- dataset 1 -----------------------------------------------------------------------------------

DATASET_1 = {
    "photons": (368, ["PreSamplerB", "EMB1", "EMB2", "EMB3", "TileBar0"]),
    "pions": (
        368 + 165,
        ["PreSamplerB", "EMB1", "EMB2", "EMB3", "TileBar0", "TileBar1", "TileBar2"],
    ),
}


@pytest.mark.parametrize("particle", sorted(DATASET_1))
def test_dataset_1_geometry_follows_the_binning_xml(particle):
    voxels, names = DATASET_1[particle]
    geometry = get_geometry(f"calochallenge_1_{particle}")
    layers = [(i, a, r) for i, a, r in xml_layers(f"binning_dataset_1_{particle}.xml") if r > 0]
    assert len(xml_layers(f"binning_dataset_1_{particle}.xml")) == 24  # empty layers dropped
    assert [ly.name for ly in geometry.layers] == names
    assert geometry.n_cells == voxels == sum(a * r for _, a, r in layers)
    assert geometry.shapes == [(a, r) for _, a, r in layers]
    assert all(isinstance(ly.layout, RAlphaLayout) for ly in geometry.layers)
    assert {ly.layout.n_alpha for ly in geometry.layers} == {1, 10}
    # ATLAS barrel, along the particle at eta = 0.225: EMB1-3 = 22.3 X0, Tile A = 1.5 lambda_I.
    emb = [ly for ly in geometry.layers if ly.name.startswith("EMB")]
    assert sum(ly.depth_x0 for ly in emb) == pytest.approx(22.3 * math.cosh(0.225))
    assert geometry.layers[names.index("TileBar0")].depth_lambda == pytest.approx(
        1.5 * math.cosh(0.225)
    )
    assert [ly.group for ly in geometry.layers] == ["ECAL"] * 4 + ["HCAL"] * (len(names) - 4)
    fronts = [ly.z_front_mm for ly in geometry.layers]
    assert fronts == sorted(fronts)
    assert geometry.layers[0].sampling_fraction is None  # homogeneous LAr presampler
    assert 0.1 < geometry.layers[1].sampling_fraction < 0.4  # Pb / LAr accordion
    assert 0.01 < geometry.layers[-1].sampling_fraction < 0.1  # Fe / scintillator Tile


@pytest.mark.parametrize("particle", sorted(DATASET_1))
def test_dataset_1_files_are_read_and_written(tmp_path, particle):
    """A ds1-shaped file is recognised from its voxel count; every XML layer's voxels land in
    that layer (deposited -> visible energy), at their alpha bin; the round trip is exact."""
    voxels = DATASET_1[particle][0]
    rng = np.random.default_rng(2)
    incident = 2.0 ** rng.integers(8, 23, N)
    raw = random_showers(rng, voxels, incident)
    path = challenge_file(tmp_path / "ds1.h5", raw, incident)
    with open_showers(path) as source:
        assert source.geometry.name == f"calochallenge_1_{particle}"
        showers = source.read()
    geometry = showers.geometry
    fractions = [ly.sampling_fraction or 1.0 for ly in geometry.layers]
    start = 0
    for i, (_, n_alpha, n_r) in enumerate(
        (i, a, r) for i, a, r in xml_layers(f"binning_dataset_1_{particle}.xml") if r > 0
    ):
        block = raw[:, start : start + n_alpha * n_r].reshape(N, n_alpha, n_r)
        start += n_alpha * n_r
        expected = np.roll(block, n_alpha // 2, axis=1) * fractions[i] / 1000
        np.testing.assert_allclose(showers.layers[i], expected, rtol=1e-5, atol=1e-12)
    assert start == voxels
    back = rewrite(path, tmp_path)
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(back["showers"], f["showers"][()], rtol=1e-6, atol=0)
        np.testing.assert_array_equal(back["incident_energies"], f["incident_energies"][()])


def test_dataset_1_voxel_sits_at_its_alpha_bin(tmp_path):
    """EMB2 of the photons: challenge alpha bin a (from -pi) is calogeo's cell at that angle."""
    geometry = get_geometry("calochallenge_1_photons")
    layer = geometry.layer_index("EMB2")
    n_alpha, n_r = geometry.layers[layer].shape
    raw = np.zeros((n_alpha, geometry.n_cells))
    for a in range(n_alpha):
        raw[a, geometry.layer_offsets[layer] + a * n_r + 3] = 100.0
    path = challenge_file(tmp_path / "ds1.h5", raw, np.full(n_alpha, 1024.0))
    read = read_showers(path)
    centres = geometry.layers[layer].layout.centres_mm()
    for a in range(n_alpha):
        (cell,) = np.flatnonzero(read.layers[layer][a])
        x, y = centres[cell]
        expected = -math.pi + (a + 0.5) * 2 * math.pi / n_alpha
        assert math.remainder(math.atan2(y, x) - expected, 2 * math.pi) == pytest.approx(
            0, abs=1e-9
        )


# -- cell centres ----------------------------------------------------------------------------------


def test_geometry_offers_the_published_cell_centres():
    """Dataset 2, ring radii: centroids of the sectors vs the challenge's bin midpoints."""
    geometry = get_geometry("calochallenge_2")
    n_r = geometry.shapes[0][1]
    centroid = np.hypot(*geometry.cell_centres_mm()[:n_r, :2].T)
    reference = np.hypot(*geometry.cell_centres_mm("reference")[:n_r, :2].T)
    np.testing.assert_allclose(reference[:3], [2.325, 6.975, 11.625], rtol=1e-12)
    assert centroid[1] == pytest.approx(7.187, abs=5e-4)
    z = geometry.cell_centres_mm("reference")[:, 2]
    np.testing.assert_array_equal(z, geometry.cell_centres_mm()[:, 2])
    with pytest.raises(ValueError, match="convention"):
        geometry.cell_centres_mm("midpoint")


def test_observables_use_the_chosen_cell_centres():
    """A shower all in one ring-2 cell of layer 0: its centre of energy sits at the sector
    centroid by default and at the challenge's bin midpoint with ``cell_centres="reference"``
    (what its evaluation code computes), for the event and the per-layer centre."""
    from calogeo import Showers
    from calogeo import observables as ob

    geometry = get_geometry("calochallenge_2")
    flat = np.zeros((1, geometry.n_cells), dtype=np.float32)
    flat[0, 1] = 1.0  # layer 0, first alpha bin, second ring
    showers = Showers.from_flat(geometry, flat, np.ones(1))
    centres = {
        convention: geometry.cell_centres_mm(convention)[1, :2]
        for convention in ("centroid", "reference")
    }
    for convention, (x, y) in centres.items():
        table = ob.table(showers, per_layer=True, cell_centres=convention)
        assert table["x_mean_mm"][0] == pytest.approx(x - geometry.anchor_mm[0], abs=1e-9)
        assert table["y_mean_mm[0]"][0] == pytest.approx(y - geometry.anchor_mm[1], abs=1e-9)
    assert math.hypot(*centres["reference"]) == pytest.approx(6.975, abs=1e-9)
    with pytest.raises(ValueError, match="cell_centres"):
        ob.table(showers, cell_centres="midpoint")
