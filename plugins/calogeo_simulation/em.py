"""Grindhammer-Peters (GFlash) parametrisation of electromagnetic showers.

Energies in GeV, depths ``t`` in radiation lengths along the shower axis, radii in Moliere
radii. Coefficients: G. Grindhammer and S. Peters, hep-ex/0001020, App. A, as implemented in
Geant4 11.4 (``GVFlashHomoShowerTuning.hh``, ``GFlashSamplingShowerTuning.hh``); see
shared/PHYSICS.md. Every function is vectorised over showers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PHOTON_CONVERSION_X0",
    "Medium",
    "RadialParameters",
    "average_profile",
    "fluctuated_profile",
    "radial_parameters",
    "spot_count",
    "spot_profile",
]

PHOTON_CONVERSION_X0 = 9.0 / 7.0
"""Mean depth (X0) at which a photon converts (PDG, "Passage of particles through matter")."""

SIGMA_MAX = 0.5  # Geant4 GFlash clamps the log-normal widths to 0.5
T_MIN_X0 = 1.0  # Geant4 GFlash: T >= 1 X0
ALPHA_MIN = 1.1  # Geant4 GFlash: alpha >= 1.1


@dataclass(frozen=True)
class Medium:
    """What GFlash needs to know about the material a shower develops in.

    ``z`` is the mass-weighted atomic number, ``ec_gev`` the critical energy; for sampling
    calorimeters ``f_s`` = X0_eff / (d_active + d_passive) and ``e_mip`` = e/mip =
    1 / (1 + 0.007 (Z_passive - Z_active)) (Grindhammer-Peters Sect. 3); ``f_s`` is None for a
    homogeneous medium.
    """

    z: float
    ec_gev: float
    f_s: float | None = None
    e_mip: float = 1.0

    @property
    def is_sampling(self) -> bool:
        """True for a sampling calorimeter."""
        return self.f_s is not None


def _log_y(energy_gev: np.ndarray, medium: Medium) -> np.ndarray:
    # Below ~3 E_c the fits are meaningless; keep ln y above 1.1 so every width stays finite.
    return np.maximum(np.log(np.asarray(energy_gev, dtype=np.float64) / medium.ec_gev), 1.1)


def _sigma(denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 1.0 / SIGMA_MAX, 1.0 / np.maximum(denominator, 1e-9), SIGMA_MAX)


def average_profile(energy_gev: np.ndarray, medium: Medium) -> tuple[np.ndarray, np.ndarray]:
    """Depth of maximum T (X0) and shape alpha of the average longitudinal profile."""
    ln_y = _log_y(energy_gev, medium)
    t_max = ln_y - 0.858
    alpha = 0.21 + (0.492 + 2.38 / medium.z) * ln_y
    if medium.f_s is not None:
        t_max = t_max - 0.59 / medium.f_s - 0.53 * (1.0 - medium.e_mip)
        alpha = alpha - 0.444 / medium.f_s
    return np.maximum(t_max, T_MIN_X0), np.maximum(alpha, ALPHA_MIN)


def _log_moments(
    ln_y: np.ndarray, medium: Medium
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """<ln T>, sigma(ln T), <ln alpha>, sigma(ln alpha) and their correlation rho."""
    mean_t = np.maximum(ln_y - 0.812, 0.5)  # floor: keeps the log finite at the lowest energies
    mean_alpha = 0.81 + (0.458 + 2.26 / medium.z) * ln_y
    if medium.f_s is not None:
        mean_t = np.maximum(mean_t - 0.55 / medium.f_s - 0.69 * (1.0 - medium.e_mip), 0.5)
        mean_alpha = np.maximum(mean_alpha - 0.476 / medium.f_s, ALPHA_MIN)
        sig_t, sig_a = _sigma(-2.5 + 1.25 * ln_y), _sigma(-0.82 + 0.79 * ln_y)
        rho = 0.784 - 0.023 * ln_y
    else:
        sig_t, sig_a = _sigma(-1.4 + 1.26 * ln_y), _sigma(-0.58 + 0.86 * ln_y)
        rho = 0.705 - 0.023 * ln_y
    return np.log(mean_t), sig_t, np.log(mean_alpha), sig_a, np.clip(rho, -1.0, 1.0)


def fluctuated_profile(
    energy_gev: np.ndarray, medium: Medium, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-shower (T, alpha) from the correlated log-normal draw, and exp<ln alpha>.

    The third array is what the radial profile's tau needs (see :func:`radial_parameters`).
    """
    ln_y = _log_y(energy_gev, medium)
    mu_t, sig_t, mu_a, sig_a, rho = _log_moments(ln_y, medium)
    z1, z2 = rng.standard_normal((2, len(ln_y)))
    plus, minus = np.sqrt((1.0 + rho) / 2.0), np.sqrt((1.0 - rho) / 2.0)
    t_max = np.exp(mu_t + sig_t * (plus * z1 + minus * z2))
    alpha = np.exp(mu_a + sig_a * (plus * z1 - minus * z2))
    return np.maximum(t_max, T_MIN_X0), np.maximum(alpha, ALPHA_MIN), np.exp(mu_a)


