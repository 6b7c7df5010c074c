"""Events of several particles ("bunches", the LUXE ECAL positrons of one bunch crossing):
energy bookkeeping, labels, agreement with single showers, bad input, seeds and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from calogeo_simulation import GFlashSimulator

import calogeo
from calogeo import geometry_from_spec
from calogeo.cli import main
from calogeo.cli.cmd_simulate import parse_multiplicity
from calogeo.incident import impact_ranges
from calogeo.testing import tungsten_grid_spec

BUNCH_LABELS = {"pdg", "multiplicity", "energy_mean_gev", "energy_rms_gev", "leakage"}


@pytest.fixture(scope="module")
def grid() -> calogeo.Geometry:
    """Homogeneous tungsten, 9 x 9 cells of 5 mm, 8 layers of 5 mm (11 X0): no sampling, no
    stated term, so cells + leakage add up to the incident energy exactly."""
    return geometry_from_spec(tungsten_grid_spec("bunch_grid", n=9, layers=8))


@pytest.fixture(scope="module")
def luxe() -> calogeo.Geometry:
    return calogeo.get_geometry("luxe_ecal")


def event_offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]])


# -- bookkeeping and labels ----------------------------------------------------------------------


@pytest.mark.parametrize("particle", ["e+", "gamma", "pi0"])
def test_energy_adds_up_per_event(grid: calogeo.Geometry, particle: str) -> None:
    counts = np.array([1, 2, 3, 5])
    energies = np.random.default_rng(1).uniform(1.0, 5.0, counts.sum())
    impact = np.random.default_rng(2).uniform(-5.0, 5.0, (counts.sum(), 2))
    showers = GFlashSimulator(grid, seed=3).simulate_bunches(
        particle, energies, counts, impact_mm=impact
    )
    incident = np.add.reduceat(energies, event_offsets(counts))
    np.testing.assert_allclose(showers.incident_energy, incident, rtol=1e-6)
    total = showers.total_energy() + showers.labels["leakage"]
    np.testing.assert_allclose(total, incident, rtol=1e-5)


def test_labels_are_the_event_moments(grid: calogeo.Geometry) -> None:
    counts = [1, 4, 2, 7]
    energies = np.random.default_rng(4).uniform(0.5, 4.0, sum(counts))
    showers = GFlashSimulator(grid, seed=5).simulate_bunches(
        "e+", energies, counts, theta=0.05, phi=np.linspace(0.0, 6.0, sum(counts))
    )
    labels = showers.labels
    assert set(labels) == BUNCH_LABELS
    assert len(showers) == len(counts)
    assert labels["pdg"].dtype == np.int32
    assert labels["multiplicity"].dtype == np.int32
    for name in ("energy_mean_gev", "energy_rms_gev", "leakage"):
        assert labels[name].dtype == np.float32
    assert np.all(labels["pdg"] == -11)
    np.testing.assert_array_equal(labels["multiplicity"], counts)
    per_event = np.split(energies, np.cumsum(counts)[:-1])
    np.testing.assert_allclose(labels["energy_mean_gev"], [e.mean() for e in per_event], rtol=1e-6)
    np.testing.assert_allclose(
        labels["energy_rms_gev"], [e.std() for e in per_event], rtol=1e-5, atol=1e-7
    )
    assert labels["energy_rms_gev"][0] == 0.0  # a single particle has no spread
    assert np.all(labels["leakage"] >= 0)


def test_scalar_energy_applies_to_every_particle(grid: calogeo.Geometry) -> None:
    showers = GFlashSimulator(grid, seed=6).simulate_bunches("gamma", 2.0, [3, 1])
    np.testing.assert_allclose(showers.incident_energy, [6.0, 2.0])
    np.testing.assert_allclose(showers.labels["energy_mean_gev"], [2.0, 2.0])


# -- the same showers as one particle at a time --------------------------------------------------


@pytest.mark.parametrize("particle", ["e-", "gamma", "pi0", "pi+"])
def test_bunches_of_one_are_the_single_showers(grid: calogeo.Geometry, particle: str) -> None:
    """Both share one code path: with the same seed, one particle per event gives the very
    showers of :meth:`simulate`."""
    energies = np.array([1.0, 3.0, 8.0])
    kwargs = {"theta": np.array([0.0, 0.1, 0.2]), "phi": 0.7, "impact_mm": (2.0, -1.0)}
    single = GFlashSimulator(grid, seed=8).simulate(particle, energies, **kwargs)
    bunch = GFlashSimulator(grid, seed=8).simulate_bunches(particle, energies, [1, 1, 1], **kwargs)
    np.testing.assert_array_equal(bunch.flat(), single.flat())
    np.testing.assert_array_equal(bunch.labels["leakage"], single.labels["leakage"])
    np.testing.assert_array_equal(bunch.incident_energy, single.incident_energy)


def test_visible_energy_grows_with_multiplicity(luxe: calogeo.Geometry) -> None:
    """k independent 2 GeV positrons spread over the face: the visible energy per particle
    does not depend on k, and its event-to-event spread falls as 1/sqrt(k)."""
    x_range, y_range = impact_ranges(luxe)
    rng = np.random.default_rng(10)
    simulator = GFlashSimulator(luxe, seed=11)
    n = 60
    per_particle = {}
    for k in (1, 4, 16):
        m = n * k
        impact = np.stack([rng.uniform(*x_range, m), rng.uniform(*y_range, m)], axis=1)
        showers = simulator.simulate_bunches("e+", np.full(m, 2.0), np.full(n, k), impact_mm=impact)
        per_particle[k] = showers.total_energy() / k
    mean1, spread1 = per_particle[1].mean(), per_particle[1].std()
    assert 0.005 < mean1 < 0.05  # visible: the Si sampling fraction of a W/Si stack
    for k in (4, 16):
        # The difference of two means, each with its error from the single-shower spread.
        sigma = spread1 * np.sqrt((1 + 1 / k) / n)
        assert per_particle[k].mean() == pytest.approx(mean1, abs=4 * sigma)
        # Independent particles: the ratio of the two spreads of n = 60 events scatters by
        # 13% (over 40 seeds; the single-shower distribution has a leakage tail), so 50% is
        # 4 sigma. Copies of one shower would give sqrt(k) = 2 or 4.
        assert per_particle[k].std() == pytest.approx(spread1 / np.sqrt(k), rel=0.5)


# -- input checks and seeds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"energies": [1.0, 2.0], "counts": [2, 0]}, "counts must be at least 1"),
        ({"energies": [1.0, 2.0], "counts": [3, -1]}, "counts must be at least 1"),
        ({"energies": [1.0, 2.0], "counts": [1.0, 1.0]}, "counts: expected a 1-d array"),
        ({"energies": [1.0, 2.0], "counts": [[1, 1]]}, "counts: expected a 1-d array"),
        ({"energies": [1.0, 2.0], "counts": [1, 2]}, r"sum\(counts\) = 3 values"),
        ({"energies": [1.0, -2.0], "counts": [1, 1]}, "energies must be positive"),
        ({"energies": [1.0, 2.0], "counts": [2], "theta": [0.1] * 3}, "theta: expected"),
        ({"energies": [1.0, 2.0], "counts": [2], "theta": 2.0}, "theta must be in"),
        ({"energies": [1.0, 2.0], "counts": [2], "impact_mm": np.zeros((3, 2))}, "impact_mm"),
    ],
)
def test_bad_input_raises_calogeo_errors(
    grid: calogeo.Geometry, kwargs: dict, message: str
) -> None:
    with pytest.raises(calogeo.CalogeoError, match=message):
        GFlashSimulator(grid, seed=1).simulate_bunches("e+", **kwargs)


def test_unknown_particle_is_refused(grid: calogeo.Geometry) -> None:
    with pytest.raises(calogeo.CalogeoError, match="particle 'mu-'"):
        GFlashSimulator(grid, seed=1).simulate_bunches("mu-", [1.0], [1])


def test_seed_makes_bunches_reproducible(grid: calogeo.Geometry) -> None:
    energies, counts = np.linspace(1.0, 4.0, 9), [2, 3, 4]
    a, b, c = (
        GFlashSimulator(grid, seed=seed).simulate_bunches("gamma", energies, counts)
        for seed in (12, 12, 13)
    )
    np.testing.assert_array_equal(a.flat(), b.flat())
    np.testing.assert_array_equal(a.labels["leakage"], b.labels["leakage"])
    assert not np.array_equal(a.flat(), c.flat())


# -- command line --------------------------------------------------------------------------------


def simulate(out: Path, *extra: str) -> int:
    return main(["simulate", "--geometry", "luxe_ecal", "--particle", "e+", "-o", str(out), *extra])


def test_cli_writes_bunches(tmp_path: Path) -> None:
    args = ("--energy", "1:3", "--multiplicity", "2:5", "-n", "12", "--batch-size", "5")
    assert simulate(tmp_path / "a.h5", *args, "--seed", "4") == 0
    assert simulate(tmp_path / "b.h5", *args, "--seed", "4", "--workers", "2") == 0
    showers = calogeo.read_showers(tmp_path / "a.h5")
    assert len(showers) == 12
    assert showers.geometry.name == "luxe_ecal"
    labels = showers.labels
    assert set(labels) == BUNCH_LABELS
    count = labels["multiplicity"]
    assert np.all((count >= 2) & (count <= 5))
    assert len(np.unique(count)) > 1
    mean = labels["energy_mean_gev"]
    assert np.all((mean >= 1.0) & (mean <= 3.0))
    assert np.all(labels["energy_rms_gev"] <= 1.0)  # half the range at most
    np.testing.assert_allclose(showers.incident_energy, count * mean, rtol=1e-5)
    assert np.all(showers.total_energy() > 0)
    # The output does not depend on the number of threads.
    other = calogeo.read_showers(tmp_path / "b.h5")
    np.testing.assert_array_equal(showers.flat(), other.flat())
    np.testing.assert_array_equal(count, other.labels["multiplicity"])


@pytest.mark.parametrize("value", ["0:5", "5:2", "two", "1.5", "1:2:3", "-3"])
def test_cli_bad_multiplicity_fails_with_one_line_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    out = tmp_path / "bad.h5"
    assert simulate(out, "--energy", "2", "--multiplicity", value, "-n", "2") == 1
    err = capsys.readouterr().err
    assert f"--multiplicity {value!r}" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.glob("bad.h5*")) == []


def test_cli_interrupt_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = GFlashSimulator.simulate_bunches

    def interrupted(self: GFlashSimulator, *args: object, **kwargs: object) -> calogeo.Showers:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GFlashSimulator, "simulate_bunches", interrupted)
    args = ("--energy", "1", "--multiplicity", "2", "-n", "6", "--batch-size", "2")
    assert simulate(tmp_path / "cut.h5", *args) == 130
    assert list(tmp_path.glob("cut.h5*")) == []


def test_parse_multiplicity() -> None:
    assert parse_multiplicity("100") == (100, 100)
    assert parse_multiplicity("2:5") == (2, 5)
    with pytest.raises(calogeo.CalogeoError, match="--multiplicity '0'"):
        parse_multiplicity("0")


def test_impact_points_keep_one_moliere_radius_from_the_edges(luxe: calogeo.Geometry) -> None:
    rm = luxe.layers[0].material.rm_mm
    (x_low, x_high), (y_low, y_high) = impact_ranges(luxe)
    assert (x_low, x_high) == pytest.approx((-27.5 + rm, 27.5 - rm))  # 11 pads of 5 mm
    assert (y_low, y_high) == pytest.approx((-275.0 + rm, 275.0 - rm))  # 110 pads
    # A face narrower than two Moliere radii: the particles enter on its centre line.
    narrow = geometry_from_spec(tungsten_grid_spec("narrow", n=3, layers=1))
    assert impact_ranges(narrow) == ((0.0, 0.0), (0.0, 0.0))
