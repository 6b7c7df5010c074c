"""Cell layouts of one calorimeter layer, in mm in the layer's transverse plane.

Conventions: an image has shape (rows, cols); rows run along y, columns along x, and the flat
cell index is ``row * cols + col``. Coordinates are centred on the window's axis: (0, 0) is the
centre of the window unless a layout says otherwise.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from calogeo._jit import njit

__all__ = [
    "CellLayout",
    "ConvexPieces",
    "EtaPhiLayout",
    "GridLayout",
    "PolygonLayout",
    "RAlphaLayout",
    "RectilinearLayout",
    "convex_polygon_problems",
]


@dataclass(frozen=True, eq=False)
class ConvexPieces:
    """Cells as unions of convex polygons (mm), the form the general resampler clips.

    ``vertices`` is (P, K, 2) float64 padded with NaN, ``n_vertices`` (P,) the count of each
    piece (counter-clockwise), ``cell`` (P,) the flat cell index each piece belongs to.
    """

    vertices: np.ndarray
    n_vertices: np.ndarray
    cell: np.ndarray

    def __len__(self) -> int:
        return len(self.cell)

    def shoelace_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per piece: twice the signed area, and 6 x area x centroid x and y (shoelace sums)."""
        twice_area = np.zeros(len(self), dtype=np.float64)
        moment_x = np.zeros(len(self), dtype=np.float64)
        moment_y = np.zeros(len(self), dtype=np.float64)
        for k in range(int(self.n_vertices.max(initial=0))):
            nxt = (k + 1) % self.n_vertices
            valid = k < self.n_vertices
            a = self.vertices[:, k, :]
            b = self.vertices[np.arange(len(self)), np.where(valid, nxt, 0), :]
            cross = np.where(valid, a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], 0.0)
            twice_area += cross
            moment_x += np.where(valid, (a[:, 0] + b[:, 0]) * cross, 0.0)
            moment_y += np.where(valid, (a[:, 1] + b[:, 1]) * cross, 0.0)
        return twice_area, moment_x, moment_y

    def areas_mm2(self) -> np.ndarray:
        """Area of each piece in mm2 (shoelace formula)."""
        return 0.5 * self.shoelace_sums()[0]

    def centroids_mm(self) -> np.ndarray:
        """(P, 2) centroid (centre of area) of each piece in mm, exact for a polygon:
        C = sum_i (v_i + v_i+1) (x_i y_i+1 - x_i+1 y_i) / (6 A)."""
        twice_area, moment_x, moment_y = self.shoelace_sums()
        return np.stack([moment_x, moment_y], axis=1) / (3.0 * twice_area[:, None])

    def scaled(self, factor: float, offset_mm: tuple[float, float] = (0.0, 0.0)) -> ConvexPieces:
        """The same pieces shifted by ``-offset_mm`` then scaled by ``factor`` (e.g. 1/R_M)."""
        shifted = self.vertices - np.asarray(offset_mm, dtype=np.float64)
        return ConvexPieces(shifted * factor, self.n_vertices, self.cell)


