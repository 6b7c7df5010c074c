"""Applying factored overlap volumes to energy arrays, with numpy/scipy or torch on any device.

Energies are flat (N, cells) arrays in GeV. Two engines compute the same map:

- ``auto`` for numpy arrays: one fused Numba pass over the events (:mod:`.kernel`) built from
  *terms*; it keeps each event in cache and reads only the input cells the target covers, so it
  runs near memory speed (``benchmarks/resample.py`` measures both engines).
- ``products`` (torch tensors, and numpy on request): consecutive source layers sharing cells
  are combined with their depth weights, then each separable layer pair is applied as two
  plain matrix products over all events (W_y Z W_x^T), each general pair as a sparse product.
  One code path serves numpy and torch; the few operations that differ (new arrays, constants,
  sparse products, layer combination) go through a small backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calogeo.resample.combine import combine_layers
from calogeo.resample.kernel import SparseRows, Terms, apply_terms
from calogeo.resample.weights import (
    Coupling,
    Overlaps,
    SeparableTable,
    SparseTable,
    Transverse,
)

__all__ = [
    "ENGINES",
    "Backend",
    "backend_for",
    "factors_key",
    "spread_back",
    "terms_for",
    "transfer",
]

SIMD_WIDTH = 8  # float32 lanes of a 256-bit vector unit, for choosing the product order

ENGINES = ("auto", "products")
"""``auto``: numpy arrays go through the fused Numba pass (:mod:`calogeo.resample.kernel`:
banded row and column factors per separable layer pair, CSR otherwise), torch tensors through
``products``: matrix products over all events (two dense ones per separable layer pair, a
sparse one otherwise)."""


class Backend:
    """numpy/scipy arrays; constants are cast to the data's dtype and kept in a store."""

    def key(self, like: Any) -> Any:
        return like.dtype

    def constant(self, store: dict[Any, Any], name: tuple[Any, ...], like: Any, make: Any) -> Any:
        """``make()`` (a float64 numpy array or CSR) cast like ``like``, built once per store."""
        key = (*name, type(self).__name__, self.key(like))
        if key not in store:
            store[key] = self.convert(make(), like)
        return store[key]

    def convert(self, value: Any, like: Any) -> Any:
        return value.astype(like.dtype)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.zeros(shape, dtype=like.dtype)

    def stack(self, parts: list[Any]) -> Any:
        """(N, P) arrays -> (N, Q, P)."""
        return np.stack(parts, axis=1)

    def swap(self, u: Any) -> Any:
        """(M, A, B) -> C-contiguous (M, B, A)."""
        return np.ascontiguousarray(u.transpose(0, 2, 1))

    def contiguous(self, x: Any) -> Any:
        return np.ascontiguousarray(x)

    def combine(
        self, weights: Any, src: Any, src_start: int, dst: Any, dst_start: int, size: int
    ) -> None:
        """``dst`` layers += ``weights`` (J, K) over the K layers of ``size`` cells in ``src``."""
        combine_layers(weights, src, src_start, dst, dst_start, size)

    def sparse_apply(self, matrix: Any, z: Any) -> Any:
        """(M, cells_in) -> (M, cells_out) through a (cells_out, cells_in) sparse matrix."""
        return np.ascontiguousarray((matrix @ z.T).T)


class TorchBackend(Backend):
    """torch tensors on any device."""

    def key(self, like: Any) -> Any:
        return (like.dtype, like.device)

    def convert(self, value: Any, like: Any) -> Any:
        import torch
        from scipy import sparse

        if sparse.issparse(value):
            coo = value.tocoo()
            indices = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
            tensor = torch.sparse_coo_tensor(
                indices, torch.from_numpy(coo.data), coo.shape, check_invariants=False
            )
            return tensor.coalesce().to(dtype=like.dtype, device=like.device)
        return torch.from_numpy(np.ascontiguousarray(value)).to(
            dtype=like.dtype, device=like.device
        )

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        import torch

        return torch.zeros(shape, dtype=like.dtype, device=like.device)

    def stack(self, parts: list[Any]) -> Any:
        import torch

        return torch.stack(parts, dim=1)

    def swap(self, u: Any) -> Any:
        return u.transpose(1, 2).contiguous()

    def contiguous(self, x: Any) -> Any:
        return x.contiguous()

    def combine(
        self, weights: Any, src: Any, src_start: int, dst: Any, dst_start: int, size: int
    ) -> None:
        k, j = weights.shape[1], weights.shape[0]
        n = src.shape[0]
        layers = src[:, src_start : src_start + k * size].reshape(n, k, size)
        target = dst[:, dst_start : dst_start + j * size].view(n, j, size)
        target += self.convert(weights, src) @ layers

    def sparse_apply(self, matrix: Any, z: Any) -> Any:
        import torch

        return torch.sparse.mm(matrix, z.T.contiguous()).T.contiguous()


