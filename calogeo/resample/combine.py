"""Depth combination of stacked layers: ``dst[n, j] += sum_k weights[j, k] src[n, k]``.

Layers are consecutive blocks of ``P`` cells in flat (N, cells) arrays. The depth-overlap tables
are sparse bands (a target layer overlaps a few source layers), so the kernel visits only the
non-zero weights and reads each input layer about once; events run in parallel. The numpy
reference is ``weights @ src.reshape(N, K, P)`` (the torch path uses exactly that).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["combine_layers"]


@numba.njit(cache=True, parallel=True)
def _combine(src, src_start, dst, dst_start, size, rows, cols, values):  # pragma: no cover
    for n in numba.prange(src.shape[0]):
        for j in range(len(rows) - 1):
            d = dst_start + j * size
            out = dst[n, d : d + size]
            for e in range(rows[j], rows[j + 1]):
                s = src_start + cols[e] * size
                layer = src[n, s : s + size]
                w = values[e]
                for p in range(size):
                    out[p] += w * layer[p]


def combine_layers(
    weights: np.ndarray, src: np.ndarray, src_start: int, dst: np.ndarray, dst_start: int, size: int
) -> None:
    """Add ``weights`` (J, K) applied to the K layers of ``size`` cells that start at column
    ``src_start`` of ``src`` to the J layers that start at column ``dst_start`` of ``dst``.

    ``src`` and ``dst`` are C-contiguous (N, columns) arrays of one float dtype.
    """
    j, k = np.nonzero(weights)
    rows = np.zeros(weights.shape[0] + 1, dtype=np.int64)
    np.add.at(rows, j + 1, 1)
    values = weights[j, k].astype(src.dtype)
    _combine(src, src_start, dst, dst_start, size, np.cumsum(rows), k.astype(np.int64), values)