class CellLayout(ABC):
    """The cells of one layer: their shape as an image, centres, areas and outlines (mm)."""

    kind: str = ""
    is_rectilinear: bool = False

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """Image shape (rows, cols)."""

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        rows, cols = self.shape
        return rows * cols

    @abstractmethod
    def pieces(self) -> ConvexPieces:
        """The cells as convex pieces in mm."""

    @abstractmethod
    def centres_mm(self) -> np.ndarray:
        """Cell centres (n_cells, 2) as (x, y) in mm, flat order: the centroid (centre of area)
        of each cell, exact for the cell's shape."""

    def interior_points_mm(self) -> np.ndarray:
        """(n_cells, 2) a point inside each cell in mm (a centroid may lie outside a cell that
        is not convex, e.g. the axis for a full ring): the centre for convex cells."""
        return self.centres_mm()

    def reference_centres_mm(self) -> np.ndarray:
        """Cell positions (n_cells, 2) in mm, flat order, in the convention of the published
        code of the community that defined the layout, for centres of energy and widths that
        compare one to one with it; the centroids (:meth:`centres_mm`) unless a layout says
        otherwise (r-alpha bins: :meth:`RAlphaLayout.reference_centres_mm`)."""
        return self.centres_mm()

    @abstractmethod
    def areas_mm2(self) -> np.ndarray:
        """Cell areas (n_cells,) in mm2."""

    @abstractmethod
    def locate(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Flat cell index of each point (mm), -1 outside the layer."""

    @abstractmethod
    def to_spec(self) -> dict[str, Any]:
        """The spec table this layout was built from."""

    @abstractmethod
    def describe(self) -> str:
        """One short phrase saying what the cells are."""

    def extent_mm(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, x_max, y_min, y_max) in mm."""
        v = self.pieces().vertices
        return (
            float(np.nanmin(v[..., 0])),
            float(np.nanmax(v[..., 0])),
            float(np.nanmin(v[..., 1])),
            float(np.nanmax(v[..., 1])),
        )

    def cell_size_mm(self) -> tuple[float, float]:
        """Typical cell size (dx, dy) in mm: the median over cells of the piece extents."""
        p = self.pieces()
        dx = np.nanmax(p.vertices[..., 0], axis=1) - np.nanmin(p.vertices[..., 0], axis=1)
        dy = np.nanmax(p.vertices[..., 1], axis=1) - np.nanmin(p.vertices[..., 1], axis=1)
        return float(np.median(dx)), float(np.median(dy))

    def polygons_mm(self) -> list[np.ndarray]:
        """Outline of every piece as a (k, 2) vertex array in mm (for drawing)."""
        p = self.pieces()
        return [p.vertices[i, : p.n_vertices[i]] for i in range(len(p))]


class RectilinearLayout(CellLayout):
    """Cells on a separable grid given by increasing x and y edges in mm."""

    is_rectilinear = True

    @property
    @abstractmethod
    def x_edges_mm(self) -> np.ndarray:
        """Column edges in mm, (cols + 1,), increasing."""

    @property
    @abstractmethod
    def y_edges_mm(self) -> np.ndarray:
        """Row edges in mm, (rows + 1,), increasing."""

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.y_edges_mm) - 1, len(self.x_edges_mm) - 1

    def centres_mm(self) -> np.ndarray:
        xc = 0.5 * (self.x_edges_mm[1:] + self.x_edges_mm[:-1])
        yc = 0.5 * (self.y_edges_mm[1:] + self.y_edges_mm[:-1])
        xx, yy = np.meshgrid(xc, yc)
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def areas_mm2(self) -> np.ndarray:
        return np.outer(np.diff(self.y_edges_mm), np.diff(self.x_edges_mm)).ravel()

    def pieces(self) -> ConvexPieces:
        x0, y0 = np.meshgrid(self.x_edges_mm[:-1], self.y_edges_mm[:-1])
        x1, y1 = np.meshgrid(self.x_edges_mm[1:], self.y_edges_mm[1:])
        x0, y0, x1, y1 = (a.ravel() for a in (x0, y0, x1, y1))
        vertices = np.stack(
            [
                np.stack([x0, y0], 1),
                np.stack([x1, y0], 1),
                np.stack([x1, y1], 1),
                np.stack([x0, y1], 1),
            ],
            axis=1,
        )
        n = len(x0)
        return ConvexPieces(vertices, np.full(n, 4, dtype=np.int64), np.arange(n, dtype=np.int64))

    def extent_mm(self) -> tuple[float, float, float, float]:
        xe, ye = self.x_edges_mm, self.y_edges_mm
        return float(xe[0]), float(xe[-1]), float(ye[0]), float(ye[-1])

    def cell_size_mm(self) -> tuple[float, float]:
        return float(np.median(np.diff(self.x_edges_mm))), float(
            np.median(np.diff(self.y_edges_mm))
        )

    def locate(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        return _locate_rectilinear(
            np.ascontiguousarray(x_mm, dtype=np.float64).ravel(),
            np.ascontiguousarray(y_mm, dtype=np.float64).ravel(),
            self.x_edges_mm,
            self.y_edges_mm,
        ).reshape(np.shape(x_mm))


@njit(cache=True)
def _bisect(edges: np.ndarray, v: float) -> int:
    """Index i with edges[i] <= v < edges[i+1], or -1 outside."""
    n = len(edges) - 1
    if not (edges[0] <= v < edges[n]):
        return -1
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if edges[mid] <= v:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def _locate_rectilinear(
    x: np.ndarray, y: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray
) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int64)
    cols = len(x_edges) - 1
    for i in range(len(x)):
        c = _bisect(x_edges, x[i])
        r = _bisect(y_edges, y[i])
        out[i] = -1 if (c < 0 or r < 0) else r * cols + c
    return out


