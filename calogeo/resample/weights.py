"""Overlap volumes between the cells of two geometries, in Moliere radii and radiation lengths.

For a source geometry A and a target B, ``V[t, s]`` is the volume that cell s of A and cell t of
B share once both are put in normalised shower coordinates (Belayneh et al., EPJC 80 (2020) 688,
Sect. 5.4): transverse lengths divided by each layer's Moliere radius and measured from the
geometry's anchor, depth in cumulative radiation lengths from the calorimeter front. Units of
``V`` are R_M^2 X0. The resampling weights are ``W[t, s] = V[t, s] / volume(s)``.

``V`` is kept factored: consecutive source layers with the same cells and material form a *run*;
a run couples to the target layers its depth overlaps through a (target, source) table of depth
overlaps in X0 and one transverse overlap-area table per target layer. A transverse table is a
Kronecker product of two 1D overlap tables when both layers are rectilinear (grid, eta-phi), and
a sparse matrix from convex-polygon clipping otherwise.

Depth: energy in the part of a source layer that lies beyond the target's last layer (A deeper
than B) has no target cell and counts as edge loss, like energy outside B's transverse window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calogeo.clip import piece_overlaps
from calogeo.geometry import Geometry, Layer
from calogeo.layout import RectilinearLayout
from calogeo.resample.overlap1d import interval_overlaps

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "ALGORITHM_VERSION",
    "METHODS",
    "Coupling",
    "Overlaps",
    "SeparableTable",
    "SparseTable",
    "Transverse",
    "build_overlaps",
    "cells_fingerprint",
    "table_from_arrays",
]

ALGORITHM_VERSION = 1
"""Bumped whenever the numbers built here change; part of the cache key."""

METHODS = ("auto", "general")
"""``auto``: separable 1D overlaps for rectilinear layer pairs; ``general``: polygon clipping
for every pair (the reference the fast path is tested against)."""


@dataclass(frozen=True, eq=False)
class SeparableTable:
    """Overlap areas (R_M^2) of two rectilinear layers: ``kron(ly, lx)``.

    ``ly`` (rows_t, rows_s) and ``lx`` (cols_t, cols_s) are 1D overlap lengths, ``wy``
    (rows_s,) and ``wx`` (cols_s,) the source cell widths, all in R_M.
    """

    ly: np.ndarray
    lx: np.ndarray
    wy: np.ndarray
    wx: np.ndarray
    separable: ClassVar[bool] = True

    @property
    def source_area(self) -> np.ndarray:
        """(cells_s,) area of every source cell in R_M^2."""
        return np.outer(self.wy, self.wx).ravel()

    @cached_property
    def matrix(self) -> sparse.csr_matrix:
        """(cells_t, cells_s) overlap areas in R_M^2 as CSR."""
        from scipy import sparse

        return sparse.kron(sparse.csr_matrix(self.ly), sparse.csr_matrix(self.lx), format="csr")

    def row_sums(self) -> np.ndarray:
        """(cells_t,) area of every target cell covered by the source layer, R_M^2."""
        return np.outer(self.ly.sum(axis=1), self.lx.sum(axis=1)).ravel()

    def column_sums(self) -> np.ndarray:
        """(cells_s,) area of every source cell covered by the target layer, R_M^2."""
        return np.outer(self.ly.sum(axis=0), self.lx.sum(axis=0)).ravel()

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays that rebuild this table (see :func:`table_from_arrays`)."""
        names = {"ly": self.ly, "lx": self.lx, "wy": self.wy, "wx": self.wx}
        return {f"{prefix}{k}": np.asarray(v) for k, v in names.items()}


