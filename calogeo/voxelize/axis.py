"""The window's frame for each event: where its axis starts, where it points, and where the
window's front lies along it.

Every event gets an origin O (mm), a unit direction u (the window axis) and the distance t0
(mm) from O to the window's front along u. A hit at p lies at depth ``(p - O).u - t0`` behind
the front and at ``((p - O).e_x, (p - O).e_y)`` from the axis in the layer plane, shifted by
the geometry's ``anchor_mm`` (where the axis enters, in layer coordinates).

The transverse basis follows the eta-phi convention of :class:`~calogeo.layout.EtaPhiLayout`
(columns along phi, rows along eta): e_y is the beam direction +z made perpendicular to u
(towards larger eta), e_x = e_y x u (towards larger phi), so (e_x, e_y, u) is right-handed.
When u runs along the beam (an end-cap, or a particle gun along z), e_x is +x made
perpendicular to u and e_y = u x e_x (for u = +z: the detector's own x and y).

Axes (Belayneh et al., Sect. 2 for the barycentre):

- ``truth``: the incident particle's vertex and momentum direction from the MC truth;
- ``barycentre``: from the origin (the truth vertex if known, else the given origin, the
  interaction point by default) through the energy barycentre of the event's hits. The paper
  projects the hits onto the calorimeter's inner surface along its normal before taking the
  barycentre; here the window is perpendicular to its own axis, so the projection runs along
  the axis and the barycentre direction is that of the hits' 3D barycentre (the two agree at
  normal incidence; for a shower symmetric about a straight track from O this one is exact);
- ``fixed``: one origin and direction for every event (hits already in a local frame, e.g.
  point clouds with z along the depth).

The front: ``front_mm`` (default the geometry's ``distance_from_ip_mm``) measured from O on a
``surface``: ``sphere`` (t0 = front_mm), ``barrel`` (a cylinder of radius front_mm around the
z axis through O: t0 = front_mm / sqrt(u_x^2 + u_y^2)) or ``endcap`` (a plane at
|z - O_z| = front_mm: t0 = front_mm / |u_z|).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from calogeo.errors import CalogeoError

__all__ = [
    "AXES",
    "SURFACES",
    "Axis",
    "Surface",
    "barycentre_directions",
    "front_distances",
    "transverse_basis",
    "unit_vectors",
]

Axis = Literal["truth", "barycentre", "fixed"]
AXES: tuple[Axis, ...] = ("truth", "barycentre", "fixed")
Surface = Literal["sphere", "barrel", "endcap"]
SURFACES: tuple[Surface, ...] = ("sphere", "barrel", "endcap")
_PARALLEL = 1e-9  # |e_y| below this: u runs along the beam


def unit_vectors(v: np.ndarray) -> np.ndarray:
    """(N, 3) rows of ``v`` scaled to length 1 (a zero row becomes NaN)."""
    v = np.asarray(v, dtype=np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / norm


def transverse_basis(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e_x, e_y), each (N, 3), perpendicular to the unit directions ``u`` (N, 3): e_y along
    +z made perpendicular to u, e_x = e_y x u; along the beam, e_x along +x, e_y = u x e_x."""
    z = np.array([0.0, 0.0, 1.0])
    ey = z - u[:, 2:3] * u
    norm = np.linalg.norm(ey, axis=1)
    along = ~(norm > _PARALLEL)  # NaN directions (empty events) take this branch too
    with np.errstate(invalid="ignore", divide="ignore"):
        ey = ey / norm[:, None]
    ex = np.cross(ey, u)
    if np.any(along):
        ua = u[along]
        exa = unit_vectors(np.array([1.0, 0.0, 0.0]) - ua[:, 0:1] * ua)
        ex[along] = exa
        ey[along] = np.cross(ua, exa)
    return ex, ey


def front_distances(u: np.ndarray, front_mm: float, surface: Surface) -> np.ndarray:
    """(N,) distance (mm) from the origin to the window's front along each direction."""
    if surface == "sphere":
        return np.full(len(u), float(front_mm))
    if surface == "barrel":
        cosine = np.hypot(u[:, 0], u[:, 1])
    elif surface == "endcap":
        cosine = np.abs(u[:, 2])
    else:
        msg = f"unknown front surface {surface!r}: expected one of {', '.join(SURFACES)}"
        raise CalogeoError(msg)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(front_mm) / cosine


def barycentre_directions(
    position: np.ndarray, energy: np.ndarray, event: np.ndarray, origin: np.ndarray
) -> np.ndarray:
    """(N, 3) unit direction from each event's ``origin`` (N, 3) mm to the energy-weighted
    barycentre of its hits (``position`` (M, 3) mm, ``energy`` (M,), ``event`` (M,) the event
    of each hit); hits of negative energy are left out, an event without energy gets NaN."""
    n = len(origin)
    weight = np.clip(energy, 0.0, None)
    total = np.bincount(event, weight, minlength=n)
    moments = np.stack(
        [np.bincount(event, weight * position[:, k], minlength=n) for k in range(3)], axis=1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = moments / total[:, None]
    return unit_vectors(centre - origin)