def _centred_edges(pitch_mm: float, n: int) -> np.ndarray:
    return (np.arange(n + 1, dtype=np.float64) - 0.5 * n) * pitch_mm


@dataclass(frozen=True, eq=False)
class GridLayout(RectilinearLayout):
    """Rectangular cells of ``pitch_x_mm`` x ``pitch_y_mm``, ``n_x`` columns and ``n_y`` rows,
    centred on the axis."""

    pitch_x_mm: float
    pitch_y_mm: float
    n_x: int
    n_y: int
    kind: str = field(default="grid", init=False)

    @cached_property
    def x_edges_mm(self) -> np.ndarray:
        return _centred_edges(self.pitch_x_mm, self.n_x)

    @cached_property
    def y_edges_mm(self) -> np.ndarray:
        return _centred_edges(self.pitch_y_mm, self.n_y)

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "grid",
            "pitch_mm": [self.pitch_x_mm, self.pitch_y_mm],
            "shape": [self.n_y, self.n_x],
        }

    def describe(self) -> str:
        return f"{self.pitch_x_mm:g} x {self.pitch_y_mm:g} mm grid"


@dataclass(frozen=True, eq=False)
class EtaPhiLayout(RectilinearLayout):
    """Projective cells of ``d_eta`` x ``d_phi`` (rad) seen at ``radius_mm`` from the beam.

    Rows run along eta, columns along phi; in mm x = R phi and y = R sinh(eta), measured from the
    window centre at ``eta_centre`` (DESIGN: keeps the layout separable).
    """

    d_eta: float
    d_phi: float
    n_eta: int
    n_phi: int
    radius_mm: float
    eta_centre: float = 0.0
    kind: str = field(default="eta_phi", init=False)

    @cached_property
    def x_edges_mm(self) -> np.ndarray:
        return self.radius_mm * _centred_edges(self.d_phi, self.n_phi)

    @cached_property
    def y_edges_mm(self) -> np.ndarray:
        eta = self.eta_centre + _centred_edges(self.d_eta, self.n_eta)
        return self.radius_mm * (np.sinh(eta) - math.sinh(self.eta_centre))

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "eta_phi",
            "d_eta": self.d_eta,
            "d_phi": self.d_phi,
            "shape": [self.n_eta, self.n_phi],
            "radius_mm": self.radius_mm,
            "eta_centre": self.eta_centre,
        }

    def describe(self) -> str:
        return f"{self.d_eta:g} x {self.d_phi:.4g} (eta x phi) at R = {self.radius_mm:g} mm"


