"""Areas of overlap of convex polygons: Sutherland-Hodgman clipping in Numba.

A uniform grid of bins over the target pieces proposes candidate pairs; the result is built in
two passes (count the candidates of every source piece, then clip them into preallocated
arrays), so no Python object is created per pair. shapely is the reference in the tests.

Plain geometry, used by the resampler's weights and by spec validation (the cells of a layout
must not overlap); the kernels compile on first use (:mod:`calogeo._jit`), so importing this
module does not import Numba.
"""

from __future__ import annotations

import math

import numpy as np

from calogeo._jit import njit, prange
from calogeo.layout import ConvexPieces

__all__ = ["OVERLAP_TOLERANCE", "clip_area", "overlapping_cells", "piece_overlaps", "polygon_area"]

OVERLAP_TOLERANCE = 1e-4
"""Overlap of two cells, as a fraction of the smaller one's area, above which the cells of a
layout count as overlapping (energy in the overlap would be counted twice). 1e-4 lets vertices
rounded to ~1e-4 of a cell's size pass; the energy it could create is below 0.01%."""


@njit(cache=True)
def polygon_area(vertices: np.ndarray, n: int) -> float:
    """Signed area (shoelace) of the first ``n`` vertices; positive when counter-clockwise."""
    total = 0.0
    for k in range(n):
        j = k + 1 if k + 1 < n else 0
        total += vertices[k, 0] * vertices[j, 1] - vertices[j, 0] * vertices[k, 1]
    return 0.5 * total


@njit(cache=True, error_model="numpy")
def _clip_area(
    subject, n_subject, s_tr, clipper, n_clipper, c_tr, current, scratch
):  # pragma: no cover
    """Area of the intersection of two convex counter-clockwise polygons (Sutherland-Hodgman),
    each first mapped by its transform ``(scale, x0, y0)``: v -> (v - (x0, y0)) * scale, using
    two caller-provided (n_subject + n_clipper + 1, 2) buffers.

    The subject is clipped by the half-plane left of each clipper edge in turn.
    """
    for k in range(n_subject):
        current[k, 0] = (subject[k, 0] - s_tr[1]) * s_tr[0]
        current[k, 1] = (subject[k, 1] - s_tr[2]) * s_tr[0]
    count = n_subject
    for e in range(n_clipper):
        f = e + 1 if e + 1 < n_clipper else 0
        ax, ay = (clipper[e, 0] - c_tr[1]) * c_tr[0], (clipper[e, 1] - c_tr[2]) * c_tr[0]
        ex = (clipper[f, 0] - c_tr[1]) * c_tr[0] - ax
        ey = (clipper[f, 1] - c_tr[2]) * c_tr[0] - ay
        out = 0
        for k in range(count):
            j = k + 1 if k + 1 < count else 0
            px, py = current[k, 0], current[k, 1]
            qx, qy = current[j, 0], current[j, 1]
            sp = ex * (py - ay) - ey * (px - ax)
            sq = ex * (qy - ay) - ey * (qx - ax)
            if sp >= 0.0:
                scratch[out, 0] = px
                scratch[out, 1] = py
                out += 1
            if (sp >= 0.0) != (sq >= 0.0):
                r = sp / (sp - sq)
                scratch[out, 0] = px + r * (qx - px)
                scratch[out, 1] = py + r * (qy - py)
                out += 1
        current, scratch = scratch, current
        count = out
        if count < 3:
            return 0.0
    return max(polygon_area(current, count), 0.0)


@njit(cache=True)
def clip_area(subject: np.ndarray, n_subject: int, clipper: np.ndarray, n_clipper: int) -> float:
    """Area of the intersection of two convex counter-clockwise polygons (vertices (k, 2))."""
    size = n_subject + n_clipper + 1
    identity = np.array([1.0, 0.0, 0.0])
    buffers = np.empty((size, 2)), np.empty((size, 2))
    return _clip_area(subject, n_subject, identity, clipper, n_clipper, identity, *buffers)


