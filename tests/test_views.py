"""Input views: flat, layers, voxels and the global features, on small test geometries."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import CalogeoError, Showers, geometry_from_spec
from calogeo.testing import blob_showers
from calogeo.views import InputView, global_feature_names, global_features, group_geometry

HEAD = 'title = "test"\ncitation = "test"\ndistance_from_ip_mm = 1500.0\n'

# ECAL: a strip layer (16 x 2.5 mm columns, 2 x 20 mm rows) and two 8x8 grid layers of 5 mm,
# then an HCAL of three 3x3 grids of 20 mm: not a regular grid, two groups.
MIXED = (
    'name = "mixed"\n'
    + HEAD
    + """
[[layers]]
name = "strips"
thickness_mm = 5.0
material = "Pb"
layout = { type = "grid", pitch_mm = [2.5, 20.0], shape = [2, 16] }
[[layers]]
name = "middle"
repeat = 2
thickness_mm = 10.0
material = "Pb"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [8, 8] }
[[layers]]
name = "had"
repeat = 3
thickness_mm = 40.0
material = "Fe"
group = "HCAL"
layout = { type = "grid", pitch_mm = [20.0, 20.0], shape = [3, 3] }
"""
)

CUBE = (
    'name = "cube"\n'
    + HEAD
    + """
[[layers]]
name = "layer"
repeat = 4
thickness_mm = 5.0
material = "W"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [5, 6] }
"""
)


@pytest.fixture(scope="module")
def mixed():
    return geometry_from_spec(MIXED)


@pytest.fixture(scope="module")
def cube():
    return geometry_from_spec(CUBE)


def test_flat_view_is_the_cell_vector(cube):
    showers = blob_showers(cube, 3, seed=1)
    (flat,) = InputView(cube, "flat")(showers)
    assert flat.shape == (3, cube.n_cells) == (3, *InputView(cube, "flat").shapes[0])
    np.testing.assert_array_equal(flat, showers.flat())


def test_layers_view_stacks_same_shaped_layers_of_a_group(mixed):
    view = InputView(mixed, "layers")
    assert view.shapes == [(1, 2, 16), (2, 8, 8), (3, 3, 3)]
    showers = blob_showers(mixed, 2, seed=2)
    arrays = view(showers)
    assert [a.shape[1:] for a in arrays] == view.shapes
    np.testing.assert_array_equal(arrays[1][:, 1], showers.layers[2])
    np.testing.assert_array_equal(arrays[2][:, 0], showers.layers[3])


def test_voxels_of_a_regular_grid_are_the_stacked_layers(cube):
    showers = blob_showers(cube, 2, seed=3)
    view = InputView(cube, "voxels")
    (cube_array,) = view(showers)
    assert view.shapes == [(1, 4, 5, 6)]
    assert cube_array.shape == (2, 1, 4, 5, 6)
    np.testing.assert_array_equal(cube_array[:, 0], np.stack(showers.layers, axis=1))


def test_voxels_resample_irregular_groups_onto_a_regular_grid(mixed):
    view = InputView(mixed, "voxels")
    ecal, hcal = view.shapes
    assert ecal[1] == 3  # one grid layer per ECAL layer
    assert ecal[2] * ecal[3] >= 16  # at least as fine as the strips
    assert hcal == (1, 3, 3, 3)  # the HCAL is regular already
    showers = blob_showers(mixed, 4, seed=4)
    arrays = view(showers)
    assert [a.shape[1:] for a in arrays] == view.shapes
    ecal_in = showers.layer_energies()[:, :3].sum(axis=1)
    # the grid covers the ECAL window: energy is moved, not lost
    np.testing.assert_allclose(arrays[0].sum(axis=(1, 2, 3, 4)), ecal_in, rtol=1e-4)


def test_group_geometry_keeps_the_group_layers(mixed):
    hcal = group_geometry(mixed, "HCAL")
    assert hcal.n_layers == 3
    assert hcal.is_regular_grid
    assert group_geometry(mixed, "ECAL").n_layers == 3
    with pytest.raises(CalogeoError, match="no layer group 'TILE'"):
        group_geometry(mixed, "TILE")


def test_global_features_are_group_sums_and_barycentre_angles(mixed):
    showers = blob_showers(mixed, 5, seed=5)
    g = global_features(showers)
    assert global_feature_names(mixed) == [
        "energy_ECAL_gev",
        "energy_HCAL_gev",
        "theta_x_rad",
        "theta_y_rad",
    ]
    per_layer = showers.layer_energies()
    np.testing.assert_allclose(g[:, 0], per_layer[:, :3].sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(g[:, 1], per_layer[:, 3:].sum(axis=1), rtol=1e-5)
    assert g.dtype == np.float32


def test_estimated_angle_follows_the_energy(cube):
    cells = np.zeros((1, cube.n_cells), dtype=np.float32)
    layer = cube.layers[2]
    right = int(np.argmax(layer.layout.centres_mm()[:, 0]))  # a cell at the largest x
    cells[0, cube.layer_offsets[2] + right] = 1.0
    showers = Showers.from_flat(cube, cells, np.ones(1))
    x, _, z = cube.cell_centres_mm()[cube.layer_offsets[2] + right]
    theta_x, _theta_y = global_features(showers)[0, 1:]
    assert theta_x == pytest.approx(np.arctan2(x, 1500.0 + z), rel=1e-5)
    assert theta_x > 0


def test_unknown_view_is_refused(cube):
    with pytest.raises(CalogeoError, match="unknown input view 'pixels'"):
        InputView(cube, "pixels")