@dataclass(frozen=True, eq=False)
class PolygonLayout(CellLayout):
    """Cells made of convex polygons (mm): hexagons, r-alpha wedges, irregular towers."""

    convex: ConvexPieces
    image_shape: tuple[int, int]
    spec: dict[str, Any]
    kind: str = field(default="polygons", init=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image_shape

    def pieces(self) -> ConvexPieces:
        return self.convex

    @cached_property
    def _areas(self) -> np.ndarray:
        return np.bincount(self.convex.cell, self.convex.areas_mm2(), minlength=self.n_cells)

    def areas_mm2(self) -> np.ndarray:
        return self._areas

    def centres_mm(self) -> np.ndarray:
        """Centroid of each cell: the exact polygon centroids of its convex pieces (shoelace
        formula), weighted by the pieces' areas."""
        twice_area, moment_x, moment_y = self.convex.shoelace_sums()
        cell = self.convex.cell
        sums = [np.bincount(cell, w, minlength=self.n_cells) for w in (moment_x, moment_y)]
        return np.stack(sums, axis=1) / (
            3.0 * np.bincount(cell, twice_area, minlength=self.n_cells)[:, None]
        )

    def interior_points_mm(self) -> np.ndarray:
        """The centroid of each cell's largest convex piece, which lies inside the cell."""
        p = self.convex
        order = np.lexsort((-p.areas_mm2(), p.cell))  # by cell, largest piece first
        first = order[np.flatnonzero(np.r_[True, np.diff(p.cell[order]) != 0])]
        points = np.empty((self.n_cells, 2))
        points[p.cell[first]] = p.centroids_mm()[first]
        return points

    def to_spec(self) -> dict[str, Any]:
        return dict(self.spec)

    def describe(self) -> str:
        return str(self.spec.get("description", f"{self.n_cells} polygon cells"))

    @cached_property
    def _index(self) -> tuple[np.ndarray, ...]:
        return _build_bin_index(self.convex)

    def locate(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        x0, y0, inv_bin, nbx, nby, start, members = self._index
        out = _locate_polygons(
            np.ascontiguousarray(x_mm, dtype=np.float64).ravel(),
            np.ascontiguousarray(y_mm, dtype=np.float64).ravel(),
            self.convex.vertices,
            self.convex.n_vertices,
            self.convex.cell,
            x0,
            y0,
            inv_bin,
            nbx,
            nby,
            start,
            members,
        )
        return out.reshape(np.shape(x_mm))

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_polygons(
        cls, polygons: list[np.ndarray], shape: tuple[int, int], spec: dict[str, Any]
    ) -> PolygonLayout:
        """One convex polygon per cell, vertices (k, 2) in mm in any orientation."""
        k_max = max(len(p) for p in polygons)
        vertices = np.full((len(polygons), k_max, 2), np.nan)
        n_vertices = np.empty(len(polygons), dtype=np.int64)
        for i, poly in enumerate(polygons):
            poly = np.asarray(poly, dtype=np.float64)
            if _signed_area(poly) < 0:
                poly = poly[::-1]
            vertices[i, : len(poly)] = poly
            n_vertices[i] = len(poly)
        convex = ConvexPieces(vertices, n_vertices, np.arange(len(polygons), dtype=np.int64))
        return cls(convex, shape, spec)

    @classmethod
    def hexagonal(
        cls,
        pitch_mm: float,
        n_rows: int,
        n_cols: int,
        *,
        orientation: str = "pointy",
        axis_on: str | None = None,
    ) -> PolygonLayout:
        """Hexagons of flat-to-flat size ``pitch_mm`` (mm), rows along y.

        ``orientation="pointy"``: a vertex up, cells in rows, odd rows shifted by half a pitch
        along +x; ``"flat"``: a flat side up, cells in columns, odd columns shifted by half a
        pitch along +y. ``axis_on`` puts the axis (x = y = 0) on the ``"centre"``, the top
        (pointy) or right (flat) ``"vertex"``, or the right (pointy) or top (flat) ``"edge"``
        midpoint of the middle cell (row (rows-1)//2, column (cols-1)//2); None keeps calogeo
        0.1's placement, the grid centred with every row moved a quarter pitch along -x
        (pointy; flat: every column along -y).
        """
        if orientation not in ("pointy", "flat"):
            msg = f"orientation must be 'pointy' or 'flat', got {orientation!r}"
            raise ValueError(msg)
        offsets = {
            "centre": (0.0, 0.0),
            "vertex": (0.0, -1.0),
            "edge": (-0.5 * math.sqrt(3.0), 0.0),
        }
        if axis_on is not None and axis_on not in offsets:
            msg = f"axis_on must be one of centre, vertex, edge, got {axis_on!r}"
            raise ValueError(msg)
        r = pitch_mm / math.sqrt(3.0)
        # Work in the pointy frame (u along the rows, v across them), swap for flat cells.
        n_u, n_v = (n_cols, n_rows) if orientation == "pointy" else (n_rows, n_cols)
        v_index, u_index = np.meshgrid(np.arange(n_v), np.arange(n_u), indexing="ij")
        u = u_index * pitch_mm + 0.5 * pitch_mm * (v_index % 2)
        v = v_index * 1.5 * r
        if axis_on is None:
            u = u - 0.5 * (n_u - 1) * pitch_mm - 0.25 * pitch_mm
            v = v - 0.5 * (n_v - 1) * 1.5 * r
        else:
            mid_v, mid_u = (n_v - 1) // 2, (n_u - 1) // 2
            du, dv = offsets[axis_on]
            u = u - u[mid_v, mid_u] + du * r
            v = v - v[mid_v, mid_u] + dv * r
        angles = np.deg2rad(90.0 + 60.0 * np.arange(6))
        unit = np.stack([np.cos(angles), np.sin(angles)], 1) * r
        if orientation == "pointy":
            centres = np.stack([u.ravel(), v.ravel()], 1)  # (rows, cols) order already
        else:
            unit = unit[::-1, ::-1]  # swap x and y, keeping the vertices counter-clockwise
            centres = np.stack([v.T.ravel(), u.T.ravel()], 1)  # rows along y = u
        polygons = [unit + c for c in centres]
        spec: dict[str, Any] = {
            "type": "hexagonal",
            "pitch_mm": pitch_mm,
            "shape": [n_rows, n_cols],
        }
        if orientation != "pointy":
            spec["orientation"] = orientation
        if axis_on is not None:
            spec["axis_on"] = axis_on
        flat = "flat-top " if orientation == "flat" else ""
        spec["description"] = f"{flat}hexagons of {pitch_mm:g} mm"
        return cls.from_polygons(polygons, (n_rows, n_cols), spec)

    @classmethod
    def r_alpha(cls, r_edges_mm: np.ndarray, n_alpha: int, arc_segments: int = 0) -> RAlphaLayout:
        """Annular sectors (an :class:`RAlphaLayout`): rows along alpha (from 0,
        counter-clockwise), columns along r.

        Each sector's arcs are polylines shared with its neighbours, so the cells tile the disc
        exactly; a sector is split into convex trapezoids, one per arc segment. ``arc_segments``
        per sector defaults to enough for a sagitta below 0.5% of the outer radius.
        """
        r_edges = np.asarray(r_edges_mm, dtype=np.float64)
        d_alpha = 2.0 * math.pi / n_alpha
        if arc_segments <= 0:
            arc_segments = max(1, math.ceil(d_alpha / (2.0 * math.acos(1.0 - 0.005))))
        n_r = len(r_edges) - 1
        vertices, cells = [], []
        for a in range(n_alpha):
            alphas = a * d_alpha + np.linspace(0.0, d_alpha, arc_segments + 1)
            c, s = np.cos(alphas), np.sin(alphas)
            for ir in range(n_r):
                r0, r1 = r_edges[ir], r_edges[ir + 1]
                for k in range(arc_segments):
                    quad = [
                        (r0 * c[k], r0 * s[k]),
                        (r1 * c[k], r1 * s[k]),
                        (r1 * c[k + 1], r1 * s[k + 1]),
                        (r0 * c[k + 1], r0 * s[k + 1]),
                    ]
                    if r0 == 0.0:
                        quad = quad[1:]
                    vertices.append(quad)
                    cells.append(a * n_r + ir)
        k_max = max(len(v) for v in vertices)
        array = np.full((len(vertices), k_max, 2), np.nan)
        counts = np.empty(len(vertices), dtype=np.int64)
        for i, v in enumerate(vertices):
            array[i, : len(v)] = v
            counts[i] = len(v)
        spec = {
            "type": "r_alpha",
            "r_edges_mm": r_edges.tolist(),
            "n_alpha": n_alpha,
            "arc_segments": arc_segments,
        }
        spec["description"] = f"{n_r} r-bins x {n_alpha} alpha-bins to r = {r_edges[-1]:g} mm"
        convex = ConvexPieces(array, counts, np.asarray(cells, dtype=np.int64))
        return RAlphaLayout(convex, (n_alpha, n_r), spec)


@dataclass(frozen=True, eq=False)
class RAlphaLayout(PolygonLayout):
    """Annular sectors: ``n_alpha`` rows of alpha bins (row j spans [j, j + 1] x 2 pi / n_alpha
    from the +x axis, counter-clockwise) by the columns of radial bins ``r_edges_mm``.

    The cells are clipped and located as the polylines :meth:`PolygonLayout.r_alpha` draws
    (``areas_mm2`` is theirs, so the resampler conserves energy exactly), but their centres are
    those of the true annular sectors, independent of how finely the arcs are drawn.
    """

    @property
    def r_edges_mm(self) -> np.ndarray:
        """Radial bin edges in mm, (cols + 1,)."""
        return np.asarray(self.spec["r_edges_mm"], dtype=np.float64)

    @property
    def n_alpha(self) -> int:
        """Number of alpha bins (rows)."""
        return int(self.spec["n_alpha"])

    def _polar(self, radius_mm: np.ndarray) -> np.ndarray:
        """(n_cells, 2) points at ``radius_mm`` (per radial bin) on each alpha bin's bisector."""
        alpha = (np.arange(self.n_alpha) + 0.5) * (2.0 * math.pi / self.n_alpha)
        x = np.outer(np.cos(alpha), radius_mm)
        y = np.outer(np.sin(alpha), radius_mm)
        return np.stack([x.ravel(), y.ravel()], axis=1)

    def centres_mm(self) -> np.ndarray:
        """Exact centroid of each annular sector: on the alpha bin's bisector at radius
        (2/3) (r1^3 - r0^3) / (r1^2 - r0^2) x sin(d/2) / (d/2), d = 2 pi / n_alpha (the centre
        of a full ring, ``n_alpha`` = 1, is the axis)."""
        r0, r1 = self.r_edges_mm[:-1], self.r_edges_mm[1:]
        half = math.pi / self.n_alpha
        radius = (2.0 / 3.0) * (r1**3 - r0**3) / (r1**2 - r0**2) * (math.sin(half) / half)
        return self._polar(radius)

    def reference_centres_mm(self) -> np.ndarray:
        """The bin-midpoint convention of the CaloChallenge code (its ``HighLevelFeatures`` and
        ``XMLHandler``): radius (r0 + r1) / 2 at the centre of the alpha bin. The radius of
        these points is the radial position that code uses for every layer; for a layer with a
        single alpha bin the point's direction means nothing (that code computes no x / y centre
        of energy there)."""
        return self._polar(0.5 * (self.r_edges_mm[:-1] + self.r_edges_mm[1:]))


def convex_polygon_problems(polygons: Sequence[np.ndarray]) -> dict[int, str]:
    """Why each polygon of ``polygons`` (vertices (k, 2) each) is not one simple convex polygon
    with an area, by index (polygons that are fine are left out). Every turn must go the same
    way AND the boundary must wind around once: a pentagram or a square traced twice turns the
    same way at every vertex but winds around twice. Polygons with the same number of vertices
    are checked together (vectorised)."""
    problems: dict[int, str] = {}
    by_size: dict[int, list[int]] = {}
    for i, polygon in enumerate(polygons):
        by_size.setdefault(len(polygon), []).append(i)
    for indices in by_size.values():
        vertices = np.stack([np.asarray(polygons[i], dtype=np.float64) for i in indices])
        edges = np.roll(vertices, -1, axis=1) - vertices
        following = np.roll(edges, -1, axis=1)
        cross = edges[..., 0] * following[..., 1] - edges[..., 1] * following[..., 0]
        dot = np.einsum("nkd,nkd->nk", edges, following)
        with np.errstate(invalid="ignore"):
            winding = np.abs(np.arctan2(cross, dot).sum(axis=1)) / (2.0 * math.pi)
        finite = np.asarray(np.isfinite(vertices).all(axis=(1, 2)))
        flat = np.asarray(~np.any(cross != 0, axis=1))
        convex = np.asarray(np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1))
        for j, i in enumerate(indices):
            if not finite[j]:
                problems[i] = "has vertices that are not finite numbers"
            elif flat[j]:
                problems[i] = "has no area (its vertices are on one line)"
            elif not convex[j]:
                problems[i] = "is not convex"
            elif round(float(winding[j])) != 1:
                problems[i] = (
                    f"is not a simple polygon: its boundary winds {winding[j]:.3g} times around "
                    "(self-intersecting, e.g. a star or a cell traced twice)"
                )
    return dict(sorted(problems.items()))


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _build_bin_index(p: ConvexPieces) -> tuple[np.ndarray, ...]:
    """A uniform grid of bins over the pieces' extent, each listing the pieces whose bounding
    box touches it (CSR: ``start`` offsets into ``members``)."""
    lo = np.nanmin(p.vertices, axis=1)
    hi = np.nanmax(p.vertices, axis=1)
    x0, y0 = lo.min(axis=0)
    span = max(hi[:, 0].max() - x0, hi[:, 1].max() - y0, 1e-12)
    n_bins = max(1, int(math.sqrt(len(p))))
    inv_bin = n_bins / span
    ix0 = np.clip(((lo[:, 0] - x0) * inv_bin).astype(np.int64), 0, n_bins - 1)
    ix1 = np.clip(((hi[:, 0] - x0) * inv_bin).astype(np.int64), 0, n_bins - 1)
    iy0 = np.clip(((lo[:, 1] - y0) * inv_bin).astype(np.int64), 0, n_bins - 1)
    iy1 = np.clip(((hi[:, 1] - y0) * inv_bin).astype(np.int64), 0, n_bins - 1)
    buckets: list[list[int]] = [[] for _ in range(n_bins * n_bins)]
    for i in range(len(p)):
        for by in range(iy0[i], iy1[i] + 1):
            for bx in range(ix0[i], ix1[i] + 1):
                buckets[by * n_bins + bx].append(i)
    start = np.zeros(len(buckets) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(b) for b in buckets])
    members = np.fromiter((i for b in buckets for i in b), dtype=np.int64, count=int(start[-1]))
    return (
        np.float64(x0),
        np.float64(y0),
        np.float64(inv_bin),
        np.int64(n_bins),
        np.int64(n_bins),
        start,
        members,
    )


