"""pi0 -> gamma gamma: isotropic in the pi0 rest frame, boosted to the lab."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "M_PI0_GEV",
    "PhotonPair",
    "decay_pi0",
    "direction",
    "entry_points",
    "minimum_opening_angle",
]

M_PI0_GEV = 0.1349768
"""pi0 mass in GeV (PDG 2024, 134.9768 MeV)."""


def direction(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """(M, 3) unit vectors at polar angle ``theta`` to the window axis (z) and azimuth ``phi``."""
    s = np.sin(theta)
    return np.stack([s * np.cos(phi), s * np.sin(phi), np.cos(theta)], axis=-1)


def minimum_opening_angle(energy_gev: np.ndarray) -> np.ndarray:
    """Smallest opening angle (rad) of the two photons, 2 arcsin(m / E) (PDG kinematics)."""
    return 2.0 * np.arcsin(np.minimum(M_PI0_GEV / np.asarray(energy_gev, dtype=np.float64), 1.0))


@dataclass(frozen=True)
class PhotonPair:
    """The two photons of each decay: energies (M, 2) in GeV, directions (M, 2, 3) unit vectors,
    and the opening angle (M,) in rad."""

    energy: np.ndarray
    direction: np.ndarray
    opening_angle: np.ndarray


def _perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (M, 3) orthogonal to each unit vector in ``d`` and to each other."""
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return e1, np.cross(d, e1)


def decay_pi0(
    energy_gev: np.ndarray, theta: np.ndarray, phi: np.ndarray, rng: np.random.Generator
) -> PhotonPair:
    """Decay pi0s of ``energy_gev`` flying at (theta, phi) into two photons.

    The photon direction in the rest frame is isotropic; the boost along the pi0 direction gives
    lab energies E/2 (1 +- beta cos theta*) and the physical opening-angle distribution, whose
    minimum is 2 arcsin(m / E).
    """
    energy = np.maximum(np.asarray(energy_gev, dtype=np.float64), M_PI0_GEV)
    gamma = energy / M_PI0_GEV
    beta = np.sqrt(np.maximum(1.0 - 1.0 / gamma**2, 0.0))
    cos_star = rng.uniform(-1.0, 1.0, len(energy))
    sin_star = np.sqrt(1.0 - cos_star**2)
    psi = rng.uniform(0.0, 2.0 * np.pi, len(energy))
    d = direction(np.asarray(theta, dtype=np.float64), np.asarray(phi, dtype=np.float64))
    e1, e2 = _perpendicular_basis(d)
    perp = np.cos(psi)[:, None] * e1 + np.sin(psi)[:, None] * e2
    half = 0.5 * M_PI0_GEV
    energies, directions = [], []
    for sign in (1.0, -1.0):
        p_par = gamma * half * (sign * cos_star + beta)
        p_perp = sign * half * sin_star
        momentum = p_par[:, None] * d + p_perp[:, None] * perp
        energies.append(gamma * half * (1.0 + sign * beta * cos_star))
        directions.append(momentum / np.linalg.norm(momentum, axis=1, keepdims=True))
    cos_open = np.clip(np.sum(directions[0] * directions[1], axis=1), -1.0, 1.0)
    return PhotonPair(np.stack(energies, axis=1), np.stack(directions, axis=1), np.arccos(cos_open))


def entry_points(
    impact_mm: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    directions: np.ndarray,
    distance_mm: float,
) -> np.ndarray:
    """Where the decay photons cross the window's front plane, (M, 2, 2) as (x, y) in mm.

    The pi0 flies from the interaction point, ``distance_mm`` in front of the window, at
    (theta, phi) and would enter at ``impact_mm`` (M, 2); it decays there (c tau = 25 nm), so
    each photon travels ``distance_mm`` in depth along its own direction (M, 2, 3). Photons
    flying away from the window (non-positive z component) get NaN.
    """
    tilt = np.tan(theta)[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    ip = np.asarray(impact_mm, dtype=np.float64) - distance_mm * tilt
    dz = directions[..., 2]
    slope = directions[..., :2] / np.where(dz > 0, dz, np.nan)[..., None]
    return ip[:, None, :] + distance_mm * slope