_NUMPY = Backend()
_TORCH: TorchBackend | None = None


def backend_for(x: Any) -> Backend:
    """The backend for a numpy array or a torch tensor."""
    global _TORCH
    if isinstance(x, np.ndarray):
        return _NUMPY
    if _TORCH is None:
        _TORCH = TorchBackend()
    return _TORCH


def _separable(be: Backend, store: dict, z: Any, table: SeparableTable, *, forward: bool) -> Any:
    """(M, cells_in) -> (M, cells_out) through ``fy (x) fx`` as two plain matrix products.

    The axis whose product costs less goes first; each product is one large GEMM over all
    events, the other axis reached by swapping the last two axes of the (small) intermediate.
    """
    t = id(table)
    if forward:
        fy_t = be.constant(store, (t, "fyT"), z, lambda: (table.ly / table.wy).T.copy())
        fx_t = be.constant(store, (t, "fxT"), z, lambda: (table.lx / table.wx).T.copy())
    else:
        fy_t = be.constant(store, (t, "ly"), z, lambda: table.ly)
        fx_t = be.constant(store, (t, "lx"), z, lambda: table.lx)
    (ri, ro), (ci, co) = fy_t.shape, fx_t.shape
    m = z.shape[0]
    if ri * ci * co + ro * ri * co <= ro * ri * ci + ro * ci * co:
        u = be.swap((z.reshape(m * ri, ci) @ fx_t).reshape(m, ri, co))
        u = be.swap((u.reshape(m * co, ri) @ fy_t).reshape(m, co, ro))
        return u.reshape(m, ro * co)
    u = be.swap(z.reshape(m, ri, ci))
    u = be.swap((u.reshape(m * ci, ri) @ fy_t).reshape(m, ci, ro))
    return (u.reshape(m * ro, ci) @ fx_t).reshape(m, ro * co)


def _general(be: Backend, store: dict, z: Any, table: SparseTable, *, forward: bool) -> Any:
    """(M, cells_in) -> (M, cells_out) through the sparse area table."""
    from scipy import sparse

    t = id(table)
    if forward:
        matrix = be.constant(
            store, (t, "w"), z, lambda: table.area @ sparse.diags(1.0 / table.cell_area)
        )
    else:
        matrix = be.constant(store, (t, "wT"), z, lambda: table.area.T.tocsr())
    return be.sparse_apply(matrix, z)


def _table_apply(be: Backend, store: dict, z: Any, table: Transverse, *, forward: bool) -> Any:
    """(N, Q, cells_in) through one transverse table -> (N, Q, cells_out)."""
    n, q = z.shape[0], z.shape[1]
    flat = z.reshape(n * q, z.shape[2])
    if isinstance(table, SeparableTable):
        out = _separable(be, store, flat, table, forward=forward)
    else:
        out = _general(be, store, flat, table, forward=forward)
    return out.reshape(n, q, out.shape[1])


def _groups(coupling: Coupling) -> list[tuple[Transverse, list[int]]]:
    """The coupling's target positions grouped by shared transverse table."""
    groups: dict[int, tuple[Transverse, list[int]]] = {}
    for q, table in enumerate(coupling.transverse):
        groups.setdefault(id(table), (table, []))[1].append(q)
    return list(groups.values())


def factors_key(into: np.ndarray | None, out: np.ndarray | None) -> tuple[bytes | None, ...]:
    """A hashable key for per-layer factors (part of the keys of the cached constants)."""
    return tuple(
        None if f is None else np.asarray(f, dtype=np.float64).tobytes() for f in (into, out)
    )


def _factor(factors: np.ndarray | None, layer: int) -> float:
    return 1.0 if factors is None else float(factors[layer])


