"""The voxelizer's per-hit loops in Numba, each with the numpy reference it is tested against.

- :func:`window_coordinates`: every hit's (x, y) in the layer plane, depth behind the
  window's front and layer, in its event's frame (:mod:`calogeo.voxelize.axis`);
- :func:`sum_cells`: the energies of each event's hits summed per cell (float64), as CSR rows
  with ascending cell indices and no zeros.

Both run in one pass over the hits with no temporaries of the hits' size beyond their outputs,
and release the GIL, so reading and writing threads keep going while they run.
"""

from __future__ import annotations

import numpy as np

from calogeo._jit import njit

__all__ = ["sum_cells", "sum_cells_numpy", "window_coordinates", "window_coordinates_numpy"]


@njit(nogil=True)
def window_coordinates(
    position, scale, offsets, origin, u, ex, ey, t0, anchor_x, anchor_y, z_edges
):  # pragma: no cover - numba
    """(x, y, depth) (M,) float64 mm and layer (M,) int64 of every hit (``position`` (M, 3)
    float32 or float64, times ``scale`` in mm; rows of event i at ``offsets[i]:offsets[i +
    1]``) in its event's frame: origin (N, 3) mm,
    axis u, transverse basis ex, ey (N, 3), front distance t0 (N,); x and y shifted by the
    anchor; the layer is the one of ``z_edges`` (n_layers, 2) holding the depth, else -1
    (:meth:`~calogeo.geometry.Geometry.layer_at_depth`)."""
    m = position.shape[0]
    n_layers = z_edges.shape[0]
    x = np.empty(m)
    y = np.empty(m)
    depth = np.empty(m)
    layer = np.empty(m, dtype=np.int64)
    for i in range(len(offsets) - 1):
        ox, oy, oz = origin[i, 0], origin[i, 1], origin[i, 2]
        for j in range(offsets[i], offsets[i + 1]):
            rx = position[j, 0] * scale - ox
            ry = position[j, 1] * scale - oy
            rz = position[j, 2] * scale - oz
            d = rx * u[i, 0] + ry * u[i, 1] + rz * u[i, 2] - t0[i]
            depth[j] = d
            x[j] = rx * ex[i, 0] + ry * ex[i, 1] + rz * ex[i, 2] + anchor_x
            y[j] = rx * ey[i, 0] + ry * ey[i, 1] + rz * ey[i, 2] + anchor_y
            lo, hi = 0, n_layers  # the last layer whose front is <= d
            while lo < hi:
                mid = (lo + hi) // 2
                if z_edges[mid, 0] <= d:
                    lo = mid + 1
                else:
                    hi = mid
            k = lo - 1
            layer[j] = k if k >= 0 and d < z_edges[k, 1] else -1
    return x, y, depth, layer


def window_coordinates_numpy(
    position: np.ndarray,
    scale: float,
    offsets: np.ndarray,
    origin: np.ndarray,
    u: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    t0: np.ndarray,
    anchor_x: float,
    anchor_y: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference of the (x, y, depth) of :func:`window_coordinates` in numpy (the layer's
    reference is :meth:`~calogeo.geometry.Geometry.layer_at_depth`)."""
    event = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    rel = np.asarray(position, dtype=np.float64) * scale - origin[event]
    depth = np.einsum("ij,ij->i", rel, u[event]) - t0[event]
    x = np.einsum("ij,ij->i", rel, ex[event]) + anchor_x
    y = np.einsum("ij,ij->i", rel, ey[event]) + anchor_y
    return x, y, depth


@njit(nogil=True)
def sum_cells(offsets, cell, energy, n_cells):  # pragma: no cover - numba
    """(offsets (N + 1,), index (K,) int64, energy (K,) float64): per event the cells hit
    (``cell`` (M,) int64, -1 = none) with the sum of their hits' ``energy`` (M,) float64,
    ascending, zero sums dropped."""
    n = len(offsets) - 1
    row = np.zeros(n_cells)
    seen = np.zeros(n_cells, dtype=np.bool_)
    touched = np.empty(len(cell), dtype=np.int64)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    index = np.empty(len(cell), dtype=np.int64)
    sums = np.empty(len(cell))
    k = 0
    for i in range(n):
        t = 0
        for j in range(offsets[i], offsets[i + 1]):
            c = cell[j]
            if c < 0:
                continue
            if not seen[c]:
                seen[c] = True
                touched[t] = c
                t += 1
            row[c] += energy[j]
        cells = np.sort(touched[:t])
        for c in cells:
            if row[c] != 0.0:
                index[k] = c
                sums[k] = row[c]
                k += 1
            row[c] = 0.0
            seen[c] = False
        out_offsets[i + 1] = k
    return out_offsets, index[:k], sums[:k]


def sum_cells_numpy(
    offsets: np.ndarray, cell: np.ndarray, energy: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference of :func:`sum_cells` in numpy (sorting keys event x n_cells + cell)."""
    n = len(offsets) - 1
    event = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    inside = cell >= 0
    key = event[inside] * n_cells + cell[inside]
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key[:0]
    sums = np.add.reduceat(energy[inside][order], first) if len(key) else np.zeros(0)
    key = key[first]
    keep = sums != 0
    ev, index = np.divmod(key[keep], n_cells)
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ev, minlength=n), out=out[1:])
    return out, index, sums[keep]
