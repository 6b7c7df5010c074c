"""One fused Numba pass that resamples flat (N, cells) numpy arrays, event by event.

The linear map is a list of *terms*. A term gathers a weighted sum of input layers into a
buffer, maps the buffer through a transverse table and adds weighted copies of the result to
output layers. Forward resampling has one term per (source run, target layer): the run's layers
weighted by their depth overlap fractions, scattered to one target layer; spreading back has
the mirror terms. A table is either separable — two banded factors, rows then columns, applied
as ``F_y Z F_x^T`` — or a general sparse (CSR) matrix. Each event's buffers stay in cache, so
the input is read about once.

:func:`apply_terms_reference` is the plain numpy/scipy version the tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np

__all__ = ["SparseRows", "Terms", "apply_terms", "apply_terms_reference", "weighted_sums"]


@dataclass(frozen=True)
class Terms:
    """Terms in flat arrays. Term q gathers entries ``gather_ptr[q]:gather_ptr[q+1]`` of
    (column offset ``gather_at``, ``gather_weight``), uses table ``table[q]`` and scatters
    likewise. Table t has ``dims[t]`` = (rows_in, cols_in, rows_out, cols_out); its CSR rows
    start at ``row0[t]`` in the shared ``indptr``/``indices``/``values`` (absolute positions):
    for a separable table, rows_out rows of F_y then cols_out rows of F_x; for a general one
    (rows_in = rows_out = 1), cols_out rows of the matrix. ``separable[t]`` is 0 for a general
    table, 1 to apply a separable one columns first, 2 rows first (whichever costs less).
    ``span[t]`` = (row_lo, row_hi, col_lo, col_hi) is the block of input cells the table
    reads: energy outside it is edge loss and is never read."""

    gather_ptr: np.ndarray
    gather_at: np.ndarray
    gather_weight: np.ndarray
    scatter_ptr: np.ndarray
    scatter_at: np.ndarray
    scatter_weight: np.ndarray
    table: np.ndarray
    dims: np.ndarray
    span: np.ndarray
    row0: np.ndarray
    separable: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def astype(self, dtype: np.dtype) -> Terms:
        """The same terms with weights and table values in ``dtype``."""
        return replace(
            self,
            gather_weight=self.gather_weight.astype(dtype),
            scatter_weight=self.scatter_weight.astype(dtype),
            values=self.values.astype(dtype),
        )


@numba.njit(cache=True, nogil=True)
def _buffer_sizes(dims):  # pragma: no cover
    max_in, max_tmp, max_out = 1, 1, 1
    for t in range(len(dims)):
        ri, ci, ro, co = dims[t, 0], dims[t, 1], dims[t, 2], dims[t, 3]
        max_in, max_tmp, max_out = (
            max(max_in, ri * ci),
            max(max_tmp, ri * co, ro * ci),
            max(max_out, ro * co),
        )
    return max_in, max_tmp, max_out


@numba.njit(cache=True, parallel=True, nogil=True)
def _apply(
    x,
    offsets,
    index,
    energy,
    out,
    g_ptr,
    g_at,
    g_w,
    s_ptr,
    s_at,
    s_w,
    table,
    dims,
    span,
    row0,
    separable,
    ptr,
    idx,
    val,
):  # pragma: no cover
    """Dense rows ``x`` (N, cells_in), or, when ``offsets`` is not empty, the CSR rows
    (``offsets``, ``index``, ``energy``) of a (N, x.shape[1]) batch (``x`` then has no rows):
    each event is laid out in a zeroed row that stays in cache."""
    sparse = len(offsets) > 0
    max_in, max_tmp, max_out = _buffer_sizes(dims)
    for n in numba.prange(out.shape[0]):
        if sparse:
            cells = np.zeros(x.shape[1], dtype=x.dtype)
            for k in range(offsets[n], offsets[n + 1]):
                cells[index[k]] = energy[k]
        else:
            cells = x[n]
        z = np.empty(max_in, dtype=x.dtype)
        tmp = np.empty(max_tmp, dtype=x.dtype)
        u = np.empty(max_out, dtype=x.dtype)
        out[n, :] = 0.0
        for q in range(len(table)):
            t = table[q]
            ci, ro, co = dims[t, 1], dims[t, 2], dims[t, 3]
            r_lo, r_hi, c_lo, c_hi = span[t, 0], span[t, 1], span[t, 2], span[t, 3]
            for r in range(r_lo, r_hi):  # only the rows and columns the table reads
                z[r * ci + c_lo : r * ci + c_hi] = 0.0
            for e in range(g_ptr[q], g_ptr[q + 1]):
                w = g_w[e]
                for r in range(r_lo, r_hi):
                    start = g_at[e] + r * ci
                    layer = cells[start + c_lo : start + c_hi]
                    part = z[r * ci + c_lo : r * ci + c_hi]
                    for p in range(c_hi - c_lo):  # slices and range indices: vectorised
                        part[p] += w * layer[p]
            r0 = row0[t]
            if separable[t] == 1:  # columns first: tmp = Z F_x^T, then u = F_y tmp
                tmp[r_lo * co : r_hi * co] = 0.0
                for c in range(co):
                    for e in range(ptr[r0 + ro + c], ptr[r0 + ro + c + 1]):
                        w, s = val[e], idx[e]
                        for r in range(r_lo, r_hi):  # one weight down a column
                            tmp[r * co + c] += w * z[r * ci + s]
                for r in range(ro):
                    row = u[r * co : (r + 1) * co]
                    row[:] = 0.0
                    for e in range(ptr[r0 + r], ptr[r0 + r + 1]):
                        w, part = val[e], tmp[idx[e] * co : (idx[e] + 1) * co]
                        for c in range(co):
                            row[c] += w * part[c]
            elif separable[t] == 2:  # rows first (whole-row sums): tmp = F_y Z, u = tmp F_x^T
                for r in range(ro):
                    row = tmp[r * ci + c_lo : r * ci + c_hi]
                    row[:] = 0.0
                    for e in range(ptr[r0 + r], ptr[r0 + r + 1]):
                        w, part = val[e], z[idx[e] * ci + c_lo : idx[e] * ci + c_hi]
                        for c in range(c_hi - c_lo):
                            row[c] += w * part[c]
                u[: ro * co] = 0.0
                for c in range(co):
                    for e in range(ptr[r0 + ro + c], ptr[r0 + ro + c + 1]):
                        w, s = val[e], idx[e]
                        for r in range(ro):  # one weight down a column: a tight loop
                            u[r * co + c] += w * tmp[r * ci + s]
            else:
                for c in range(co):
                    acc = 0.0
                    for e in range(ptr[r0 + c], ptr[r0 + c + 1]):
                        acc += val[e] * z[idx[e]]
                    u[c] = acc
            for e in range(s_ptr[q], s_ptr[q + 1]):
                dst, w = out[n, s_at[e] : s_at[e] + ro * co], s_w[e]
                for p in range(ro * co):
                    dst[p] += w * u[p]


@dataclass(frozen=True)
class SparseRows:
    """(N, n_cols) float energies given by their non-zero entries, CSR-style: row n holds
    ``energy[offsets[n]:offsets[n + 1]]`` at columns ``index[...]`` (see
    :class:`calogeo.sparse.SparseShowers`)."""

    offsets: np.ndarray
    index: np.ndarray
    energy: np.ndarray
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        """(N, n_cols)."""
        return len(self.offsets) - 1, self.n_cols

    @property
    def dtype(self) -> np.dtype:
        """The energies' dtype."""
        return self.energy.dtype


