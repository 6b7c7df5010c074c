"""Contract tests over the registry: the simulator works on every registered geometry, and the
geometries that state a stochastic term get that resolution (issue 4: within 20%)."""

from __future__ import annotations

import numpy as np
import pytest
from calogeo_simulation import PARTICLES, GFlashSimulator
from calogeo_simulation.stack import stochastic_terms

import calogeo

GEOMETRIES = sorted(entry.name for entry in calogeo.list_geometries())
# Seed variants carry a paper's pure-material X0 and R_M (e.g. liquid argon's 9 cm R_M for
# ATLAS): their showers leak out of the window, so their resolution is not the detector's.
STATED = [
    name
    for name in GEOMETRIES
    if calogeo.get_geometry(name).stochastic_term is not None
    and calogeo.get_geometry(name).variant != "seed"
]


def calibrated(showers: calogeo.Showers) -> np.ndarray:
    """(N,) visible energy over each layer's sampling fraction (GeV)."""
    f = np.array([ly.sampling_fraction or 1.0 for ly in showers.geometry.layers])
    return (showers.layer_energies() / f).sum(axis=1)


@pytest.mark.parametrize("name", GEOMETRIES)
def test_every_particle_in_every_geometry(name: str) -> None:
    geometry = calogeo.get_geometry(name)
    simulator = GFlashSimulator(geometry, seed=1)
    for particle in PARTICLES:
        energies = np.array([1.0, 30.0, 200.0])
        showers = simulator.simulate(particle, energies, theta=0.1, phi=2.0)
        assert len(showers) == 3
        flat = showers.flat()
        assert np.all(np.isfinite(flat))
        assert np.all(flat >= 0)
        # Calibrated energy plus leakage exceeds the incident energy by no more than the
        # sampling fluctuations allow: 5 sigma of the largest stochastic term.
        a = max(terms.max() for terms in stochastic_terms(geometry)[:2])
        seen = calibrated(showers) + showers.labels["leakage"]
        assert np.all(seen <= energies + 5 * a * np.sqrt(energies) + 1e-5 * energies)
        assert np.all(showers.labels["leakage"] <= energies * (1 + 1e-5))


@pytest.mark.parametrize("name", STATED)
def test_stated_resolution_is_reproduced(name: str) -> None:
    """EM showers for an ECAL's term, charged pions for an HCAL's (see stochastic_terms)."""
    geometry = calogeo.get_geometry(name)
    particle = "pi+" if geometry.groups[0] == "HCAL" else "e-"
    energies = np.array([5.0, 20.0, 80.0])
    n = 250
    simulator = GFlashSimulator(geometry, seed=2)
    resolution = []
    for energy in energies:
        e = calibrated(simulator.simulate(particle, np.full(n, energy)))
        resolution.append(e.std() / e.mean())
    design = np.stack([1.0 / energies, np.ones_like(energies)], axis=1)
    a2, _ = np.linalg.lstsq(design, np.square(resolution), rcond=None)[0]
    # The statistical error of a fitted from three points of n showers is ~1/sqrt(2n) ~ 4.5%
    # per point; issue 4 asks for 20%.
    assert np.sqrt(a2) == pytest.approx(geometry.stochastic_term, rel=0.2)