@dataclass(frozen=True, eq=False)
class SparseTable:
    """Overlap areas (R_M^2) of any two layers from polygon clipping: ``area`` (cells_t,
    cells_s) CSR, and the source ``cell_area`` (cells_s,) in R_M^2."""

    area: sparse.csr_matrix
    cell_area: np.ndarray
    separable: ClassVar[bool] = False

    @property
    def source_area(self) -> np.ndarray:
        """(cells_s,) area of every source cell in R_M^2."""
        return self.cell_area

    @property
    def matrix(self) -> sparse.csr_matrix:
        """(cells_t, cells_s) overlap areas in R_M^2 as CSR."""
        return self.area

    def row_sums(self) -> np.ndarray:
        """(cells_t,) area of every target cell covered by the source layer, R_M^2."""
        return np.asarray(self.area.sum(axis=1)).ravel()

    def column_sums(self) -> np.ndarray:
        """(cells_s,) area of every source cell covered by the target layer, R_M^2."""
        return np.asarray(self.area.sum(axis=0)).ravel()

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays that rebuild this table (see :func:`table_from_arrays`)."""
        a = self.area
        names = {
            "data": a.data,
            "indices": a.indices,
            "indptr": a.indptr,
            "shape": np.asarray(a.shape),
            "cell_area": self.cell_area,
        }
        return {f"{prefix}{k}": np.asarray(v) for k, v in names.items()}


Transverse = SeparableTable | SparseTable
"""Overlap areas of the cells of one source layer with those of one target layer."""


def table_from_arrays(arrays: Any, prefix: str) -> Transverse:
    """The table stored by ``to_arrays(prefix)``."""
    from scipy import sparse

    if f"{prefix}ly" in arrays:
        return SeparableTable(*(arrays[f"{prefix}{k}"] for k in ("ly", "lx", "wy", "wx")))
    shape = tuple(int(v) for v in arrays[f"{prefix}shape"])
    area = sparse.csr_matrix(
        (arrays[f"{prefix}data"], arrays[f"{prefix}indices"], arrays[f"{prefix}indptr"]),
        shape=shape,
    )
    return SparseTable(area, arrays[f"{prefix}cell_area"])


@dataclass(frozen=True, eq=False)
class Coupling:
    """Source layers ``first:stop`` (same cells and material) and the target layers they reach.

    ``depth_x0[q, k]`` is the depth overlap in X0 of target layer ``targets[q]`` with source
    layer ``first + k``; ``transverse[q]`` is that target layer's overlap-area table;
    ``cell_area`` (cells,) is the area of the run's cells in R_M^2.
    """

    first: int
    stop: int
    targets: np.ndarray
    depth_x0: np.ndarray
    transverse: tuple[Transverse, ...]
    cell_area: np.ndarray


@dataclass(frozen=True, eq=False)
class Overlaps:
    """The factored overlap-volume matrix V (target cells x source cells) of two geometries."""

    source_offsets: np.ndarray
    target_offsets: np.ndarray
    source_depth_x0: np.ndarray
    couplings: tuple[Coupling, ...]
    constants: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Factors cast for one backend, dtype and device, built on first use (see apply)."""

    @property
    def n_source(self) -> int:
        return int(self.source_offsets[-1])

    @property
    def n_target(self) -> int:
        return int(self.target_offsets[-1])

    def _assemble(
        self, block: Callable[[Coupling, int, int], sparse.spmatrix]
    ) -> sparse.csr_matrix:
        from scipy import sparse

        rows, cols, vals = [], [], []
        for c in self.couplings:
            for q, j in enumerate(c.targets):
                for k, i in enumerate(range(c.first, c.stop)):
                    if c.depth_x0[q, k] <= 0.0:
                        continue
                    m = block(c, q, k).tocoo()
                    rows.append(m.row + self.target_offsets[j])
                    cols.append(m.col + self.source_offsets[i])
                    vals.append(m.data)
        shape = (self.n_target, self.n_source)
        if not vals:
            return sparse.csr_matrix(shape)
        coo = sparse.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )
        return coo.tocsr()

    def volumes(self) -> sparse.csr_matrix:
        """V (target cells x source cells) in R_M^2 X0."""
        return self._assemble(lambda c, q, k: c.depth_x0[q, k] * c.transverse[q].matrix)

    @cached_property
    def source_volume(self) -> np.ndarray:
        """(source cells,) volume of every source cell in R_M^2 X0."""
        out = np.zeros(self.n_source)
        for c in self.couplings:
            for i in range(c.first, c.stop):
                out[self.source_offsets[i] : self.source_offsets[i + 1]] = (
                    c.cell_area * self.source_depth_x0[i]
                )
        return out

    @cached_property
    def covered_volume(self) -> np.ndarray:
        """(source cells,) column sums of V: how much of each source cell B covers."""
        out = np.zeros(self.n_source)
        for c in self.couplings:
            for q in range(len(c.targets)):
                cover = c.transverse[q].column_sums()
                for k, i in enumerate(range(c.first, c.stop)):
                    out[self.source_offsets[i] : self.source_offsets[i + 1]] += (
                        c.depth_x0[q, k] * cover
                    )
        return out

    @cached_property
    def target_covered_volume(self) -> np.ndarray:
        """(target cells,) row sums of V: how much of each target cell A covers."""
        out = np.zeros(self.n_target)
        for c in self.couplings:
            for q, j in enumerate(c.targets):
                depth = c.depth_x0[q].sum()
                out[self.target_offsets[j] : self.target_offsets[j + 1]] += (
                    depth * c.transverse[q].row_sums()
                )
        return out

    @cached_property
    def covered_fraction(self) -> np.ndarray:
        """(source cells,) fraction of each source cell inside B: 1 inside, 0 far outside."""
        return self.covered_volume / self.source_volume

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for an ``.npz`` file (see :meth:`from_arrays`)."""
        tables: dict[int, int] = {}
        arrays: dict[str, np.ndarray] = {
            "source_offsets": self.source_offsets,
            "target_offsets": self.target_offsets,
            "source_depth_x0": self.source_depth_x0,
        }
        runs = []
        for m, c in enumerate(self.couplings):
            refs = []
            for t in c.transverse:
                if id(t) not in tables:
                    tables[id(t)] = len(tables)
                    arrays |= t.to_arrays(f"t{tables[id(t)]}_")
                refs.append(tables[id(t)])
            arrays[f"c{m}_targets"] = c.targets
            arrays[f"c{m}_depth_x0"] = c.depth_x0
            arrays[f"c{m}_tables"] = np.asarray(refs, dtype=np.int64)
            arrays[f"c{m}_cell_area"] = c.cell_area
            runs.append([c.first, c.stop])
        arrays["runs"] = np.asarray(runs, dtype=np.int64).reshape(-1, 2)
        arrays["n_tables"] = np.asarray(len(tables))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any) -> Overlaps:
        tables = [table_from_arrays(arrays, f"t{n}_") for n in range(int(arrays["n_tables"]))]
        couplings = tuple(
            Coupling(
                int(first),
                int(stop),
                arrays[f"c{m}_targets"],
                arrays[f"c{m}_depth_x0"],
                tuple(tables[r] for r in arrays[f"c{m}_tables"]),
                arrays[f"c{m}_cell_area"],
            )
            for m, (first, stop) in enumerate(arrays["runs"])
        )
        return cls(
            arrays["source_offsets"],
            arrays["target_offsets"],
            arrays["source_depth_x0"],
            couplings,
        )


def _same_cells(a: Layer, b: Layer) -> bool:
    """True if two layers have the same cells in R_M units (same outlines and Moliere radius)."""
    if a.material.rm_mm != b.material.rm_mm:
        return False
    la, lb = a.layout, b.layout
    if la is lb:
        return True
    if isinstance(la, RectilinearLayout) and isinstance(lb, RectilinearLayout):
        return np.array_equal(la.x_edges_mm, lb.x_edges_mm) and np.array_equal(
            la.y_edges_mm, lb.y_edges_mm
        )
    if isinstance(la, RectilinearLayout) or isinstance(lb, RectilinearLayout):
        return False
    pa, pb = la.pieces(), lb.pieces()
    return (
        pa.vertices.shape == pb.vertices.shape
        and np.array_equal(pa.vertices, pb.vertices, equal_nan=True)
        and np.array_equal(pa.n_vertices, pb.n_vertices)
        and np.array_equal(pa.cell, pb.cell)
    )


def cells_fingerprint(geometry: Geometry) -> str:
    """Hash of what the overlaps depend on: every layer's cell outlines, R_M and depth, and the
    anchor. It does not rely on the spec text, which for layouts built in Python may omit the
    outlines."""
    digest = hashlib.sha256(repr(geometry.anchor_mm).encode())
    digest.update(geometry.x0_edges.tobytes())
    for layer in geometry.layers:
        layout = layer.layout
        digest.update(f"{layout.kind}:{layout.shape}:{layer.material.rm_mm!r}".encode())
        if isinstance(layout, RectilinearLayout):
            arrays = [layout.x_edges_mm, layout.y_edges_mm]
        else:
            pieces = layout.pieces()
            arrays = [pieces.vertices, pieces.n_vertices, pieces.cell]
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _edges(x0_edges: np.ndarray) -> np.ndarray:
    """Contiguous depth edges (n_layers + 1,) from the (n_layers, 2) front/back table."""
    return np.append(x0_edges[:, 0], x0_edges[-1, 1])


def _transverse(
    source: Layer,
    source_anchor: tuple[float, float],
    target: Layer,
    target_anchor: tuple[float, float],
    method: str,
) -> Transverse:
    """Overlap areas of two layers' cells in R_M^2, each measured from its own anchor (mm)."""
    from scipy import sparse

    rs, rt = source.material.rm_mm, target.material.rm_mm
    a, b = source.layout, target.layout
    if method == "auto" and isinstance(a, RectilinearLayout) and isinstance(b, RectilinearLayout):
        xs = (a.x_edges_mm - source_anchor[0]) / rs
        ys = (a.y_edges_mm - source_anchor[1]) / rs
        xt = (b.x_edges_mm - target_anchor[0]) / rt
        yt = (b.y_edges_mm - target_anchor[1]) / rt
        return SeparableTable(
            ly=interval_overlaps(ys, yt),
            lx=interval_overlaps(xs, xt),
            wy=np.diff(ys),
            wx=np.diff(xs),
        )
    ps, pt = a.pieces(), b.pieces()
    si, ti, area = piece_overlaps(ps, pt, (1.0 / rs, *source_anchor), (1.0 / rt, *target_anchor))
    matrix = sparse.coo_matrix(
        (area, (pt.cell[ti], ps.cell[si])), shape=(b.n_cells, a.n_cells)
    ).tocsr()
    return SparseTable(matrix, a.areas_mm2() / rs**2)