def apply_terms(
    terms: Terms, x: np.ndarray | SparseRows, n_out: int, out: np.ndarray | None = None
) -> np.ndarray:
    """(N, cells_in) C-contiguous float array, or its :class:`SparseRows` (each event is
    then laid out in a cache-resident row instead of reading a dense batch), -> (N, n_out) of
    the same dtype, written into ``out`` (C-contiguous, overwritten) when given."""
    n = x.shape[0]
    if out is None:
        out = np.empty((n, n_out), dtype=x.dtype)
    else:
        if out.shape != (n, n_out) or out.dtype != x.dtype:
            msg = f"out must be {(n, n_out)} {x.dtype}, got {out.shape} {out.dtype}"
            raise ValueError(msg)
        if not out.flags.c_contiguous:
            msg = "out must be C-contiguous"
            raise ValueError(msg)
    t = terms
    constants = (
        t.gather_ptr,
        t.gather_at,
        t.gather_weight,
        t.scatter_ptr,
        t.scatter_at,
        t.scatter_weight,
        t.table,
        t.dims,
        t.span,
        t.row0,
        t.separable,
        t.indptr,
        t.indices,
        t.values,
    )
    if isinstance(x, SparseRows):
        rows = np.empty((0, x.n_cols), dtype=x.dtype)
        _apply(rows, x.offsets, x.index, x.energy, out, *constants)
    else:
        none = np.empty(0, dtype=np.int64)
        _apply(x, none, none, np.empty(0, dtype=x.dtype), out, *constants)
    return out


