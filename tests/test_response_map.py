"""The response calibration: conditional quantile mapping of E_visible / E_incident."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo.errors import CalogeoError
from calogeo.response_map import ResponseMap, _cdf


def _reference(energy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A calorimeter-like response: mean 0.9, 2% / sqrt(E / 50 GeV) resolution."""
    return 0.9 + 0.02 * rng.standard_normal(len(energy)) / np.sqrt(energy / 50.0)


@pytest.fixture(scope="module")
def fitted() -> ResponseMap:
    rng = np.random.default_rng(1)
    energy = rng.uniform(10.0, 100.0, 8000)
    generated = 0.6 + 0.1 * rng.standard_normal(len(energy))  # too low and five times too wide
    return ResponseMap.fit(energy, _reference(energy, rng), generated)


@pytest.mark.parametrize("energy", [15.0, 50.0, 90.0])
def test_the_map_gives_the_reference_mean_and_resolution(fitted: ResponseMap, energy: float):
    rng = np.random.default_rng(2)
    mapped = fitted(np.full(20000, energy), 0.6 + 0.1 * rng.standard_normal(20000))
    assert mapped.mean() == pytest.approx(0.9, rel=0.005)
    assert mapped.std() == pytest.approx(0.02 / np.sqrt(energy / 50.0), rel=0.15)


def test_the_map_keeps_the_generator_s_ordering(fitted: ResponseMap):
    response = np.linspace(0.3, 0.9, 50)
    mapped = fitted(np.full(50, 40.0), response)
    assert np.all(np.diff(mapped) >= 0)
    assert mapped[-1] > mapped[0]


def test_a_generator_that_is_already_right_is_left_about_alone():
    rng = np.random.default_rng(3)
    energy = rng.uniform(10.0, 100.0, 8000)
    same = ResponseMap.fit(energy, _reference(energy, rng), _reference(energy, rng))
    response = _reference(np.full(2000, 50.0), rng)
    shift = same(np.full(2000, 50.0), response) - response
    assert np.median(np.abs(shift)) < 0.1 * 0.02  # a tenth of the resolution


def test_energies_outside_the_training_range_use_the_edge_bins(fitted: ResponseMap):
    low = fitted(np.array([1.0, 5.0]), np.array([0.6, 0.6]))
    assert np.all(np.abs(low - 0.9) < 0.05)


def test_state_round_trip(fitted: ResponseMap):
    again = ResponseMap.from_state(fitted.state())
    energy, response = np.array([12.0, 47.0, 99.0]), np.array([0.5, 0.6, 0.7])
    np.testing.assert_array_equal(again(energy, response), fitted(energy, response))


def test_ties_take_their_middle_level():
    levels = np.linspace(0.0, 1.0, 5)
    quantiles = np.array([0.0, 0.0, 0.0, 1.0, 2.0])  # half the showers empty
    assert _cdf(np.array([0.0]), quantiles, levels)[0] == pytest.approx(0.25)
    assert _cdf(np.array([1.5]), quantiles, levels)[0] == pytest.approx(0.875)


def test_bad_input_is_refused():
    with pytest.raises(CalogeoError, match="one length"):
        ResponseMap.fit(np.ones(3), np.ones(3), np.ones(2))


def test_a_response_that_runs_with_energy_inside_a_bin_is_not_read_as_width():
    rng = np.random.default_rng(4)
    energy = rng.uniform(10.0, 100.0, 8000)  # 20 bins of 4.5 GeV
    trend = 0.3 + 0.01 * energy  # +-2.25% of the response across one bin
    generated = trend + 0.002 * rng.standard_normal(len(energy))
    fitted = ResponseMap.fit(energy, _reference(energy, rng), generated)
    at_20 = fitted(np.full(20000, 20.0), 0.5 + 0.002 * rng.standard_normal(20000))
    assert at_20.mean() == pytest.approx(0.9, rel=0.005)
    assert at_20.std() == pytest.approx(0.02 / np.sqrt(20.0 / 50.0), rel=0.15)
