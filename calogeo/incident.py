"""Incident particles drawn for simulation and generation: energies (uniform or log-uniform,
GeV), polar angles (rad) and azimuths, and for bunches the particle counts and impact points (mm)
over the window's face. Used by ``calogeo simulate``, ``calogeo generate``, studies and examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from calogeo.geometry import Geometry

__all__ = ["draw", "draw_bunches", "draw_particles", "energy_array", "impact_ranges"]


def energy_array(
    energies: float | Sequence[float] | np.ndarray, n: int | None = None
) -> np.ndarray:
    """(N,) float64 incident energies (GeV) of a generator call: a scalar with ``n`` gives ``n``
    copies (one without), an array must hold ``n`` values when ``n`` is given."""
    from calogeo.errors import CalogeoError

    energy = np.asarray(energies, dtype=np.float64)
    if energy.ndim == 0:
        return np.full(1 if n is None else n, float(energy))
    if n is not None and n != len(energy):
        msg = f"generate: n={n} but {len(energy)} energies were given"
        raise CalogeoError(msg)
    return energy


def impact_ranges(geometry: Geometry) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x, y) ranges in mm for bunch impact points: the first layer's extent less one Moliere
    radius of its material on every side (the centre along an axis narrower than that)."""
    layer = geometry.layers[0]
    x_min, x_max, y_min, y_max = layer.layout.extent_mm()
    margin = layer.material.rm_mm
    ranges = []
    for low, high in ((x_min, x_max), (y_min, y_max)):
        if high - low <= 2.0 * margin:
            centre = 0.5 * (low + high)
            ranges.append((centre, centre))
        else:
            ranges.append((low + margin, high - margin))
    return ranges[0], ranges[1]


def draw(
    rng: np.random.Generator, bounds: tuple[float, float], n: int, *, log: bool = False
) -> np.ndarray:
    """``n`` values uniform in ``bounds`` (or in log of them)."""
    low, high = bounds
    if log:
        return np.exp(rng.uniform(math.log(low), math.log(high), n))
    return rng.uniform(low, high, n) if high > low else np.full(n, low)


def draw_particles(
    rng: np.random.Generator,
    n: int,
    energy_gev: tuple[float, float],
    theta: tuple[float, float] = (0.0, 0.0),
    *,
    log: bool = False,
) -> dict[str, np.ndarray]:
    """Keyword arguments of ``simulate`` for ``n`` particles: energies uniform in
    ``energy_gev`` (GeV; in log(E) with ``log``), polar angles uniform in ``theta`` (rad),
    azimuths uniform in [0, 2 pi)."""
    return {
        "energies": draw(rng, energy_gev, n, log=log),
        "theta": draw(rng, theta, n),
        "phi": rng.uniform(0.0, 2.0 * math.pi, n),
    }


def draw_bunches(
    rng: np.random.Generator,
    n: int,
    multiplicity: tuple[int, int],
    energy_gev: tuple[float, float],
    impact: tuple[tuple[float, float], tuple[float, float]],
    theta: tuple[float, float] = (0.0, 0.0),
    *,
    log: bool = False,
) -> dict[str, np.ndarray]:
    """Keyword arguments of ``simulate_bunches`` for ``n`` bunches: particle counts uniform
    in ``multiplicity``, each particle drawn as by :func:`draw_particles`, with an impact
    point uniform in the (x, y) ``impact`` ranges (mm, see :func:`impact_ranges`)."""
    counts = rng.integers(multiplicity[0], multiplicity[1] + 1, n)
    m = int(counts.sum())
    x_range, y_range = impact
    xy = np.stack([draw(rng, x_range, m), draw(rng, y_range, m)], axis=1)
    return {"counts": counts, **draw_particles(rng, m, energy_gev, theta, log=log), "impact_mm": xy}
