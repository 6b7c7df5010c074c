"""InputView.to_cells: view arrays back onto the geometry's cells, the way generative models
return their images (the energy-conserving transpose of the voxel view's resampling)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calogeo.registry import get_geometry
from calogeo.showers import Showers
from calogeo.testing import blob_showers
from calogeo.views import InputView


@pytest.mark.parametrize(("name", "view"), [("calogan", "layers"), ("clic_ecal_rec", "voxels")])
def test_views_without_resampling_invert_exactly(name, view):
    geometry = get_geometry(name)
    showers = blob_showers(geometry, 3)
    input_view = InputView(geometry, view)
    np.testing.assert_array_equal(input_view.to_cells(input_view(showers)), showers.flat())


@pytest.mark.parametrize("name", ["atlas", "calogan"])
def test_resampled_voxels_go_back_conserving_energy(name):
    geometry = get_geometry(name)
    showers = blob_showers(geometry, 4)
    view = InputView(geometry, "voxels")
    assert view.voxel_grids[0][1] is not None  # this geometry is resampled onto a grid
    arrays = view(showers)
    cells = view.to_cells(arrays)
    assert cells.shape == (4, geometry.n_cells)
    assert np.all(cells >= 0)
    np.testing.assert_allclose(cells.sum(axis=1), showers.flat().sum(axis=1), rtol=1e-5)
    # a smooth shower comes back close to itself; per layer the energy is exact (same depths)
    np.testing.assert_allclose(
        Showers.from_flat(geometry, cells, showers.incident_energy).layer_energies(),
        showers.layer_energies(),
        rtol=1e-4,
    )
    torch_cells = view.to_cells([torch.from_numpy(a) for a in arrays])
    np.testing.assert_allclose(torch_cells.numpy(), cells, rtol=1e-5, atol=1e-7)


def test_energy_in_voxels_outside_every_cell_is_dropped_and_inside_kept():
    geometry = get_geometry("atlas")
    view = InputView(geometry, "voxels")
    grid, resampler = view.voxel_grids[0]
    voxels = np.zeros((1, grid.n_cells), dtype=np.float32)
    covered = resampler.overlaps.target_covered_volume > 0
    inside, outside = np.flatnonzero(covered)[:5], np.flatnonzero(~covered)[:5]
    assert len(outside) == 5  # strips of layer 1 reach further than the cells of layers 2-3
    voxels[0, inside] = 1.0
    voxels[0, outside] = 7.0
    back = resampler.spread_back_array(voxels)
    assert back.sum() == pytest.approx(len(inside), rel=1e-6)
