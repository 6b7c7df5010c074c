"""Charged-pion showers: interaction depth, electromagnetic fraction and Bock profiles.

Energies in GeV; depths along the axis from the first interaction point, in radiation lengths
(electromagnetic component) and nuclear interaction lengths (hadronic component). Longitudinal
profile: R.K. Bock et al., NIM 186 (1981) 533, as quoted by Kulchitsky & Vinogradov,
hep-ex/9903019: dE/dx ~ w (x/X0)^(a-1) e^(-b x/X0) + (1 - w) (x/lambda)^(a-1) e^(-d x/lambda),
so each component is a gamma distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "E_OVER_H",
    "FEM_SPREAD",
    "HADRONIC_RADIUS_LAMBDA",
    "M_PI_GEV",
    "BockProfile",
    "bock_profile",
    "em_fraction",
    "mean_response",
    "sample_em_fraction",
    "scattering_radius_mm",
]

E_OVER_H = 1.4
"""Non-compensation e/h of steel/tungsten sampling calorimeters, middle of the 1.3-1.6 range
(R. Wigmans, "Calorimetry: Energy Measurement in Particle Physics", Oxford 2000)."""

GROOM_E0_GEV = 1.0
GROOM_M = 0.85
"""Mean electromagnetic fraction f_em = 1 - (E/E0)^(m-1), E0 ~ 1 GeV, m ~ 0.85 for pions
(D. Groom, NIM A572 (2007) 633)."""

FEM_SPREAD = 0.12
"""Event-to-event standard deviation of f_em. A calogeo modelling choice, not a fitted value:
it sets the size of the non-compensation fluctuations that dominate hadronic resolution."""

HADRONIC_RADIUS_LAMBDA = 0.23
"""Core radius of the hadronic radial profile 2 r R^2/(r^2+R^2)^2 in lambda_I: with
R = 0.23 lambda_I a cylinder of radius 1 lambda_I holds 95% of the energy (r^2/(r^2+R^2) = 0.95),
the PDG rule of thumb for hadron showers (PDG Review "Calorimetry")."""


M_PI_GEV = 0.13957039
"""Charged-pion mass in GeV (PDG 2024, 139.57039 MeV)."""

HIGHLAND_GEV = 0.0136
"""Scale of the Highland formula for the multiple-scattering angle, 13.6 MeV (PDG Review
"Passage of particles through matter", multiple scattering through small angles)."""

MIN_SCATTERING_X0 = 1e-3
"""Below 1e-3 X0 the Highland formula is not valid (same PDG section); thinner paths use it."""


def scattering_radius_mm(
    energy_gev: np.ndarray | float, path_x0: np.ndarray | float, path_mm: np.ndarray | float
) -> np.ndarray:
    """Median lateral displacement (mm) of a charged pion of total energy ``energy_gev`` after
    a path of ``path_mm`` holding ``path_x0`` radiation lengths (arrays broadcast).

    Multiple Coulomb scattering: theta0 = 13.6 MeV / (beta c p) sqrt(x/X0)
    (1 + 0.038 ln(x / (X0 beta^2))) (Highland, as in the PDG Review), and the displacement in
    one plane has rms x theta0 / sqrt(3) (same section). The radial distribution of a 2-d
    Gaussian of that width has median sqrt(2 ln 2) rms, which is what this returns: the
    radius R of the simulator's profile 2 r R^2 / (r^2 + R^2)^2, whose median is R (its
    1/r^3 tail stands in for single large-angle scatters). A track thus never sits exactly on
    the axis, so its deposits are not all binned by which side of a cell boundary through the
    axis the point (0, 0) falls on.
    """
    energy = np.maximum(np.asarray(energy_gev, dtype=np.float64), 1.001 * M_PI_GEV)
    momentum_sq = energy**2 - M_PI_GEV**2
    beta_sq = momentum_sq / energy**2
    x = np.maximum(np.asarray(path_x0, dtype=np.float64), MIN_SCATTERING_X0)
    theta0 = HIGHLAND_GEV * energy / momentum_sq * np.sqrt(x) * (1.0 + 0.038 * np.log(x / beta_sq))
    return np.sqrt(2.0 * np.log(2.0)) * np.asarray(path_mm) * theta0 / np.sqrt(3.0)


def em_fraction(energy_gev: np.ndarray) -> np.ndarray:
    """Mean electromagnetic fraction of a pion shower of ``energy_gev`` (Groom)."""
    energy = np.maximum(np.asarray(energy_gev, dtype=np.float64), GROOM_E0_GEV)
    return 1.0 - (energy / GROOM_E0_GEV) ** (GROOM_M - 1.0)


def mean_response(energy_gev: np.ndarray) -> np.ndarray:
    """Mean calibrated (EM-scale) energy of a pion shower over its energy, f_em + (1-f_em) h/e
    (the pi/e ratio of a non-compensating calorimeter, Wigmans)."""
    f_em = em_fraction(energy_gev)
    return f_em + (1.0 - f_em) / E_OVER_H


def sample_em_fraction(energy_gev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-shower f_em from a Beta distribution with the Groom mean and spread FEM_SPREAD."""
    mean = np.clip(em_fraction(energy_gev), 0.02, 0.98)
    concentration = np.maximum(mean * (1.0 - mean) / FEM_SPREAD**2 - 1.0, 1.0)
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


@dataclass(frozen=True)
class BockProfile:
    """Gamma-distribution shapes and rates of the two components: EM in X0, hadronic in
    lambda_I, depths measured from the first interaction."""

    shape: np.ndarray
    em_rate: np.ndarray
    hadronic_rate: np.ndarray

    @property
    def em_max_x0(self) -> np.ndarray:
        """Depth of maximum of the EM component (X0 after the interaction)."""
        return np.maximum(self.shape - 1.0, 0.1) / self.em_rate


def bock_profile(energy_gev: np.ndarray) -> BockProfile:
    """Bock et al. parameters: a = 0.786 + 0.427 ln E, b = 0.29, d = 0.978 (E in GeV)."""
    ln_e = np.log(np.maximum(np.asarray(energy_gev, dtype=np.float64), 1.0))
    shape = np.maximum(0.786 + 0.427 * ln_e, 1.05)
    return BockProfile(shape, np.full_like(shape, 0.29), np.full_like(shape, 0.978))