def spot_count(energy_gev: np.ndarray, medium: Medium, stochastic_term: float | None) -> np.ndarray:
    """Mean number of energy spots per shower (float).

    Homogeneous: N = 93 ln(Z) E^0.876; sampling: N = (10.3 / c) E^0.959 with c the stochastic
    term (Grindhammer-Peters Sect. 4).
    """
    energy = np.asarray(energy_gev, dtype=np.float64)
    if medium.is_sampling and stochastic_term:
        return 10.3 / stochastic_term * energy**0.959
    return 93.0 * np.log(medium.z) * energy**0.876


def spot_profile(
    t_max: np.ndarray, alpha: np.ndarray, medium: Medium
) -> tuple[np.ndarray, np.ndarray]:
    """(T_s, alpha_s) of the longitudinal distribution of spots, given the shower's (T, alpha)."""
    if medium.f_s is not None:
        t_s, a_s = t_max * (0.813 + 0.0019 * medium.z), alpha * (0.844 + 0.0026 * medium.z)
    else:
        t_s, a_s = t_max * (0.698 + 0.00212 * medium.z), alpha * (0.639 + 0.00334 * medium.z)
    return np.maximum(t_s, T_MIN_X0), np.maximum(a_s, ALPHA_MIN)


@dataclass(frozen=True)
class RadialParameters:
    """Two-component radial profile at some depths, radii in Moliere radii:
    f(r) = p 2r R_C^2/(r^2+R_C^2)^2 + (1-p) 2r R_T^2/(r^2+R_T^2)^2."""

    r_core: np.ndarray
    r_tail: np.ndarray
    p_core: np.ndarray


def radial_parameters(tau: np.ndarray, energy_gev: np.ndarray, medium: Medium) -> RadialParameters:
    """R_C, R_T and p at scaled depth ``tau`` (t/T) for showers of ``energy_gev``.

    ``energy_gev`` broadcasts against ``tau`` (e.g. (M, 1) against (M, S)).
    """
    ln_e = np.log(np.asarray(energy_gev, dtype=np.float64))
    z = medium.z
    r_core = (0.0251 + 0.00319 * ln_e) + (0.1162 - 0.000381 * z) * tau
    k4 = 0.3585 + 0.0421 * ln_e  # hep-ex/0001020 (Geant4 writes 0.0412)
    r_tail = (0.659 - 0.00309 * z) * (np.exp(-2.59 * (tau - 0.645)) + np.exp(k4 * (tau - 0.645)))
    p3 = 1.313 - 0.0686 * ln_e
    arg = (0.401 + 0.00187 * z - tau) / p3
    p_core = (2.632 - 0.00094 * z) * np.exp(arg - np.exp(arg))
    if medium.f_s is not None:
        off = 1.0 - medium.e_mip
        r_core = r_core - 0.0203 * off + 0.0397 * np.exp(-tau) / medium.f_s
        r_tail = r_tail - 0.14 * off - 0.495 * np.exp(-tau) / medium.f_s
        p_core = p_core + off * (0.348 - 0.642 * np.exp(-((tau - 1.0) ** 2)) / medium.f_s)
    r_core = np.maximum(r_core, 1e-3)
    return RadialParameters(r_core, np.maximum(r_tail, r_core), np.clip(p_core, 0.0, 1.0))