def build_overlaps(
    source: Geometry,
    target: Geometry,
    offset_mm: tuple[float, float] = (0.0, 0.0),
    method: str = "auto",
) -> Overlaps:
    """The overlap volumes of ``source`` and ``target`` cells (see the module docstring).

    The geometries are aligned at their anchors; ``offset_mm`` moves the source's anchor to
    ``target.anchor_mm + offset_mm`` (mm in the target's layers).
    """
    if method not in METHODS:
        msg = f"unknown overlap method {method!r}: expected one of {', '.join(METHODS)}"
        raise ValueError(msg)
    depth = interval_overlaps(_edges(source.x0_edges), _edges(target.x0_edges))
    target_anchor = (target.anchor_mm[0] + offset_mm[0], target.anchor_mm[1] + offset_mm[1])
    built: list[tuple[Layer, Layer, Transverse]] = []

    def table(a: Layer, b: Layer) -> Transverse:
        """The overlap table of two layers, reused for layers with the same cells."""
        for sa, tb, done in built:
            if _same_cells(sa, a) and _same_cells(tb, b):
                return done
        built.append((a, b, _transverse(a, source.anchor_mm, b, target_anchor, method)))
        return built[-1][2]

    couplings = []
    first = 0
    for i in range(1, source.n_layers + 1):
        if i < source.n_layers and _same_cells(source.layers[i], source.layers[first]):
            continue
        block = depth[:, first:i]
        targets = np.flatnonzero(block.sum(axis=1) > 0.0)
        tables = [table(source.layers[first], target.layers[j]) for j in targets]
        layer = source.layers[first]
        area = layer.layout.areas_mm2() / layer.material.rm_mm**2
        couplings.append(Coupling(first, i, targets, block[targets], tuple(tables), area))
        first = i
    return Overlaps(
        np.asarray(source.layer_offsets, dtype=np.int64),
        np.asarray(target.layer_offsets, dtype=np.int64),
        source.x0_edges[:, 1] - source.x0_edges[:, 0],
        tuple(couplings),
    )
