"""Transverse symmetries: which geometries have them, and that they move energy correctly."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec, get_geometry, get_model
from calogeo.geometry import Geometry, Layer
from calogeo.layout import PolygonLayout
from calogeo.materials import STANDARD_MATERIALS
from calogeo.symmetry import TRANSFORMS, apply_symmetries, transverse_symmetries
from calogeo.testing import blob_showers, tungsten_grid_spec

SQUARE = set(TRANSFORMS)
MIRRORS = {"identity", "mirror_x", "mirror_y", "rotate_180"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("clic_ecal_rec", SQUARE), ("cms", SQUARE), ("ild_ahcal", SQUARE), ("atlas", MIRRORS)],
)
def test_shipped_windows_have_the_symmetries_of_their_cells(name, expected):
    assert set(transverse_symmetries(get_geometry(name))) == expected


def test_rectangular_cells_have_no_quarter_turns():
    spec = tungsten_grid_spec().replace("pitch_mm = [5.0, 5.0]", "pitch_mm = [5.0, 4.0]")
    assert set(transverse_symmetries(geometry_from_spec(spec))) == MIRRORS


def test_a_lopsided_layout_has_the_identity_alone():
    cells = [
        np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 2.0], [0.0, 2.0]]),
        np.array([[3.0, 0.0], [4.0, 0.0], [4.0, 2.0], [3.0, 2.0]]),
    ]
    layout = PolygonLayout.from_polygons(cells, (1, 2), {"type": "polygons"})
    layer = Layer("only", 0.0, 5.0, STANDARD_MATERIALS["W"], layout)
    assert set(transverse_symmetries(Geometry("lopsided", [layer]))) == {"identity"}


def test_every_symmetry_is_a_permutation_of_the_cells():
    geometry = get_geometry("atlas")
    for gather in transverse_symmetries(geometry).values():
        assert np.array_equal(np.sort(gather), np.arange(geometry.n_cells))


@pytest.fixture(scope="module")
def grid():
    return geometry_from_spec(tungsten_grid_spec(n=6, layers=2))


def one_hot(geometry: Geometry, cell: int):
    cells = np.zeros((1, geometry.n_cells), dtype=np.float32)
    cells[0, cell] = 1.0
    return cells


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_energy_moves_to_the_cell_under_the_transformed_point(grid, name):
    centres = grid.cell_centres_mm()
    matrix = np.asarray(TRANSFORMS[name], dtype=np.float64)
    gathers = transverse_symmetries(grid)
    for cell in (0, 7, 40):
        showers = Showers.from_flat(grid, one_hot(grid, cell), np.ones(1))
        moved = apply_symmetries(showers, np.stack([gathers[name]]), np.zeros(1, dtype=int))
        (hit,) = np.flatnonzero(moved.flat()[0])
        x, y, z = centres[cell]
        assert np.allclose(centres[hit], [*(matrix @ [x, y]), z])


def test_quarter_turns_compose_to_the_identity(grid):
    gathers = transverse_symmetries(grid)
    index = np.arange(grid.n_cells)
    for _ in range(4):
        index = index[gathers["rotate_90"]]
    assert np.array_equal(index, np.arange(grid.n_cells))
    assert np.array_equal(gathers["rotate_90"][gathers["rotate_270"]], np.arange(grid.n_cells))


def test_each_event_gets_its_own_symmetry_and_keeps_energies_and_labels(grid):
    showers = blob_showers(grid, 8, pdg=22, seed=3)
    gathers = np.stack(list(transverse_symmetries(grid).values()))
    choice = np.arange(8)
    moved = apply_symmetries(showers, gathers, choice)
    assert np.allclose(moved.layer_energies(), showers.layer_energies())
    assert np.array_equal(moved.incident_energy, showers.incident_energy)
    assert np.array_equal(moved.labels["pdg"], showers.labels["pdg"])
    for i in range(8):
        assert np.array_equal(moved.flat()[i], showers.flat()[i, gathers[i]])


def test_augmented_training_is_reproducible_and_differs_from_plain(grid):
    data = Showers.concatenate(
        [blob_showers(grid, 40, pdg=22, seed=1), blob_showers(grid, 40, pdg=111, seed=2)]
    )

    def history(augment: bool):
        model = get_model("dnn").build(grid, size="small", epochs=2, augment=augment)
        model.fit(data, device="cpu", progress=False)
        return [row["train_loss"] for row in model.history]

    assert history(True) == history(True)
    assert history(True) != history(False)