# reassociation lets LLVM vectorise the sums (NaN and inf still propagate: no "nnan"/"ninf")
@numba.njit(cache=True, parallel=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _weighted_sums(x, weights_t, out):  # pragma: no cover
    k_count, c_count = weights_t.shape
    for n in numba.prange(x.shape[0]):
        row = x[n]  # K passes over an event that stays in cache, each a vectorised dot
        for k in range(k_count):
            w = weights_t[k]
            acc = 0.0
            for c in range(c_count):
                acc += w[c] * row[c]
            out[n, k] += acc


@numba.njit(cache=True, parallel=True, nogil=True)
def _weighted_sums_sparse(offsets, index, energy, weights, out):  # pragma: no cover
    k_count = weights.shape[1]
    for n in numba.prange(len(offsets) - 1):
        acc = np.zeros(k_count)
        for e in range(offsets[n], offsets[n + 1]):
            c, value = index[e], energy[e]
            for k in range(k_count):
                acc[k] += weights[c, k] * value
        for k in range(k_count):
            out[n, k] += acc[k]


def weighted_sums(x: np.ndarray | SparseRows, weights: np.ndarray, out: np.ndarray) -> None:
    """``out[n, k] += sum_c x[n, c] weights[c, k]`` accumulated in float64, reading the
    (N, C) float array ``x`` (or its non-zero entries) once, with no float64 copy of it;
    ``weights`` (C, K), ``out`` (N, K) float64."""
    if isinstance(x, SparseRows):
        _weighted_sums_sparse(x.offsets, x.index, x.energy, np.ascontiguousarray(weights), out)
    else:  # dense: (K, C) weights, one vectorised dot per k (5-8x the branchy single pass)
        _weighted_sums(np.ascontiguousarray(x), np.ascontiguousarray(weights.T), out)


def _rows(terms: Terms, first: int, count: int, width: int) -> Any:
    from scipy import sparse

    ptr = terms.indptr[first : first + count + 1]
    data = (terms.values[ptr[0] : ptr[-1]], terms.indices[ptr[0] : ptr[-1]], ptr - ptr[0])
    return sparse.csr_matrix(data, shape=(count, width))


def _entries(ptr: np.ndarray, at: np.ndarray, weight: np.ndarray, q: int) -> list:
    return list(zip(at[ptr[q] : ptr[q + 1]], weight[ptr[q] : ptr[q + 1]], strict=True))


def apply_terms_reference(terms: Terms, x: np.ndarray, n_out: int) -> np.ndarray:
    """The same map with numpy and scipy, term by term, in float64 (for tests)."""
    from scipy import sparse

    t = terms
    out = np.zeros((x.shape[0], n_out))
    for q, table in enumerate(t.table):
        ri, ci, ro, co = (int(v) for v in t.dims[table])
        r0 = int(t.row0[table])
        if t.separable[table]:
            matrix = sparse.kron(_rows(t, r0, ro, ri), _rows(t, r0 + ro, co, ci))
        else:
            matrix = _rows(t, r0, co, ci)
        z = np.zeros((x.shape[0], ri * ci))
        for at, w in _entries(t.gather_ptr, t.gather_at, t.gather_weight, q):
            z += w * x[:, at : at + ri * ci]
        u = (matrix @ z.T).T
        for at, w in _entries(t.scatter_ptr, t.scatter_at, t.scatter_weight, q):
            out[:, at : at + ro * co] += w * u
    return out