@njit(cache=True)
def _inside_convex(vertices: np.ndarray, n: int, x: float, y: float) -> bool:
    """True inside the counter-clockwise convex piece or on its edges; "on" allows a rounding
    error of 1e-12 relative to the lengths involved, so a point on an edge two pieces share
    (e.g. the bisector of an r-alpha cell) falls in one of them rather than in neither."""
    for k in range(n):
        ax, ay = vertices[k, 0], vertices[k, 1]
        bx, by = vertices[(k + 1) % n, 0], vertices[(k + 1) % n, 1]
        cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        scale = (abs(bx - ax) + abs(by - ay)) * (abs(x - ax) + abs(y - ay))
        if cross < -1e-12 * scale:
            return False
    return True


@njit(cache=True)
def _locate_polygons(
    x, y, vertices, n_vertices, cell, x0, y0, inv_bin, nbx, nby, start, members
):  # pragma: no cover - numba
    out = np.full(len(x), -1, dtype=np.int64)
    for i in range(len(x)):
        bx = math.floor((x[i] - x0) * inv_bin)
        by = math.floor((y[i] - y0) * inv_bin)
        if bx < 0 or by < 0 or bx >= nbx or by >= nby:
            continue
        b = by * nbx + bx
        for j in range(start[b], start[b + 1]):
            piece = members[j]
            if _inside_convex(vertices[piece], n_vertices[piece], x[i], y[i]):
                out[i] = cell[piece]
                break
    return out
