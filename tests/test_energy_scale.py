"""Visible and deposited energy: one conversion for every consumer."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo.energy_scale import (
    cell_sampling_fractions,
    convert_layers,
    layer_sampling_fractions,
    scale_factors,
)
from calogeo.spec import geometry_from_spec
from calogeo.testing import TWO_LAYER_SPEC

SAMPLED_SPEC = TWO_LAYER_SPEC.replace('name = "back"', 'name = "back"\nsampling_fraction = 0.25')


@pytest.fixture
def geometry():
    return geometry_from_spec(SAMPLED_SPEC)


def test_fractions_per_layer_and_cell(geometry):
    assert layer_sampling_fractions(geometry).tolist() == [1.0, 0.25]
    cells = cell_sampling_fractions(geometry)
    assert cells.shape == (geometry.n_cells,)
    assert cells[:6].tolist() == [1.0] * 6
    assert cells[6:].tolist() == [0.25] * 16


def test_round_trip_and_direction(geometry):
    rng = np.random.default_rng(0)
    visible = [rng.random((3, *shape)).astype(np.float32) for shape in geometry.shapes]
    deposited = convert_layers(geometry, visible, "visible", "deposited")
    assert deposited[1].dtype == np.float32
    np.testing.assert_allclose(deposited[1], visible[1] / 0.25, rtol=1e-6)
    np.testing.assert_array_equal(deposited[0], visible[0])
    back = convert_layers(geometry, deposited, "deposited", "visible")
    np.testing.assert_allclose(back[1], visible[1], rtol=1e-6)
    assert scale_factors(geometry, "visible", "visible").tolist() == [1.0, 1.0]


def test_unknown_scale_is_named(geometry):
    with pytest.raises(ValueError, match="'raw'"):
        scale_factors(geometry, "visible", "raw")