@njit(cache=True)
def _boxes(vertices: np.ndarray, n_vertices: np.ndarray) -> np.ndarray:
    """(P, 4) bounding boxes x_min, x_max, y_min, y_max of the pieces."""
    out = np.empty((len(n_vertices), 4))
    for p in range(len(n_vertices)):
        out[p, 0] = out[p, 1] = vertices[p, 0, 0]
        out[p, 2] = out[p, 3] = vertices[p, 0, 1]
        for k in range(1, n_vertices[p]):
            x, y = vertices[p, k, 0], vertices[p, k, 1]
            out[p, 0] = min(out[p, 0], x)
            out[p, 1] = max(out[p, 1], x)
            out[p, 2] = min(out[p, 2], y)
            out[p, 3] = max(out[p, 3], y)
    return out


def _mapped(boxes: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Boxes (x_min, x_max, y_min, y_max) mapped by a transform with a positive scale."""
    scale, x0, y0 = transform
    return (boxes - np.array([x0, x0, y0, y0])) * scale


@njit(cache=True)
def _bin_range(lo: float, hi: float, origin: float, inv: float, n: int) -> tuple[int, int]:
    a = math.floor((lo - origin) * inv)
    b = math.floor((hi - origin) * inv)
    return max(a, 0), min(b, n - 1)


@njit(cache=True)
def _bin_index(boxes: np.ndarray, origin_x, origin_y, inv, nx, ny):  # pragma: no cover - numba
    """CSR of the pieces whose box touches each bin (bins row-major, ``start`` offsets)."""
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for p in range(len(boxes)):
        x0, x1 = _bin_range(boxes[p, 0], boxes[p, 1], origin_x, inv, nx)
        y0, y1 = _bin_range(boxes[p, 2], boxes[p, 3], origin_y, inv, ny)
        for by in range(y0, y1 + 1):
            for bx in range(x0, x1 + 1):
                counts[by * nx + bx + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    members = np.empty(start[-1], dtype=np.int64)
    for p in range(len(boxes)):
        x0, x1 = _bin_range(boxes[p, 0], boxes[p, 1], origin_x, inv, nx)
        y0, y1 = _bin_range(boxes[p, 2], boxes[p, 3], origin_y, inv, ny)
        for by in range(y0, y1 + 1):
            for bx in range(x0, x1 + 1):
                members[fill[by * nx + bx]] = p
                fill[by * nx + bx] += 1
    return start, members


@njit(cache=True, parallel=True)
def _candidates(
    src_boxes, tgt_boxes, origin_x, origin_y, inv, nx, ny, start, members, offsets, out
):  # pragma: no cover
    """Visit the target pieces whose boxes overlap each source piece's box (each once).

    First pass (``out`` of length 0): store each source piece's count in ``offsets[s + 1]``.
    Second pass: write its (source, target) pairs into ``out`` from row ``offsets[s]``.
    Source pieces are shared out in chunks, each with its own visited marks.
    """
    n_src = len(src_boxes)
    n_chunks = min((n_src + 1023) // 1024, 64)
    for c in prange(n_chunks):
        seen = np.full(len(tgt_boxes), -1, dtype=np.int64)
        for s in range(c * n_src // n_chunks, (c + 1) * n_src // n_chunks):
            n = offsets[s] if len(out) else 0
            x0, x1 = _bin_range(src_boxes[s, 0], src_boxes[s, 1], origin_x, inv, nx)
            y0, y1 = _bin_range(src_boxes[s, 2], src_boxes[s, 3], origin_y, inv, ny)
            for by in range(y0, y1 + 1):
                for bx in range(x0, x1 + 1):
                    b = by * nx + bx
                    for m in range(start[b], start[b + 1]):
                        t = members[m]
                        if seen[t] == s:
                            continue
                        seen[t] = s
                        if (
                            tgt_boxes[t, 0] < src_boxes[s, 1]
                            and src_boxes[s, 0] < tgt_boxes[t, 1]
                            and tgt_boxes[t, 2] < src_boxes[s, 3]
                            and src_boxes[s, 2] < tgt_boxes[t, 3]
                        ):
                            if len(out):
                                out[n, 0] = s
                                out[n, 1] = t
                            n += 1
            if not len(out):
                offsets[s + 1] = n


@njit(cache=True, parallel=True, error_model="numpy")
def _pair_areas(
    pairs, src_vertices, src_n, src_tr, tgt_vertices, tgt_n, tgt_tr
):  # pragma: no cover
    areas = np.empty(len(pairs))
    size = src_vertices.shape[1] + tgt_vertices.shape[1] + 1
    chunk = 4096
    for c in prange((len(pairs) + chunk - 1) // chunk):
        current, scratch = np.empty((size, 2)), np.empty((size, 2))
        for i in range(c * chunk, min((c + 1) * chunk, len(pairs))):
            s, t = pairs[i, 0], pairs[i, 1]
            areas[i] = _clip_area(
                src_vertices[s],
                src_n[s],
                src_tr,
                tgt_vertices[t],
                tgt_n[t],
                tgt_tr,
                current,
                scratch,
            )
    return areas


def piece_overlaps(
    source: ConvexPieces,
    target: ConvexPieces,
    source_transform: tuple[float, float, float] = (1.0, 0.0, 0.0),
    target_transform: tuple[float, float, float] = (1.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every overlapping (source piece, target piece) pair and its area once each set of
    pieces is mapped by its transform ``(scale, x0, y0)``: v -> (v - (x0, y0)) * scale.

    Returns ``(source_index, target_index, area)``, areas in the mapped units; pairs that only
    touch are dropped.
    """
    src_tr = np.asarray(source_transform, dtype=np.float64)
    tgt_tr = np.asarray(target_transform, dtype=np.float64)
    src_boxes = _mapped(_boxes(source.vertices, source.n_vertices), src_tr)
    tgt_boxes = _mapped(_boxes(target.vertices, target.n_vertices), tgt_tr)
    if len(src_boxes) == 0 or len(tgt_boxes) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    x_min, y_min = tgt_boxes[:, 0].min(), tgt_boxes[:, 2].min()
    span_x = max(tgt_boxes[:, 1].max() - x_min, 1e-300)
    span_y = max(tgt_boxes[:, 3].max() - y_min, 1e-300)
    # Bins about the size of a typical target piece keep the candidate lists short.
    size = max(
        float(np.median(tgt_boxes[:, 1] - tgt_boxes[:, 0])),
        float(np.median(tgt_boxes[:, 3] - tgt_boxes[:, 2])),
        max(span_x, span_y) / 1024.0,
    )
    inv = 1.0 / size
    nx, ny = int(span_x * inv) + 1, int(span_y * inv) + 1
    start, members = _bin_index(tgt_boxes, x_min, y_min, inv, nx, ny)
    args = (src_boxes, tgt_boxes, x_min, y_min, inv, nx, ny, start, members)
    offsets = np.zeros(len(src_boxes) + 1, dtype=np.int64)
    _candidates(*args, offsets, np.empty((0, 2), dtype=np.int64))
    offsets = np.cumsum(offsets)
    pairs = np.empty((offsets[-1], 2), dtype=np.int64)
    _candidates(*args, offsets, pairs)
    areas = _pair_areas(
        pairs,
        source.vertices,
        source.n_vertices,
        src_tr,
        target.vertices,
        target.n_vertices,
        tgt_tr,
    )
    keep = areas > 0.0
    return pairs[keep, 0], pairs[keep, 1], areas[keep]


def overlapping_cells(
    pieces: ConvexPieces, tolerance: float = OVERLAP_TOLERANCE
) -> list[tuple[int, int, float, float]]:
    """Pairs of distinct cells of one layout that overlap: ``(cell a, cell b, area, fraction)``
    with ``a < b``, the overlap ``area`` in the pieces' units squared (mm2) and ``fraction`` of
    the smaller cell's area, kept when ``fraction > tolerance``, largest fraction first.

    Candidates come from :func:`piece_overlaps` of the pieces with themselves (a spatial grid,
    so this is about linear in the number of cells); pieces of the same cell are not compared.
    """
    first, second, areas = piece_overlaps(pieces, pieces)
    cell_area = np.bincount(
        pieces.cell[first[first == second]],
        weights=areas[first == second],
        minlength=int(pieces.cell.max(initial=-1)) + 1,
    )
    a, b = pieces.cell[first], pieces.cell[second]
    keep = a < b  # each pair once (the grid proposes both orders), no piece of one cell twice
    pairs: dict[tuple[int, int], float] = {}
    for i, j, area in zip(a[keep].tolist(), b[keep].tolist(), areas[keep].tolist(), strict=True):
        pairs[i, j] = pairs.get((i, j), 0.0) + area
    found = []
    for (i, j), area in pairs.items():
        smaller = min(cell_area[i], cell_area[j])
        fraction = area / smaller if smaller > 0 else math.inf
        if fraction > tolerance:
            found.append((i, j, area, fraction))
    return sorted(found, key=lambda pair: (-pair[3], pair[0], pair[1]))