def terms_for(
    overlaps: Overlaps,
    *,
    forward: bool,
    into: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> Terms:
    """The fused-pass terms of ``W`` (forward) or of ``V^T`` (spread back, applied to target
    energies already divided by their covered volume), in float64.

    ``into`` (input layers,) and ``out`` (output layers,) are per-layer factors folded into
    the gather and scatter weights (e.g. sampling fractions, see :mod:`calogeo.energy_scale`);
    None means 1.
    """
    from scipy import sparse

    so, to = overlaps.source_offsets, overlaps.target_offsets
    tables: dict[int, int] = {}
    parts: list[tuple[tuple[int, ...], int, list[Any]]] = []
    gather: list[list[tuple[int, float]]] = []
    scatter: list[list[tuple[int, float]]] = []
    table_of: list[int] = []
    for c in overlaps.couplings:
        for q, j in enumerate(c.targets):
            table = c.transverse[q]
            if id(table) not in tables:
                tables[id(table)] = len(parts)
                parts.append(_table_part(table, forward, sparse))
            table_of.append(tables[id(table)])
            layers = [(c.first + k, float(d)) for k, d in enumerate(c.depth_x0[q]) if d > 0.0]
            if forward:
                depth = overlaps.source_depth_x0
                gather.append([(int(so[i]), d / depth[i] * _factor(into, i)) for i, d in layers])
                scatter.append([(int(to[j]), _factor(out, j))])
            else:
                gather.append([(int(to[j]), _factor(into, j))])
                scatter.append([(int(so[i]), d * _factor(out, i)) for i, d in layers])
    matrices = [m for _, _, ms in parts for m in ms]
    row0 = np.cumsum([0] + [sum(m.shape[0] for m in ms) for _, _, ms in parts])[:-1]
    base = np.cumsum([0] + [m.nnz for m in matrices])
    indptr = np.concatenate(
        [m.indptr[:-1] + b for m, b in zip(matrices, base[:-1], strict=True)] + [base[-1:]]
    )
    gather_ptr, gather_at, gather_weight = _entries(gather)
    scatter_ptr, scatter_at, scatter_weight = _entries(scatter)
    return Terms(
        gather_ptr=gather_ptr,
        gather_at=gather_at,
        gather_weight=gather_weight,
        scatter_ptr=scatter_ptr,
        scatter_at=scatter_at,
        scatter_weight=scatter_weight,
        table=np.asarray(table_of, dtype=np.int64),
        dims=np.array([dims for dims, _, _ in parts], dtype=np.int64).reshape(-1, 4),
        span=np.array([_span(ms) for _, _, ms in parts], dtype=np.int64).reshape(-1, 4),
        row0=row0.astype(np.int64),
        separable=np.array([order for _, order, _ in parts], dtype=np.int64),
        indptr=indptr.astype(np.int64),
        indices=np.concatenate([m.indices for m in matrices]).astype(np.int64),
        values=np.concatenate([m.data for m in matrices]).astype(np.float64),
    )


def _table_part(
    table: Transverse, forward: bool, sparse: Any
) -> tuple[tuple[int, ...], int, list[Any]]:
    """(dims, order, CSR factors) of one table for :class:`Terms` (order: see Terms)."""
    if isinstance(table, SeparableTable):
        fy = table.ly / table.wy if forward else table.ly.T
        fx = table.lx / table.wx if forward else table.lx.T
        fy, fx = sparse.csr_matrix(fy), sparse.csr_matrix(fx)
        (ro, ri), (co, ci) = fy.shape, fx.shape
        # Scalar multiply-adds cost about SIMD_WIDTH times the vectorised whole-row ones.
        columns_first = ri * fx.nnz * SIMD_WIDTH + fy.nnz * co
        rows_first = fy.nnz * ci + ro * fx.nnz * SIMD_WIDTH
        return (ri, ci, ro, co), 1 if columns_first <= rows_first else 2, [fy, fx]
    if forward:
        matrix = table.area.multiply(1.0 / table.cell_area).tocsr()
    else:
        matrix = table.area.T.tocsr()
    return (1, matrix.shape[1], 1, matrix.shape[0]), 0, [matrix]


def _span(factors: list[Any]) -> tuple[int, int, int, int]:
    """(row_lo, row_hi, col_lo, col_hi) of the input cells a table reads: rows used by F_y
    and columns used by F_x, or one row and the columns a general table uses."""
    if any(not f.nnz for f in factors):
        return 0, 0, 0, 0
    rows = (int(factors[0].indices.min()), int(factors[0].indices.max()) + 1)
    columns = (int(factors[-1].indices.min()), int(factors[-1].indices.max()) + 1)
    return (*rows, *columns) if len(factors) == 2 else (0, 1, *columns)


def _entries(
    lists: list[list[tuple[int, float]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-like (ptr, column offsets, weights) of per-term (offset, weight) lists."""
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(e) for e in lists])
    at = np.array([a for e in lists for a, _ in e], dtype=np.int64)
    weight = np.array([w for e in lists for _, w in e], dtype=np.float64)
    return ptr, at, weight


def _inverse_cover(overlaps: Overlaps) -> np.ndarray:
    """(target cells,) float64 1 / covered volume, 0 where no source cell reaches."""
    cover = overlaps.target_covered_volume
    return np.divide(1.0, cover, out=np.zeros_like(cover), where=cover > 0)


def _fused(
    overlaps: Overlaps,
    x: np.ndarray | SparseRows,
    *,
    forward: bool,
    into: np.ndarray | None,
    out: np.ndarray | None,
    result: np.ndarray | None,
) -> np.ndarray:
    """Resample a numpy array in one fused Numba pass (see :mod:`calogeo.resample.kernel`)."""
    store = overlaps.constants
    key = ("terms", forward, x.dtype, factors_key(into, out))
    if key not in store:
        store[key] = terms_for(overlaps, forward=forward, into=into, out=out).astype(x.dtype)
    if not forward:
        x = x * _NUMPY.constant(store, ("inverse_cover",), x, lambda: _inverse_cover(overlaps))
    n_out = overlaps.n_target if forward else overlaps.n_source
    if not isinstance(x, SparseRows):
        x = np.ascontiguousarray(x)
    return apply_terms(store[key], x, n_out, out=result)


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        msg = f"unknown resampling engine {engine!r}: expected one of {', '.join(ENGINES)}"
        raise ValueError(msg)


def transfer(
    overlaps: Overlaps,
    x: Any,
    engine: str = "auto",
    *,
    into: np.ndarray | None = None,
    out: np.ndarray | None = None,
    result: np.ndarray | None = None,
) -> Any:
    """Source energies (N, source cells) -> target energies (N, target cells): ``W x``.

    Each source cell's energy is shared by volume fraction; the part outside the target
    (transversally or in depth) is dropped: that is the edge loss. ``into`` (source layers,)
    multiplies each source layer's energy first, ``out`` (target layers,) each target layer's
    after (e.g. sampling fractions); both are folded into the weights. ``result``: a
    C-contiguous (N, target cells) numpy array to fill (fused engine only), else a new one.
    ``x`` may also be a :class:`~calogeo.resample.kernel.SparseRows` of float32 energies
    (fused engine).
    """
    _check_engine(engine)
    if isinstance(x, SparseRows):
        return _fused(overlaps, x, forward=True, into=into, out=out, result=result)
    be, store = backend_for(x), overlaps.constants
    if engine == "auto" and be is _NUMPY:
        return _fused(overlaps, x, forward=True, into=into, out=out, result=result)
    x = be.contiguous(x)
    n = x.shape[0]
    mapped = be.zeros((n, overlaps.n_target), like=x)
    so, to = overlaps.source_offsets, overlaps.target_offsets
    for c in overlaps.couplings:
        size, count = int(so[c.first + 1] - so[c.first]), len(c.targets)
        if not count:
            continue
        combined = be.zeros((n, count * size), like=x)
        depth = c.depth_x0 / overlaps.source_depth_x0[c.first : c.stop]
        if into is not None:
            depth = depth * np.asarray(into, dtype=np.float64)[c.first : c.stop]
        if out is not None:
            depth = depth * np.asarray(out, dtype=np.float64)[c.targets][:, None]
        be.combine(depth, x, int(so[c.first]), combined, 0, size)
        combined = combined.reshape(n, count, size)
        for table, qs in _groups(c):
            part = combined if len(qs) == count else combined[:, qs]
            u = _table_apply(be, store, part, table, forward=True)
            for col, q in enumerate(qs):
                j = c.targets[q]
                mapped[:, to[j] : to[j + 1]] += u[:, col]
    return mapped


def spread_back(
    overlaps: Overlaps,
    y: Any,
    engine: str = "auto",
    *,
    into: np.ndarray | None = None,
    out: np.ndarray | None = None,
    result: np.ndarray | None = None,
) -> Any:
    """Target energies (N, target cells) -> source energies: each target cell's energy is
    spread over the source cells it covers in proportion to the shared volume.

    Energy only ever reaches target cells that some source cell covers, so a round trip keeps
    everything the forward step kept. ``into`` (target layers,), ``out`` (source layers,) and
    ``result``: as for :func:`transfer`.
    """
    be, store = backend_for(y), overlaps.constants
    _check_engine(engine)
    if engine == "auto" and be is _NUMPY:
        return _fused(overlaps, y, forward=False, into=into, out=out, result=result)
    n = y.shape[0]
    to_cells = np.diff(overlaps.target_offsets)

    def inverse_cover() -> np.ndarray:
        inverse = _inverse_cover(overlaps)
        return inverse if into is None else inverse * np.repeat(into, to_cells)

    inverse = be.constant(store, ("inverse_cover", factors_key(into, None)), y, inverse_cover)
    scaled = y * inverse
    spread = be.zeros((n, overlaps.n_source), like=y)
    so, to = overlaps.source_offsets, overlaps.target_offsets
    for c in overlaps.couplings:
        size = int(so[c.first + 1] - so[c.first])
        for table, qs in _groups(c):
            parts = [scaled[:, to[c.targets[q]] : to[c.targets[q] + 1]] for q in qs]
            u = _table_apply(be, store, be.stack(parts), table, forward=False)
            u = u.reshape(n, len(qs) * size)
            depth = c.depth_x0[qs].T
            if out is not None:
                depth = depth * np.asarray(out, dtype=np.float64)[c.first : c.stop, None]
            be.combine(depth, u, 0, spread, int(so[c.first]), size)
    return spread
