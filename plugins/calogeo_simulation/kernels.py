"""Numba kernels: energy spots sampled around shower axes and binned into cells; read-out.

The physics modules reduce every (sub-)shower to per-step arrays: how many spots fall in each
longitudinal step, the energy of each, and the radial profile there. This kernel draws the
spots and adds their energy to the cells of rectilinear layers directly; spots in other layers
are returned for the layout's own ``locate``. :func:`read_out` then applies sampling
fluctuations, the sampling fraction, noise and threshold in one pass. The ``*_reference``
functions are the plain numpy versions the tests compare against.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "deposit_spots",
    "deposit_spots_reference",
    "read_out",
    "read_out_reference",
    "seed_kernels",
]


@numba.njit(cache=True)
def seed_kernels(seed: int) -> None:
    """Seed the random generator Numba kernels use (one per thread)."""
    np.random.seed(seed)


@numba.njit(cache=True)
def _bisect(edges: np.ndarray, lo: int, hi: int, v: float) -> int:
    """Bin index i (0-based) with edges[lo+i] <= v < edges[lo+i+1], -1 outside."""
    if not (edges[lo] <= v < edges[hi]):
        return -1
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if edges[mid] <= v:
            a = mid
        else:
            b = mid
    return a - lo


@numba.njit(cache=True)
def spot_offset(r_core: float, r_tail: float, p_core: float, u1: float, u2: float) -> float:
    """Radius (same unit as r_core) of a spot drawn from the two-component radial profile."""
    radius = r_core if u1 < p_core else r_tail
    u2 = min(u2, 0.999999)  # u2 -> 1 is r -> infinity: cap at ~1000 core radii
    return radius * math.sqrt(u2 / (1.0 - u2))


@numba.njit(cache=True, nogil=True)
def deposit_spots(
    event: np.ndarray,
    axis_x: np.ndarray,
    axis_y: np.ndarray,
    stretch: np.ndarray,
    cos_phi: np.ndarray,
    sin_phi: np.ndarray,
    n_spots: np.ndarray,
    e_spot: np.ndarray,
    r_core: np.ndarray,
    r_tail: np.ndarray,
    p_core: np.ndarray,
    step_layer: np.ndarray,
    layer_offset: np.ndarray,
    rectilinear: np.ndarray,
    x_edges: np.ndarray,
    x_edge_offset: np.ndarray,
    y_edges: np.ndarray,
    y_edge_offset: np.ndarray,
    out: np.ndarray,
    leak: np.ndarray,
    spill: np.ndarray,
) -> int:
    """Draw ``n_spots[m, s]`` spots of ``e_spot[m, s]`` GeV for every shower m and step s.

    Per shower: ``event`` (row of ``out``), ``stretch`` = 1/cos(theta) and the azimuth of the
    inclination; per (shower, step): the axis position in the layer plane (mm) and the radial
    profile (mm). Spots are placed in the plane perpendicular to the axis and projected along it
    onto the layer plane. Energy landing in a rectilinear layer is added to ``out`` (events x
    cells), outside the window to ``leak`` (per event); spots in other layers are written to
    ``spill`` rows (event, layer, x_mm, y_mm, energy) and their count returned.
    """
    n_spill = 0
    for m in range(n_spots.shape[0]):
        ev = event[m]
        for s in range(n_spots.shape[1]):
            n = n_spots[m, s]
            if n == 0:
                continue
            layer = step_layer[s]
            energy = e_spot[m, s]
            cx, cy = axis_x[m, s], axis_y[m, s]
            for _ in range(n):
                r = spot_offset(
                    r_core[m, s], r_tail[m, s], p_core[m, s], np.random.random(),
                    np.random.random(),
                )  # fmt: skip
                psi = 2.0 * math.pi * np.random.random()
                u = r * math.cos(psi) * stretch[m]
                v = r * math.sin(psi)
                x = cx + u * cos_phi[m] - v * sin_phi[m]
                y = cy + u * sin_phi[m] + v * cos_phi[m]
                if not rectilinear[layer]:
                    spill[n_spill, 0] = ev
                    spill[n_spill, 1] = layer
                    spill[n_spill, 2] = x
                    spill[n_spill, 3] = y
                    spill[n_spill, 4] = energy
                    n_spill += 1
                    continue
                col = _bisect(x_edges, x_edge_offset[layer], x_edge_offset[layer + 1] - 1, x)
                row = _bisect(y_edges, y_edge_offset[layer], y_edge_offset[layer + 1] - 1, y)
                if col < 0 or row < 0:
                    leak[ev] += energy
                else:
                    cols = x_edge_offset[layer + 1] - x_edge_offset[layer] - 1
                    out[ev, layer_offset[layer] + row * cols + col] += energy
    return n_spill


def deposit_spots_reference(
    spots_xy_mm: np.ndarray, energy: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray
) -> tuple[np.ndarray, float]:
    """Bin spots (K, 2) in mm into one rectilinear layer with numpy: (rows, cols) and leakage."""
    image, _, _ = np.histogram2d(
        spots_xy_mm[:, 1], spots_xy_mm[:, 0], bins=(y_edges, x_edges), weights=energy
    )
    return image, float(energy.sum() - image.sum())


@numba.njit(cache=True, nogil=True)
def read_out(
    cells: np.ndarray,
    term: np.ndarray,
    event_scale: np.ndarray,
    scaled: np.ndarray,
    sampling_fraction: np.ndarray,
    noise_gev: float,
    threshold_gev: float,
) -> None:
    """Turn deposits (events x cells, GeV) into read-out energies, in place.

    A deposit e in cell j with stochastic term a = term[j] > 0 becomes v Gamma(e / v): mean e,
    variance v e GeV with v = a^2, times ``event_scale[i]`` where ``scaled[j]`` (sampling or
    photo-statistics fluctuations); then it is multiplied by the cell's sampling fraction
    (visible energy), given Gaussian noise of ``noise_gev`` and set to zero below
    ``threshold_gev``.
    """
    for i in range(cells.shape[0]):
        for j in range(cells.shape[1]):
            energy = np.float64(cells[i, j])
            v = term[j] * term[j] * (event_scale[i] if scaled[j] else 1.0)
            if energy > 0.0 and v > 0.0:
                energy = v * np.random.gamma(energy / v, 1.0)
            energy *= sampling_fraction[j]
            if noise_gev > 0.0:
                energy += np.random.normal(0.0, noise_gev)
            cells[i, j] = energy if energy >= threshold_gev else 0.0


def read_out_reference(
    cells: np.ndarray,
    term: np.ndarray,
    event_scale: np.ndarray,
    scaled: np.ndarray,
    sampling_fraction: np.ndarray,
    noise_gev: float,
    threshold_gev: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """numpy version of :func:`read_out` (a new array; same distributions, other draws)."""
    out = cells.astype(np.float64)
    v = term**2 * np.where(scaled, event_scale[:, None], 1.0)
    fluctuate = (out > 0) & (v > 0)
    out[fluctuate] = v[fluctuate] * rng.gamma(out[fluctuate] / v[fluctuate])
    out *= sampling_fraction
    if noise_gev > 0:
        out += rng.normal(0.0, noise_gev, out.shape)
    out[out < threshold_gev] = 0.0
    return out.astype(cells.dtype)
