"""Applying factored overlap volumes to energy arrays, with numpy/scipy or torch on any device.

Energies are flat (N, cells) arrays in GeV. One code path serves both libraries: the few
operations that differ (new arrays, constants, sparse products) go through a small backend.
Separable layer pairs are applied as two small dense products per event (W_y x W_x^T), general
pairs as a sparse product; consecutive source layers sharing cells are first combined with
their depth weights in one matrix product, so the input is read about once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calogeo.resample.weights import Coupling, Overlaps, Transverse

__all__ = ["Backend", "backend_for", "spread_back", "transfer"]


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


def _separable(be: Backend, store: dict, z: Any, table: Transverse, *, forward: bool) -> Any:
    """(M, cells_in) -> (M, cells_out) through ``fy (x) fx``, cheaper product order first."""
    t = id(table)
    if forward:
        fy = be.constant(store, (t, "fy"), z, lambda: table.ly / table.wy)
        fx = be.constant(store, (t, "fx"), z, lambda: table.lx / table.wx)
    else:
        fy = be.constant(store, (t, "fyT"), z, lambda: table.ly.T)
        fx = be.constant(store, (t, "fxT"), z, lambda: table.lx.T)
    (ro, ri), (co, ci) = fy.shape, fx.shape
    m = z.shape[0]
    if ro * ri * ci + ro * ci * co <= ri * ci * co + ro * ri * co:
        u = fy @ z.reshape(m, ri, ci)
        return (u.reshape(m * ro, ci) @ fx.T).reshape(m, ro * co)
    u = z.reshape(m * ri, ci) @ fx.T
    return (fy @ u.reshape(m, ri, co)).reshape(m, ro * co)


def _general(be: Backend, store: dict, z: Any, table: Transverse, *, forward: bool) -> Any:
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
    op = _separable if table.separable else _general
    out = op(be, store, z.reshape(n * q, z.shape[2]), table, forward=forward)
    return out.reshape(n, q, out.shape[1])


def _groups(coupling: Coupling) -> list[tuple[Transverse, list[int]]]:
    """The coupling's target positions grouped by shared transverse table."""
    groups: dict[int, tuple[Transverse, list[int]]] = {}
    for q, table in enumerate(coupling.transverse):
        groups.setdefault(id(table), (table, []))[1].append(q)
    return list(groups.values())


def transfer(overlaps: Overlaps, x: Any) -> Any:
    """Source energies (N, source cells) -> target energies (N, target cells): ``W x``.

    Each source cell's energy is shared by volume fraction; the part outside the target
    (transversally or in depth) is dropped: that is the edge loss.
    """
    be, store = backend_for(x), overlaps.constants
    n = x.shape[0]
    out = be.zeros((n, overlaps.n_target), like=x)
    so, to = overlaps.source_offsets, overlaps.target_offsets
    for m, c in enumerate(overlaps.couplings):
        run = x[:, so[c.first] : so[c.stop]].reshape(n, c.stop - c.first, -1)
        weights = be.constant(
            store,
            (m, "depth"),
            x,
            lambda c=c: c.depth_x0 / overlaps.source_depth_x0[c.first : c.stop],
        )
        combined = weights @ run
        for table, qs in _groups(c):
            part = combined if len(qs) == len(c.targets) else combined[:, qs]
            u = _table_apply(be, store, part, table, forward=True)
            for col, q in enumerate(qs):
                j = c.targets[q]
                out[:, to[j] : to[j + 1]] += u[:, col]
    return out


def spread_back(overlaps: Overlaps, y: Any) -> Any:
    """Target energies (N, target cells) -> source energies: each target cell's energy is
    spread over the source cells it covers in proportion to the shared volume.

    Energy only ever reaches target cells that some source cell covers, so a round trip keeps
    everything the forward step kept.
    """
    be, store = backend_for(y), overlaps.constants
    n = y.shape[0]
    cover = overlaps.target_covered_volume
    inverse = be.constant(
        store,
        ("inverse_cover",),
        y,
        lambda: np.divide(1.0, cover, out=np.zeros_like(cover), where=cover > 0),
    )
    scaled = y * inverse
    out = be.zeros((n, overlaps.n_source), like=y)
    so, to = overlaps.source_offsets, overlaps.target_offsets
    for m, c in enumerate(overlaps.couplings):
        run = out[:, so[c.first] : so[c.stop]].reshape(n, c.stop - c.first, -1)
        for table, qs in _groups(c):
            parts = [scaled[:, to[c.targets[q]] : to[c.targets[q] + 1]] for q in qs]
            u = _table_apply(be, store, be.stack(parts), table, forward=False)
            weights = be.constant(
                store, (m, qs[0], "spread"), y, lambda c=c, qs=qs: c.depth_x0[qs].T
            )
            run += weights @ u
    return out
