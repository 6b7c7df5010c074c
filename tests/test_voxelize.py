"""calogeo.voxelize: hits placed on each event's axis and binned into any geometry's cells."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

import calogeo
from calogeo import read_showers
from calogeo.energy_scale import layer_sampling_fractions
from calogeo.errors import CalogeoError
from calogeo.hits import HitBatch
from calogeo.io import ShowerFile
from calogeo.spec import geometry_from_spec
from calogeo.voxelize import VoxelizeSettings, voxelize, voxelize_batch
from calogeo.voxelize.axis import barycentre_directions, transverse_basis
from calogeo.voxelize.scatter import showers_to_hits

HEX_SPEC = """
name = "hex_test"
title = "three layers of 8 mm hexagons"
citation = "test"
distance_from_ip_mm = 2000.0
anchor_mm = [3.0, -2.0]
[[layers]]
name = "hex"
repeat = 3
thickness_mm = 6.0
material = "W"
sampling_fraction = 0.1
layout = { type = "hexagonal", pitch_mm = 8.0, shape = [10, 10] }
"""


def simulated(geometry: calogeo.Geometry, n: int = 6, seed: int = 1) -> calogeo.Showers:
    """``n`` 20 GeV photon showers from the registered parametric generator."""
    simulator = calogeo.get_model("gflash").build(geometry, seed=seed)
    return simulator.simulate("gamma", np.full(n, 20.0))


def random_axes(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Vertices near the origin (mm) and directions spread over the barrel and end-cap."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, 3)) * [1.0, 1.0, 0.6]
    direction[0] = [0.0, 0.0, 1.0]  # along the beam
    direction[1] = [-1.0, 0.0, 0.0]
    return rng.normal(0.0, 5.0, size=(n, 3)), direction


def write_table(path, hits: HitBatch) -> None:
    """An HDF5 hit table with offsets and per-event truth (the ``table`` reader's layout)."""
    with h5py.File(path, "w") as h5:
        for k, c in enumerate("xyz"):
            h5[c] = hits.position[:, k].astype(np.float32)
            h5[f"vertex_{c}"] = hits.events["vertex_mm"][:, k]
            h5[f"direction_{c}"] = hits.events["direction"][:, k]
        h5["energy"] = hits.energy.astype(np.float32)
        h5["offsets"] = hits.offsets
        h5["incident_energy"] = hits.events["incident_energy"]


@pytest.mark.parametrize(
    "name", ["clic_ecal_rec", "atlas", "hex_test", "calochallenge_2"], ids=str
)  # grid, eta-phi, hexagonal, r-alpha
def test_round_trip_gives_the_simulated_cells_back(name, tmp_path):
    geometry = geometry_from_spec(HEX_SPEC) if name == "hex_test" else calogeo.get_geometry(name)
    showers = simulated(geometry)
    vertex, direction = random_axes(len(showers))
    hits = showers_to_hits(showers, vertex_mm=vertex, direction=direction, seed=3)
    assert hits.n_hits > np.count_nonzero(showers.flat())  # energies split over several hits
    write_table(tmp_path / "hits.h5", hits)
    report = voxelize(tmp_path / "hits.h5", geometry, tmp_path / "out.h5", chunk_hits=2000)
    back = read_showers(tmp_path / "out.h5")
    np.testing.assert_allclose(back.flat(), showers.flat(), rtol=2e-6, atol=0)
    np.testing.assert_array_equal(back.flat() != 0, showers.flat() != 0)
    np.testing.assert_allclose(back.incident_energy, showers.incident_energy)
    np.testing.assert_allclose(back.labels["loss"], 0.0)
    np.testing.assert_allclose(back.labels["theta"], 0.0, atol=1e-6)  # truth axis: theta = 0
    np.testing.assert_allclose(back.labels["impact_x"], geometry.anchor_mm[0], atol=1e-6)
    assert (report.events, report.hits) == (len(showers), hits.n_hits)
    assert report.mean_kept == pytest.approx(1.0)


def test_frame_follows_the_eta_phi_convention():
    # for an axis along +x: larger phi is +y (columns, x), larger eta is +z (rows, y)
    ex, ey = transverse_basis(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(ex, [[0, 1, 0], [1, 0, 0], [1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(ey, [[0, 0, 1], [0, 1, 0], [0, -1, 0]], atol=1e-15)
    geometry = calogeo.get_geometry("atlas")
    front = geometry.distance_from_ip_mm
    depth = 0.5 * sum(geometry.z_edges_mm[0])
    # hits in layer 0, on the axis and 4 cells further in +z (eta) and 1 cell in +y (phi)
    layout = geometry.layers[0].layout
    dy = np.diff(layout.y_edges_mm)[0]
    position = np.array([[front + depth, 0.0, 0.0], [front + depth, 0.0, 4 * dy]])
    position[1, 1] = np.diff(layout.x_edges_mm)[0]
    hits = HitBatch(np.array([0, 2]), position, np.array([1.0, 2.0]))
    out = voxelize_batch(
        hits,
        geometry,
        VoxelizeSettings(axis="fixed", direction=(1, 0, 0), incident_energy_gev=50.0),
    )
    rows, cols = layout.shape
    centre = (rows // 2) * cols + cols // 2
    assert out.index.tolist() == [centre, centre + 4 * cols + 1]


def test_barycentre_axis_points_at_the_energy_barycentre():
    origin = np.zeros((2, 3))
    position = np.array([[10.0, 0, 0], [10.0, 2.0, 0], [0, 0, 5.0], [0, 0, 7.0]])
    energy = np.array([3.0, 1.0, 1.0, -1.0])  # a negative hit does not pull the barycentre
    u = barycentre_directions(position, energy, np.array([0, 0, 1, 1]), origin)
    np.testing.assert_allclose(u, [[10.0, 0.5, 0] / np.hypot(10.0, 0.5), [0, 0, 1]])


def test_barycentre_axis_recovers_a_symmetric_shower_and_labels_its_angles():
    geometry = calogeo.get_geometry("clic_ecal_rec")
    showers = simulated(geometry, n=4)
    direction = np.array([[1.0, 0.3, 0.2], [0.2, 1.0, -0.4], [0.5, -1.0, 0.1], [-1.0, 0.0, 0.3]])
    hits = showers_to_hits(showers, direction=direction, seed=5)
    truth = voxelize_batch(hits, geometry, VoxelizeSettings(axis="truth"))
    bary = voxelize_batch(hits, geometry, VoxelizeSettings(axis="barycentre"))
    # the simulated showers are centred on the axis: the barycentre finds it within a fraction
    # of a cell (5.1 mm at 1.5 m: 3.4 mrad), and the truth's angle to it is that small
    assert np.all(bary.labels["theta"] < 2e-3)
    u = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    np.testing.assert_allclose(bary.labels["axis_theta"], np.arccos(u[:, 2]), atol=2e-3)
    np.testing.assert_allclose(truth.labels["axis_phi"], np.arctan2(u[:, 1], u[:, 0]), atol=1e-6)
    e_truth, e_bary = truth.dense().total_energy(), bary.dense().total_energy()
    np.testing.assert_allclose(e_bary, e_truth, rtol=0.02)


def test_hits_outside_the_window_are_the_events_loss():
    geometry = calogeo.get_geometry("clic_ecal_rec")
    front = geometry.distance_from_ip_mm
    back = geometry.z_edges_mm[-1, 1]
    position = np.array(
        [
            [front + 1.0, 0.0, 0.0],  # layer 0, in the window
            [front + 1.0, 500.0, 0.0],  # layer 0, beside the window
            [front + back + 10.0, 0.0, 0.0],  # behind the last layer
            [front - 10.0, 0.0, 0.0],  # in front of the window
        ]
    )
    hits = HitBatch(np.array([0, 4]), position, np.array([1.0, 2.0, 3.0, 4.0]))
    out, books = calogeo.voxelize.HitBinner(
        geometry, VoxelizeSettings(axis="fixed", direction=(1, 0, 0), incident_energy_gev=50.0)
    )(hits)
    assert out.labels["loss"].tolist() == [9.0]
    assert out.labels["loss_fraction"][0] == pytest.approx(0.9)
    assert (books.outside_hits[0], books.outside_energy[0]) == (1, 2.0)
    assert (books.gap_hits[0], books.gap_energy[0]) == (1, 4.0)  # before the front
    assert (books.gap_hits[-1], books.gap_energy[-1]) == (1, 3.0)  # behind the back


def test_deposited_hits_become_visible_energy_with_the_layer_sampling_fraction():
    geometry = geometry_from_spec(HEX_SPEC)
    showers = simulated(geometry, n=3)
    hits = showers_to_hits(showers, seed=2)
    deposited = HitBatch(hits.offsets, hits.position, hits.energy * 10.0, hits.events)
    out = voxelize_batch(deposited, geometry, VoxelizeSettings(energy_scale="deposited"))
    assert layer_sampling_fractions(geometry)[0] == 0.1
    np.testing.assert_allclose(out.flat(), showers.flat(), rtol=2e-6)


def test_units_of_the_input_are_converted():
    geometry = calogeo.get_geometry("clic_ecal_rec")
    showers = simulated(geometry, n=2)
    vertex, direction = random_axes(len(showers))
    hits = showers_to_hits(showers, vertex_mm=vertex, direction=direction, seed=4)
    events = {
        "incident_energy": hits.events["incident_energy"] * 1e3,
        "vertex_mm": vertex / 10.0,
        "direction": direction,
    }
    in_cm_mev = HitBatch(hits.offsets, hits.position / 10.0, hits.energy * 1e3, events)
    settings = VoxelizeSettings(length_unit="cm", energy_unit="MeV")
    out = voxelize_batch(in_cm_mev, geometry, settings)
    np.testing.assert_allclose(out.flat(), showers.flat(), rtol=2e-6)
    np.testing.assert_allclose(out.incident_energy, showers.incident_energy, rtol=1e-6)


def test_truth_axis_without_truth_is_an_error():
    hits = HitBatch(np.array([0, 1]), np.array([[1500.0, 0.0, 0.0]]), np.array([1.0]))
    geometry = calogeo.get_geometry("clic_ecal_rec")
    with pytest.raises(CalogeoError, match="no MC truth"):
        voxelize_batch(hits, geometry, VoxelizeSettings(axis="truth"))
    with pytest.raises(CalogeoError, match="fixed axis needs a direction"):
        VoxelizeSettings(axis="fixed")


def test_streaming_memory_is_bounded_by_the_chunk_not_the_file(tmp_path):
    """Voxelizing a table of 2.4 M hits (38 MB of columns) in chunks of 20,000 hits keeps the
    arrays in memory under 8 MB: the file is never loaded whole."""
    geometry = calogeo.get_geometry("clic_ecal_rec")
    n_events, per_event = 1200, 2000
    rng = np.random.default_rng(0)
    n_hits = n_events * per_event
    with h5py.File(tmp_path / "big.h5", "w") as h5:
        h5["x"] = rng.uniform(1500.0, 1700.0, n_hits).astype(np.float32)
        h5["y"] = rng.normal(0.0, 20.0, n_hits).astype(np.float32)
        h5["z"] = rng.normal(0.0, 20.0, n_hits).astype(np.float32)
        h5["energy"] = rng.exponential(1e-3, n_hits).astype(np.float32)
        h5["offsets"] = np.arange(0, n_hits + 1, per_event)
    settings = VoxelizeSettings(axis="fixed", direction=(1.0, 0.0, 0.0), incident_energy_gev=50.0)
    tracemalloc.start()
    try:
        report = voxelize(
            tmp_path / "big.h5", geometry, tmp_path / "out.h5", settings=settings, chunk_hits=20_000
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.hits == n_hits
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"
    with ShowerFile(tmp_path / "out.h5") as out:
        assert len(out) == n_events


def test_kernels_match_their_numpy_references():
    from calogeo.voxelize import kernels

    rng = np.random.default_rng(3)
    n, m, n_cells = 7, 400, 50
    offsets = np.r_[0, np.sort(rng.integers(0, m, n - 1)), m].astype(np.int64)
    offsets[3] = offsets[2]  # an event without hits
    position = rng.normal(0.0, 100.0, size=(m, 3))
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ex, ey = transverse_basis(u)
    geometry = calogeo.get_geometry("atlas")  # three layers, 0-446 mm
    t0 = rng.uniform(-200.0, 0.0, n)  # depths from before the front to behind the back
    frame = (10.0, offsets, rng.normal(size=(n, 3)), u, ex, ey, t0, 1.5, -2.0)  # cm to mm
    position = (position / 10.0).astype(np.float32)
    *coordinates, layer = kernels.window_coordinates(position, *frame, geometry.z_edges_mm)
    for got, want in zip(
        coordinates, kernels.window_coordinates_numpy(position, *frame), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(layer, geometry.layer_at_depth(coordinates[2]))
    assert set(np.unique(layer)) == {-1, 0, 1, 2}
    cell = rng.integers(-1, n_cells, size=m)
    energy = rng.normal(size=m)
    energy[:2], cell[:2] = [1.0, -1.0], cell[0]  # two hits cancelling: no zero cell is kept
    got = kernels.sum_cells(offsets, cell, energy, n_cells)
    want = kernels.sum_cells_numpy(offsets, cell, energy, n_cells)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    assert np.all(got[2] != 0)


def test_events_without_incident_energy_need_one_given():
    """Native files hold finite incident energies only: hits without MC truth take the
    incident (beam) energy from the settings, or are an error naming the option."""
    hits = HitBatch(np.array([0, 1]), np.array([[1510.0, 0.0, 0.0]]), np.array([1.0]))
    geometry = calogeo.get_geometry("clic_ecal_rec")
    fixed = {"axis": "fixed", "direction": (1.0, 0.0, 0.0)}
    with pytest.raises(CalogeoError, match="--incident-energy"):
        voxelize_batch(hits, geometry, VoxelizeSettings(**fixed))
    out = voxelize_batch(hits, geometry, VoxelizeSettings(**fixed, incident_energy_gev=20.0))
    assert out.incident_energy.tolist() == [20.0]
    with pytest.raises(CalogeoError, match="must be positive"):
        VoxelizeSettings(incident_energy_gev=float("nan"))
