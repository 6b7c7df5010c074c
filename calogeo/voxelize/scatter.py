"""The inverse of voxelizing: showers turned into hits, for tests and benchmarks.

Each non-empty cell becomes a few hits at random points strictly inside it (inside one of its
convex pieces, shrunk towards that piece's centroid, and away from the layer's faces in
depth), its energy split among them; the hits are then placed in the detector frame on a
given axis per event, exactly as :class:`~calogeo.voxelize.binning.HitBinner` reads them back.
Voxelizing the result onto the same geometry with the same axis gives the cells back.
"""

from __future__ import annotations

import numpy as np

from calogeo.hits import HitBatch
from calogeo.showers import Showers
from calogeo.sparse import SparseShowers
from calogeo.voxelize.axis import Surface, front_distances, transverse_basis, unit_vectors

__all__ = ["showers_to_hits"]

SHRINK = 0.9  # points lie in the piece shrunk by this factor about its centroid
DEPTH_MARGIN = 0.05  # and this fraction of the layer's thickness from its faces


def showers_to_hits(
    showers: Showers | SparseShowers,
    *,
    max_hits_per_cell: int = 3,
    vertex_mm: np.ndarray | None = None,
    direction: np.ndarray | None = None,
    front_mm: float | None = None,
    surface: Surface = "sphere",
    seed: int = 0,
) -> HitBatch:
    """Hits (mm, GeV of the showers' visible energy) of every event, 1 to
    ``max_hits_per_cell`` per non-empty cell, on the axis from ``vertex_mm`` (N, 3) (default
    the origin) along ``direction`` (N, 3) (default +x) with the window's front at
    ``front_mm`` (default the geometry's ``distance_from_ip_mm``) on ``surface``; the batch
    carries that truth and the incident energies."""
    sparse = showers if isinstance(showers, SparseShowers) else SparseShowers.from_showers(showers)
    geometry, n = sparse.geometry, len(sparse)
    rng = np.random.default_rng(seed)
    vertex = np.zeros((n, 3)) if vertex_mm is None else np.asarray(vertex_mm, dtype=np.float64)
    u = unit_vectors(np.tile([1.0, 0.0, 0.0], (n, 1)) if direction is None else direction)
    cell = sparse.index.astype(np.int64)
    split = rng.integers(1, max_hits_per_cell + 1, size=len(cell))
    hit_cell = np.repeat(cell, split)
    weights = rng.uniform(0.2, 1.0, size=len(hit_cell))
    first = np.cumsum(split) - split
    share = weights / np.repeat(np.add.reduceat(weights, first), split) if len(cell) else weights
    energy = np.repeat(sparse.energy.astype(np.float64), split) * share
    event = np.repeat(np.repeat(np.arange(n), sparse.counts), split)
    local = _points_in_cells(geometry, hit_cell, rng)
    ex, ey = transverse_basis(u)
    front = geometry.distance_from_ip_mm if front_mm is None else front_mm
    t0 = front_distances(u, front, surface)
    ax, ay = geometry.anchor_mm
    position = (
        vertex[event]
        + (t0[event] + local[:, 2])[:, None] * u[event]
        + (local[:, 0] - ax)[:, None] * ex[event]
        + (local[:, 1] - ay)[:, None] * ey[event]
    )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(event, minlength=n), out=offsets[1:])
    truth = {
        "incident_energy": sparse.incident_energy.astype(np.float64),
        "vertex_mm": vertex,
        "direction": u,
    }
    return HitBatch(offsets, position, energy, truth)


def _points_in_cells(geometry: object, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(M, 3) a random (x, y, depth) in mm strictly inside each flat cell index."""
    from calogeo.geometry import Geometry

    assert isinstance(geometry, Geometry)
    out = np.empty((len(cells), 3))
    layer_of = np.searchsorted(geometry.layer_offsets, cells, side="right") - 1
    for k, layer in enumerate(geometry.layers):
        sel = np.flatnonzero(layer_of == k)
        if not len(sel):
            continue
        pieces = layer.layout.pieces()
        first_piece = np.full(layer.n_cells, -1, dtype=np.int64)
        first_piece[pieces.cell[::-1]] = np.arange(len(pieces))[::-1]  # a piece of each cell
        piece = first_piece[cells[sel] - geometry.layer_offsets[k]]
        vertices = np.nan_to_num(pieces.vertices[piece])
        valid = np.arange(vertices.shape[1])[None, :] < pieces.n_vertices[piece][:, None]
        w = rng.exponential(size=valid.shape) * valid
        point = np.einsum("pk,pkc->pc", w / w.sum(axis=1, keepdims=True), vertices)
        centroid = pieces.centroids_mm()[piece]
        out[sel, :2] = centroid + SHRINK * (point - centroid)
        z = rng.uniform(DEPTH_MARGIN, 1.0 - DEPTH_MARGIN, size=len(sel))
        out[sel, 2] = layer.z_front_mm + z * layer.thickness_mm
    return out
